package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	sigsyaml "sigs.k8s.io/yaml"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/testenv"
	"github.com/rsched/rsched/internal/version"
)

// kube-score (hack/get-kube-score.sh) is an outside reviewer of every object rsched installs or
// creates: the chart in its three shapes, the kustomize install with and without its opt-ins,
// and what the operator builds for a SchedulerInstance. Every WARNING or CRITICAL finding fails
// the test unless kubeScoreIgnored lists it with the reason it does not apply; an entry that
// matches nothing any more fails it too, so the list never outlives its findings.

// kubeScoreKubernetesVersion is the oldest Kubernetes rsched supports (README), for kube-score's
// deprecated-API check.
const kubeScoreKubernetesVersion = "v1.31"

// kubeScoreIgnore is one reviewed exception: findings of check Check whose object ("Kind/name")
// matches Object, in renders matching Render, whose summary contains Summary ("" for any).
type kubeScoreIgnore struct {
	Check   string
	Object  *regexp.Regexp
	Render  *regexp.Regexp
	Summary string
	Reason  string
}

// The objects the checks below concern: the manager Deployment of the chart and of config/default
// (rsched-manager either way) and an instance's API server Deployment (the sample names).
var (
	kubeScoreManager   = regexp.MustCompile(`^Deployment/rsched-manager$`)
	kubeScoreWorkloads = regexp.MustCompile(`^Deployment/(rsched-manager|minimal|residency)$`)
	kubeScoreAnyRender = regexp.MustCompile(``)
)

// kubeScoreIgnored are the findings a platform reviewer would accept; docs/security.md repeats
// them. Everything else kube-score reports is fixed in the chart, config/ and internal/builders.
var kubeScoreIgnored = []kubeScoreIgnore{
	{
		Check: "container-resources", Object: kubeScoreWorkloads, Render: kubeScoreAnyRender, Summary: "CPU limit is not set",
		Reason: "no CPU limit on purpose: CFS throttling stalls reconciles and Argon2id logins at the worst moment and " +
			"saves nothing the CPU request does not already reserve; memory has a limit (the resource that kills a node)",
	},
	{
		Check: "container-image-pull-policy", Object: kubeScoreWorkloads, Render: kubeScoreAnyRender,
		Reason: "images are immutable release tags or digests, so IfNotPresent (what Kubernetes defaults to for them) " +
			"pulls the same bytes without making every restart depend on the registry; a cluster that must recheck pull " +
			"credentials on every start enables the AlwaysPullImages admission plugin (or sets image.pullPolicy: Always)",
	},
	{
		Check: "container-ephemeral-storage-request-and-limit", Object: regexp.MustCompile(`^Deployment/minimal$`), Render: kubeScoreAnyRender,
		Reason: "an instance's default resources carry no ephemeral storage (spec.resources sets it, as the full sample " +
			"does): adding it to the default would change the pod template of every running instance and roll them all " +
			"on an operator upgrade, which the operator never does by itself (test/upgrade); the disk use is bounded " +
			"anyway: read-only root, one emptyDir with a sizeLimit (the kubelet evicts past it), keys in memory-backed " +
			"volumes, logs under the kubelet's rotation",
	},
	{
		Check: "pod-networkpolicy", Object: kubeScoreManager, Render: regexp.MustCompile(`^(chart (defaults|namespaced)|kustomize config/default)$`),
		Reason: "the manager's NetworkPolicies are opt-in (networkPolicy.enabled and .egress, config/network-policy*): " +
			"the egress one needs the cluster's API server addresses, which no default can know, and the ingress " +
			"one needs the scraping namespaces' label; the opt-in renders below are scored and select the pod",
	},
	{
		Check: "deployment-replicas", Object: kubeScoreManager, Render: regexp.MustCompile(`^(chart (defaults|namespaced)|kustomize config/default.*)$`),
		Reason: "one manager replica by default: with leader election only one reconciles, a second is a warm standby " +
			"(replicaCount: 2 with a PodDisruptionBudget and a spread, scored in the opt-in render); a restarted " +
			"manager misses nothing, the instances keep serving without it",
	},
	{
		Check: "deployment-has-host-podantiaffinity", Object: kubeScoreWorkloads, Render: kubeScoreAnyRender,
		Reason: "replicas are spread over nodes by a topologySpreadConstraint on kubernetes.io/hostname " +
			"(ScheduleAnyway), which kube-score's pod-topology-spread-constraints check validates; this older check " +
			"knows only podAntiAffinity, and a required one would block rollouts on a cluster with fewer nodes than replicas",
	},
}

// kubeScoreFinding is one WARNING or CRITICAL comment of kube-score.
type kubeScoreFinding struct {
	Render, Object, Check, Grade, Path, Summary string
}

