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
	benchSolveWith(b, cfg, budget, nil)
}

// benchSolveWith is benchSolve with the generated program adjusted by edit (nil: as generated).
func benchSolveWith(b *testing.B, cfg ProgramConfig, budget time.Duration, edit func(*Problem)) {
	var last *Result
	var p *Problem
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var err error
		if p, err = GenerateProgram(cfg); err != nil {
			b.Fatal(err)
		}
		if edit != nil {
			edit(p)
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
	b.ReportMetric(last.Stats.Elapsed.Seconds(), "elapsed-s")
	b.ReportMetric(float64(last.Stats.Iterations), "iterations")
	eq := MeasureEquity(p, last.Assignments).Worst
	b.ReportMetric(float64(eq.Calls), "call-spread")
	b.ReportMetric(float64(eq.WeekendCalls), "weekend-call-spread")
	b.ReportMetric(float64(eq.HolidayCalls), "holiday-call-spread")
	b.ReportMetric(float64(eq.WeekendsOff), "weekends-off-spread")
}

// The predecessor's size: one 28-day block, 18 residents and 12 faculty (it took 6-17 s with
// CP-SAT). Target: under 1 s, zero hard violations.
func BenchmarkSolveBlock18Residents12Faculty(b *testing.B) {
	from, to := block1()
	benchSolve(b, ProgramConfig{Residents: 18, Faculty: 12, From: from, To: to, AbsenceRate: 0.05, Seed: 1}, time.Second)
}

// The same block run to convergence (a budget it does not reach), for the converged time.
func BenchmarkSolveBlock18Residents12FacultyConverged(b *testing.B) {
	from, to := block1()
	benchSolve(b, ProgramConfig{Residents: 18, Faculty: 12, From: from, To: to, AbsenceRate: 0.05, Seed: 1}, time.Minute)
}

// The predecessor's block in the whole model: wards in 07-19 day shifts and 19-07 night float
// with a hand-over, procedures supervised only by credentialed faculty, an attending on every
// day shift (a faculty shift), and a home-call roster, run to convergence.
func BenchmarkSolveBlockFullModelConverged(b *testing.B) {
	from, to := block1()
	benchSolveWith(b, ProgramConfig{Residents: 18, Faculty: 12, From: from, To: to, AbsenceRate: 0.05, Seed: 1, Shifts: true, Credentials: true}, time.Minute, fullModel)
}

// fullModel adds an attending to the day shift and a home-call roster to a generated program.
func fullModel(p *Problem) {
	p.Templates[0].MinFaculty = 1
	p.Templates = append(p.Templates, Template{ID: "home-call", Name: "Home call", Activity: HomeCall, HoursPerSession: 18, MinResidents: 1, MaxResidents: 1, Weekends: true, Holidays: true})
}

// A full academic year for 100 residents and 40 faculty. Target: under 30 s.
func BenchmarkSolveYear100Residents40Faculty(b *testing.B) {
	y := AcademicYear(2026)
	benchSolve(b, ProgramConfig{Residents: 100, Faculty: 40, From: y.First(), To: y.Last(), AbsenceRate: 0.05, Seed: 1}, 30*time.Second)
}

// The year with the ten US federal holidays of 2026-27, the wards and the night call running on
// them: the holiday calls to share out.
func BenchmarkSolveYearWithHolidays(b *testing.B) {
	y := AcademicYear(2026)
	benchSolveWith(b, ProgramConfig{Residents: 100, Faculty: 40, From: y.First(), To: y.Last(), AbsenceRate: 0.05, Seed: 1}, 30*time.Second, withHolidays)
}

// withHolidays gives p the US federal holidays of July 2026 to June 2027 and opens the wards and
// the night call on them.
func withHolidays(p *Problem) {
	for _, d := range []Date{{2026, time.July, 3}, {2026, time.September, 7}, {2026, time.October, 12}, {2026, time.November, 11},
		{2026, time.November, 26}, {2026, time.December, 25}, {2027, time.January, 1}, {2027, time.January, 18},
		{2027, time.February, 15}, {2027, time.May, 31}} {
		p.Holidays = append(p.Holidays, Holiday{Date: d, Name: "holiday"})
	}
	for k := range p.Templates {
		if p.Templates[k].ID == "inpatient" || p.Templates[k].ID == "night-call" {
			p.Templates[k].Holidays = true
		}
	}
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
