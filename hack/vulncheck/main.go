// Command vulncheck is the known-vulnerability gate of `make vulncheck` (part of `make test`): it
// runs govulncheck offline, against the Go vulnerability database hack/get-vulncheck.sh builds from
// the module proxy, over the source tree and over the binaries we ship, and fails when a
// vulnerability is reachable (a vulnerable function is called) unless hack/vulncheck/allow.yaml
// lists it with a reason. An allow-list entry that has expired, or that no longer matches anything
// (the dependency was bumped: delete the entry), fails the gate too, so exceptions do not outlive
// their review. Vulnerabilities in code that is imported but never called are counted, not gated.
// A database pinned more than 45 days back gets a warning naming make vulncheck-update, which runs
// it with -update-pin: the pin moved to golang.org/x/vulndb@master as the module proxy resolves it.
//
//	go run ./hack/vulncheck -govulncheck BIN -db DIR -allow hack/vulncheck/allow.yaml \
//	    -source ./... bin/manager bin/scheduler bin/kubectl-rsched
//	go run ./hack/vulncheck -update-pin hack/get-vulncheck.sh
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "vulncheck:", err)
		os.Exit(1)
	}
}

// errGate is returned when the gate finds something; the report says what.
var errGate = errors.New("known vulnerabilities are reachable (see above)")

func run(ctx context.Context, args []string, out io.Writer, now time.Time) error {
	return runWith(ctx, args, out, now, goListResolve)
}

func runWith(ctx context.Context, args []string, out io.Writer, now time.Time, resolve resolveFunc) error {
	fs := flag.NewFlagSet("vulncheck", flag.ContinueOnError)
	bin := fs.String("govulncheck", "", "Path of the govulncheck binary (hack/get-vulncheck.sh).")
	db := fs.String("db", "", "Directory of the offline vulnerability database (hack/get-vulncheck.sh's db/).")
	allowPath := fs.String("allow", "hack/vulncheck/allow.yaml", "The reviewed allow-list.")
	dir := fs.String("C", ".", "Module directory the -source pattern is relative to.")
	source := fs.String("source", "", "Package pattern to analyse in source mode (e.g. ./...); empty for none.")
	updateScript := fs.String("update-pin", "", "Instead of checking: move the database pin in this script (hack/get-vulncheck.sh) to "+vulndbModule+"@master.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *updateScript != "" {
		return updatePin(ctx, *updateScript, out, resolve)
	}
	if *bin == "" || *db == "" {
		return errors.New("-govulncheck and -db are required: run it through `make vulncheck`")
	}
	var targets []target
	if *source != "" {
		targets = append(targets, target{mode: "source", path: *source, dir: *dir})
	}
	for _, b := range fs.Args() {
		targets = append(targets, target{mode: "binary", path: b, dir: *dir})
	}
	if len(targets) == 0 {
		return errors.New("nothing to check: give -source and/or binaries")
	}
	allow, err := readAllowList(*allowPath, now)
	if err != nil {
		return err
	}
	var results []result
	for _, t := range targets {
		start := time.Now()
		r, err := scan(ctx, *bin, *db, t)
		if err != nil {
			return err
		}
		toolchain := ""
		if r.config.GoVersion != "" { // source mode: the Go the packages were loaded with
			toolchain = " (" + r.config.GoVersion + ")"
		}
		fmt.Fprintf(out, "%s %s%s: %d reachable, %d more imported but not called (%.0f s)\n",
			t.mode, t.path, toolchain, len(r.reachable), len(r.imported), time.Since(start).Seconds())
		results = append(results, r)
	}
	if len(results) > 0 {
		fmt.Fprintln(out, dbAge(results[0].config.DBLastModified, now))
		if w := staleWarning(results[0].config.DBLastModified, now); w != "" {
			fmt.Fprintln(out, w)
		}
	}
	v := evaluate(results, allow)
	v.print(out)
	if !v.ok() {
		return errGate
	}
	return nil
}

// dbAge says how old the database is: it is pinned for reproducible runs, so a clean gate means
// "nothing known as of that date" (docs/development.md says how to move it on).
func dbAge(modified string, now time.Time) string {
	t, err := time.Parse(time.RFC3339, modified)
	if err != nil {
		return fmt.Sprintf("vulnerability database: last modified %q", modified)
	}
	return fmt.Sprintf("vulnerability database: last modified %s (%d days ago; make vulncheck-update moves it on)",
		t.Format(time.DateOnly), int(now.Sub(t).Hours()/24))
}
