// Package monitoring tests what the chart ships for monitoring rsched: the alerting rules
// (charts/rsched-operator/files/prometheus-rules.yaml; promtool runs their unit tests,
// alerts.test.yaml, in `make test-alerts`), their runbooks, and the Grafana dashboard. Every
// metric they name must be one the manager or the scheduler really registers: the names come
// from the registries the code builds, never from a list kept here.
package monitoring

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	sigsyaml "sigs.k8s.io/yaml"

	// The reconcilers register their metrics on controller-runtime's registry when the package
	// loads, beside controller-runtime's own (reconciles, work queues, the API client).
	_ "github.com/rsched/rsched/controllers"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyring/keyringtest"
	"github.com/rsched/rsched/internal/server/app"
	"github.com/rsched/rsched/internal/server/tlsserve"
	"github.com/rsched/rsched/internal/serverconfig"
	"github.com/rsched/rsched/internal/testenv"
	"github.com/rsched/rsched/internal/vault"
)

var (
	rulesFile     = filepath.Join(testenv.RepoRoot(), "charts", "rsched-operator", "files", "prometheus-rules.yaml")
	dashboardFile = filepath.Join(testenv.RepoRoot(), "charts", "rsched-operator", "files", "grafana-dashboard.json")
	runbooksDir   = filepath.Join(testenv.RepoRoot(), "docs", "runbooks")
)

// defaultRunbookBase is the base of every runbook_url in the rules file, which the chart replaces
// with prometheusRule.runbookBaseURL.
const defaultRunbookBase = "https://github.com/rsched/rsched/blob/main/docs/runbooks/"

// prometheusOwn are the series Prometheus makes itself for every scrape target.
var prometheusOwn = []string{"up"}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := sigsyaml.UnmarshalStrict(b, &f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no rules", rulesFile)
	}
	return out
}

// managerRegistry is the registry the manager serves: controller-runtime's, with the reconcilers'
// metrics and the Vault client factory's (registered as controllers.Setup does).
var managerRegistry = sync.OnceValue(func() prometheus.Registerer {
	vault.NewFactory(nil, ctrlmetrics.Registry)
	return ctrlmetrics.Registry
})

// recordingRegistry is a registry that keeps what its collectors describe: every metric the
// scheduler registers, whether or not it has a series yet.
type recordingRegistry struct {
	*prometheus.Registry
	names []string
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recordingRegistry) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names = append(r.names, m[1])
		}
	}
	return r.Registry.Register(c)
}

func (r *recordingRegistry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// schedulerRegistry builds the scheduler's registry as cmd/scheduler's run does: the Go and
// process collectors, the keyring and serving certificate watchers' metrics, and the app's, on a
// real database.
func schedulerRegistry(t *testing.T) *recordingRegistry {
	t.Helper()
	pg := testenv.StartPostgres(t)
	cfg := serverconfig.Default()
	cfg.Issuer = "https://schedule.example.org"
	cfg.Database.TLS = serverconfig.DatabaseTLS{Mode: "disable", InsecureAllowUnverified: true}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := &recordingRegistry{Registry: prometheus.NewRegistry()}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	keyring.NewMetrics(reg)
	tlsserve.NewMetrics(reg)
	ring := keyringtest.Build(t, 1,
		[]keyringtest.Key{{KID: "sig-1", Algorithm: keyring.HS256, State: keyring.Active, Material: keyringtest.Random(32)}},
		[]keyringtest.Key{{KID: "enc-1", Algorithm: keyring.AES256GCM, State: keyring.Active, Material: keyringtest.Random(32)}})
	a, err := app.New(context.Background(), cfg, keyringtest.NewSource(ring), pg.URL,
		app.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return reg
}

// probeMarker is in the help text of every probe, which no real metric has.
const probeMarker = "probe of test/monitoring"

// registers reports whether reg holds a collector describing a metric called name, whether or
// not it has a series yet (a vector without label values gathers nothing). client_golang's
// registry refuses a second descriptor of a registered name with another help text, and accepts
// one of a new name (the probe is then unregistered).
func registers(t *testing.T, reg prometheus.Registerer, name string) bool {
	t.Helper()
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: probeMarker})
	err := reg.Register(probe)
	switch {
	case err == nil:
		reg.Unregister(probe)
		return false
	case strings.Contains(err.Error(), "a previously registered descriptor with the same fully-qualified name"):
		return true
	default:
		t.Fatalf("probing %s: %v", name, err)
		return false
	}
}

// exposed reports whether one of regs registers name, or the histogram or summary whose
// _bucket, _sum or _count series name is.
func exposed(t *testing.T, name string, regs ...prometheus.Registerer) bool {
	t.Helper()
	if slices.Contains(prometheusOwn, name) {
		return true
	}
	candidates := []string{name}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			candidates = append(candidates, base)
		}
	}
	for _, reg := range regs {
		for _, c := range candidates {
			if registers(t, reg, c) {
				return true
			}
		}
	}
	return false
}

// dashboardExprs returns every PromQL expression of the dashboard (panel targets, in rows too)
// and the metric of every label_values() variable query, by where they are.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	out := map[string]string{}
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out["panel "+p.Title+" "+tg.RefID] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_]+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		s, _ := q["query"].(string)
		m := labelValues.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("variable %s: query %v is not label_values(<selector>, <label>)", v.Name, v.Query)
		}
		out["variable "+v.Name] = m[1]
	}
	return out
}

type dashPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

