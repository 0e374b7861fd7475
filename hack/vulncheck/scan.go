package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
)

// target is one govulncheck run: a package pattern in source mode or a binary in binary mode.
type target struct {
	mode string // "source" or "binary"
	path string
	dir  string
}

// The parts of govulncheck's JSON stream (golang.org/x/vuln/internal/govulncheck) read here.
type message struct {
	Config  *scanConfig `json:"config"`
	OSV     *osvEntry   `json:"osv"`
	Finding *finding    `json:"finding"`
}

// scanConfig is how govulncheck ran: the level it could reach and the database's date.
type scanConfig struct {
	ScanLevel      string `json:"scan_level"`
	DBLastModified string `json:"db_last_modified"`
	GoVersion      string `json:"go_version"`
}

type osvEntry struct {
	ID      string   `json:"id"`
	Summary string   `json:"summary"`
	Aliases []string `json:"aliases"`
}

type finding struct {
	OSV          string  `json:"osv"`
	FixedVersion string  `json:"fixed_version"`
	Trace        []frame `json:"trace"`
}

// frame is one step of a finding's trace: the first is the vulnerable symbol (or, for a finding
// at module or package level, just the module or package), the last the caller in our code.
type frame struct {
	Module   string    `json:"module"`
	Version  string    `json:"version"`
	Package  string    `json:"package"`
	Function string    `json:"function"`
	Receiver string    `json:"receiver"`
	Position *position `json:"position"`
}

type position struct {
	Filename string `json:"filename"`
	Line     int    `json:"line"`
}

// vuln is one vulnerability found in one target.
type vuln struct {
	ID, Summary, Aliases string
	Module, Version      string // the vulnerable module and the version linked
	Fixed                string // "" when no fixed version exists
	Symbol, Caller       string // the vulnerable symbol and our call site (reachable ones)
}

type result struct {
	target    target
	config    scanConfig
	reachable map[string]vuln // by OSV ID
	imported  map[string]vuln
}

// scan runs govulncheck over t and sorts its findings into reachable (a trace down to a
// function) and imported only.
func scan(ctx context.Context, bin, db string, t target) (result, error) {
	args := []string{"-db", "file://" + db, "-format", "json", "-C", t.dir}
	if t.mode == "binary" {
		args = append(args, "-mode", "binary")
	}
	args = append(args, t.path)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("govulncheck %s %s: %w\n%s", t.mode, t.path, err, strings.TrimSpace(stderr.String()))
	}
	return parse(t, &stdout)
}

// parse reads govulncheck's JSON stream (one object after another, not a JSON array).
func parse(t target, r io.Reader) (result, error) {
	res := result{target: t, reachable: map[string]vuln{}, imported: map[string]vuln{}}
	osvs := map[string]*osvEntry{}
	var findings []*finding
	dec := json.NewDecoder(r)
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return result{}, fmt.Errorf("reading govulncheck's output for %s %s: %w", t.mode, t.path, err)
		}
		if m.Config != nil {
			res.config = *m.Config
		}
		if m.OSV != nil {
			osvs[m.OSV.ID] = m.OSV
		}
		if m.Finding != nil && len(m.Finding.Trace) > 0 {
			findings = append(findings, m.Finding)
		}
	}
	// Only a symbol-level scan can say a vulnerable function is reached or linked: at package or
	// module level (a binary without usable symbol tables, say) every finding would look like
	// imported-only and the gate would pass for nothing.
	if res.config.ScanLevel != "symbol" {
		return result{}, fmt.Errorf("govulncheck scanned %s %s at level %q, not \"symbol\": its findings could not be gated", t.mode, t.path, res.config.ScanLevel)
	}
	for _, f := range findings {
		v := vuln{ID: f.OSV, Module: f.Trace[0].Module, Version: f.Trace[0].Version, Fixed: f.FixedVersion}
		if o := osvs[f.OSV]; o != nil {
			v.Summary = o.Summary
			v.Aliases = strings.Join(o.Aliases, ", ")
		}
		if f.Trace[0].Function == "" {
			if _, seen := res.reachable[v.ID]; !seen {
				res.imported[v.ID] = v
			}
			continue
		}
		v.Symbol = symbol(f.Trace[0])
		v.Caller = caller(f.Trace)
		if old, seen := res.reachable[v.ID]; !seen || old.Caller > v.Caller { // one stable example
			res.reachable[v.ID] = v
		}
		delete(res.imported, v.ID)
	}
	return res, nil
}

func symbol(f frame) string {
	s := f.Package + "."
	if f.Receiver != "" {
		s += strings.TrimPrefix(f.Receiver, "*") + "."
	}
	return s + f.Function
}

// caller names the outermost frame of a trace: where our code (or the binary's entry) calls in.
func caller(tr []frame) string {
	f := tr[len(tr)-1]
	s := symbol(f)
	if f.Position != nil && f.Position.Filename != "" {
		s += fmt.Sprintf(" (%s:%d)", f.Position.Filename, f.Position.Line)
	}
	return s
}

func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
