package roster

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// MaxAnnualLPCells bounds the free resident-blocks WriteAnnualLP takes: the export is for
// checking the planner against an exact solver on small programs.
const MaxAnnualLPCells = 2000

// AnnualLPModel is what WriteAnnualLP wrote, to read a solution back.
type AnnualLPModel struct {
	a *annual
	// Offset is the objective's constant (requests priced when not honoured, and the kept
	// cells' request costs), left out of the LP: the plan's cost is the LP objective + Offset.
	Offset int64
}

// WriteAnnualLP writes p as a mixed-integer program in CPLEX LP format with the planner's hard
// constraints and exactly its cost (AnnualCost.Total = objective + Offset):
//
//	x_i_b_r = 1: resident i on rotation r in block b (free cells, eligible rotations only);
//	u_i_b = 1: resident i without a rotation in block b; sum_r x_i_b_r + u_i_b = 1;
//	sum_i x_i_b_r <= max_r - kept, sum_i x_i_b_r + s_b_r >= min_r - kept (s: shortfall);
//	lo_i_q, hi_i_q: blocks below requirement q's minimum and above its maximum;
//	fx_l_k >= count and fn_l_k <= count of every resident of level l on fair kind k, priced
//	Fairness * (fx - fn), the spread.
func WriteAnnualLP(w io.Writer, p *AnnualProblem) (*AnnualLPModel, error) {
	a, err := newAnnual(p)
	if err != nil {
		return nil, err
	}
	kept := newPlan(a)
	free := 0
	for i := range a.res {
		for b := range a.blocks {
			if a.kept[i][b] < 0 {
				free++
			}
		}
	}
	if free > MaxAnnualLPCells {
		return nil, inputErrorf("the annual LP export takes at most %d free resident-blocks, not %d", MaxAnnualLPCells, free)
	}
	m := &annualLP{a: a, kept: kept, b: &lpWriter{w: bufio.NewWriter(w)}}
	m.objective()
	m.b.line("Subject To")
	m.cells()
	m.capacities()
	m.requirements()
	m.fairness()
	m.binaries()
	m.b.line("End")
	if m.b.err != nil {
		return nil, m.b.err
	}
	return &AnnualLPModel{a: a, Offset: m.offset}, m.b.w.Flush()
}

type annualLP struct {
	a      *annual
	kept   *plan
	b      *lpWriter
	offset int64
}

func (m *annualLP) free(i, b int) bool { return m.a.kept[i][b] < 0 }

func (m *annualLP) mayHold(i, b, r int) bool {
	return m.free(i, b) && m.a.eligible(i, r) && m.a.rot[r].MaxResidents > 0
}

func (m *annualLP) objective() {
	a, b := m.a, m.b
	b.line("Minimize")
	b.start(" cost:")
	for i := range a.res {
		for k := range a.blocks {
			if !m.free(i, k) {
				m.offset += a.requestCost(i, k, a.kept[i][k])
				continue
			}
			b.term(float64(a.w.Unplaced), fmt.Sprintf("u_%d_%d", i, k))
			for _, q := range a.requests[i][k] {
				c := float64(int64(q.Weight) * a.w.Request)
				if !q.Avoid {
					m.offset += int64(q.Weight) * a.w.Request
					c = -c
				}
				if m.mayHold(i, k, q.r) {
					b.term(c, fmt.Sprintf("x_%d_%d_%d", i, k, q.r))
				}
			}
		}
		for q := range a.reqs[i] {
			b.term(float64(a.w.Requirement), fmt.Sprintf("lo_%d_%d", i, q))
			b.term(float64(a.w.Requirement), fmt.Sprintf("hi_%d_%d", i, q))
		}
	}
	for k := range a.blocks {
		for r := range a.rot {
			b.term(float64(a.w.Minimum), fmt.Sprintf("s_%d_%d", k, r))
		}
	}
	for l := range a.levels {
		for f := range a.fairKinds {
			b.term(float64(a.w.Fairness), fmt.Sprintf("fx_%d_%d", l, f))
			b.term(-float64(a.w.Fairness), fmt.Sprintf("fn_%d_%d", l, f))
		}
	}
	b.end()
}

// cells: one rotation or none per free resident-block.
func (m *annualLP) cells() {
	a, b := m.a, m.b
	for i := range a.res {
		for k := range a.blocks {
			if !m.free(i, k) {
				continue
			}
			b.start("")
			for r := range a.rot {
				if m.mayHold(i, k, r) {
					b.term(1, fmt.Sprintf("x_%d_%d_%d", i, k, r))
				}
			}
			b.term(1, fmt.Sprintf("u_%d_%d", i, k))
			b.rel("=", 1)
		}
	}
}

// capacities: each rotation's maximum (hard) and minimum (with shortfall) per block.
func (m *annualLP) capacities() {
	a, b := m.a, m.b
	for k := range a.blocks {
		for r, rot := range a.rot {
			have := m.kept.cnt[k][r]
			b.start("")
			for i := range a.res {
				if m.mayHold(i, k, r) {
					b.term(1, fmt.Sprintf("x_%d_%d_%d", i, k, r))
				}
			}
			b.rel("<=", float64(rot.MaxResidents-have))
			b.start("")
			for i := range a.res {
				if m.mayHold(i, k, r) {
					b.term(1, fmt.Sprintf("x_%d_%d_%d", i, k, r))
				}
			}
			b.term(1, fmt.Sprintf("s_%d_%d", k, r))
			b.rel(">=", float64(rot.MinResidents-have))
		}
	}
}

