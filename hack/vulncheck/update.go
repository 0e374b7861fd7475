package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// vulndbModule is the Go vulnerability database as a module: hack/get-vulncheck.sh indexes its
// data/osv at the pinned pseudo-version.
const vulndbModule = "golang.org/x/vulndb"

// staleAfter is the age of the pinned database past which make vulncheck warns: the pin keeps a
// run reproducible, so a clean gate only means "nothing known as of that date". A warning, not a
// failure: a gate that starts failing on a date, with no change to the tree, breaks CI by itself.
const staleAfter = 45 * 24 * time.Hour

// pinLine is the one line of hack/get-vulncheck.sh that holds the pin; dateLine the comment
// above it giving the pin's date.
var (
	pinLine  = regexp.MustCompile(`(?m)^vulndb_version="\$\{VULNDB_VERSION:-(v[^}"]+)\}"$`)
	dateLine = regexp.MustCompile(`(?m)^# The reports as of [0-9]{4}-[0-9]{2}-[0-9]{2} .*$`)
)

// moduleVersion is what go list -m -json says of a module query.
type moduleVersion struct {
	Version string
	Time    time.Time
}

// resolveFunc resolves a module query (module@query) through the module proxy.
type resolveFunc func(ctx context.Context, query string) (moduleVersion, error)

// goListResolve asks the go command (and so GOPROXY) for the version a query names.
func goListResolve(ctx context.Context, query string) (moduleVersion, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-json", query)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return moduleVersion{}, fmt.Errorf("go list -m %s: %w: %s", query, err, strings.TrimSpace(stderr.String()))
	}
	var v moduleVersion
	if err := json.Unmarshal(out, &v); err != nil || v.Version == "" {
		return moduleVersion{}, fmt.Errorf("go list -m %s: no version in %q (%v)", query, out, err)
	}
	return v, nil
}

// wholePseudo is the only shape of version written into the shell script.
var wholePseudo = regexp.MustCompile(`^v0\.0\.0-[0-9]{14}-[0-9a-f]{12}$`)

// pseudoTime is the commit time a pseudo-version carries (vX.Y.Z-yyyymmddhhmmss-hash).
func pseudoTime(version string) (time.Time, error) {
	m := regexp.MustCompile(`[-.]([0-9]{14})-[0-9a-f]{12}$`).FindStringSubmatch(version)
	if m == nil {
		return time.Time{}, fmt.Errorf("%s is not a pseudo-version", version)
	}
	return time.Parse("20060102150405", m[1])
}

// rewritePin returns script with its one pin set to version (and the date comment to its date),
// and the version it held.
func rewritePin(script, version string) (updated, old string, err error) {
	pins := pinLine.FindAllStringSubmatch(script, -1)
	if len(pins) != 1 {
		return "", "", fmt.Errorf("found %d lines vulndb_version=\"${VULNDB_VERSION:-v...}\", want exactly one", len(pins))
	}
	if !wholePseudo.MatchString(version) {
		return "", "", fmt.Errorf("%q is not a plain pseudo-version v0.0.0-yyyymmddhhmmss-hash: not written into the script", version)
	}
	t, err := pseudoTime(version)
	if err != nil {
		return "", "", err
	}
	if oldT, err := pseudoTime(pins[0][1]); err == nil && t.Before(oldT) {
		return "", "", fmt.Errorf("%s (%s) is older than the pinned %s (%s): a stale proxy? not moving the pin back",
			version, t.Format(time.DateOnly), pins[0][1], oldT.Format(time.DateOnly))
	}
	updated = pinLine.ReplaceAllLiteralString(script, `vulndb_version="${VULNDB_VERSION:-`+version+`}"`)
	updated = dateLine.ReplaceAllLiteralString(updated, "# The reports as of "+t.Format(time.DateOnly)+" (the pseudo-version's time; make vulncheck-update moves it on).")
	return updated, pins[0][1], nil
}

// updatePin resolves golang.org/x/vulndb@master (the reports' default branch) through the module
// proxy, falling back to @latest where the proxy refuses a branch query, writes the pseudo-version
// into script's pin and prints old → new with their dates.
func updatePin(ctx context.Context, script string, out io.Writer, resolve resolveFunc) error {
	b, err := os.ReadFile(script)
	if err != nil {
		return err
	}
	var v moduleVersion
	for _, q := range []string{"master", "latest"} {
		if v, err = resolve(ctx, vulndbModule+"@"+q); err == nil {
			fmt.Fprintf(out, "%s@%s is %s\n", vulndbModule, q, v.Version)
			break
		}
		fmt.Fprintf(out, "%s@%s: %v\n", vulndbModule, q, err)
	}
	if err != nil {
		return fmt.Errorf("the module proxy resolved neither %s@master nor @latest", vulndbModule)
	}
	updated, old, err := rewritePin(string(b), v.Version)
	if err != nil {
		return fmt.Errorf("%s: %w", script, err)
	}
	date := func(version string) string {
		t, err := pseudoTime(version)
		if err != nil {
			return "unknown date"
		}
		return t.Format(time.DateOnly)
	}
	if old == v.Version {
		fmt.Fprintf(out, "%s: already at %s (%s)\n", script, old, date(old))
		return nil
	}
	if err := os.WriteFile(script, []byte(updated), 0o755); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s (%s) → %s (%s)\n", script, old, date(old), v.Version, date(v.Version))
	fmt.Fprintln(out, "next: make vulncheck (builds the new database once, about a minute), then commit the script, "+
		"with the bumps or reviewed allow-list entries any new finding needs")
	return nil
}

// staleWarning is make vulncheck's warning when the database (last modified at modified, RFC
// 3339) is older than staleAfter at now; "" otherwise.
func staleWarning(modified string, now time.Time) string {
	t, err := time.Parse(time.RFC3339, modified)
	if err != nil || now.Sub(t) <= staleAfter {
		return ""
	}
	return fmt.Sprintf("WARNING: the vulnerability database is %d days old (pinned, last modified %s; more than %d days): "+
		"vulnerabilities published since are not checked. Run make vulncheck-update, then make vulncheck, and commit the new pin.",
		int(now.Sub(t).Hours()/24), t.Format(time.DateOnly), int(staleAfter.Hours()/24))
}
