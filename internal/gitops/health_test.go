package gitops

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"
)

// lua finds the interpreter hack/get-lua.sh installs. It never skips.
func lua(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("RSCHED_LUA_BIN")
	if bin == "" {
		t.Fatal("RSCHED_LUA_BIN is not set: run `make test`, or `export RSCHED_LUA_BIN=\"$(hack/get-lua.sh)\"` and run the tests again")
	}
	return bin
}

// luaValue writes v as a Lua constructor: the table Argo CD hands a health check as obj.
func luaValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case string:
		return strconv.Quote(x) // Go's escapes are valid in Lua strings for this ASCII text
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = luaValue(e)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = "[" + strconv.Quote(k) + "] = " + luaValue(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	panic(fmt.Sprintf("luaValue: %T", v))
}

// health runs kind's health check on obj and returns status and message.
func health(t *testing.T, kind string, obj map[string]any) (string, string) {
	t.Helper()
	script, err := HealthCheck(kind)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "health.lua")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(lua(t), "-e", "obj = "+luaValue(obj), "-e",
		fmt.Sprintf("local hs = dofile(%q); io.write(hs.status, '\\n', hs.message or '')", f)).CombinedOutput()
	if err != nil {
		t.Fatalf("%s health check: %v\n%s", kind, err, out)
	}
	status, message, _ := strings.Cut(string(out), "\n")
	return status, message
}

func cond(typ, status, reason string) any {
	return map[string]any{"type": typ, "status": status, "reason": reason, "message": reason + " message", "observedGeneration": 3}
}

func object(generation, observed int, conditions ...any) map[string]any {
	o := map[string]any{"metadata": map[string]any{"name": "x", "generation": generation}}
	if conditions != nil || observed > 0 {
		o["status"] = map[string]any{"observedGeneration": observed, "conditions": conditions}
	}
	return o
}

// Every state the operator reports for a SchedulerInstance maps to the health a person would
// expect: each Ready=False reason is either waiting (Progressing) or needs a person (Degraded).
func TestSchedulerInstanceHealth(t *testing.T) {
	progressing := []string{rschedv1.ReasonDeploymentUnavailable, rschedv1.ReasonRollingOut}
	degraded := []string{rschedv1.ReasonInvalidConfig, rschedv1.ReasonImageNotSet, rschedv1.ReasonNameConflict, rschedv1.ReasonSecretNotFound,
		rschedv1.ReasonSecretKeyMissing, rschedv1.ReasonVaultAuthFailed, rschedv1.ReasonVaultReadFailed, rschedv1.ReasonVaultUnreachable,
		rschedv1.ReasonReconcileError, rschedv1.ReasonKeyringMissing}
	cases := []struct {
		name, want string
		obj        map[string]any
	}{
		{"just created", "Progressing", object(1, 0)},
		{"spec changed, not yet seen", "Progressing", object(4, 3, cond("Ready", "True", rschedv1.ReasonAvailable))},
		{"available", "Healthy", object(3, 3, cond("Ready", "True", rschedv1.ReasonAvailable), cond("Degraded", "False", rschedv1.ReasonAvailable))},
		{"on stale secrets", "Degraded", object(3, 3, cond("Ready", "True", rschedv1.ReasonAvailable), cond("Degraded", "True", rschedv1.ReasonVaultUnreachable))},
		{"replicas missing", "Degraded", object(3, 3, cond("Ready", "True", rschedv1.ReasonAvailable), cond("Degraded", "True", rschedv1.ReasonReplicasUnavailable))},
		{"no Ready yet", "Progressing", object(3, 3, cond("SecretsSynced", "True", rschedv1.ReasonSecretsSynced))},
	}
	for _, r := range progressing {
		cases = append(cases, struct {
			name, want string
			obj        map[string]any
		}{"Ready=False " + r, "Progressing", object(3, 3, cond("Ready", "False", r))})
	}
	for _, r := range degraded {
		cases = append(cases, struct {
			name, want string
			obj        map[string]any
		}{"Ready=False " + r, "Degraded", object(3, 3, cond("Ready", "False", r))})
	}
	for _, c := range cases {
		status, msg := health(t, "SchedulerInstance", c.obj)
		if status != c.want {
			t.Errorf("%s: %s (%q), want %s", c.name, status, msg, c.want)
		}
		if status == "Degraded" && !strings.Contains(msg, "message") {
			t.Errorf("%s: the message %q does not carry the condition's", c.name, msg)
		}
	}
}

// A first sync is never Degraded for what merely has not happened yet (the instance or its
// keyring not created yet); a failed rotation or a spec a person must fix is.
func TestKeyRotationPolicyHealth(t *testing.T) {
	cases := []struct {
		name, want string
		obj        map[string]any
	}{
		{"just created", "Progressing", object(1, 0)},
		{"instance not there yet", "Progressing", object(1, 1, cond("Ready", "False", rschedv1.ReasonTargetNotFound))},
		{"keyring not there yet", "Progressing", object(1, 1, cond("Ready", "False", rschedv1.ReasonKeyringNotFound))},
		{"scheduled", "Healthy", object(3, 3, cond("Ready", "True", rschedv1.ReasonScheduled), cond("Rotating", "False", rschedv1.ReasonIdle))},
		{"rotating", "Progressing", object(3, 3, cond("Ready", "True", rschedv1.ReasonScheduled), cond("Rotating", "True", rschedv1.ReasonStaged))},
		{"suspended", "Suspended", object(3, 3, cond("Ready", "True", rschedv1.ReasonSuspended))},
		{"spec changed, not yet seen", "Progressing", object(4, 3, cond("Ready", "True", rschedv1.ReasonScheduled))},
	}
	for _, r := range []string{rschedv1.ReasonRotationFailed, rschedv1.ReasonReconcileError, rschedv1.ReasonUnknownTimeZone, rschedv1.ReasonInvalidSchedule,
		rschedv1.ReasonStorageNeedsVault, rschedv1.ReasonTargetConflict, rschedv1.ReasonKeyringInvalid} {
		cases = append(cases, struct {
			name, want string
			obj        map[string]any
		}{"Ready=False " + r, "Degraded", object(3, 3, cond("Ready", "False", r))})
	}
	for _, c := range cases {
		if status, msg := health(t, "KeyRotationPolicy", c.obj); status != c.want {
			t.Errorf("%s: %s (%q), want %s", c.name, status, msg, c.want)
		}
	}
}

// docs/gitops.md shows exactly the scripts the tests run.
func TestDocsCarryTheTestedHealthChecks(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "gitops.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range Kinds {
		script, _ := HealthCheck(kind)
		// In the argocd-cm ConfigMap the script is a YAML block, indented by 4 spaces.
		var indented []string
		for _, l := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
			if l == "" {
				indented = append(indented, "")
				continue
			}
			indented = append(indented, "    "+l)
		}
		if !strings.Contains(string(doc), strings.Join(indented, "\n")) {
			t.Errorf("docs/gitops.md does not carry the tested health check of %s (internal/gitops/health/%s.lua)", kind, strings.ToLower(kind))
		}
	}
	if !slices.Equal(Kinds, []string{"SchedulerInstance", "KeyRotationPolicy"}) {
		t.Fatal("a new kind needs a health check and a section in docs/gitops.md")
	}
}
