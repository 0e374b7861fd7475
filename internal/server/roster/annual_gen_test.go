package roster

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// annualProgram generates an internal-medicine-like year: n residents spread over PGY 1-3,
// eleven rotations (two wards, ICU, night float, clinic, emergency, consult, two electives,
// research, vacation) with per-block minimums and maximums scaled to n, the requirements of a
// 3-year program and perResident requests each (a wish for a vacation block, an avoided night
// float, a wished elective), drawn from seed.
func annualProgram(n, perResident int, seed uint64) *AnnualProblem {
	rng := rand.New(rand.NewPCG(seed, 7))
	scale := func(f float64) int { return int(math.Round(f * float64(n))) }
	type rot struct {
		name     string
		kind     RotationKind
		min, max float64
		pgy      []int
	}
	rots := []rot{
		{"Wards A", KindInpatient, 0.12, 0.18, nil},
		{"Wards B", KindInpatient, 0.08, 0.14, nil},
		{"ICU", KindICU, 0.06, 0.10, nil},
		{"Night float", KindNightFloat, 0.06, 0.08, []int{2, 3}},
		{"Clinic", KindClinic, 0.08, 0.14, nil},
		{"Emergency", KindEmergency, 0.04, 0.08, []int{1, 2}},
		{"Consults", KindConsult, 0.03, 0.08, []int{2, 3}},
		{"Cardiology elective", KindElective, 0, 0.10, []int{2, 3}},
		{"GI elective", KindElective, 0, 0.08, nil},
		{"Research", KindResearch, 0, 0.05, []int{3}},
		{"Vacation", KindVacation, 0, 0.12, nil},
	}
	p := &AnnualProblem{Year: 2026, Seed: 1}
	for k, r := range rots {
		hi := max(1, scale(r.max))
		p.Rotations = append(p.Rotations, Rotation{ID: fmt.Sprintf("rot-%02d", k), Name: r.name, Kind: r.kind,
			MinResidents: min(hi, scale(r.min)), MaxResidents: hi, AllowedPGY: r.pgy})
	}
	for i := range n {
		p.Residents = append(p.Residents, Person{ID: fmt.Sprintf("res-%03d", i), Type: Resident, PGY: 1 + i%3})
	}
	two, one := 2, 1
	p.Requirements = []Requirement{
		{PGY: 1, Kind: KindICU, MinBlocks: 1}, {PGY: 1, Kind: KindInpatient, MinBlocks: 4},
		{PGY: 1, Kind: KindVacation, MinBlocks: 1, MaxBlocks: &two},
		{PGY: 2, Kind: KindICU, MinBlocks: 2}, {PGY: 2, Kind: KindNightFloat, MinBlocks: 1, MaxBlocks: &two},
		{PGY: 2, Kind: KindVacation, MinBlocks: 1, MaxBlocks: &two}, {PGY: 2, Kind: KindClinic, MinBlocks: 2},
		{PGY: 3, Kind: KindElective, MinBlocks: 2}, {PGY: 3, Kind: KindVacation, MinBlocks: 1, MaxBlocks: &two},
		{PGY: 3, Kind: KindNightFloat, MaxBlocks: &one},
	}
	for _, x := range p.Residents {
		for k := range perResident {
			q := RotationRequest{PersonID: x.ID, Block: 1 + rng.IntN(13), Weight: 1 + rng.IntN(MaxRequestWeight)}
			switch k % 3 {
			case 0:
				q.RotationID = "rot-10" // vacation
			case 1:
				q.RotationID, q.Avoid = "rot-03", true // night float
			default:
				q.RotationID = "rot-08" // GI elective
			}
			p.Requests = append(p.Requests, q)
		}
	}
	return p
}
