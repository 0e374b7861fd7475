package roster

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

func intp(n int) *int { return &n }

func TestRequirementValidateBoundaries(t *testing.T) {
	cases := []struct {
		q    Requirement
		want string // "" valid, else a fragment of the error
	}{
		{Requirement{PGY: 1, Kind: KindICU, MinBlocks: 1}, ""},
		{Requirement{PGY: 8, RotationID: "r", MinBlocks: 14}, ""},
		{Requirement{PGY: 1, Kind: KindVacation, MaxBlocks: intp(0)}, ""},
		{Requirement{PGY: 1, Kind: KindVacation, MinBlocks: 1, MaxBlocks: intp(1)}, ""},
		{Requirement{PGY: 0, Kind: KindICU, MinBlocks: 1}, "pgy_level"},
		{Requirement{PGY: 9, Kind: KindICU, MinBlocks: 1}, "pgy_level"},
		{Requirement{PGY: 1, MinBlocks: 1}, "exactly one"},
		{Requirement{PGY: 1, Kind: KindICU, RotationID: "r", MinBlocks: 1}, "exactly one"},
		{Requirement{PGY: 1, Kind: "surgery", MinBlocks: 1}, "kind"},
		{Requirement{PGY: 1, Kind: KindICU, MinBlocks: -1}, "min_blocks"},
		{Requirement{PGY: 1, Kind: KindICU, MinBlocks: 15}, "min_blocks"},
		{Requirement{PGY: 1, Kind: KindICU, MinBlocks: 2, MaxBlocks: intp(1)}, "max_blocks"},
		{Requirement{PGY: 1, Kind: KindICU, MaxBlocks: intp(15)}, "max_blocks"},
		{Requirement{PGY: 1, Kind: KindICU}, "needs min_blocks"},
	}
	for k, c := range cases {
		err := c.q.Validate()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("case %d %+v: %v, want %q", k, c.q, err, c.want)
		}
	}
}

func TestRotationRequestValidateBoundaries(t *testing.T) {
	cases := []struct {
		block, weight int
		ok            bool
	}{{0, 1, true}, {13, 10, true}, {-1, 1, false}, {14, 1, false}, {1, 0, false}, {1, 11, false}}
	for _, c := range cases {
		err := RotationRequest{PersonID: "a", RotationID: "r", Block: c.block, Weight: c.weight}.Validate()
		if (err == nil) != c.ok {
			t.Errorf("block %d weight %d: %v", c.block, c.weight, err)
		}
	}
}

