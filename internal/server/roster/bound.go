package roster

// A lower bound on the coverage shortfall: no schedule of the problem, whatever the search,
// leaves fewer resident-half-days below the template minimums. Solve reports it beside the
// shortfall it reached, so that a run which stops above it says how far from the optimum it may
// be, and a run which reaches it is proven optimal in coverage.
//
// Two relaxations, both of constraints every schedule must keep:
//
//   - Per half-day, a maximum flow: each template's minimum is a demand, each resident fills at
//     most one of the templates they may hold then (not absent, their PGY level, the template
//     staffed, no session running into a day of leave, locked residents only where they are
//     locked), and the templates under supervision together take at most as many residents as
//     the faculty free that half-day can supervise (FacultyUnits each, every resident needing at
//     least the smaller of PGY1Units and SeniorUnits). What the flow cannot carry is missing.
//   - Over the range, duty days: a resident holds at most as many duty days as the days-off and
//     consecutive-days rules leave (one day off in every MaxConsecutiveDutyDays+1, DaysOffPerWeek
//     per week in every whole WindowDays), and a day staffs each half only with residents on duty
//     that day. Giving the program's duty days to the days where they cover most (two half-days
//     where both halves need people, then one) bounds what the whole range can cover.
//
// The bound is the larger of the two. It never exceeds the optimum of the LP export (checked
// against CBC in TestNativeShortfallEqualsCBCOnTightBlocks); it ignores the rest, hours and call
// rules and the faculty's weekly caps, so a shortfall those rules force can stay above it.

// shortfallLowerBound is the larger of the two bounds above; it sets slotBound.
func (s *solver) shortfallLowerBound() int {
	flows := make([]int, s.nSlots)
	s.slotBound = make([]int, s.nSlots)
	perSlot := 0
	for j := range s.nSlots {
		need, carried := s.halfDayFlow(j)
		flows[j], s.slotBound[j] = carried, need-carried
		perSlot += need - carried
	}
	return max(perSlot, s.dutyDayBound(flows))
}

// halfDayFlow is the sum of the template minimums in slot j and the most of it the residents
// available then can fill.
func (s *solver) halfDayFlow(j slotIdx) (need, carried int) {
	g := newFlowGraph(2 + int(s.nTemplates) + len(s.people))
	src, hub, sink := 0, 1, 2+int(s.nTemplates)
	tNode := func(t templateIdx) int { return 2 + int(t) }
	supervised := false
	for t := range s.nTemplates {
		tp := s.templates[t]
		if !s.staffed[j][t] || tp.MinResidents == 0 {
			continue
		}
		need += tp.MinResidents
		if tp.SupervisionRequired {
			supervised = true
			g.add(hub, tNode(t), tp.MinResidents)
		} else {
			g.add(src, tNode(t), tp.MinResidents)
		}
		for n, i := range s.residents {
			if s.mayFill(i, j, t) {
				g.add(tNode(t), sink+1+n, 1)
			}
		}
	}
	if need == 0 {
		return 0, 0
	}
	if supervised {
		g.add(src, hub, s.supervisableResidents(j))
	}
	for n := range s.residents {
		g.add(sink+1+n, sink, 1)
	}
	return need, g.maxFlow(src, sink)
}

// mayFill says whether resident i may hold template t in slot j in some schedule.
func (s *solver) mayFill(i personIdx, j slotIdx, t templateIdx) bool {
	if s.locked[i][j] {
		return s.assigned[i][j] == t
	}
	return s.allowed(i, j, t)
}

// supervisableResidents is the most residents the faculty free in slot j can supervise (or the
// residents locked on supervised templates then, if more: a schedule keeps its locks even where
// the faculty fall short, and reports that).
func (s *solver) supervisableResidents(j slotIdx) int {
	units, locked := 0, 0
	for _, i := range s.residents {
		if t := s.assigned[i][j]; s.locked[i][j] && t != free && s.templates[t].SupervisionRequired {
			locked++
		}
	}
	for _, f := range s.faculty {
		if s.absent[f][j] || (s.locked[f][j] && (s.assigned[f][j] == free || !s.templates[s.assigned[f][j]].SupervisionRequired)) {
			continue
		}
		units += s.limits.FacultyUnits
	}
	return max(locked, units/max(1, min(s.limits.PGY1Units, s.limits.SeniorUnits)))
}

