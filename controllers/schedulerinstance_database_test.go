package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/testenv"
)

// What the server would refuse at start about its database's TLS is refused by the operator
// before any pod is rolled: a URL whose sslmode is weaker than spec.database.tls.mode (the
// message never carries the URL), a named CA Secret that does not exist or holds no certificate.
// Once fixed, the Secrets are mounted and the config names them.
func TestDatabaseTLSIsCheckedBeforeAnythingIsDeployed(t *testing.T) {
	ns := namespace(t, nil)
	startOperator(t)
	weak := "postgres://rsched:Weak-Canary-51d0@db.example.org:5432/rsched?sslmode=require"
	userSecret(t, ns, "dbt-db-source", map[string]string{"url": weak})
	si := instance(ns, "dbt", nil)
	create(t, si)
	got := waitCondition(t, si, rschedv1.ConditionReady, metav1.ConditionFalse, rschedv1.ReasonInvalidConfig)
	msg := meta.FindStatusCondition(got.Status.Conditions, rschedv1.ConditionReady).Message
	if !strings.Contains(msg, "sslmode=require, weaker than database.tls.mode verify-full") || strings.Contains(msg, "Weak-Canary") || strings.Contains(msg, "db.example.org") {
		t.Fatalf("message %q", msg)
	}
	noDeployment := func() {
		t.Helper()
		var dep appsv1.Deployment
		if err := get(t, ns, builders.DeploymentName(got), &dep); !apierrors.IsNotFound(err) {
			t.Fatalf("a Deployment exists for a configuration the server refuses: %v", err)
		}
	}
	noDeployment()

	// verify-ca accepts the URL once it says so; the CA Secret it names must exist.
	src := &corev1.Secret{}
	if err := get(t, ns, "dbt-db-source", src); err != nil {
		t.Fatal(err)
	}
	src.Data["url"] = []byte(strings.Replace(weak, "sslmode=require", "sslmode=verify-ca", 1))
	if err := kube.Client.Update(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	got.Spec.Database.TLS = rschedv1.DatabaseTLSSpec{Mode: "verify-ca", CASecretRef: &rschedv1.SecretKeyRef{Name: "pg-ca", Key: "ca.crt"}}
	if err := kube.Client.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	got = waitCondition(t, si, rschedv1.ConditionReady, metav1.ConditionFalse, rschedv1.ReasonSecretNotFound)
	if msg := meta.FindStatusCondition(got.Status.Conditions, rschedv1.ConditionReady).Message; msg != "spec.database.tls.caSecretRef: Secret pg-ca not found" {
		t.Fatalf("message %q", msg)
	}
	noDeployment()
	userSecret(t, ns, "pg-ca", map[string]string{"ca.crt": "not a certificate"})
	bump(t, ns, "dbt")
	waitCondition(t, si, rschedv1.ConditionReady, metav1.ConditionFalse, rschedv1.ReasonInvalidConfig)
	noDeployment()

	ca, err := pki.NewCA("database CA", time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pgCA := &corev1.Secret{}
	if err := get(t, ns, "pg-ca", pgCA); err != nil {
		t.Fatal(err)
	}
	pgCA.Data = map[string][]byte{"ca.crt": pki.EncodeCertificates(ca.Cert)}
	if err := kube.Client.Update(context.Background(), pgCA); err != nil {
		t.Fatal(err)
	}
	bump(t, ns, "dbt")
	var dep appsv1.Deployment
	testenv.Eventually(t, 30*time.Second, "the Deployment", func() (bool, string) {
		return get(t, ns, builders.DeploymentName(got), &dep) == nil, "missing"
	})
	var mounted bool
	for _, v := range dep.Spec.Template.Spec.Volumes {
		mounted = mounted || (v.Secret != nil && v.Secret.SecretName == "pg-ca")
	}
	var cm corev1.ConfigMap
	if err := get(t, ns, builders.ConfigMapName(got), &cm); err != nil {
		t.Fatal(err)
	}
	if !mounted || !strings.Contains(cm.Data[builders.ConfigFile], "ca_file: /var/run/secrets/rsched/database-ca/ca.crt") || !strings.Contains(cm.Data[builders.ConfigFile], "mode: verify-ca") {
		t.Fatalf("CA mounted %v; config:\n%s", mounted, cm.Data[builders.ConfigFile])
	}
}