// Every metric an alert or a dashboard panel selects is one the manager or the scheduler
// registers: a renamed metric or a typo would leave an alert that never fires and a panel with
// no data, which nobody notices until it matters.
func TestRulesAndDashboardSelectOnlyMetricsTheCodeRegisters(t *testing.T) {
	manager, scheduler := managerRegistry(), schedulerRegistry(t)

	// The probe itself: a metric of each registry is found, in the other it is not, and a name
	// nobody registers is not found anywhere.
	for _, c := range []struct {
		name string
		reg  prometheus.Registerer
		want bool
	}{
		{"rsched_instance_ready", manager, true},
		{"rsched_vault_requests_total", manager, true},
		{"controller_runtime_reconcile_total", manager, true},
		{"rsched_instance_ready", scheduler, false},
		{"rsched_http_request_duration_seconds", scheduler, true},
		{"rsched_keyring_load_timestamp_seconds", scheduler, true},
		{"rsched_keyring_seconds_since_load", scheduler, false},
		{"rsched_no_such_metric_total", manager, false},
	} {
		if got := registers(t, c.reg, c.name); got != c.want {
			t.Fatalf("probe of %s: %v, want %v", c.name, got, c.want)
		}
	}

	exprs := dashboardExprs(t)
	if len(exprs) < 20 {
		t.Fatalf("the dashboard has %d expressions; expected its panels' (at least 20)", len(exprs))
	}
	for _, r := range loadRules(t) {
		exprs["alert "+r.Alert] = r.Expr
	}
	for where, expr := range exprs {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range names {
			if !exposed(t, n, manager, scheduler) {
				t.Errorf("%s selects %s, which neither the manager nor the scheduler registers: %s", where, n, expr)
			}
		}
	}
}

// Every alert links its runbook page, which exists and says what the alert means, what it
// breaks, how to diagnose and how to fix; and promtool's tests (alerts.test.yaml) have a case
// where it fires and one where it does not.
func TestEveryAlertHasARunbookAndFiringAndSilentCases(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "test", "monitoring", "alerts.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			Name          string `json:"name"`
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := sigsyaml.Unmarshal(b, &tests); err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	pages := map[string]bool{}
	for _, r := range loadRules(t) {
		if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
			t.Errorf("%s: needs a severity label and a summary", r.Alert)
		}
		if !fires[r.Alert] || !silent[r.Alert] {
			t.Errorf("%s: alerts.test.yaml has a firing case: %v, a silent case: %v; it needs both", r.Alert, fires[r.Alert], silent[r.Alert])
		}
		page, ok := strings.CutPrefix(r.Annotations["runbook_url"], defaultRunbookBase)
		if !ok || strings.Contains(page, "/") || !strings.HasSuffix(page, ".md") {
			t.Errorf("%s: runbook_url %q is not %s<page>.md", r.Alert, r.Annotations["runbook_url"], defaultRunbookBase)
			continue
		}
		if pages[page] {
			t.Errorf("%s: runbook %s is another alert's; one page per alert", r.Alert, page)
		}
		pages[page] = true
		text, err := os.ReadFile(filepath.Join(runbooksDir, page))
		if err != nil {
			t.Errorf("%s: %v", r.Alert, err)
			continue
		}
		if !strings.HasPrefix(string(text), "# "+r.Alert+"\n") {
			t.Errorf("%s: %s does not start with the heading '# %s'", r.Alert, page, r.Alert)
		}
		for _, section := range []string{"## Meaning", "## Impact", "## Diagnosis", "## Mitigation"} {
			if !strings.Contains(string(text), "\n"+section+"\n") {
				t.Errorf("%s: %s has no %q section", r.Alert, page, section)
			}
		}
	}
	entries, err := os.ReadDir(runbooksDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "README.md" && !pages[e.Name()] {
			t.Errorf("docs/runbooks/%s belongs to no alert", e.Name())
		}
	}
}

// documentedMetrics reads the table of docs/operations.md's "### Metrics": each row's names
// (`x`, or a prefix `x_*`) and where they come from (operator or scheduler).
func documentedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### Metrics\n")
	if !ok {
		t.Fatal("docs/operations.md has no ### Metrics section")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	out := map[string][]string{}
	code := regexp.MustCompile("`([a-z_:*]+)`")
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 6 || !strings.Contains(cells[1], "`") {
			continue
		}
		from := strings.TrimSpace(cells[4])
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			out[from] = append(out[from], m[1])
		}
	}
	if len(out["operator"]) == 0 || len(out["scheduler"]) == 0 {
		t.Fatalf("no operator or scheduler rows in the metrics table: %v", out)
	}
	return out
}

func documented(names []string, metric string) bool {
	for _, n := range names {
		if prefix, ok := strings.CutSuffix(n, "*"); ok && strings.HasPrefix(metric, prefix) || n == metric {
			return true
		}
	}
	return false
}

// docs/operations.md's metrics table is the registries: every name in it is registered where it
// says, every metric the scheduler registers and every series the manager has at start is in it.
func TestDocumentedMetricsAreTheRegisteredOnes(t *testing.T) {
	manager, scheduler := managerRegistry(), schedulerRegistry(t)
	docs := documentedMetrics(t)
	for from, reg := range map[string]prometheus.Registerer{"operator": manager, "scheduler": scheduler} {
		for _, n := range docs[from] {
			if !strings.HasSuffix(n, "*") && !registers(t, reg, n) {
				t.Errorf("docs/operations.md lists %s from the %s, which does not register it", n, from)
			}
		}
	}
	if len(scheduler.names) < 20 {
		t.Fatalf("the scheduler's registry described %d metrics; the recording registry missed them", len(scheduler.names))
	}
	for _, n := range scheduler.names {
		if !documented(docs["scheduler"], n) {
			t.Errorf("the scheduler registers %s, which docs/operations.md's metrics table does not list", n)
		}
	}
	fams, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if !documented(docs["operator"], f.GetName()) {
			t.Errorf("the manager exposes %s, which docs/operations.md's metrics table does not list", f.GetName())
		}
	}
}
