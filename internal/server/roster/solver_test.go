package roster

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

func block1() (Date, Date) { return Date{2026, time.July, 2}, Date{2026, time.July, 29} }

func hardOnly(vs []acgme.Violation) []acgme.Violation {
	var out []acgme.Violation
	for _, v := range vs {
		if Hard(v.Rule) {
			out = append(out, v)
		}
	}
	return out
}

// solveCompliant solves p and fails the test, naming what (a seed, a case), unless the schedule
// breaks no hard rule.
func solveCompliant(t *testing.T, what string, p *Problem, o Options) *Result {
	t.Helper()
	res, err := Solve(context.Background(), p, o)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := Validate(p, res.Assignments)
	if err != nil {
		t.Fatal(err)
	}
	if hard := hardOnly(vs); len(hard) > 0 {
		t.Fatalf("%s: %d hard violations, first %+v", what, len(hard), hard[0])
	}
	return res
}

// Every schedule the solver returns passes the validator's hard rules, over many generated
// programs of different sizes, absence rates and seeds.
func TestSolverSchedulesPassTheValidator(t *testing.T) {
	from, to := block1()
	n := 0
	for seed := uint64(1); seed <= 24; seed++ {
		cfg := ProgramConfig{Residents: 6 + int(seed%4)*4, Faculty: 3 + int(seed%3)*3, From: from, To: to, AbsenceRate: float64(seed%4) * 0.05, Seed: seed}
		p, err := GenerateProgram(cfg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Solve(context.Background(), p, Options{Seed: seed, TimeBudget: 5 * time.Second, MaxIterations: 20000})
		if err != nil {
			t.Fatal(err)
		}
		vs, err := Validate(p, res.Assignments)
		if err != nil {
			t.Fatal(err)
		}
		if hard := hardOnly(vs); len(hard) > 0 {
			t.Fatalf("seed %d (%+v): %d hard violations, first %+v", seed, cfg, len(hard), hard[0])
		}
		cov := 0
		for _, v := range vs {
			if v.Rule == RuleCoverage {
				cov += int(v.Limit - v.Value)
			}
		}
		if cov != res.Stats.Shortfall {
			t.Fatalf("seed %d: validator counts a shortfall of %d, the solver %d", seed, cov, res.Stats.Shortfall)
		}
		n += len(res.Assignments)
	}
	t.Logf("%d assignments checked", n)
}

func TestSolverIsDeterministicForASeed(t *testing.T) {
	from, to := block1()
	p, _ := GenerateProgram(ProgramConfig{Residents: 12, Faculty: 6, From: from, To: to, AbsenceRate: 0.1, Seed: 7})
	a, err := Solve(context.Background(), p, Options{Seed: 3, MaxIterations: 5000, TimeBudget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := GenerateProgram(ProgramConfig{Residents: 12, Faculty: 6, From: from, To: to, AbsenceRate: 0.1, Seed: 7})
	b, _ := Solve(context.Background(), p2, Options{Seed: 3, MaxIterations: 5000, TimeBudget: time.Minute})
	if len(a.Assignments) != len(b.Assignments) || a.Stats.Objective != b.Stats.Objective {
		t.Fatalf("two runs differ: %d/%v vs %d/%v", len(a.Assignments), a.Stats.Objective, len(b.Assignments), b.Stats.Objective)
	}
	for i := range a.Assignments {
		if a.Assignments[i] != b.Assignments[i] {
			t.Fatalf("assignment %d differs: %+v vs %+v", i, a.Assignments[i], b.Assignments[i])
		}
	}
}

func TestPredecessorSizeBlock(t *testing.T) {
	from, to := block1()
	p, _ := GenerateProgram(ProgramConfig{Residents: 18, Faculty: 12, From: from, To: to, AbsenceRate: 0.05, Seed: 1})
	res, err := Solve(context.Background(), p, Options{Seed: 1, TimeBudget: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := Validate(p, res.Assignments)
	t.Logf("stats %+v, hard %d", res.Stats, len(hardOnly(vs)))
}

func TestSolverKeepsLocksAndAddsNoViolationToThem(t *testing.T) {
	from, to := block1()
	p, _ := GenerateProgram(ProgramConfig{Residents: 9, Faculty: 4, From: from, To: to, Seed: 5})
	// Seven consecutive locked inpatient mornings for r001: one violation the solver must keep
	// as it is and not add to.
	for d := range 7 {
		p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from.AddDays(d), AM}, PersonID: "r001", TemplateID: "inpatient", Locked: true})
	}
	res, err := Solve(context.Background(), p, Options{Seed: 1, MaxIterations: 20000, TimeBudget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	locked := 0
	for _, a := range res.Assignments {
		if a.Locked {
			locked++
			if a.PersonID != "r001" || a.TemplateID != "inpatient" || a.Slot.Half != AM {
				t.Fatalf("unexpected locked assignment %+v", a)
			}
		}
	}
	if locked != 7 {
		t.Fatalf("%d locked assignments kept, want 7", locked)
	}
	vs, _ := Validate(p, res.Assignments)
	hard := hardOnly(vs)
	if len(hard) != 1 || hard[0].Rule != acgme.RuleConsecutiveDays || hard[0].PersonID != "r001" || hard[0].Value != 7 {
		t.Fatalf("want only the planted 7-day run, got %+v", hard)
	}
	// With locked cells in the range, the solver's shortfall still agrees with the validator's.
	cov := 0
	for _, v := range vs {
		if v.Rule == RuleCoverage {
			cov += int(v.Limit - v.Value)
		}
	}
	cost, short, err := Cost(p, res.Assignments)
	if err != nil || short != cov || res.Stats.Shortfall != cov || math.Abs(cost-res.Stats.Objective) > 1e-6 {
		t.Fatalf("shortfall: validator %d, solver %d, Cost %d (%v); cost %v vs %v", cov, res.Stats.Shortfall, short, err, cost, res.Stats.Objective)
	}
}

func TestImpossibleInputIsAnInputError(t *testing.T) {
	from, to := block1()
	base := func() *Problem {
		p, _ := GenerateProgram(ProgramConfig{Residents: 6, Faculty: 3, From: from, To: to, Seed: 2})
		return p
	}
	cases := map[string]func(*Problem){
		"end before start":           func(p *Problem) { p.To = p.From.AddDays(-1) },
		"minimum above the eligible": func(p *Problem) { p.Templates[2].MinResidents = 5 }, // procedures take PGY 2-3: 4 residents
		"unknown person in a lock": func(p *Problem) {
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from, AM}, PersonID: "nobody", TemplateID: "clinic", Locked: true})
		},
		"a locked PGY-1 on procedures": func(p *Problem) {
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from, AM}, PersonID: "r001", TemplateID: "procedures", Locked: true})
		},
		"a day session of 7 hours": func(p *Problem) { p.Templates[0].HoursPerSession = 7 },
		"two locks in one half-day": func(p *Problem) {
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from, AM}, PersonID: "r002", TemplateID: "clinic", Locked: true},
				Assignment{Slot: Slot{from, AM}, PersonID: "r002", TemplateID: "inpatient", Locked: true})
		},
		"a range of two years": func(p *Problem) { p.To = p.From.AddDays(730) },
		"a lock on an absent day": func(p *Problem) {
			p.Absences = append(p.Absences, Absence{PersonID: "r002", Start: from, End: from})
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from, AM}, PersonID: "r002", TemplateID: "clinic", Locked: true})
		},
		"a lock on a half-day the template does not run": func(p *Problem) {
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from.AddDays(2), AM}, PersonID: "r002", TemplateID: "clinic", Locked: true}) // a Saturday
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			p := base()
			mutate(p)
			_, err := Solve(context.Background(), p, Options{MaxIterations: 10})
			if !IsInputError(err) {
				t.Fatalf("got %v, want an InputError", err)
			}
		})
	}
}

