package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// maxReviewSpan is the longest an exception may stand before it is reviewed again.
const maxReviewSpan = 90 * 24 * time.Hour

// allowList is hack/vulncheck/allow.yaml.
type allowList struct {
	Allow []allowEntry `json:"allow"`
}

// allowEntry is one reviewed exception: a vulnerability govulncheck reports as reachable that we
// ship anyway, with why, who looked and until when.
type allowEntry struct {
	// ID is the Go vulnerability database's ID (GO-YYYY-NNNN).
	ID string `json:"id"`
	// Reason says why the finding does not affect rsched or why it cannot be fixed yet.
	Reason string `json:"reason"`
	// ReviewedBy names who reviewed it.
	ReviewedBy string `json:"reviewedBy"`
	// Reviewed and Expires are dates (YYYY-MM-DD), at most 90 days apart.
	Reviewed string `json:"reviewed"`
	Expires  string `json:"expires"`

	expires time.Time
}

var vulnID = regexp.MustCompile(`^GO-\d{4}-\d{4,}$`)

// readAllowList reads and validates the allow-list; an expired entry is an error here, so the
// gate fails before it scans anything.
func readAllowList(path string, now time.Time) (map[string]allowEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the allow-list: %w", err)
	}
	return parseAllowList(path, b, now)
}

func parseAllowList(path string, b []byte, now time.Time) (map[string]allowEntry, error) {
	var l allowList
	if err := yaml.UnmarshalStrict(b, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]allowEntry{}
	var errs []error
	for i, e := range l.Allow {
		where := fmt.Sprintf("%s: entry %d (%s)", path, i+1, e.ID)
		if err := e.validate(now); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if _, dup := out[e.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: listed twice", where))
			continue
		}
		e.expires, _ = time.Parse(time.DateOnly, e.Expires)
		out[e.ID] = e
	}
	return out, errors.Join(errs...)
}

func (e allowEntry) validate(now time.Time) error {
	if !vulnID.MatchString(e.ID) {
		return errors.New("id must be a Go vulnerability database ID such as GO-2026-0001")
	}
	if strings.TrimSpace(e.Reason) == "" || strings.TrimSpace(e.ReviewedBy) == "" {
		return errors.New("reason and reviewedBy are required")
	}
	reviewed, err := time.Parse(time.DateOnly, e.Reviewed)
	if err != nil {
		return fmt.Errorf("reviewed %q is not a date (YYYY-MM-DD)", e.Reviewed)
	}
	expires, err := time.Parse(time.DateOnly, e.Expires)
	if err != nil {
		return fmt.Errorf("expires %q is not a date (YYYY-MM-DD)", e.Expires)
	}
	if !expires.After(reviewed) || expires.Sub(reviewed) > maxReviewSpan {
		return fmt.Errorf("expires must fall within 90 days after reviewed (%s)", e.Reviewed)
	}
	if !now.Before(expires) {
		return fmt.Errorf("expired on %s: review it again (fix it, or set new reviewed and expires dates)", e.Expires)
	}
	return nil
}

// verdict is the gate's decision over every target.
type verdict struct {
	found    map[string]vuln     // reachable, not allowed, by ID
	where    map[string][]string // the targets each reachable ID was found in
	allowed  map[string]allowEntry
	stale    []string // allow-list IDs nothing matched
	imported int      // distinct IDs imported but never called
}

func evaluate(results []result, allow map[string]allowEntry) verdict {
	v := verdict{found: map[string]vuln{}, where: map[string][]string{}, allowed: map[string]allowEntry{}}
	imported := map[string]bool{}
	for _, r := range results {
		for _, id := range sortedIDs(r.reachable) {
			v.where[id] = append(v.where[id], r.target.mode+" "+r.target.path)
			if e, ok := allow[id]; ok {
				v.allowed[id] = e
				continue
			}
			if _, seen := v.found[id]; !seen {
				v.found[id] = r.reachable[id]
			}
		}
		for id := range r.imported {
			imported[id] = true
		}
	}
	for id := range v.where {
		delete(imported, id)
	}
	v.imported = len(imported)
	for _, id := range sortedIDs(allow) {
		if _, ok := v.allowed[id]; !ok {
			v.stale = append(v.stale, id)
		}
	}
	return v
}

func (v verdict) ok() bool { return len(v.found) == 0 && len(v.stale) == 0 }

func (v verdict) print(w io.Writer) {
	for _, id := range sortedIDs(v.found) {
		f := v.found[id]
		fixed := "no fixed version yet"
		if f.Fixed != "" {
			fixed = "fixed in " + f.Fixed
		}
		fmt.Fprintf(w, "\nREACHABLE %s %s\n  %s@%s, %s\n  %s is called from %s\n  found in: %s\n",
			id, f.Summary, f.Module, f.Version, fixed, f.Symbol, f.Caller, strings.Join(v.where[id], "; "))
		if f.Aliases != "" {
			fmt.Fprintf(w, "  aliases: %s\n", f.Aliases)
		}
	}
	for _, id := range sortedIDs(v.allowed) {
		e := v.allowed[id]
		fmt.Fprintf(w, "allowed %s until %s (reviewed %s by %s): %s\n", id, e.Expires, e.Reviewed, e.ReviewedBy, e.Reason)
	}
	for _, id := range v.stale {
		fmt.Fprintf(w, "STALE allow-list entry %s: nothing reachable matches it any more; delete it\n", id)
	}
	switch {
	case v.ok():
		fmt.Fprintf(w, "vulncheck: no unreviewed reachable vulnerability (%d allowed; %d more in imported code that is never called)\n",
			len(v.allowed), v.imported)
	default:
		fmt.Fprintf(w, "\nvulncheck: %d reachable vulnerabilities not in the allow-list, %d stale entries: bump the module "+
			"(go get MODULE@FIXED; the standard library: the toolchain line in go.mod), or add a reviewed entry to hack/vulncheck/allow.yaml\n",
			len(v.found), len(v.stale))
	}
}
