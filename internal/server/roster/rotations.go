package roster

import (
	"fmt"
	"slices"
)

// RotationKind is what a block rotation is.
type RotationKind string

// The rotation kinds.
const (
	KindInpatient  RotationKind = "inpatient"
	KindClinic     RotationKind = "clinic"
	KindElective   RotationKind = "elective"
	KindNightFloat RotationKind = "night_float"
	KindVacation   RotationKind = "vacation"
	KindICU        RotationKind = "icu"
	KindEmergency  RotationKind = "emergency"
	KindConsult    RotationKind = "consult"
	KindResearch   RotationKind = "research"
	KindOther      RotationKind = "other"
)

// RotationKinds lists the valid kinds.
var RotationKinds = []RotationKind{KindInpatient, KindClinic, KindElective, KindNightFloat, KindVacation, KindICU,
	KindEmergency, KindConsult, KindResearch, KindOther}

// MaxRotationResidents bounds a rotation's residents per block.
const MaxRotationResidents = 1000

// Rotation is a block rotation: what a resident does for a whole academic block, with how many
// residents it takes per block and which PGY levels. Its templates (Template.RotationID) are
// the sessions a resident on it is scheduled from.
type Rotation struct {
	ID   string       `json:"id"`
	Name string       `json:"name"`
	Kind RotationKind `json:"kind"`
	// MinResidents and MaxResidents bound the residents the plan puts on it in each block.
	MinResidents int `json:"min_residents"`
	MaxResidents int `json:"max_residents"`
	// AllowedPGY lists the levels that may be put on it; empty allows all.
	AllowedPGY []int `json:"allowed_pgy_levels"`
}

// Validate checks one rotation on its own (the message does not name it: the caller knows it).
func (r Rotation) Validate() error {
	switch {
	case !slices.Contains(RotationKinds, r.Kind):
		return fmt.Errorf("kind %q is not one of %v", r.Kind, RotationKinds)
	case r.MinResidents < 0 || r.MaxResidents < r.MinResidents || r.MaxResidents > MaxRotationResidents:
		return fmt.Errorf("need 0 <= min_residents <= max_residents <= %d", MaxRotationResidents)
	}
	for _, l := range r.AllowedPGY {
		if l < 1 || l > MaxPGY {
			return fmt.Errorf("PGY level %d is not 1 to %d", l, MaxPGY)
		}
	}
	return nil
}

// Allows says whether a resident of level pgy may be put on r.
func (r Rotation) Allows(pgy int) bool {
	return len(r.AllowedPGY) == 0 || slices.Contains(r.AllowedPGY, pgy)
}

// BlockAssignment puts one resident on one rotation for one block of an academic year.
type BlockAssignment struct {
	PersonID   string       `json:"person_id"`
	Year       AcademicYear `json:"academic_year"`
	Block      int          `json:"block_number"`
	RotationID string       `json:"rotation_id"`
}

// Entry is the plan entry of a: the block's days.
func (a BlockAssignment) Entry() PlanEntry {
	b := a.Year.Blocks()[a.Block]
	return PlanEntry{PersonID: a.PersonID, RotationID: a.RotationID, Start: b.Start, End: b.End}
}

// The rules of a block plan.
const (
	// PlanEligibility: a resident on a rotation that does not take their PGY level.
	PlanEligibility = "eligibility"
	// PlanOverCapacity: more residents on a rotation in a block than its maximum.
	PlanOverCapacity = "over_capacity"
	// PlanUnderCapacity: fewer than its minimum.
	PlanUnderCapacity = "under_capacity"
)

// PlanViolation is one thing wrong with a block plan.
type PlanViolation struct {
	Rule       string `json:"rule"`
	Block      int    `json:"block_number"`
	RotationID string `json:"rotation_id"`
	PersonID   string `json:"person_id,omitempty"`
	Value      int    `json:"value,omitempty"`
	Limit      int    `json:"limit,omitempty"`
	Message    string `json:"message"`
}

// ValidatePlan judges the plan of one academic year: each resident's PGY level against the
// rotation's, and each rotation's residents in each block (0 to 13; the orientation block 0 is
// judged only when it has days, as it has in most years) against its minimum and maximum. Assignments naming unknown
// people or rotations are skipped (the store's foreign keys keep them out).
func ValidatePlan(year AcademicYear, rotations []Rotation, people []Person, plan []BlockAssignment) []PlanViolation {
	byID := map[string]Rotation{}
	for _, r := range rotations {
		byID[r.ID] = r
	}
	pgy := map[string]int{}
	for _, x := range people {
		pgy[x.ID] = x.PGY
	}
	count := map[string]int{} // "block/rotation"
	var out []PlanViolation
	for _, a := range plan {
		r, ok := byID[a.RotationID]
		if !ok || a.Year != year {
			continue
		}
		count[fmt.Sprintf("%d/%s", a.Block, r.ID)]++
		if l, known := pgy[a.PersonID]; known && !r.Allows(l) {
			out = append(out, PlanViolation{Rule: PlanEligibility, Block: a.Block, RotationID: r.ID, PersonID: a.PersonID,
				Message: fmt.Sprintf("%s (PGY-%d) is on %s in block %d, which takes PGY %v", a.PersonID, l, r.Name, a.Block, r.AllowedPGY)})
		}
	}
	for _, b := range year.Blocks() {
		if b.Days() <= 0 {
			continue
		}
		for _, r := range rotations {
			n := count[fmt.Sprintf("%d/%s", b.Number, r.ID)]
			switch {
			case n > r.MaxResidents:
				out = append(out, PlanViolation{Rule: PlanOverCapacity, Block: b.Number, RotationID: r.ID, Value: n, Limit: r.MaxResidents,
					Message: fmt.Sprintf("%d residents on %s in block %d; at most %d", n, r.Name, b.Number, r.MaxResidents)})
			case n < r.MinResidents:
				out = append(out, PlanViolation{Rule: PlanUnderCapacity, Block: b.Number, RotationID: r.ID, Value: n, Limit: r.MinResidents,
					Message: fmt.Sprintf("%d residents on %s in block %d; it needs %d", n, r.Name, b.Number, r.MinResidents)})
			}
		}
	}
	return out
}