func TestSolverStopsWhenCancelled(t *testing.T) {
	y := AcademicYear(2026)
	p, _ := GenerateProgram(ProgramConfig{Residents: 60, Faculty: 20, From: y.First(), To: y.Last(), Seed: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Solve(ctx, p, Options{TimeBudget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.StoppedBy != "cancelled" || time.Since(start) > 2*time.Second {
		t.Fatalf("stopped by %q after %v", res.Stats.StoppedBy, time.Since(start))
	}
	// What it had is still a schedule without hard violations.
	vs, _ := Validate(p, res.Assignments)
	if h := hardOnly(vs); len(h) > 0 {
		t.Fatalf("%d hard violations after cancellation: %+v", len(h), h[0])
	}
}

// Kept people come out exactly as they went in: their fixed half-days stay, their free ones stay
// free (neither a move nor the supervision fill places them), and the schedule still passes.
func TestSolverLeavesKeptPeopleAsTheyAre(t *testing.T) {
	from, to := block1()
	p, err := GenerateProgram(ProgramConfig{Residents: 12, Faculty: 6, From: from, To: to, AbsenceRate: 0.05, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	// r001 holds two half-days of the range; f001 holds none; both are kept.
	p.Fixed = append(p.Fixed,
		Assignment{Slot: Slot{Date: from, Half: AM}, PersonID: "r001", TemplateID: "inpatient"},
		Assignment{Slot: Slot{Date: from.AddDays(1), Half: AM}, PersonID: "r001", TemplateID: "inpatient"})
	p.Absences = slicesWithout(p.Absences, "r001")
	p.Keep = []string{"r001", "f001"}
	res, err := Solve(context.Background(), p, Options{Seed: 1, TimeBudget: 5 * time.Second, MaxIterations: 5000})
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]int{}
	for _, a := range res.Assignments {
		held[a.PersonID]++
		if a.PersonID == "r001" && !(a.Slot.Half == AM && (a.Slot.Date == from || a.Slot.Date == from.AddDays(1))) {
			t.Fatalf("a kept resident was placed: %+v", a)
		}
	}
	if held["r001"] != 2 || held["f001"] != 0 || held["r002"] == 0 || held["f002"] == 0 {
		t.Fatalf("half-days held: r001 %d (want 2), f001 %d (want 0), r002 %d, f002 %d", held["r001"], held["f001"], held["r002"], held["f002"])
	}
	vs, err := Validate(p, res.Assignments)
	if err != nil {
		t.Fatal(err)
	}
	if hard := hardOnly(vs); len(hard) > 0 {
		t.Fatalf("%d hard violations, first %+v", len(hard), hard[0])
	}
	p.Keep = []string{"nobody"}
	if _, err := Solve(context.Background(), p, Options{TimeBudget: time.Second}); !IsInputError(err) {
		t.Fatalf("an unknown kept person: %v, want an InputError", err)
	}
}

func slicesWithout(as []Absence, person string) []Absence {
	var out []Absence
	for _, a := range as {
		if a.PersonID != person {
			out = append(out, a)
		}
	}
	return out
}