func (f kubeScoreFinding) String() string {
	path := ""
	if f.Path != "" {
		path = " (" + f.Path + ")"
	}
	return fmt.Sprintf("[%s] %s: %s %s%s: %s", f.Grade, f.Render, f.Object, f.Check, path, f.Summary)
}

// kubeScoreReport is the part of `kube-score score -o json` (output version v2) the test reads.
type kubeScoreReport []struct {
	TypeMeta   struct{ Kind string } `json:"type_meta"`
	ObjectMeta struct{ Name string } `json:"object_meta"`
	Checks     []struct {
		Check    struct{ ID string } `json:"check"`
		Grade    int                 `json:"grade"`
		Skipped  bool                `json:"skipped"`
		Comments []struct {
			Path    string `json:"path"`
			Summary string `json:"summary"`
		} `json:"comments"`
	} `json:"checks"`
}

// kube-score's grades (scorecard.Grade): 1 CRITICAL, 5 WARNING, 7 ALMOST_OK, 10 ALL_OK.
var kubeScoreFailing = map[int]string{1: "CRITICAL", 5: "WARNING"}

// kubeScoreBin is kube-score from RSCHED_KUBE_SCORE_BIN. Missing, the test fails (never skips,
// as every tool of make test): in CI that means make test did not build it.
func kubeScoreBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("RSCHED_KUBE_SCORE_BIN")
	if fi, err := os.Stat(bin); bin != "" && err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return bin
	}
	msg := fmt.Sprintf("kube-score is not available (RSCHED_KUBE_SCORE_BIN=%q is not an executable file): run `make test`, or "+
		"`export RSCHED_KUBE_SCORE_BIN=\"$(hack/get-kube-score.sh)\"` and run the tests again", bin)
	if os.Getenv("CI") == "true" {
		msg = "CI: the kube-score gate cannot run: " + msg
	}
	t.Fatal(msg)
	return ""
}

// kubeScore scores manifest, with the two optional checks that are hardening (a seccomp profile,
// well-formed container ports) on, and returns its WARNING and CRITICAL findings, and how many objects
// it scored (an empty render must not pass for a clean one).
func kubeScore(t *testing.T, bin, render, manifest string) ([]kubeScoreFinding, int) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	// kube-score exits 1 when it finds anything critical; the JSON says what.
	cmd := exec.Command(bin, "score", "--kubernetes-version", kubeScoreKubernetesVersion, "-o", "json",
		"--enable-optional-test", "container-seccomp-profile", "--enable-optional-test", "container-ports-check", f)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var report kubeScoreReport
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("kube-score on %s: %v (%v)\n%s", render, err, runErr, stderr.String())
	}
	var out []kubeScoreFinding
	for _, o := range report {
		for _, c := range o.Checks {
			grade, failing := kubeScoreFailing[c.Grade]
			if c.Skipped || !failing {
				continue
			}
			for _, cm := range c.Comments {
				out = append(out, kubeScoreFinding{Render: render, Object: o.TypeMeta.Kind + "/" + o.ObjectMeta.Name,
					Check: c.Check.ID, Grade: grade, Path: cm.Path, Summary: cm.Summary})
			}
		}
	}
	return out, len(report)
}

func (ig kubeScoreIgnore) matches(f kubeScoreFinding) bool {
	return ig.Check == f.Check && ig.Object.MatchString(f.Object) && ig.Render.MatchString(f.Render) &&
		strings.Contains(f.Summary, ig.Summary)
}

// TestKubeScoreFindsNothingUnreviewed runs the real kube-score over the chart (defaults, the
// namespaced mode, every opt-in), `kubectl kustomize config/default` (alone and with its opt-in
// NetworkPolicies and ServiceMonitor) and the objects internal/builders makes for the two
// sample SchedulerInstances.
func TestKubeScoreFindsNothingUnreviewed(t *testing.T) {
	bin := kubeScoreBin(t)
	renders := kubeScoreRenders(t)
	used := make([]bool, len(kubeScoreIgnored))
	var unreviewed []string
	for _, r := range renders {
		findings, scored := kubeScore(t, bin, r.name, r.manifest)
		if scored < r.minObjects {
			t.Errorf("%s: kube-score scored %d objects, want at least %d", r.name, scored, r.minObjects)
		}
		for _, f := range findings {
			ignored := false
			for i, ig := range kubeScoreIgnored {
				if ig.matches(f) {
					used[i], ignored = true, true
				}
			}
			if !ignored {
				unreviewed = append(unreviewed, f.String())
			} else {
				t.Logf("kube-score, reviewed: %s", f)
			}
		}
	}
	for _, f := range unreviewed {
		t.Errorf("kube-score: %s (fix it, or add it to kubeScoreIgnored with the reason it does not apply)", f)
	}
	for i, ig := range kubeScoreIgnored {
		if !used[i] {
			t.Errorf("kubeScoreIgnored entry %s %s %q matches no finding any more: remove it", ig.Check, ig.Object, ig.Summary)
		}
	}
}

