package monitoring

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
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

// The rules read the operator's series by their own namespace label (an instance's). Every
// ServiceMonitor rsched ships for the manager (the chart's, whichever certificate it verifies, and
// config/prometheus) scrapes with honorLabels: false, so the scrape target's labels (job,
// instance, pod, service, namespace) cannot be overridden by what the manager exposes, and
// restores only the namespace from exported_namespace with its metricRelabelings: applied the way
// Prometheus applies them, an instance's series keeps its namespace, a series without one gets
// the manager's, and a scraped job label stays exported_job. No rule reads an exported_ label.
func TestTheOperatorIsScrapedWithItsInstancesNamespaces(t *testing.T) {
	monitors := map[string]*unstructured.Unstructured{}
	for name, args := range map[string][]string{
		"chart, the manager's own certificate":  nil,
		"chart, metrics.certificate.secretName": {"--set", "metrics.certificate.secretName=my-metrics-tls"},
		"chart, cert-manager": {"--set", "metrics.certificate.certManager.enabled=true",
			"--set", "metrics.certificate.certManager.issuerRef.name=platform-ca"},
	} {
		monitors[name] = helmTemplate(t, append([]string{"--set", "metrics.serviceMonitor.enabled=true"}, args...)...)["ServiceMonitor/rsched-manager-metrics"]
	}
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "prometheus", "monitor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kustomize := &unstructured.Unstructured{}
	if err := sigsyaml.Unmarshal(raw, &kustomize.Object); err != nil {
		t.Fatal(err)
	}
	monitors["config/prometheus/monitor.yaml"] = kustomize
	target := map[string]string{"job": "rsched-manager-metrics", "instance": "10.0.0.7:8443", "namespace": "rsched-system",
		"pod": "rsched-manager-6c9f-x2", "service": "rsched-manager-metrics", "endpoint": "https", "container": "manager"}
	cases := []struct{ scraped, want map[string]string }{
		{map[string]string{"__name__": "rsched_instance_ready", "namespace": "team-a", "name": "residency"},
			map[string]string{"__name__": "rsched_instance_ready", "namespace": "team-a", "name": "residency"}},
		{map[string]string{"__name__": "rsched_vault_requests_total", "operation": "login", "result": "success"},
			map[string]string{"__name__": "rsched_vault_requests_total", "operation": "login", "result": "success", "namespace": "rsched-system"}},
		{map[string]string{"__name__": "rsched_instance_ready", "namespace": "team-b", "name": "x", "job": "spoofed"},
			map[string]string{"__name__": "rsched_instance_ready", "namespace": "team-b", "name": "x", "exported_job": "spoofed"}},
	}
	for name, sm := range monitors {
		if sm == nil {
			t.Errorf("%s: no ServiceMonitor", name)
			continue
		}
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(endpoints) == 0 {
			t.Errorf("%s: no endpoints", name)
		}
		for _, e := range endpoints {
			ep := e.(map[string]any)
			if honor, found, _ := unstructured.NestedBool(ep, "honorLabels"); honor || !found {
				t.Errorf("%s: endpoint %v without honorLabels: false", name, ep)
			}
			relabelings, _, _ := unstructured.NestedSlice(ep, "metricRelabelings")
			for _, c := range cases {
				got, err := scrape(target, c.scraped, relabelings)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				want := maps.Clone(target)
				maps.Copy(want, c.want)
				if !maps.Equal(got, want) {
					t.Errorf("%s: scraped %v is stored as %v, want %v", name, c.scraped, got, want)
				}
			}
		}
	}
	for _, r := range loadRules(t) {
		if strings.Contains(r.Expr, "exported_") || strings.Contains(fmt.Sprint(r.Annotations), "exported_") {
			t.Errorf("%s reads an exported_ label: the manager's namespace is restored by the ServiceMonitor", r.Alert)
		}
	}
}

// scrape is what Prometheus stores for a scraped series of a target: with honor_labels false a
// scraped label that the target also has is renamed exported_<name> and the target's wins; then
// the metric_relabel_configs, of which this knows the two actions rsched uses (replace, labeldrop)
// with Prometheus' semantics (anchored regex, ";"-joined source labels, an empty result removes
// the label).
func scrape(target, scraped map[string]string, relabelings []any) (map[string]string, error) {
	lbls := maps.Clone(target)
	for k, v := range scraped {
		if _, ok := target[k]; ok {
			k = "exported_" + k
		}
		lbls[k] = v
	}
	for _, r := range relabelings {
		cfg := r.(map[string]any)
		re, err := regexp.Compile("^(?s:" + fmt.Sprint(cfg["regex"]) + ")$")
		if err != nil {
			return nil, err
		}
		switch cfg["action"] {
		case "replace":
			var values []string
			for _, src := range cfg["sourceLabels"].([]any) {
				values = append(values, lbls[src.(string)])
			}
			joined := strings.Join(values, ";")
			m := re.FindStringSubmatchIndex(joined)
			if m == nil {
				continue
			}
			target := cfg["targetLabel"].(string)
			if v := string(re.ExpandString(nil, cfg["replacement"].(string), joined, m)); v != "" {
				lbls[target] = v
			} else {
				delete(lbls, target)
			}
		case "labeldrop":
			maps.DeleteFunc(lbls, func(k, _ string) bool { return re.MatchString(k) })
		default:
			return nil, fmt.Errorf("metricRelabelings action %v: not simulated here", cfg["action"])
		}
	}
	return lbls, nil
}
