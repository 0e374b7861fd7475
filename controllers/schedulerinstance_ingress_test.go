package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"
)

// spec.ingress renders an Ingress to the Service's HTTPS port, with cert-manager's issuer
// annotation; spec.service.annotations reach the Service; a key removed from the spec leaves the
// object, an annotation someone else set stays; removing spec.ingress removes the Ingress.
func TestIngressAndServiceAnnotationsFollowTheSpec(t *testing.T) {
	ns := namespace(t, nil)
	startOperator(t)
	userSecret(t, ns, "ing-db-source", map[string]string{"url": dbURL})
	si := instance(ns, "ing", func(si *rschedv1.SchedulerInstance) {
		si.Spec.Service.Annotations = map[string]string{"service.beta.kubernetes.io/aws-load-balancer-internal": "true", "example.org/team": "residency"}
		si.Spec.Ingress = &rschedv1.IngressSpec{Host: "schedule.example.org", ClassName: "nginx",
			IssuerRef:   &rschedv1.IssuerReference{Name: "letsencrypt", Kind: "ClusterIssuer"},
			Annotations: map[string]string{"nginx.ingress.kubernetes.io/backend-protocol": "HTTPS"}}
	})
	create(t, si)
	ing := &networkingv1.Ingress{}
	testenv.Eventually(t, 30*time.Second, "the Ingress", func() (bool, string) { return get(t, ns, "ing", ing) == nil, "missing" })
	rule := ing.Spec.Rules[0]
	if rule.Host != "schedule.example.org" || rule.HTTP.Paths[0].Backend.Service.Port.Name != "https" || *ing.Spec.IngressClassName != "nginx" ||
		ing.Spec.TLS[0].SecretName != "ing-ingress-tls" || ing.Annotations["cert-manager.io/cluster-issuer"] != "letsencrypt" ||
		ing.Annotations["nginx.ingress.kubernetes.io/backend-protocol"] != "HTTPS" {
		t.Fatalf("Ingress %+v, annotations %v", ing.Spec, ing.Annotations)
	}
	svc := &corev1.Service{}
	testenv.Eventually(t, 30*time.Second, "the Service's annotations", func() (bool, string) {
		err := get(t, ns, "ing", svc)
		return err == nil && svc.Annotations["example.org/team"] == "residency", errString(err)
	})

	// Someone else annotates the Service; the spec drops one key and the Ingress.
	svc.Annotations["cloud.example/assigned"] = "lb-7"
	if err := kube.Client.Update(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	// The operator writes status meanwhile: retry the spec update on a conflict.
	testenv.Eventually(t, 10*time.Second, "the spec updated", func() (bool, string) {
		cur := &rschedv1.SchedulerInstance{}
		if err := get(t, ns, "ing", cur); err != nil {
			return false, err.Error()
		}
		delete(cur.Spec.Service.Annotations, "example.org/team")
		cur.Spec.Ingress = nil
		err := kube.Client.Update(context.Background(), cur)
		return err == nil, errString(err)
	})
	testenv.Eventually(t, 30*time.Second, "the key and the Ingress removed, the other annotation kept", func() (bool, string) {
		err := get(t, ns, "ing", svc)
		_, team := svc.Annotations["example.org/team"]
		ingErr := kube.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "ing"}, &networkingv1.Ingress{})
		return err == nil && !team && svc.Annotations["cloud.example/assigned"] == "lb-7" &&
			svc.Annotations["service.beta.kubernetes.io/aws-load-balancer-internal"] == "true" && apierrors.IsNotFound(ingErr), metav1.FormatLabelSelector(nil) + errString(ingErr)
	})
}
