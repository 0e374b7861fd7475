package roster

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkAnnualPlan100Residents plans the year of a 3-year program of 100 residents (34/33/33
// in PGY 1-3) over the 14 blocks of 2026 (block 0 is one day) on eleven rotations (two wards,
// ICU, night float, clinic, emergency, consults, two electives, research, vacation), with ten
// graduation requirements and three requests per resident. The 40 faculty are passed in and
// not planned: faculty do not rotate through resident blocks. It reports the plan's cost, the
// proven lower bound and the gap beside the time, and the cost of the greedy
// filler (FillPlan) on the same year as the baseline.
func BenchmarkAnnualPlan100Residents(b *testing.B) {
	var res *AnnualResult
	var p *AnnualProblem
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p = annualProgram(100, 3, 1)
		for f := range 40 {
			p.Residents = append(p.Residents, Person{ID: fmt.Sprintf("fac-%02d", f), Type: Faculty})
		}
		b.StartTimer()
		var err error
		if res, err = PlanAnnual(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	hard := 0
	for _, v := range res.Violations {
		if v.Rule != PlanUnderCapacity {
			hard++
		}
	}
	// The greedy filler (FillPlan) on the same year, priced by the planner's cost: the baseline.
	greedy, err := AnnualPlanCost(p, FillPlan(p.Year, p.Rotations, p.Residents, nil))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(greedy.Total), "greedy-cost")
	b.ReportMetric(float64(res.Cost.Total), "cost")
	b.ReportMetric(float64(res.LowerBound), "bound")
	b.ReportMetric(res.Gap*100, "gap-%")
	b.ReportMetric(float64(res.Stats.ConstructObj), "construct-cost")
	b.ReportMetric(float64(res.Cost.MinimumShortfall), "min-shortfall")
	b.ReportMetric(float64(res.Cost.RequirementMiss), "req-missed")
	b.ReportMetric(float64(res.Cost.RequestWeight), "request-weight-unhonoured")
	b.ReportMetric(float64(res.Cost.FairnessSpread), "fair-spread")
	b.ReportMetric(float64(hard), "hard-violations")
	b.ReportMetric(float64(len(res.Entries)), "entries")
}
