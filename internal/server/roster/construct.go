package roster

import (
	"context"
	"slices"
	"time"
)

// construct fills template minimums slot by slot, calls first, choosing among eligible residents
// the least loaded, then the one who was on the same template the day before.
func (s *solver) construct(ctx context.Context, deadline time.Time, tick func()) StopReason {
	order := s.callsFirst()
	cand := make([]personIdx, 0, len(s.residents))
	for j := range s.nSlots {
		if j%16 == 0 {
			if why := stopCheck(ctx, deadline); why != notStopped {
				return why
			}
			tick()
		}
		for _, t := range order {
			if s.staffed[j][t] {
				cand = s.fillMinimum(j, t, cand)
			}
		}
	}
	return notStopped
}

// stopCheck says whether the run must end now: cancelled, or out of time.
func stopCheck(ctx context.Context, deadline time.Time) StopReason {
	if ctx.Err() != nil {
		return StopCancelled
	}
	if time.Now().After(deadline) {
		return StopBudget
	}
	return notStopped
}

// callsFirst orders the templates with calls first, the others as given: a call is the hardest
// session to place under the rest rules.
func (s *solver) callsFirst() []templateIdx {
	order := make([]templateIdx, s.nTemplates)
	for t := range order {
		order[t] = templateIdx(t)
	}
	slices.SortStableFunc(order, func(a, b templateIdx) int {
		ca, cb := s.templates[a].Activity == Call, s.templates[b].Activity == Call
		switch {
		case ca && !cb:
			return -1
		case cb && !ca:
			return 1
		}
		return 0
	})
	return order
}

// fillMinimum places residents on template t in slot j until its minimum is met or nobody
// eligible can take it; cand is scratch space, returned for reuse.
func (s *solver) fillMinimum(j slotIdx, t templateIdx, cand []personIdx) []personIdx {
	for s.residentsOn[j][t] < s.templates[t].MinResidents {
		cand = s.candidates(j, t, cand[:0])
		placed := false
		for _, i := range cand {
			if s.try(i, j, t) {
				placed = true
				break
			}
		}
		if !placed {
			break
		}
	}
	return cand
}

// candidates lists the free residents who may take template t in slot j, in the order
// construct tries them: shuffled, then stably by load, where having held t the day before
// counts as half a day less.
func (s *solver) candidates(j slotIdx, t templateIdx, cand []personIdx) []personIdx {
	tp := s.templates[t]
	for _, i := range s.residents {
		if s.assigned[i][j] == free && !s.absent[i][j] && !s.locked[i][j] && tp.Allows(s.pgy[i]) && s.planAllows(i, j, t) {
			cand = append(cand, i)
		}
	}
	s.rng.Shuffle(len(cand), func(a, b int) { cand[a], cand[b] = cand[b], cand[a] })
	slices.SortStableFunc(cand, func(a, b personIdx) int {
		return cmpFloat(s.constructLoad(a, j, t), s.constructLoad(b, j, t))
	})
	return cand
}

// constructLoad is resident i's load, less half a day if i held template t the day before; for a
// call, the calls of its kind i holds (and on a weekend or holiday, those of them there) come
// first, so that construction already shares calls out evenly (callequity.go).
func (s *solver) constructLoad(i personIdx, j slotIdx, t templateIdx) float64 {
	l := s.load(i)
	if k := int(s.eq.kind[t]); k >= 0 && len(s.eq.callActive) > 0 {
		c := s.eq.count[i][k*measuresPerKind+offsetCalls]
		if s.eq.weekend[j] {
			c += s.eq.count[i][k*measuresPerKind+offsetWeekendCalls]
		}
		if s.eq.holiday[j] {
			c += s.eq.count[i][k*measuresPerKind+offsetHolidayCalls]
		}
		l += 100 * float64(c)
	}
	if j >= 2 && s.assigned[i][j-2] == t {
		l -= 0.5
	}
	return l
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
