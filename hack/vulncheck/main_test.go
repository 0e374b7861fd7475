package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/testenv"
)

// GO-2021-0113: golang.org/x/text/language.Parse panics on a crafted tag (index out of range);
// fixed in v0.3.7. A module pinned to v0.3.5 that calls it must fail the gate.
const knownID = "GO-2021-0113"

var today = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// vulnerableModule writes a module that links golang.org/x/text v0.3.5; with call, its main
// calls language.Parse, else it only uses a package of the module without the vulnerable function.
func vulnerableModule(t *testing.T, call bool) string {
	t.Helper()
	dir := t.TempDir()
	src := "package main\n\nimport \"golang.org/x/text/language\"\n\nfunc main() {\n\t_, _ = language.Parse(\"en-US\")\n}\n"
	if !call {
		src = "package main\n\nimport \"golang.org/x/text/width\"\n\nfunc main() {\n\t_ = width.LookupRune('a')\n}\n"
	}
	files := map[string]string{
		"go.mod":  "module example.com/vulnerable\n\ngo 1.22\n\nrequire golang.org/x/text v0.3.5\n",
		"main.go": src,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "mod", "tidy")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy (golang.org/x/text v0.3.5 from the module proxy): %v\n%s", err, out)
	}
	return dir
}

func writeAllow(t *testing.T, entries string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "allow.yaml")
	if err := os.WriteFile(p, []byte("allow:\n"+entries), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func entry(id, reviewed, expires string) string {
	return "  - id: " + id + "\n    reason: test\n    reviewedBy: test\n    reviewed: \"" + reviewed + "\"\n    expires: \"" + expires + "\"\n"
}

// gate runs the checker over dir in source mode and, when bin is set, over that binary too.
func gate(t *testing.T, dir, allow, bin string) (string, error) {
	t.Helper()
	gv, db, err := testenv.Govulncheck()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-govulncheck", gv, "-db", db, "-allow", allow, "-C", dir, "-source", "./..."}
	if bin != "" {
		args = append(args, bin)
	}
	var out bytes.Buffer
	err = run(context.Background(), args, &out, today)
	return out.String(), err
}

// TestGateFailsOnAReachableVulnerabilityUnlessReviewed runs the real govulncheck against the real
// database over a module calling a known-vulnerable function, in source and binary mode.
func TestGateFailsOnAReachableVulnerabilityUnlessReviewed(t *testing.T) {
	dir := vulnerableModule(t, true)
	bin := filepath.Join(t.TempDir(), "vulnerable")
	// Stripped as make build strips what we ship (-s -w): binary mode must still see functions.
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	out, err := gate(t, dir, writeAllow(t, "  []\n"), bin)
	if !errors.Is(err, errGate) {
		t.Fatalf("a module calling language.Parse of x/text v0.3.5 passed the gate (err %v):\n%s", err, out)
	}
	for _, want := range []string{"REACHABLE " + knownID, "vulnerability database: last modified 20", "golang.org/x/text@v0.3.5, fixed in v0.3.7",
		"golang.org/x/text/language.Parse is called from", "found in: source ./...; binary " + bin} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	// Reviewed: the gate passes and says why. Source mode only: in the stripped binary, binary
	// mode also counts x/text v0.3.5's other vulnerable functions that are linked but never
	// called (it sees what is in the binary, not what calls it).
	out, err = gate(t, dir, writeAllow(t, entry(knownID, "2026-12-01", "2027-02-01")), "")
	if err != nil {
		t.Fatalf("an allow-listed finding failed the gate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "allowed "+knownID+" until 2027-02-01") {
		t.Errorf("report does not name the allowed finding:\n%s", out)
	}

	// The same entry past its date fails before anything is scanned.
	_, err = gate(t, dir, writeAllow(t, entry(knownID, "2026-09-01", "2026-11-30")), "")
	if err == nil || !strings.Contains(err.Error(), "expired on 2026-11-30") {
		t.Errorf("an expired entry: got %v, want an expiry error", err)
	}
}

// TestImportedButNotCalledPassesAndStaleEntriesFail: the same vulnerable module version, linked
// without a call to the vulnerable function, is not gated; an entry for it is stale.
func TestImportedButNotCalledPassesAndStaleEntriesFail(t *testing.T) {
	dir := vulnerableModule(t, false)
	out, err := gate(t, dir, writeAllow(t, "  []\n"), "")
	if err != nil {
		t.Fatalf("code that never calls the vulnerable function failed the gate: %v\n%s", err, out)
	}
	if strings.Contains(out, "REACHABLE") || !strings.Contains(out, "imported but not called") {
		t.Errorf("unexpected report:\n%s", out)
	}
	out, err = gate(t, dir, writeAllow(t, entry(knownID, "2026-12-01", "2027-02-01")), "")
	if !errors.Is(err, errGate) || !strings.Contains(out, "STALE allow-list entry "+knownID) {
		t.Errorf("a stale entry: got %v, want the gate to fail naming it:\n%s", err, out)
	}
}

func TestAllowListValidation(t *testing.T) {
	for name, tc := range map[string]struct{ entries, want string }{
		"bad id":        {entry("CVE-2026-1", "2026-12-01", "2027-01-01"), "id must be"},
		"no reason":     {"  - id: GO-2026-0001\n    reviewedBy: x\n    reviewed: \"2026-12-01\"\n    expires: \"2027-01-01\"\n", "reason and reviewedBy are required"},
		"bad date":      {entry("GO-2026-0001", "1 Dec 2026", "2027-01-01"), "is not a date"},
		"too long":      {entry("GO-2026-0001", "2026-12-01", "2027-03-02"), "within 90 days"},
		"backwards":     {entry("GO-2026-0001", "2026-12-01", "2026-11-01"), "within 90 days"},
		"expired":       {entry("GO-2026-0001", "2026-10-01", "2026-12-07"), "expired on 2026-12-07"},
		"twice":         {entry("GO-2026-0001", "2026-12-01", "2027-01-01") + entry("GO-2026-0001", "2026-12-01", "2027-01-01"), "listed twice"},
		"unknown field": {"  - id: GO-2026-0001\n    why: x\n", "unknown field"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseAllowList("allow.yaml", []byte("allow:\n"+tc.entries), today)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	got, err := parseAllowList("allow.yaml", []byte("allow:\n"+entry("GO-2026-0001", "2026-12-01", "2027-01-01")), today)
	if err != nil || got["GO-2026-0001"].Reason != "test" {
		t.Errorf("a valid entry: got %v, %v", got, err)
	}
}

// The repository's own allow-list parses and has no expired entry today (the gate would fail on
// it; this names the file sooner).
func TestRepositoryAllowListIsValid(t *testing.T) {
	if _, err := readAllowList(filepath.Join(testenv.RepoRoot(), "hack", "vulncheck", "allow.yaml"), time.Now()); err != nil {
		t.Fatal(err)
	}
}

// A scan that could not reach symbol level (a binary without usable symbol tables) fails the
// gate instead of passing with every finding counted as imported-only.
func TestScanBelowSymbolLevelFails(t *testing.T) {
	stream := `{"config":{"scan_level":"package","scan_mode":"binary"}}` + "\n" +
		`{"finding":{"osv":"GO-2021-0113","trace":[{"module":"golang.org/x/text","version":"v0.3.5","package":"golang.org/x/text/language"}]}}`
	_, err := parse(target{mode: "binary", path: "bin/x"}, strings.NewReader(stream))
	if err == nil || !strings.Contains(err.Error(), `at level "package"`) {
		t.Fatalf("got %v, want a refusal of a package-level scan", err)
	}
	r, err := parse(target{mode: "binary", path: "bin/x"}, strings.NewReader(strings.Replace(stream, `"package"`, `"symbol"`, 1)))
	if err != nil || len(r.imported) != 1 || len(r.reachable) != 0 {
		t.Fatalf("a symbol-level scan with a package-level finding: %+v, %v", r, err)
	}
}
