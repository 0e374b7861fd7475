package roster

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// search improves s by simulated annealing over three moves on the free cells (kept entries
// never move): change one resident's rotation in a block (within the new rotation's maximum),
// swap the rotations of two residents in a block (both eligible), and swap two blocks of one
// resident (within both rotations' maxima). Each move is priced by localCost before and after.
// It returns the best plan seen and the iterations run.
func (s *plan) search(ctx context.Context, iterations int, seed uint64) (*plan, int) {
	a := s.a
	var cells [][2]int
	for i := range a.res {
		for b := range a.blocks {
			if a.kept[i][b] < 0 {
				cells = append(cells, [2]int{i, b})
			}
		}
	}
	best, cur := s.clone(), s.cost().Total
	bestCost := cur
	if len(cells) == 0 || len(a.rot) == 0 {
		return best, 0
	}
	rng := rand.New(rand.NewPCG(seed, 0xa11))
	t0, t1 := float64(a.w.Request)*5, 0.5
	it := 0
	for ; it < iterations; it++ {
		if it%4096 == 0 && ctx.Err() != nil {
			break
		}
		temp := t0 * math.Pow(t1/t0, float64(it)/float64(iterations))
		cell := cells[rng.IntN(len(cells))]
		delta, tie, undo := s.move(rng, cell[0], cell[1], cells)
		if undo == nil {
			continue
		}
		if d := float64(delta) + tie; d <= 0 || rng.Float64() < math.Exp(-d/temp) {
			cur += delta
			if cur < bestCost {
				bestCost, best = cur, s.clone()
			}
			continue
		}
		undo()
	}
	return best, it
}

// move draws and applies one move on cell (i, b) and returns its cost delta and how to undo it
// (nil undo: no move was possible).
func (s *plan) move(rng *rand.Rand, i, b int, cells [][2]int) (int64, float64, func()) {
	a := s.a
	switch rng.IntN(5) {
	case 4:
		return s.fairSwap(rng)
	case 3:
		return s.crossSwap(rng, i, b)
	case 0: // change
		r := rng.IntN(len(a.rot)+1) - 1
		old := s.at[i][b]
		if r == old || (r >= 0 && (!a.eligible(i, r) || s.cnt[b][r] >= a.rot[r].MaxResidents)) {
			return 0, 0, nil
		}
		is, bs := []int{i}, []int{b}
		before, tie := s.localCost(is, bs)
		s.set(i, b, r)
		after, tieAfter := s.localCost(is, bs)
		return after - before, tieAfter - tie, func() { s.set(i, b, old) }
	case 1: // swap two residents in block b
		j := rng.IntN(len(a.res))
		ri, rj := s.at[i][b], s.at[j][b]
		if j == i || a.kept[j][b] >= 0 || ri == rj || (rj >= 0 && !a.eligible(i, rj)) || (ri >= 0 && !a.eligible(j, ri)) {
			return 0, 0, nil
		}
		is, bs := []int{i, j}, []int{b}
		before, tie := s.localCost(is, bs)
		s.set(i, b, rj)
		s.set(j, b, ri)
		after, tieAfter := s.localCost(is, bs)
		return after - before, tieAfter - tie, func() { s.set(i, b, ri); s.set(j, b, rj) }
	default: // swap two blocks of resident i
		c := rng.IntN(len(a.blocks))
		rb, rc := s.at[i][b], s.at[i][c]
		if c == b || a.kept[i][c] >= 0 || rb == rc || !s.fits(c, rb) || !s.fits(b, rc) {
			return 0, 0, nil
		}
		is, bs := []int{i}, []int{b, c}
		before, tie := s.localCost(is, bs)
		s.set(i, b, rc)
		s.set(i, c, rb)
		after, tieAfter := s.localCost(is, bs)
		return after - before, tieAfter - tie, func() { s.set(i, b, rb); s.set(i, c, rc) }
	}
}

// crossSwap exchanges two blocks between two residents with opposite rotations in them (i on
// R in b and S in c, j on S in b and R in c): every count stays as it was and only the cells'
// requests change, so it moves a wish to the block it asks for where single swaps would break a
// requirement or a maximum on the way.
func (s *plan) crossSwap(rng *rand.Rand, i, b int) (int64, float64, func()) {
	a := s.a
	c := rng.IntN(len(a.blocks))
	rb, rc := s.at[i][b], s.at[i][c]
	if c == b || a.kept[i][c] >= 0 || rb == rc {
		return 0, 0, nil
	}
	var js []int
	for j := range a.res {
		if j != i && s.at[j][b] == rc && s.at[j][c] == rb && a.kept[j][b] < 0 && a.kept[j][c] < 0 {
			js = append(js, j)
		}
	}
	if len(js) == 0 {
		return 0, 0, nil
	}
	j := js[rng.IntN(len(js))]
	is, bs := []int{i, j}, []int{b, c}
	before, tie := s.localCost(is, bs)
	s.set(i, b, rc)
	s.set(i, c, rb)
	s.set(j, b, rb)
	s.set(j, c, rc)
	undo := func() { s.set(i, b, rb); s.set(i, c, rc); s.set(j, b, rc); s.set(j, c, rb) }
	after, tieAfter := s.localCost(is, bs)
	return after - before, tieAfter - tie, undo
}

