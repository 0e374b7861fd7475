package monitoring

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/rsched/rsched/internal/testenv"
)

// helmTemplate renders the chart with the real helm (RSCHED_HELM_BIN, as cmd/manager's chart
// tests use it) as release rsched and returns its objects by kind/name.
func helmTemplate(t *testing.T, args ...string) map[string]*unstructured.Unstructured {
	t.Helper()
	bin := os.Getenv("RSCHED_HELM_BIN")
	if bin == "" {
		t.Fatal("RSCHED_HELM_BIN is not set: run `make test` (it builds helm into the tool cache and exports it), " +
			"or `make helm-lint` and then `export RSCHED_HELM_BIN=$HOME/.cache/rsched/tools/helm-<HELM_VERSION>`")
	}
	home := t.TempDir()
	cmd := exec.Command(bin, append([]string{"template", "rsched", filepath.Join(testenv.RepoRoot(), "charts", "rsched-operator"),
		"--namespace", "rsched-system"}, args...)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"), "KUBECONFIG="+filepath.Join(home, "none"))
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	objs := map[string]*unstructured.Unstructured{}
	dec := utilyaml.NewYAMLOrJSONDecoder(&out, 4096)
	for {
		var o map[string]any
		if err := dec.Decode(&o); err != nil {
			break
		}
		if len(o) > 0 {
			u := &unstructured.Unstructured{Object: o}
			objs[u.GetKind()+"/"+u.GetName()] = u
		}
	}
	return objs
}

// The chart's PrometheusRule is the rules file promtool tests, with only the runbook base
// replaced (a trailing slash or not), and the dashboard ConfigMap holds the dashboard file as it
// is, labelled for Grafana's sidecar; both are off by default.
func TestChartShipsTheTestedRulesAndTheDashboard(t *testing.T) {
	if objs := helmTemplate(t); objs["PrometheusRule/rsched-alerts"] != nil || objs["ConfigMap/rsched-dashboard"] != nil {
		t.Fatal("the PrometheusRule or the dashboard ConfigMap is rendered by default; both must be opt-in")
	}
	objs := helmTemplate(t, "--set", "prometheusRule.enabled=true", "--set", "prometheusRule.labels.release=kube-prometheus",
		"--set", "prometheusRule.runbookBaseURL=https://wiki.example.org/rsched",
		"--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.namespace=monitoring",
		"--set", "grafanaDashboard.annotations.grafana_folder=rsched")

	pr := objs["PrometheusRule/rsched-alerts"]
	if pr == nil {
		t.Fatal("no PrometheusRule with prometheusRule.enabled=true")
	}
	if pr.GetLabels()["release"] != "kube-prometheus" || pr.GetNamespace() != "rsched-system" {
		t.Errorf("PrometheusRule labels %v, namespace %s", pr.GetLabels(), pr.GetNamespace())
	}
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := sigsyaml.Unmarshal([]byte(strings.ReplaceAll(string(raw), defaultRunbookBase, "https://wiki.example.org/rsched/")), &want); err != nil {
		t.Fatal(err)
	}
	if got := pr.Object["spec"]; !reflect.DeepEqual(got, want) {
		gotYAML, _ := sigsyaml.Marshal(got)
		t.Errorf("the PrometheusRule's spec is not the rules file with the runbook base replaced:\n%s", gotYAML)
	}
	rendered, _ := sigsyaml.Marshal(pr.Object)
	if n := strings.Count(string(rendered), "runbook_url: https://wiki.example.org/rsched/"); n != len(loadRules(t)) {
		t.Errorf("%d runbook_url under the configured base, want one per alert (%d)", n, len(loadRules(t)))
	}
	if !strings.Contains(string(rendered), "{{ $labels.namespace }}") {
		t.Error("the alert templates ({{ $labels... }}) did not reach the PrometheusRule as they are")
	}

	cm := objs["ConfigMap/rsched-dashboard"]
	if cm == nil {
		t.Fatal("no dashboard ConfigMap with grafanaDashboard.enabled=true")
	}
	dash, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	if data["rsched.json"] != strings.TrimRight(string(dash), "\n") {
		t.Error("the ConfigMap's rsched.json is not files/grafana-dashboard.json")
	}
	if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetNamespace() != "monitoring" || cm.GetAnnotations()["grafana_folder"] != "rsched" {
		t.Errorf("dashboard ConfigMap: labels %v, namespace %s, annotations %v", cm.GetLabels(), cm.GetNamespace(), cm.GetAnnotations())
	}
}
