package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeProxy resolves queries from a table; a query it does not hold is refused, like a proxy
// that serves no branch queries.
func fakeProxy(versions map[string]string) resolveFunc {
	return func(_ context.Context, query string) (moduleVersion, error) {
		v, ok := versions[query]
		if !ok {
			return moduleVersion{}, errors.New("403 Forbidden")
		}
		return moduleVersion{Version: v}, nil
	}
}

// copyScript is a copy of the real hack/get-vulncheck.sh, and the pin it holds.
func copyScript(t *testing.T) (path, pin string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "get-vulncheck.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := pinLine.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("hack/get-vulncheck.sh holds no pin line")
	}
	path = filepath.Join(t.TempDir(), "get-vulncheck.sh")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path, m[1]
}

// make vulncheck-update on the real script: the pin and its date comment change, nothing else;
// @master is asked first, @latest only when the proxy refuses it; old → new printed with dates.
func TestUpdatePinMovesTheOnePinToVulndbMaster(t *testing.T) {
	const newer = "v0.0.0-20261204101500-0123456789ab"
	for _, c := range []struct {
		name    string
		proxy   map[string]string
		printed string
	}{
		{"master resolves", map[string]string{"golang.org/x/vulndb@master": newer, "golang.org/x/vulndb@latest": "v0.0.0-20261101000000-aaaaaaaaaaaa"}, "golang.org/x/vulndb@master is " + newer},
		{"only latest resolves", map[string]string{"golang.org/x/vulndb@latest": newer}, "golang.org/x/vulndb@master: 403 Forbidden\ngolang.org/x/vulndb@latest is " + newer},
	} {
		t.Run(c.name, func(t *testing.T) {
			script, old := copyScript(t)
			before, _ := os.ReadFile(script)
			var out bytes.Buffer
			if err := runWith(context.Background(), []string{"-update-pin", script}, &out, today, fakeProxy(c.proxy)); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			after, _ := os.ReadFile(script)
			oldDate, _ := pseudoTime(old)
			want := old + " (" + oldDate.Format(time.DateOnly) + ") → " + newer + " (2026-12-04)"
			if !strings.Contains(out.String(), c.printed) || !strings.Contains(out.String(), want) {
				t.Fatalf("output does not say %q and %q:\n%s", c.printed, want, out.String())
			}
			changed := diffLines(string(before), string(after))
			wantChanged := []string{
				"# The reports as of 2026-12-04 (the pseudo-version's time; make vulncheck-update moves it on).",
				`vulndb_version="${VULNDB_VERSION:-` + newer + `}"`,
			}
			if strings.Join(changed, "\n") != strings.Join(wantChanged, "\n") {
				t.Fatalf("changed lines %q, want %q", changed, wantChanged)
			}
		})
	}
}

// diffLines are the lines of b that differ from a's at the same position (same line count).
func diffLines(a, b string) []string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(al) != len(bl) {
		return []string{"line count changed"}
	}
	var out []string
	for i := range al {
		if al[i] != bl[i] {
			out = append(out, bl[i])
		}
	}
	return out
}

func TestUpdatePinRefusesWhatItCannotResolveOrRewrite(t *testing.T) {
	script, old := copyScript(t)
	var out bytes.Buffer
	// Already there: nothing written.
	if err := runWith(context.Background(), []string{"-update-pin", script}, &out, today,
		fakeProxy(map[string]string{"golang.org/x/vulndb@master": old})); err != nil || !strings.Contains(out.String(), "already at "+old) {
		t.Fatalf("same version: %v\n%s", err, out.String())
	}
	// No proxy answer.
	if err := runWith(context.Background(), []string{"-update-pin", script}, &out, today, fakeProxy(nil)); err == nil {
		t.Fatal("an unresolvable database passed")
	}
	// Not exactly one pin line.
	for _, s := range []string{"echo no pin\n", "vulndb_version=\"${VULNDB_VERSION:-v1}\"\nvulndb_version=\"${VULNDB_VERSION:-v2}\"\n"} {
		if _, _, err := rewritePin(s, "v0.0.0-20261204101500-0123456789ab"); err == nil {
			t.Errorf("rewritePin(%q) passed", s)
		}
	}
	// Not a pseudo-version, or one with more than the plain shape (never written into a shell
	// script), or older than the pin (a stale proxy must not move the database back).
	pinned := "vulndb_version=\"${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}\"\n"
	for _, v := range []string{"v1.2.3", "v0.0.0-20261204101500-0123456789ab}$(touch x)", "v1.2.4-0.20261204101500-0123456789ab", "v0.0.0-20261001000000-0123456789ab"} {
		if _, _, err := rewritePin(pinned, v); err == nil {
			t.Errorf("rewritePin to %q passed", v)
		}
	}
	if _, _, err := rewritePin(pinned, "v0.0.0-20261204101500-0123456789ab"); err != nil {
		t.Errorf("a newer plain pseudo-version was refused: %v", err)
	}
}

func TestPseudoTime(t *testing.T) {
	for v, want := range map[string]string{
		"v0.0.0-20261105234957-e22db6528018":        "2026-11-05T23:49:57Z",
		"v1.2.4-0.20261105234957-e22db6528018":      "2026-11-05T23:49:57Z",
		"v1.2.3-pre.0.20261105234957-e22db652801":   "error",
		"v1.2.3-rc.1.0.20261105234957-e22db6528018": "2026-11-05T23:49:57Z",
		"v1.2.3": "error",
	} {
		got := "error"
		if tm, err := pseudoTime(v); err == nil {
			got = tm.Format(time.RFC3339)
		}
		if got != want {
			t.Errorf("pseudoTime(%s) = %s, want %s", v, got, want)
		}
	}
}

// The warning is a line of output, never a failure; it names make vulncheck-update from day 46.
func TestStaleDatabaseWarnsAfter45Days(t *testing.T) {
	modified := "2026-11-05T23:49:57Z"
	pin, _ := time.Parse(time.RFC3339, modified)
	for _, c := range []struct {
		now  time.Time
		warn bool
	}{
		{pin.Add(24 * time.Hour), false},
		{pin.Add(45 * 24 * time.Hour), false},
		{pin.Add(45*24*time.Hour + time.Minute), true},
		{pin.Add(200 * 24 * time.Hour), true},
	} {
		w := staleWarning(modified, c.now)
		if (w != "") != c.warn || (c.warn && (!strings.HasPrefix(w, "WARNING: ") || !strings.Contains(w, "make vulncheck-update"))) {
			t.Errorf("at %s: %q", c.now, w)
		}
	}
	if w := staleWarning("not a date", today); w != "" {
		t.Errorf("an unreadable date warned: %q", w)
	}
}
