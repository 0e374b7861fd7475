package roster

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// planProgram is plantProgram with the ward and the clinic tied to two rotations ("wards",
// "ambulatory"), call and procedures of no rotation, and a block plan for the first 14 days:
// r1 and r2 on wards, r3 on ambulatory; r4 has no plan.
func planProgram() *Problem {
	p := plantProgram()
	p.Templates[0].RotationID = "wards"
	p.Templates[1].RotationID = "ambulatory"
	end := p.From.AddDays(13)
	p.Plan = []PlanEntry{
		{PersonID: "r1", RotationID: "wards", Start: p.From, End: end},
		{PersonID: "r2", RotationID: "wards", Start: p.From, End: end},
		{PersonID: "r3", RotationID: "ambulatory", Start: p.From, End: end},
	}
	return p
}

// A resident the plan puts on a rotation holds no template of another rotation on those days,
// whatever the coverage asks; templates of no rotation and days outside the plan stay open.
func TestPlanRestrictsTheCellsTheSolverFills(t *testing.T) {
	p := planProgram()
	p.Templates[0].MinResidents, p.Templates[1].MinResidents = 3, 2 // more than the plan gives each
	p.Weights = Weights{Coverage: 1000}
	res, err := Solve(context.Background(), p, Options{Seed: 1, MaxIterations: 20000, TimeBudget: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]int{}
	for _, a := range res.Assignments {
		tp := p.Templates[map[string]int{"ward": 0, "clinic": 1, "call": 2, "procedures": 3}[a.TemplateID]]
		if !p.PlanAllows(a.PersonID, tp, a.Slot.Date) {
			t.Errorf("%s on %s on %s, but the plan has them on %s", a.PersonID, a.TemplateID, a.Slot.Date, p.RotationOn(a.PersonID, a.Slot.Date))
		}
		inPlan := a.Slot.Date.Before(p.From.AddDays(14))
		held[a.PersonID+"/"+a.TemplateID+"/"+map[bool]string{true: "plan", false: "after"}[inPlan]]++
	}
	// The plan still leaves them their own rotation, and r4 (no plan) and the days after the
	// plan are as open as before.
	for _, k := range []string{"r1/ward/plan", "r3/clinic/plan", "r4/clinic/plan", "r4/ward/plan", "r1/clinic/after"} {
		if held[k] == 0 {
			t.Errorf("no %s in %v", k, held)
		}
	}
	vs, err := Validate(p, res.Assignments)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if Hard(v.Rule) {
			t.Errorf("hard violation %s: %s", v.Rule, v.Message)
		}
	}
}

func TestPlanInValidatorExplainAndLP(t *testing.T) {
	cases := []struct {
		name string
		as   func(p *Problem) []Assignment
		want int // rotation_plan violations
	}{
		{"on their rotation", func(p *Problem) []Assignment { return days(p, "r1", "ward", true, 0, 1) }, 0},
		{"a template of no rotation", func(p *Problem) []Assignment { return days(p, "r3", "call", true, 0) }, 0},
		{"outside the plan's days", func(p *Problem) []Assignment { return days(p, "r3", "ward", true, 20) }, 0},
		{"no plan at all", func(p *Problem) []Assignment { return days(p, "r4", "clinic", true, 0) }, 0},
		{"another rotation's template", func(p *Problem) []Assignment { return days(p, "r3", "ward", true, 0, 1) }, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := planProgram()
			vs, err := Validate(p, c.as(p))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, v := range vs {
				if v.Rule == RuleRotationPlan {
					n++
					if !strings.Contains(v.Message, "on rotation ambulatory in the block plan") || !Hard(v.Rule) {
						t.Errorf("message %q", v.Message)
					}
				}
			}
			if n != c.want {
				t.Errorf("%d rotation_plan violations, want %d: %+v", n, c.want, vs)
			}
		})
	}
	t.Run("explain names the other rotation", func(t *testing.T) {
		p := planProgram()
		p.Templates[0].MinResidents = 1
		sf, err := Explain(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := findGap(t, sf, "ward", p.From, AM)
		if g.OtherRotation != 1 || g.Free != 3 || !strings.Contains(g.Message, "1 on another rotation") {
			t.Errorf("gap %+v", g)
		}
	})
	t.Run("the LP export has no variable for a cell outside the plan", func(t *testing.T) {
		p := planProgram()
		p.To = p.From.AddDays(6)
		var b bytes.Buffer
		if _, err := WriteLP(&b, p); err != nil {
			t.Fatal(err)
		}
		// r3 is person 2, the ward template 0, clinic 1; r1 is person 0.
		lp := b.String()
		if strings.Contains(lp, " x_2_0_0\n") || strings.Contains(lp, " x_0_0_1\n") || !strings.Contains(lp, " x_2_0_1\n") || !strings.Contains(lp, " x_0_0_0\n") {
			t.Error("the plan's cells are not as expected in the LP binaries")
		}
	})
	t.Run("bad plans are input errors", func(t *testing.T) {
		for _, e := range []PlanEntry{
			{PersonID: "nobody", RotationID: "wards", Start: Date{2026, 7, 2}, End: Date{2026, 7, 2}},
			{PersonID: "f1", RotationID: "wards", Start: Date{2026, 7, 2}, End: Date{2026, 7, 2}},
			{PersonID: "r4", RotationID: "", Start: Date{2026, 7, 2}, End: Date{2026, 7, 2}},
			{PersonID: "r4", RotationID: "wards", Start: Date{2026, 7, 3}, End: Date{2026, 7, 2}},
			{PersonID: "r1", RotationID: "ambulatory", Start: Date{2026, 7, 10}, End: Date{2026, 7, 20}},
		} {
			p := planProgram()
			p.Plan = append(p.Plan, e)
			if _, err := Validate(p, nil); !IsInputError(err) {
				t.Errorf("%+v: %v, want an input error", e, err)
			}
		}
	})
}
