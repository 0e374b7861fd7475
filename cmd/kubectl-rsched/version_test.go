package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/plugin"
	"github.com/rsched/rsched/internal/testenv"
	"github.com/rsched/rsched/internal/version"
)

// `kubectl rsched version` against the operator as config/default installs it, and the
// completion helper as kubectl itself runs it for `kubectl rsched <TAB>`.
func TestPluginVersionAndCompletion(t *testing.T) {
	k := testenv.StartKube(t)
	ctx := context.Background()
	if out, err := k.Kubectl("apply", "--server-side", "-k", filepath.Join(testenv.RepoRoot(), "config", "default")); err != nil {
		t.Fatalf("kubectl apply -k config/default: %v\n%s", err, out)
	}

	out, err := kubectl(t, k, "rsched", "version")
	if err != nil {
		t.Fatalf("kubectl rsched version: %v\n%s", err, out)
	}
	for _, want := range []string{"Client: " + version.Release + " (go1.", "OPERATOR", "rsched-system/rsched-manager",
		version.Release + "   ghcr.io/rsched/rsched:" + version.Release, "0/1"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "warning") {
		t.Errorf("the same version warns:\n%s", out)
	}

	out, err = kubectl(t, k, "rsched", "version", "-o", "json")
	var v plugin.VersionView
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.Client.Version != version.Release || len(v.Operators) != 1 ||
		v.Operators[0].Version != version.Release || v.Client.GoVersion == "" {
		t.Errorf("version -o json: %v\n%s", err, out)
	}

	// An operator of another minor version is called out.
	dep := &appsv1.Deployment{}
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: "rsched-system", Name: "rsched-manager"}, dep); err != nil {
		t.Fatal(err)
	}
	dep.Labels["app.kubernetes.io/version"] = "v9.8.0"
	if err := k.Client.Update(ctx, dep); err != nil {
		t.Fatal(err)
	}
	out, _ = kubectl(t, k, "rsched", "version")
	if !strings.Contains(out, "warning: this plugin is "+version.Release+" and the operator rsched-system/rsched-manager is v9.8.0") {
		t.Errorf("no skew warning:\n%s", out)
	}

	// A user who may not list Deployments still gets the plugin's version, and why not the rest.
	if err := k.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(t.TempDir(), "kubeconfig")
	if err := k.ServiceAccountKubeconfig(ctx, "default", "nobody", user, time.Hour); err != nil {
		t.Fatal(err)
	}
	out, err = kubectlAs(t, k, user, "rsched", "version")
	if err != nil || !strings.Contains(out, "Client: "+version.Release) || !strings.Contains(out, "Operator: unknown (listing the rsched manager Deployments:") ||
		!strings.Contains(out, "forbidden") {
		t.Errorf("version without permission: %v\n%s", err, out)
	}

	// Completion: kubectl (1.26+) runs kubectl_complete-rsched from the PATH for plugin arguments.
	const ns = "plugin"
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "ward-a", Namespace: ns},
			Spec: rschedv1.SchedulerInstanceSpec{Database: rschedv1.DatabaseSpec{URLSecretRef: &rschedv1.SecretKeyRef{Name: "db", Key: "url"}}}},
		&rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "ward-b", Namespace: ns},
			Spec: rschedv1.SchedulerInstanceSpec{Database: rschedv1.DatabaseSpec{URLSecretRef: &rschedv1.SecretKeyRef{Name: "db", Key: "url"}}}},
		&rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "icu", Namespace: ns},
			Spec: rschedv1.SchedulerInstanceSpec{Database: rschedv1.DatabaseSpec{URLSecretRef: &rschedv1.SecretKeyRef{Name: "db", Key: "url"}}}},
		&rschedv1.KeyRotationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "ward-a-keys", Namespace: ns},
			Spec: rschedv1.KeyRotationPolicySpec{TargetRef: rschedv1.LocalObjectReference{Name: "ward-a"},
				Keys:     []rschedv1.RotatedKey{{Name: "jwt", Purpose: rschedv1.KeyPurposeSigning, Algorithm: rschedv1.AlgorithmHS256}},
				Schedule: rschedv1.RotationSchedule{Every: &metav1.Duration{Duration: 720 * time.Hour}}}},
	} {
		if err := k.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(pluginBin, filepath.Join(filepath.Dir(pluginBin), "kubectl_complete-rsched")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"certs", "-n", ns, ""}, []string{"icu", "ward-a", "ward-b"}},
		{[]string{"renew", "-n", ns, "wa"}, []string{"ward-a", "ward-b"}},
		{[]string{"rotate", "-n", ns, ""}, []string{"ward-a-keys"}},
		{[]string{"keys", "-n", ns, "x"}, nil},
		{[]string{"ver"}, []string{"version"}},
	} {
		out, err := kubectl(t, k, append([]string{"__complete", "rsched"}, c.args...)...)
		if err != nil {
			t.Errorf("kubectl __complete rsched %v: %v\n%s", c.args, err, out)
			continue
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line != "" && !strings.HasPrefix(line, ":") && !strings.HasPrefix(line, "Completion ended") && !strings.HasPrefix(line, "[Debug]") {
				got = append(got, strings.SplitN(line, "\t", 2)[0]) // kubectl prints its [Debug] lines on stderr
			}
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("kubectl __complete rsched %v = %q, want %q\n%s", c.args, got, c.want, out)
		}
	}
}
