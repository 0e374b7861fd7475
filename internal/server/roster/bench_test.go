package roster

import (
	"context"
	"testing"
	"time"
)

// benchSolve solves a generated program per iteration and reports the schedule's quality beside
// the time: coverage of template minimums, the fairness spread (worst PGY level, duty hours per
// available day) and hard violations found by the validator (must be 0).
func benchSolve(b *testing.B, cfg ProgramConfig, budget time.Duration) {
	var last *Result
	var p *Problem
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var err error
		if p, err = GenerateProgram(cfg); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if last, err = Solve(context.Background(), p, Options{Seed: 1, TimeBudget: budget}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	vs, err := Validate(p, last.Assignments)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(last.Stats.CoverageRate*100, "coverage-%")
	b.ReportMetric(last.Stats.FairnessSpread, "spread-h/day")
	b.ReportMetric(float64(len(hardOnly(vs))), "hard-violations")
	b.ReportMetric(float64(len(last.Assignments)), "assignments")
	b.ReportMetric(last.Stats.ConstructObj, "construct-cost")
	b.ReportMetric(last.Stats.ConstructElapsed.Seconds(), "construct-s")
	b.ReportMetric(float64(last.Stats.Restarts), "restarts")
	b.ReportMetric(last.Stats.Objective, "final-cost")
}

// The predecessor's size: one 28-day block, 18 residents and 12 faculty (it took 6-17 s with
// CP-SAT). Target: under 1 s, zero hard violations.
func BenchmarkSolveBlock18Residents12Faculty(b *testing.B) {
	from, to := block1()
	benchSolve(b, ProgramConfig{Residents: 18, Faculty: 12, From: from, To: to, AbsenceRate: 0.05, Seed: 1}, time.Second)
}

// A full academic year for 100 residents and 40 faculty. Target: under 30 s.
func BenchmarkSolveYear100Residents40Faculty(b *testing.B) {
	y := AcademicYear(2026)
	benchSolve(b, ProgramConfig{Residents: 100, Faculty: 40, From: y.First(), To: y.Last(), AbsenceRate: 0.05, Seed: 1}, 30*time.Second)
}

// BenchmarkRepairAfterOneAbsenceOnAYear: a resident of a solved academic year (100 residents,
// 40 faculty) calls in sick for one mid-year day; PlanRepair proposes the repair over the
// service's window (the day and one on each side, with the 27 days of context around it, as
// scheduling.PlanRepair loads it). Target: under 200 ms.
func BenchmarkRepairAfterOneAbsenceOnAYear(b *testing.B) {
	y := AcademicYear(2026)
	p, err := GenerateProgram(ProgramConfig{Residents: 100, Faculty: 40, From: y.First(), To: y.Last(), AbsenceRate: 0.05, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	res, err := Solve(context.Background(), p, Options{Seed: 1, TimeBudget: 3 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	sick := y.First().AddDays(150)
	var who string
	for _, a := range res.Assignments {
		if a.Slot.Date == sick && p.People[0].ID != "" {
			if x := personByID(p, a.PersonID); x.Type == Resident && !absentOn(p, x.ID, sick) {
				who = x.ID
				break
			}
		}
	}
	if who == "" {
		b.Fatal("nobody works on the sick day")
	}
	from, to := sick.AddDays(-1), sick.AddDays(1)
	q := *p
	q.From, q.To, q.Fixed = from, to, nil
	var live []Assignment
	for _, a := range res.Assignments {
		switch {
		case !a.Slot.Date.Before(from) && !to.Before(a.Slot.Date):
			live = append(live, a)
		case !a.Slot.Date.Before(from.AddDays(-27)) && !to.AddDays(27).Before(a.Slot.Date):
			q.Fixed = append(q.Fixed, a)
		}
	}
	var plan *RepairPlan
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := q
		if plan, err = PlanRepair(&r, live, Absence{PersonID: who, Start: sick, End: sick}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(plan.Removed), "removed")
	b.ReportMetric(float64(len(plan.Vacancies)), "vacancies")
	b.ReportMetric(float64(plan.Uncovered), "uncovered")
}

func personByID(p *Problem, id string) Person {
	for _, x := range p.People {
		if x.ID == id {
			return x
		}
	}
	return Person{}
}

func absentOn(p *Problem, id string, d Date) bool {
	for _, a := range p.Absences {
		if a.PersonID == id && a.Covers(d) {
			return true
		}
	}
	return false
}
