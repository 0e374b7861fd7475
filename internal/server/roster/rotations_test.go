package roster

import "testing"

func TestValidatePlanReportsEligibilityAndCapacity(t *testing.T) {
	year := AcademicYear(2026)
	rotations := []Rotation{
		{ID: "nf", Name: "Night float", Kind: KindNightFloat, MinResidents: 0, MaxResidents: 1, AllowedPGY: []int{2, 3}},
		{ID: "wards", Name: "Wards", Kind: KindInpatient, MinResidents: 1, MaxResidents: 2},
	}
	people := []Person{{ID: "a", Type: Resident, PGY: 1}, {ID: "b", Type: Resident, PGY: 2}, {ID: "c", Type: Resident, PGY: 3}}
	full := func(extra ...BlockAssignment) []BlockAssignment {
		var out []BlockAssignment
		for b := 0; b <= 13; b++ {
			out = append(out, BlockAssignment{PersonID: "c", Year: year, Block: b, RotationID: "wards"})
		}
		return append(out, extra...)
	}
	cases := []struct {
		name string
		plan []BlockAssignment
		want map[string]int
	}{
		{"wards covered every block", full(), map[string]int{}},
		{"an empty plan leaves wards under capacity in blocks 0-13", nil, map[string]int{PlanUnderCapacity: 14}},
		{"a PGY-1 on night float", full(BlockAssignment{PersonID: "a", Year: year, Block: 3, RotationID: "nf"}), map[string]int{PlanEligibility: 1}},
		{"two on night float", full(BlockAssignment{PersonID: "b", Year: year, Block: 3, RotationID: "nf"}, BlockAssignment{PersonID: "a", Year: year, Block: 3, RotationID: "nf"}),
			map[string]int{PlanEligibility: 1, PlanOverCapacity: 1}},
		{"another year's plan is not judged", full(BlockAssignment{PersonID: "a", Year: 2027, Block: 3, RotationID: "nf"}), map[string]int{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := map[string]int{}
			for _, v := range ValidatePlan(year, rotations, people, c.plan) {
				got[v.Rule]++
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for r, n := range c.want {
				if got[r] != n {
					t.Errorf("got %v, want %v", got, c.want)
				}
			}
		})
	}
	// 2026-07-01 is a Wednesday: the orientation block 0 has 1 day and is judged too.
	if b := year.Blocks()[0]; b.Days() != 1 {
		t.Fatalf("block 0 of 2026 has %d days", b.Days())
	}
}

func TestRotationValidate(t *testing.T) {
	for _, c := range []struct {
		r  Rotation
		ok bool
	}{
		{Rotation{Kind: KindElective, MaxResidents: 3}, true},
		{Rotation{Kind: "surgery", MaxResidents: 3}, false},
		{Rotation{Kind: KindElective, MinResidents: 4, MaxResidents: 3}, false},
		{Rotation{Kind: KindElective, MaxResidents: 1001}, false},
		{Rotation{Kind: KindElective, MaxResidents: 3, AllowedPGY: []int{0}}, false},
		{Rotation{Kind: KindElective, MaxResidents: 3, AllowedPGY: []int{MaxPGY}}, true},
	} {
		if err := c.r.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.r, err)
		}
	}
}
