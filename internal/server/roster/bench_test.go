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
