package roster

import (
	"cmp"
	"fmt"
	"slices"
)

// FillPlan is a greedy planner, not an optimiser: it fills the empty cells (a resident without
// a rotation in a block with days) of year's plan and returns the entries it adds, keeping every
// entry already there. Block by block, it first brings each rotation (by id) up to its minimum
// with the eligible free residents who have had it least this year, then gives every other free
// resident (by id) the eligible rotation with room that they have had least (then the emptiest,
// then by id). It never puts anyone above a rotation's maximum or on a rotation that does not
// take their PGY level; a resident with no such rotation stays empty. It knows nothing of
// graduation requirements, requests or fairness across residents beyond that spread.
func FillPlan(year AcademicYear, rotations []Rotation, people []Person, plan []BlockAssignment) []BlockAssignment {
	f := newPlanFill(rotations, people)
	for _, a := range plan {
		if _, ok := f.byID[a.RotationID]; ok && a.Year == year {
			f.place(a)
		}
	}
	var added []BlockAssignment
	for _, b := range year.Blocks() {
		if b.Days() <= 0 {
			continue
		}
		added = append(added, f.fillMinimums(year, b.Number)...)
		added = append(added, f.fillRest(year, b.Number)...)
	}
	return added
}

type planFill struct {
	rotations []Rotation
	byID      map[string]Rotation
	residents []Person
	planned   map[string]bool // "person/block"
	count     map[string]int  // "block/rotation"
	held      map[string]int  // "person/rotation": blocks this year
}

func newPlanFill(rotations []Rotation, people []Person) *planFill {
	f := &planFill{rotations: slices.Clone(rotations), byID: map[string]Rotation{}, planned: map[string]bool{}, count: map[string]int{}, held: map[string]int{}}
	slices.SortFunc(f.rotations, func(a, b Rotation) int { return cmp.Compare(a.ID, b.ID) })
	for _, r := range rotations {
		f.byID[r.ID] = r
	}
	for _, x := range people {
		if x.Type == Resident {
			f.residents = append(f.residents, x)
		}
	}
	slices.SortFunc(f.residents, func(a, b Person) int { return cmp.Compare(a.ID, b.ID) })
	return f
}

func cellKey(a string, b any) string { return fmt.Sprintf("%s/%v", a, b) }

func (f *planFill) place(a BlockAssignment) {
	f.planned[cellKey(a.PersonID, a.Block)] = true
	f.count[cellKey(a.RotationID, a.Block)]++
	f.held[cellKey(a.PersonID, a.RotationID)]++
}

func (f *planFill) free(x Person, block int) bool { return !f.planned[cellKey(x.ID, block)] }

func (f *planFill) room(r Rotation, block int) bool {
	return f.count[cellKey(r.ID, block)] < r.MaxResidents
}

// fillMinimums brings each rotation up to its minimum in block with the eligible free residents
// who have had it least.
func (f *planFill) fillMinimums(year AcademicYear, block int) []BlockAssignment {
	var added []BlockAssignment
	for _, r := range f.rotations {
		for f.count[cellKey(r.ID, block)] < r.MinResidents && f.room(r, block) {
			var best *Person
			for k, x := range f.residents {
				if f.free(x, block) && r.Allows(x.PGY) && (best == nil || f.held[cellKey(x.ID, r.ID)] < f.held[cellKey(best.ID, r.ID)]) {
					best = &f.residents[k]
				}
			}
			if best == nil {
				break
			}
			a := BlockAssignment{PersonID: best.ID, Year: year, Block: block, RotationID: r.ID}
			f.place(a)
			added = append(added, a)
		}
	}
	return added
}

// fillRest gives every other free resident the eligible rotation with room they have had least.
func (f *planFill) fillRest(year AcademicYear, block int) []BlockAssignment {
	var added []BlockAssignment
	for _, x := range f.residents {
		if !f.free(x, block) {
			continue
		}
		var best *Rotation
		for k, r := range f.rotations {
			if !r.Allows(x.PGY) || !f.room(r, block) {
				continue
			}
			if best == nil || f.better(x, block, r, *best) {
				best = &f.rotations[k]
			}
		}
		if best == nil {
			continue
		}
		a := BlockAssignment{PersonID: x.ID, Year: year, Block: block, RotationID: best.ID}
		f.place(a)
		added = append(added, a)
	}
	return added
}

// better says whether r is a better rotation than s for resident x in block: had less this
// year, then emptier in the block (the rotations are visited by id, so ties keep the first).
func (f *planFill) better(x Person, block int, r, s Rotation) bool {
	hr, hs := f.held[cellKey(x.ID, r.ID)], f.held[cellKey(x.ID, s.ID)]
	if hr != hs {
		return hr < hs
	}
	return f.count[cellKey(r.ID, block)] < f.count[cellKey(s.ID, block)]
}