type kubeScoreRender struct {
	name, manifest string
	minObjects     int
}

// kubeScoreAllOptIns turns on every optional object of the chart (cluster-wide mode, which the
// ClusterTrustBundle one needs).
const kubeScoreAllOptIns = `
replicaCount: 2
networkPolicy:
  enabled: true
  egress:
    enabled: true
    apiServer: {cidrs: [10.0.0.10/32]}
    extraEgress: [{to: [{ipBlock: {cidr: 10.0.5.0/24}}], ports: [{port: 8200, protocol: TCP}]}]
podDisruptionBudget: {enabled: true}
metrics:
  serviceMonitor: {enabled: true}
  certificate:
    certManager: {enabled: true, issuerRef: {name: ca}}
prometheusRule: {enabled: true}
grafanaDashboard: {enabled: true}
rbac:
  serviceAccountTokenCreate: {enabled: true}
clusterTrustBundles: {enabled: true}
`

func kubeScoreRenders(t *testing.T) []kubeScoreRender {
	t.Helper()
	h := newHelm(t)
	// Deployment and Service of the manager, plus the opt-ins' NetworkPolicies and PDB.
	return []kubeScoreRender{
		{"chart defaults", h.template(t), 2},
		{"chart namespaced", h.template(t, "--set", "watchNamespaces={team-a,team-b}"), 2},
		{"chart with every opt-in", h.template(t, "-f", valuesFile(t, kubeScoreAllOptIns)), 5},
		{"kustomize config/default", kubeScoreKustomize(t, "default"), 2},
		{"kustomize config/default with its opt-ins", kubeScoreKustomize(t, "default") +
			"---\n" + kubeScoreKustomizeOptIns(t), 4},
		{"operator objects", kubeScoreOperatorObjects(t), 10},
	}
}

// kubeScoreKustomize is `kubectl kustomize config/<dir>`.
func kubeScoreKustomize(t *testing.T, dir string) string {
	t.Helper()
	return kubeScoreKubectlKustomize(t, filepath.Join(testenv.RepoRoot(), "config", dir))
}

// kubeScoreKustomizeOptIns renders config/network-policy, config/network-policy-egress and
// config/prometheus as config/default includes them when their lines are uncommented.
func kubeScoreKustomizeOptIns(t *testing.T) string {
	t.Helper()
	overlay := t.TempDir()
	kust := "namespace: rsched-system\nnamePrefix: rsched-\nresources:\n"
	for _, dir := range []string{"network-policy", "network-policy-egress", "prometheus"} {
		rel, err := filepath.Rel(overlay, filepath.Join(testenv.RepoRoot(), "config", dir))
		if err != nil {
			t.Fatal(err)
		}
		kust += "  - " + rel + "\n"
	}
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kust), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeScoreKubectlKustomize(t, overlay)
}

func kubeScoreKubectlKustomize(t *testing.T, dir string) string {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set (kubectl): source hack/test-env.sh")
	}
	out, err := exec.Command(filepath.Join(assets, "kubectl"), "kustomize", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, out)
	}
	return string(out)
}

// kubeScoreOperatorObjects is what the operator creates for config/samples' two instances (the
// minimal one and the production-shaped one), from the same pure builders the reconciler calls.
func kubeScoreOperatorObjects(t *testing.T) string {
	t.Helper()
	var objs []runtime.Object
	for _, sample := range []string{"minimal", "full"} {
		raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "scheduling_v1alpha1_schedulerinstance_"+sample+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		si := &rschedv1.SchedulerInstance{}
		if err := sigsyaml.UnmarshalStrict(raw, si); err != nil {
			t.Fatal(err)
		}
		si.Namespace = "team-a"
		cm, hash, err := builders.ConfigMap(si)
		if err != nil {
			t.Fatal(err)
		}
		image := si.Spec.Image
		if image == "" {
			image = version.DefaultSchedulerImage()
		}
		objs = append(objs, builders.ServiceAccount(si), cm, builders.Deployment(si, image, hash), builders.Service(si))
		for _, np := range builders.NetworkPolicies(si, chartNamespace) {
			objs = append(objs, np)
		}
		if pdb := builders.PodDisruptionBudget(si); pdb != nil {
			objs = append(objs, pdb)
		}
		if ing := builders.Ingress(si); ing != nil {
			objs = append(objs, ing)
		}
	}
	var b strings.Builder
	for _, o := range objs {
		y, err := sigsyaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.String()
}