func TestValidateRequirementsCountsBlocksPerResident(t *testing.T) {
	year := AcademicYear(2026)
	rots := []Rotation{{ID: "icu", Kind: KindICU, MaxResidents: 5}, {ID: "vac", Kind: KindVacation, MaxResidents: 5}}
	people := []Person{{ID: "a", Type: Resident, PGY: 1}, {ID: "b", Type: Resident, PGY: 2}, {ID: "f", Type: Faculty}}
	reqs := []Requirement{{PGY: 1, Kind: KindICU, MinBlocks: 2}, {PGY: 1, RotationID: "vac", MaxBlocks: intp(1)}}
	at := func(who string, blocks []int, rot string) []BlockAssignment {
		var out []BlockAssignment
		for _, b := range blocks {
			out = append(out, BlockAssignment{who, year, b, rot})
		}
		return out
	}
	cases := []struct {
		name string
		plan []BlockAssignment
		want []string // rule/value/limit per violation
	}{
		{"none: two ICU blocks below the minimum", nil, []string{"0<2"}},
		{"one ICU block", at("a", []int{1}, "icu"), []string{"1<2"}},
		{"exactly the minimum", at("a", []int{1, 2}, "icu"), nil},
		{"another year does not count", append(at("a", []int{1}, "icu"), BlockAssignment{"a", 2025, 2, "icu"}), []string{"1<2"}},
		{"vacation at the maximum", append(at("a", []int{1, 2}, "icu"), at("a", []int{3}, "vac")...), nil},
		{"vacation above the maximum", append(at("a", []int{1, 2}, "icu"), at("a", []int{3, 4}, "vac")...), []string{"2>1"}},
		{"PGY-2 has no requirement", append(at("a", []int{1, 2}, "icu"), at("b", []int{3, 4, 5}, "vac")...), nil},
	}
	for _, c := range cases {
		vs := ValidateRequirements(year, rots, people, c.plan, reqs)
		var got []string
		for _, v := range vs {
			op := "<"
			if v.Value > v.Limit {
				op = ">"
			}
			if v.Rule != PlanRequirement || v.PersonID != "a" || v.Block != -1 {
				t.Errorf("%s: %+v", c.name, v)
			}
			got = append(got, strings.Join([]string{strconv.Itoa(v.Value), op, strconv.Itoa(v.Limit)}, ""))
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// A small hand-built year: the planner keeps the kept entry, never breaks a maximum or PGY
// eligibility, meets what can be met, explains what cannot, and its bound is below its cost.
func TestPlanAnnualKeepsEntriesAndExplains(t *testing.T) {
	year := AcademicYear(2026)
	p := &AnnualProblem{Year: year, Seed: 1,
		Rotations: []Rotation{
			{ID: "ward", Name: "Wards", Kind: KindInpatient, MinResidents: 2, MaxResidents: 2},
			{ID: "nf", Name: "Night float", Kind: KindNightFloat, MinResidents: 1, MaxResidents: 1, AllowedPGY: []int{2}},
			{ID: "vac", Name: "Vacation", Kind: KindVacation, MaxResidents: 1},
			{ID: "icu", Name: "ICU", Kind: KindICU, MaxResidents: 1, AllowedPGY: []int{2}},
		},
		Residents: []Person{{ID: "a", Type: Resident, PGY: 1}, {ID: "b", Type: Resident, PGY: 1},
			{ID: "c", Type: Resident, PGY: 2}, {ID: "d", Type: Resident, PGY: 2}, {ID: "f", Type: Faculty}},
		Plan: []BlockAssignment{{"a", year, 5, "vac"}, {"zz", year, 5, "vac"}},
		Requirements: []Requirement{{PGY: 1, Kind: KindVacation, MinBlocks: 1, MaxBlocks: intp(1)},
			{PGY: 1, Kind: KindICU, MinBlocks: 1}},
		Requests: []RotationRequest{
			{PersonID: "a", Block: 5, RotationID: "ward", Weight: 3},            // kept vacation
			{PersonID: "b", Block: 7, RotationID: "nf", Weight: 5},              // PGY-1: not eligible
			{PersonID: "c", Block: 3, RotationID: "nf", Avoid: true, Weight: 2}, // d takes it
			{PersonID: "b", Block: 2, RotationID: "vac", Weight: 4},             // honoured
		},
	}
	res, err := PlanAnnual(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Violations {
		if v.Rule != PlanUnderCapacity {
			t.Fatalf("hard violation %+v", v)
		}
	}
	cost, err := AnnualPlanCost(p, res.Entries)
	if err != nil || cost != res.Cost {
		t.Fatalf("recomputed cost %+v (%v), planner %+v", cost, err, res.Cost)
	}
	if res.LowerBound > res.Cost.Total || res.Kept != 1 || res.Cost.Unplaced != 0 {
		t.Fatalf("bound %d cost %d kept %d unplaced %d", res.LowerBound, res.Cost.Total, res.Kept, res.Cost.Unplaced)
	}
	// PGY-1 ICU is impossible (ICU takes PGY 2): each of a and b misses it, and says why.
	if len(res.Requirements) != 2 || !strings.Contains(res.Requirements[0].Why, "takes PGY-1") {
		t.Fatalf("requirements unmet: %+v", res.Requirements)
	}
	why := map[string]string{}
	for _, o := range res.Requests {
		why[o.PersonID+o.RotationID] = o.Why
		if o.Honoured != (o.Why == "") {
			t.Fatalf("%+v", o)
		}
	}
	if !strings.Contains(why["award"], "kept") || !strings.Contains(why["bnf"], "takes PGY [2]") || why["bvac"] != "" {
		t.Fatalf("request reasons: %v", why)
	}
	// 2 (impossible ICU) * 300 is the floor; a and b each have one vacation, nobody is unplaced.
	if res.LowerBound < 2*DefaultAnnualWeights.Requirement {
		t.Fatalf("bound %d below the impossible requirements", res.LowerBound)
	}
}

// The planner's cost on generated programs is what AnnualPlanCost says of its plan, the plan
// keeps every hard constraint, and the bound is never above the cost.
func TestPlanAnnualGeneratedProgramsAreValid(t *testing.T) {
	for _, n := range []int{6, 15, 30} {
		p := annualProgram(n, 2, uint64(n))
		p.Iterations = 20000
		res, err := PlanAnnual(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Violations {
			if v.Rule != PlanUnderCapacity {
				t.Fatalf("n=%d: hard violation %+v", n, v)
			}
		}
		cost, err := AnnualPlanCost(p, res.Entries)
		if err != nil || cost != res.Cost {
			t.Fatalf("n=%d: recomputed %+v (%v), planner %+v", n, cost, err, res.Cost)
		}
		if res.LowerBound > res.Cost.Total || res.Stats.ConstructObj < res.Cost.Total {
			t.Fatalf("n=%d: bound %d cost %d constructed %d", n, res.LowerBound, res.Cost.Total, res.Stats.ConstructObj)
		}
		t.Logf("n=%d cost %+v bound %d gap %.3f", n, res.Cost, res.LowerBound, res.Gap)
	}
}