// fairSwap works on a fairness spread: in a level and fair kind with a spread, one of the
// residents with the most blocks of the kind hands one of them to one with the fewest (a swap in
// a block where the first is on the kind and the second is not). With several residents at the
// most, the spread only falls once all have handed one on, so single moves see no gain: this
// move walks that plateau in the right direction.
func (s *plan) fairSwap(rng *rand.Rand) (int64, float64, func()) {
	a := s.a
	if len(a.levelKeys) == 0 || len(a.fairKinds) == 0 {
		return 0, 0, nil
	}
	members := a.levels[a.levelKeys[rng.IntN(len(a.levelKeys))]]
	k := rng.IntN(len(a.fairKinds))
	lo, hi := -1, -1
	for _, x := range members {
		n := s.fairCount(x, k)
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	if hi-lo < 2 && (hi == lo || rng.IntN(2) == 0) {
		return 0, 0, nil // a spread of 1 is often forced: try it half the time
	}
	var most, fewest []int
	for _, x := range members {
		switch s.fairCount(x, k) {
		case hi:
			most = append(most, x)
		case lo:
			fewest = append(fewest, x)
		}
	}
	i, j := most[rng.IntN(len(most))], fewest[rng.IntN(len(fewest))]
	start := rng.IntN(len(a.blocks))
	for d := range a.blocks {
		b := (start + d) % len(a.blocks)
		ri, rj := s.at[i][b], s.at[j][b]
		if ri < 0 || a.fairOf[ri] != k || (rj >= 0 && a.fairOf[rj] == k) || a.kept[i][b] >= 0 || a.kept[j][b] >= 0 ||
			!a.eligible(j, ri) || (rj >= 0 && !a.eligible(i, rj)) {
			continue
		}
		is, bs := []int{i, j}, []int{b}
		before, tie := s.localCost(is, bs)
		s.set(i, b, rj)
		s.set(j, b, ri)
		after, tieAfter := s.localCost(is, bs)
		return after - before, tieAfter - tie, func() { s.set(i, b, ri); s.set(j, b, rj) }
	}
	return 0, 0, nil
}

// fits says whether one more resident fits rotation r (-1: none) in block b.
func (s *plan) fits(b, r int) bool { return r < 0 || s.cnt[b][r] < s.a.rot[r].MaxResidents }

// DefaultAnnualIterationsPerCell sets the local search's default length: this many moves per
// resident-block (about 2.8 million for 100 residents over 14 blocks).
const DefaultAnnualIterationsPerCell = 2000

// FairnessFirst scales the fairness weight in the first half of the search.
const FairnessFirst = 25

// AnnualStats say how the planner ran.
type AnnualStats struct {
	Iterations   int     `json:"iterations"`
	ConstructObj int64   `json:"construct_cost"`
	Elapsed      float64 `json:"elapsed_seconds"`
}

// PlanAnnual solves p: the year's plan (kept entries and the new ones), its cost, a proven lower
// bound on the cost and the report of what it could not meet and why.
func PlanAnnual(ctx context.Context, p *AnnualProblem) (*AnnualResult, error) {
	start := time.Now()
	a, err := newAnnual(p)
	if err != nil {
		return nil, err
	}
	s := newPlan(a)
	s.construct()
	constructed := s.cost().Total
	iters := p.Iterations
	if iters <= 0 {
		iters = DefaultAnnualIterationsPerCell * len(a.res) * len(a.blocks)
	}
	// First half: fairness weighs FairnessFirst times more, so the search reaches even spreads
	// (a plateau the true weights do not slope); second half: the true weights from there.
	w := a.w
	a.w.Fairness *= FairnessFirst
	first, ran1 := s.search(ctx, iters/2, p.Seed)
	a.w = w
	best, ran := first.search(ctx, iters-iters/2, p.Seed+1)
	ran += ran1
	if err := ctx.Err(); err != nil {
		return nil, err // a cancelled request does not wait for the bound
	}
	out := a.report(best)
	out.Stats = AnnualStats{Iterations: ran, ConstructObj: constructed, Elapsed: time.Since(start).Seconds()}
	return out, nil
}