// dutyDayBound is the duty-day bound; flows[j] is what slot j can fill at most.
func (s *solver) dutyDayBound(flows []int) int {
	days := int(s.nSlots) / 2
	capacity, ok := s.dutyDayCapacity(days)
	if !ok {
		return 0
	}
	// A day with n residents on duty misses at least need - min(flow, n) in each half: the
	// first min(flowAM, flowPM) residents each fill two half-days, the next ones one.
	missing, both, one := 0, 0, 0
	for d := range days {
		am, pm := slotIdx(2*d), slotIdx(2*d+1)
		missing += s.minimumIn(am) + s.minimumIn(pm)
		both += min(flows[am], flows[pm])
		one += max(flows[am], flows[pm]) - min(flows[am], flows[pm])
	}
	two := min(capacity, both)
	return max(0, missing-2*two-min(capacity-two, one))
}

// dutyDayCapacity is the most duty days the residents can hold in a range of the given days;
// false when a staffed template with a minimum holds no duty time (a zero-hour session fills a
// half-day without making it a duty day), which this bound does not model.
func (s *solver) dutyDayCapacity(days int) (int, bool) {
	for t, tp := range s.templates {
		if tp.MinResidents > 0 && tp.HoursPerSession == 0 && s.runsAtAll(templateIdx(t)) {
			return 0, false
		}
	}
	lim := s.limits
	off := 0
	if lim.MaxConsecutiveDutyDays > 0 {
		off = days / (lim.MaxConsecutiveDutyDays + 1)
	}
	if lim.WindowDays > 0 {
		off = max(off, days/lim.WindowDays*(lim.WindowDays/7*lim.DaysOffPerWeek))
	}
	total := 0
	for _, i := range s.residents {
		avail := 0
		for d := range days {
			if !s.absent[i][2*d] || !s.absent[i][2*d+1] {
				avail++
			}
		}
		total += min(avail, days-off)
	}
	return total, true
}

// runsAtAll says whether template t is staffed in some half-day of the range.
func (s *solver) runsAtAll(t templateIdx) bool {
	for j := range s.nSlots {
		if s.staffed[j][t] {
			return true
		}
	}
	return false
}

// minimumIn is the sum of the template minimums in slot j.
func (s *solver) minimumIn(j slotIdx) int {
	n := 0
	for t := range s.nTemplates {
		if s.staffed[j][t] {
			n += s.templates[t].MinResidents
		}
	}
	return n
}

// flowGraph is a small network for maximum flow (augmenting paths, depth first: the flows here
// are a few dozen units on graphs of a few hundred arcs).
type flowGraph struct {
	head []int // first arc out of each node, -1 for none
	arcs []flowArc
	seen []bool
}

type flowArc struct{ to, next, cap int }

func newFlowGraph(nodes int) *flowGraph {
	g := &flowGraph{head: make([]int, nodes+1), seen: make([]bool, nodes+1)}
	for n := range g.head {
		g.head[n] = -1
	}
	return g
}

// add adds an arc of capacity c from u to v, and its residual back arc.
func (g *flowGraph) add(u, v, c int) {
	for len(g.head) <= max(u, v) {
		g.head, g.seen = append(g.head, -1), append(g.seen, false)
	}
	g.arcs = append(g.arcs, flowArc{v, g.head[u], c}, flowArc{u, g.head[v], 0})
	g.head[u], g.head[v] = len(g.arcs)-2, len(g.arcs)-1
}

func (g *flowGraph) maxFlow(src, sink int) int {
	flow := 0
	for {
		clear(g.seen)
		if !g.augment(src, sink) {
			return flow
		}
		flow++
	}
}

// augment pushes one unit along a path with room from u to sink.
func (g *flowGraph) augment(u, sink int) bool {
	if u == sink {
		return true
	}
	g.seen[u] = true
	for a := g.head[u]; a >= 0; a = g.arcs[a].next {
		if v := g.arcs[a].to; g.arcs[a].cap > 0 && !g.seen[v] && g.augment(v, sink) {
			g.arcs[a].cap--
			g.arcs[a^1].cap++
			return true
		}
	}
	return false
}
