package roster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
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
			p.Weights = linearWeights()
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

// brokenSchedule adds to a schedule of p everything Validate reports: everyone on clinic on the
// first Saturday morning (not staffed, double-booked where already placed, absent where away,
// over capacity), a PGY-1 on procedures, a PGY-2 on procedures on Saturday afternoon
// (unsupervised), and the faculty on didactics every weekday afternoon of the first week (over
// their weekly caps).
func brokenSchedule(p *Problem, as []Assignment) []Assignment {
	out := slices.Clone(as)
	sat := p.From
	for sat.Weekday() != time.Saturday {
		sat = sat.AddDays(1)
	}
	for _, x := range p.People {
		out = append(out, Assignment{Slot: Slot{sat, AM}, PersonID: x.ID, TemplateID: "clinic"})
		if x.Type == Faculty {
			for d := range 7 {
				if day := p.From.AddDays(d); day.Weekday() != time.Saturday && day.Weekday() != time.Sunday {
					out = append(out, Assignment{Slot: Slot{day, PM}, PersonID: x.ID, TemplateID: "didactics"})
				}
			}
		}
	}
	return append(out, Assignment{Slot: Slot{p.From, AM}, PersonID: "r001", TemplateID: "procedures"},
		Assignment{Slot: Slot{sat, PM}, PersonID: "r002", TemplateID: "procedures"})
}

// Validate is pinned too: for each golden problem, the violations of a solved schedule and of
// the same schedule broken in every way Validate knows, in order, by rule count and SHA-256.
func TestValidateMatchesGolden(t *testing.T) {
	var out bytes.Buffer
	for _, g := range goldenProblems {
		p := g.build(t)
		res, err := Solve(context.Background(), p, Options{Seed: 5, TimeBudget: 5 * time.Minute, MaxIterations: 3000})
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		for _, c := range []struct {
			name string
			as   []Assignment
		}{{"solved", res.Assignments}, {"broken", brokenSchedule(p, res.Assignments)}} {
			vs, err := Validate(p, c.as)
			if err != nil {
				t.Fatalf("%s/%s: %v", g.name, c.name, err)
			}
			h, rules := sha256.New(), map[acgme.Rule]int{}
			for _, v := range vs {
				fmt.Fprintf(h, "%+v\n", v)
				rules[v.Rule]++
			}
			fmt.Fprintf(&out, "%s/%s: %d violations %v sha256 %x\n", g.name, c.name, len(vs), rules, h.Sum(nil))
		}
	}
	compareGolden(t, "validate.golden", out.Bytes())
}

// Problem.check's verdicts are pinned word for word: the first error of each broken problem.
func TestCheckMatchesGolden(t *testing.T) {
	from, to := block1()
	cases := []struct {
		name   string
		mutate func(*Problem)
	}{
		{"valid", func(*Problem) {}},
		{"end before start", func(p *Problem) { p.To = p.From.AddDays(-1) }},
		{"range too long", func(p *Problem) { p.To = p.From.AddDays(730) }},
		{"empty person id", func(p *Problem) { p.People[0].ID = "" }},
		{"repeated person id", func(p *Problem) { p.People[1].ID = p.People[0].ID }},
		{"PGY 9", func(p *Problem) { p.People[0].PGY = 9 }},
		{"unknown type", func(p *Problem) { p.People[0].Type = "nurse" }},
		{"invalid template", func(p *Problem) { p.Templates[0].HoursPerSession = 7 }},
		{"repeated template", func(p *Problem) { p.Templates[1].ID = p.Templates[0].ID }},
		{"two fixed in a half-day", func(p *Problem) {
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from, AM}, PersonID: "r002", TemplateID: "clinic"},
				Assignment{Slot: Slot{from, AM}, PersonID: "r002", TemplateID: "inpatient"})
		}},
		{"bad half", func(p *Problem) {
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from, "noon"}, PersonID: "r002", TemplateID: "clinic"})
		}},
		{"fixed unknown person", func(p *Problem) {
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from, AM}, PersonID: "nobody", TemplateID: "clinic"})
		}},
		{"fixed unknown template", func(p *Problem) {
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from, AM}, PersonID: "r002", TemplateID: "nothing"})
		}},
		{"fixed PGY-1 on procedures outside the range", func(p *Problem) {
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from.AddDays(-3), AM}, PersonID: "r001", TemplateID: "procedures"})
		}},
		{"fixed outside the range", func(p *Problem) {
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from.AddDays(-2), AM}, PersonID: "r002", TemplateID: "clinic"})
		}},
		{"fixed when not staffed", func(p *Problem) {
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from.AddDays(2), AM}, PersonID: "r002", TemplateID: "clinic"})
		}},
		{"fixed while absent", func(p *Problem) {
			p.Absences = append(p.Absences, Absence{PersonID: "r002", Start: from, End: from})
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from, AM}, PersonID: "r002", TemplateID: "clinic"})
		}},
		{"fixed over capacity", func(p *Problem) {
			for _, id := range []string{"r002", "r003", "r004"} {
				p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from, PM}, PersonID: id, TemplateID: "night-call"})
			}
		}},
		{"fixed faculty over the cap", func(p *Problem) {
			for d := range 7 {
				for _, h := range []Half{AM, PM} {
					p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from.AddDays(d), h}, PersonID: "f001", TemplateID: "inpatient"})
				}
			}
		}},
		{"absence of nobody", func(p *Problem) { p.Absences = append(p.Absences, Absence{PersonID: "nobody", Start: from, End: from}) }},
		{"absence inverted", func(p *Problem) {
			p.Absences = append(p.Absences, Absence{PersonID: "r002", Start: from.AddDays(1), End: from})
		}},
		{"kept nobody", func(p *Problem) { p.Keep = []string{"r001", "nobody"} }},
		{"preference of nobody", func(p *Problem) { p.Preferences = []Preference{{PersonID: "nobody", TemplateID: "clinic", Weight: 1}} }},
		{"preference for nothing", func(p *Problem) { p.Preferences = []Preference{{PersonID: "r001", TemplateID: "nothing", Weight: 1}} }},
		{"minimum above the eligible", func(p *Problem) { p.Templates[2].MinResidents, p.Templates[2].MaxResidents = 5, 5 }},
	}
	var out bytes.Buffer
	for _, c := range cases {
		p, err := GenerateProgram(ProgramConfig{Residents: 6, Faculty: 3, From: from, To: to, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		c.mutate(p)
		fmt.Fprintf(&out, "%s: %v\n", c.name, p.check())
	}
	compareGolden(t, "check.golden", out.Bytes())
}
