package roster

import "testing"

func TestFillPlanRespectsCapacitiesAndEligibility(t *testing.T) {
	year := AcademicYear(2026)
	rotations := []Rotation{
		{ID: "nf", Kind: KindNightFloat, MinResidents: 1, MaxResidents: 1, AllowedPGY: []int{2, 3}},
		{ID: "wards", Kind: KindInpatient, MinResidents: 2, MaxResidents: 3},
		{ID: "clinic", Kind: KindClinic, MaxResidents: 1},
	}
	people := []Person{
		{ID: "a", Type: Resident, PGY: 1}, {ID: "b", Type: Resident, PGY: 1}, {ID: "c", Type: Resident, PGY: 2},
		{ID: "d", Type: Resident, PGY: 3}, {ID: "e", Type: Resident, PGY: 1}, {ID: "f", Type: Resident, PGY: 1},
		{ID: "g", Type: Faculty},
	}
	existing := []BlockAssignment{{PersonID: "a", Year: year, Block: 1, RotationID: "clinic"}}
	added := FillPlan(year, rotations, people, existing)
	plan := append(existing, added...)
	// Six residents, five places a block (1 + 3 + 1): one resident a block stays empty, 14
	// blocks (block 0 of 2026 is a day), less the one entry there already.
	if len(added) != 14*5-1 {
		t.Fatalf("added %d entries, want %d", len(added), 14*5-1)
	}
	for _, v := range ValidatePlan(year, rotations, people, plan) {
		t.Errorf("the filled plan breaks %s: %s", v.Rule, v.Message)
	}
	seen := map[string]bool{}
	held := map[string]int{}
	for _, a := range plan {
		k := cellKey(a.PersonID, a.Block)
		if seen[k] || a.PersonID == "g" {
			t.Errorf("%s planned twice or not a resident in block %d", a.PersonID, a.Block)
		}
		seen[k] = true
		held[cellKey(a.PersonID, a.RotationID)]++
	}
	if !seen["a/1"] || held["a/clinic"] < 1 {
		t.Error("the existing entry is not kept")
	}
	// Night float goes to the two eligible residents in turn.
	if held["c/nf"] != 7 || held["d/nf"] != 7 {
		t.Errorf("night float spread: c %d, d %d", held["c/nf"], held["d/nf"])
	}
	// Running it again on the full plan adds nothing.
	if again := FillPlan(year, rotations, people, plan); len(again) != 0 {
		t.Errorf("a second fill added %d", len(again))
	}
}