// counted writes the terms of resident i's free blocks on rotations that count (by counts).
func (m *annualLP) counted(i int, counts func(r int) bool) {
	for k := range m.a.blocks {
		for r := range m.a.rot {
			if counts(r) && m.mayHold(i, k, r) {
				m.b.term(1, fmt.Sprintf("x_%d_%d_%d", i, k, r))
			}
		}
	}
}

func (m *annualLP) requirements() {
	a, b := m.a, m.b
	for i := range a.res {
		for qi, q := range a.reqs[i] {
			have := m.kept.reqCount(i, q)
			b.start("")
			m.counted(i, func(r int) bool { return q.counts[r] })
			b.term(1, fmt.Sprintf("lo_%d_%d", i, qi))
			b.rel(">=", float64(q.q.MinBlocks-have))
			if q.q.MaxBlocks != nil {
				b.start("")
				m.counted(i, func(r int) bool { return q.counts[r] })
				b.term(-1, fmt.Sprintf("hi_%d_%d", i, qi))
				b.rel("<=", float64(*q.q.MaxBlocks-have))
			}
		}
	}
}

func (m *annualLP) fairness() {
	a, b := m.a, m.b
	for l, members := range a.levels {
		for f := range a.fairKinds {
			for _, i := range members {
				have := m.kept.fairCount(i, f)
				for _, op := range []string{"<=", ">="} {
					b.start("")
					m.counted(i, func(r int) bool { return a.fairOf[r] == f })
					v := "fx"
					if op == ">=" {
						v = "fn"
					}
					b.term(-1, fmt.Sprintf("%s_%d_%d", v, l, f))
					b.rel(op, float64(-have))
				}
			}
		}
	}
}

func (m *annualLP) binaries() {
	a, b := m.a, m.b
	b.line("Binaries")
	for i := range a.res {
		for k := range a.blocks {
			if !m.free(i, k) {
				continue
			}
			b.line(fmt.Sprintf(" u_%d_%d", i, k))
			for r := range a.rot {
				if m.mayHold(i, k, r) {
					b.line(fmt.Sprintf(" x_%d_%d_%d", i, k, r))
				}
			}
		}
	}
}

// ReadCBCSolution reads the solution file of `cbc model.lp solve solu FILE` and returns CBC's
// objective plus Offset (the plan's cost) and the whole plan: kept entries and the x set to 1.
func (m *AnnualLPModel) ReadCBCSolution(r io.Reader) (int64, []BlockAssignment, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return 0, nil, fmt.Errorf("empty solution")
	}
	obj, err := cbcObjective(sc.Text())
	if err != nil {
		return 0, nil, err
	}
	a := m.a
	var out []BlockAssignment
	for i := range a.res {
		for k, r := range a.kept[i] {
			if r >= 0 {
				out = append(out, BlockAssignment{a.res[i].ID, a.p.Year, a.blocks[k].Number, a.rot[r].ID})
			}
		}
	}
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(sc.Text(), "**"))
		if len(f) < 3 || !strings.HasPrefix(f[1], "x_") {
			continue
		}
		if v, err := strconv.ParseFloat(f[2], 64); err != nil || v < 0.5 {
			continue
		}
		var i, k, rr int
		if _, err := fmt.Sscanf(f[1], "x_%d_%d_%d", &i, &k, &rr); err != nil {
			return 0, nil, fmt.Errorf("variable %s: %w", f[1], err)
		}
		out = append(out, BlockAssignment{a.res[i].ID, a.p.Year, a.blocks[k].Number, a.rot[rr].ID})
	}
	return int64(math.Round(obj)) + m.Offset, out, sc.Err()
}

// AnnualPlanCost prices a whole plan of p (its entries for p's residents and year) by the
// planner's cost, and says whether every entry keeps the hard constraints: an eligible
// rotation, within its maximum, one per resident and block, the kept entries unchanged.
func AnnualPlanCost(p *AnnualProblem, entries []BlockAssignment) (AnnualCost, error) {
	a, err := newAnnual(p)
	if err != nil {
		return AnnualCost{}, err
	}
	s := newPlan(a)
	for _, e := range entries {
		i, okI := a.resIdx[e.PersonID]
		r, okR := a.rotIdx[e.RotationID]
		k := a.blockIdx(e.Block)
		switch {
		case !okI || e.Year != p.Year || k < 0:
			continue
		case !okR:
			return AnnualCost{}, fmt.Errorf("entry of %s in block %d: unknown rotation %s", e.PersonID, e.Block, e.RotationID)
		case a.kept[i][k] >= 0 && a.kept[i][k] != r:
			return AnnualCost{}, fmt.Errorf("entry of %s in block %d changes a kept entry", e.PersonID, e.Block)
		case a.kept[i][k] >= 0:
			continue
		case s.at[i][k] >= 0:
			return AnnualCost{}, fmt.Errorf("%s has two entries in block %d", e.PersonID, e.Block)
		case !a.eligible(i, r):
			return AnnualCost{}, fmt.Errorf("%s is not eligible for %s", e.PersonID, e.RotationID)
		case s.cnt[k][r] >= a.rot[r].MaxResidents:
			return AnnualCost{}, fmt.Errorf("%s is over its maximum in block %d", e.RotationID, e.Block)
		}
		s.set(i, k, r)
	}
	return s.cost(), nil
}
