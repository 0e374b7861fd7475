package schedule

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// -update rewrites the golden files of this package's characterisation tests. Run it only for
// a change meant to alter the LP or the solver's trajectory, and say so in the commit.
var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenProblem is one program the characterisation tests pin down.
type goldenProblem struct {
	name  string
	build func(t *testing.T) *Problem
}

func generated(cfg ProgramConfig, noFairness bool) func(t *testing.T) *Problem {
	return func(t *testing.T) *Problem {
		t.Helper()
		p, err := GenerateProgram(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if noFairness {
			p.Weights = DefaultWeights()
			p.Weights.Fairness = 0
		}
		return p
	}
}

// lockedProgram exercises what the generated programs do not: locked residents and faculty
// (one on a template without supervision, which counts against the weekly cap), an Off
// template and a zero-hour one held under a lock, preferences, a kept resident, and a time
// zone whose clocks change inside the range.
func lockedProgram(t *testing.T) *Problem {
	t.Helper()
	from := Date{2026, time.October, 29}
	p, err := GenerateProgram(ProgramConfig{Residents: 6, Faculty: 3, From: from, To: from.AddDays(6), AbsenceRate: 0.05, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	if p.Location, err = time.LoadLocation("America/New_York"); err != nil {
		t.Fatal(err)
	}
	p.Templates = append(p.Templates,
		Template{ID: "leave", Name: "Leave", Activity: Off, MaxResidents: 1},
		Template{ID: "reading", Name: "Reading", Activity: Conference, MaxResidents: 2})
	p.Absences = nil
	am, pm := func(d int) Slot { return Slot{from.AddDays(d), AM} }, func(d int) Slot { return Slot{from.AddDays(d), PM} }
	p.Fixed = []Assignment{
		{Slot: am(0), PersonID: "r001", TemplateID: "inpatient", Locked: true},
		{Slot: pm(0), PersonID: "r001", TemplateID: "night-call", Locked: true},
		{Slot: am(1), PersonID: "r002", TemplateID: "leave", Locked: true},
		{Slot: am(1), PersonID: "r003", TemplateID: "reading", Locked: true},
		{Slot: am(0), PersonID: "f001", TemplateID: "clinic", Locked: true},
		{Slot: am(1), PersonID: "f002", TemplateID: "inpatient", Locked: true},
		{Slot: am(4), PersonID: "r004", TemplateID: "clinic"},
	}
	p.Keep = []string{"r004"}
	p.Preferences = []Preference{
		{PersonID: "r005", TemplateID: "clinic", Weight: 2},
		{PersonID: "r006", TemplateID: "night-call", Weight: -1.5},
		{PersonID: "f003", TemplateID: "procedures", Weight: 1},
	}
	return p
}

var goldenProblems = []goldenProblem{
	// The four programs of TestSolverAgainstCBCOptimum.
	{"cbc-4r2f7d", generated(ProgramConfig{Residents: 4, Faculty: 2, From: Date{2026, time.July, 2}, To: Date{2026, time.July, 8}, Seed: 1}, true)},
	{"cbc-6r2f7d", generated(ProgramConfig{Residents: 6, Faculty: 2, From: Date{2026, time.July, 2}, To: Date{2026, time.July, 8}, AbsenceRate: 0.1, Seed: 2}, true)},
	{"cbc-6r3f10d", generated(ProgramConfig{Residents: 6, Faculty: 3, From: Date{2026, time.July, 2}, To: Date{2026, time.July, 11}, AbsenceRate: 0.05, Seed: 3}, true)},
	{"cbc-9r3f7d", generated(ProgramConfig{Residents: 9, Faculty: 3, From: Date{2026, time.July, 2}, To: Date{2026, time.July, 8}, Seed: 4}, true)},
	// The predecessor's size (BenchmarkSolveBlock18Residents12Faculty, TestPredecessorSizeBlock).
	{"block-18r12f", generated(ProgramConfig{Residents: 18, Faculty: 12, From: Date{2026, time.July, 2}, To: Date{2026, time.July, 29}, AbsenceRate: 0.05, Seed: 1}, false)},
	{"locked-dst", lockedProgram},
}

// compareGolden compares got with testdata/name, or rewrites it under -update.
func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

// The LP export is pinned byte for byte: WriteLP's output for each golden problem is summed up
// by its size, line count and SHA-256 (the models run to megabytes), so that a restructuring of
// the writer shows at once whether one row, term or name moved.
func TestWriteLPMatchesGolden(t *testing.T) {
	var sums bytes.Buffer
	for _, g := range goldenProblems {
		var lp bytes.Buffer
		if _, err := WriteLP(&lp, g.build(t)); err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		fmt.Fprintf(&sums, "%s %d bytes %d lines sha256 %x\n", g.name, lp.Len(), bytes.Count(lp.Bytes(), []byte("\n")), sha256.Sum256(lp.Bytes()))
	}
	compareGolden(t, "writelp.golden", sums.Bytes())
}

// The solver's trajectory is pinned for a seed and an iteration cap: the statistics that do not
// depend on the clock, every assignment (by SHA-256) and Cost of the result come out the same.
func TestSolveMatchesGolden(t *testing.T) {
	var out bytes.Buffer
	for _, g := range goldenProblems {
		for _, maxIt := range []int{3000, 20000} {
			p := g.build(t)
			res, err := Solve(context.Background(), p, Options{Seed: 5, TimeBudget: 5 * time.Minute, MaxIterations: maxIt})
			if err != nil {
				t.Fatalf("%s: %v", g.name, err)
			}
			cost, short, err := Cost(p, res.Assignments)
			if err != nil {
				t.Fatalf("%s: %v", g.name, err)
			}
			st := res.Stats
			h := sha256.New()
			for _, a := range res.Assignments {
				fmt.Fprintf(h, "%+v\n", a)
			}
			fmt.Fprintf(&out, "%s/%d: stopped %s it %d accepted %d restarts %d objective %v shortfall %d coverage %v spread %v construct %v assignments %d sha256 %x; Cost %v/%d\n",
				g.name, maxIt, st.StoppedBy, st.Iterations, st.Accepted, st.Restarts, st.Objective, st.Shortfall,
				st.CoverageRate, st.FairnessSpread, st.ConstructObj, st.Assignments, h.Sum(nil), cost, short)
		}
	}
	compareGolden(t, "solve.golden", out.Bytes())
}
