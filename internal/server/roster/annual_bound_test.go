package roster

import (
	"context"
	"testing"
)

// The min-cost flow on small networks with known answers: it sends all it can, at least cost,
// takes a negative arc when it pays, and splits flow over parallel routes by cost.
func TestMinCostFlowBoundaries(t *testing.T) {
	cases := []struct {
		name     string
		nodes    int
		arcs     [][4]int // u, v, capacity, cost
		flow     int
		cost     int64
		src, snk int
	}{
		{"no arc", 2, nil, 0, 0, 0, 1},
		{"one arc", 2, [][4]int{{0, 1, 3, 5}}, 3, 15, 0, 1},
		{"zero capacity", 2, [][4]int{{0, 1, 0, 5}}, 0, 0, 0, 1},
		{"cheaper route first", 3, [][4]int{{0, 1, 1, 1}, {1, 2, 1, 1}, {0, 2, 1, 10}}, 2, 12, 0, 2},
		{"negative arc", 3, [][4]int{{0, 1, 2, 0}, {1, 2, 1, -7}, {1, 2, 1, 4}}, 2, -3, 0, 2},
		// The first shortest path 0-1-2-3 (cost 3) blocks both others; the second unit goes
		// 0-2, back over 1-2 and 1-3 (cost 3 - 1 + 3): 8 in all, as 0-1-3 plus 0-2-3.
		{"a second path through a reverse arc", 4, [][4]int{{0, 1, 1, 1}, {1, 2, 1, 1}, {2, 3, 1, 1}, {0, 2, 1, 3}, {1, 3, 1, 3}}, 2, 8, 0, 3},
	}
	for _, c := range cases {
		m := newMCF(c.nodes)
		for _, a := range c.arcs {
			m.arc(a[0], a[1], a[2], int64(a[3]))
		}
		f, cost := m.flow(c.src, c.snk)
		if f != c.flow || cost != c.cost {
			t.Errorf("%s: flow %d cost %d, want %d and %d", c.name, f, cost, c.flow, c.cost)
		}
	}
}

// The requirement part of the bound, case by case: what is missed for sure.
func TestRequirementBoundBoundaries(t *testing.T) {
	year := AcademicYear(2026) // 14 blocks with days
	rots := []Rotation{
		{ID: "icu", Kind: KindICU, MaxResidents: 5, AllowedPGY: []int{2}},
		{ID: "vac", Kind: KindVacation, MaxResidents: 5},
		{ID: "ward", Kind: KindInpatient, MaxResidents: 5},
		{ID: "closed", Kind: KindResearch, MaxResidents: 0},
	}
	keep := func(n int, rot string) []BlockAssignment {
		var out []BlockAssignment
		for b := 1; b <= n; b++ {
			out = append(out, BlockAssignment{"a", year, b, rot})
		}
		return out
	}
	cases := []struct {
		name string
		reqs []Requirement
		plan []BlockAssignment
		want int
	}{
		{"nothing required", nil, nil, 0},
		{"met easily", []Requirement{{PGY: 1, Kind: KindVacation, MinBlocks: 2}}, nil, 0},
		{"no eligible rotation: missed whole", []Requirement{{PGY: 1, RotationID: "icu", MinBlocks: 3}}, nil, 3},
		{"a rotation with no room counts for nothing", []Requirement{{PGY: 1, Kind: KindResearch, MinBlocks: 2}}, nil, 2},
		{"kept above the maximum", []Requirement{{PGY: 1, Kind: KindVacation, MaxBlocks: intp(1)}}, keep(3, "vac"), 2},
		{"kept at the maximum", []Requirement{{PGY: 1, Kind: KindVacation, MaxBlocks: intp(3)}}, keep(3, "vac"), 0},
		{"all 14 blocks: exactly enough", []Requirement{{PGY: 1, Kind: KindVacation, MinBlocks: 7}, {PGY: 1, RotationID: "ward", MinBlocks: 7}}, nil, 0},
		{"one block too many asked", []Requirement{{PGY: 1, Kind: KindVacation, MinBlocks: 7}, {PGY: 1, RotationID: "ward", MinBlocks: 8}}, nil, 1},
		{"kept blocks elsewhere leave too few", []Requirement{{PGY: 1, Kind: KindVacation, MinBlocks: 5}}, keep(10, "ward"), 1},
		{"overlapping requirements are not summed", []Requirement{{PGY: 1, Kind: KindInpatient, MinBlocks: 10}, {PGY: 1, RotationID: "ward", MinBlocks: 10}}, nil, 0},
	}
	for _, c := range cases {
		p := &AnnualProblem{Year: year, Rotations: rots, Residents: []Person{{ID: "a", Type: Resident, PGY: 1}}, Plan: c.plan, Requirements: c.reqs}
		a, err := newAnnual(p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := newPlan(a).requirementBound(0); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
		res, err := PlanAnnual(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if res.Cost.RequirementMiss < c.want || res.LowerBound > res.Cost.Total {
			t.Errorf("%s: the plan misses %d, below the bound %d (or the bound %d is above the cost %d)", c.name, res.Cost.RequirementMiss, c.want, res.LowerBound, res.Cost.Total)
		}
	}
}
