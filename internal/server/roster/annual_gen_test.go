package roster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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

// tightAnnual generates a small year where the goals pull against each other: n PGY-2
// residents, night float (exactly one a block), ICU (one or two), wards (two or three) and
// vacation (at most one); each resident needs three ICU blocks, one or two vacations and at most
// three night floats, and has perResident requests drawn from seed (vacation wishes, avoided
// night floats and ICU wishes, weights 1-10), so fairness, requirements and requests conflict.
func tightAnnual(n, perResident int, seed uint64) *AnnualProblem {
	rng := rand.New(rand.NewPCG(seed, 11))
	two, three := 2, 3
	p := &AnnualProblem{Year: 2026, Seed: seed,
		Rotations: []Rotation{
			{ID: "icu", Name: "ICU", Kind: KindICU, MinResidents: 1, MaxResidents: 2},
			{ID: "nf", Name: "Night float", Kind: KindNightFloat, MinResidents: 1, MaxResidents: 1},
			{ID: "vac", Name: "Vacation", Kind: KindVacation, MaxResidents: 1},
			{ID: "ward", Name: "Wards", Kind: KindInpatient, MinResidents: 2, MaxResidents: 3},
		},
		Requirements: []Requirement{{PGY: 2, RotationID: "icu", MinBlocks: 3}, {PGY: 2, Kind: KindVacation, MinBlocks: 1, MaxBlocks: &two},
			{PGY: 2, Kind: KindNightFloat, MaxBlocks: &three}},
	}
	for i := range n {
		id := fmt.Sprintf("r%d", i)
		p.Residents = append(p.Residents, Person{ID: id, Type: Resident, PGY: 2})
		for k := range perResident {
			q := RotationRequest{PersonID: id, Block: rng.IntN(14), Weight: 1 + rng.IntN(MaxRequestWeight)}
			q.RotationID, q.Avoid = []string{"vac", "nf", "icu"}[k%3], k%3 == 1
			if !slices.ContainsFunc(p.Requests, func(o RotationRequest) bool {
				return o.PersonID == id && o.Block == q.Block && o.RotationID == q.RotationID
			}) {
				p.Requests = append(p.Requests, q)
			}
		}
	}
	return p
}
