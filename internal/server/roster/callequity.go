package roster

import "time"

// The call roster's equity as objectives of the solver (issue 18). Within each PGY level the
// solver balances, for each call kind (in-house, home, backup) separately, the calls, the calls
// starting on a Saturday or Sunday and the calls on a holiday, and the whole weekends off: the
// measures MeasureEquity reports. Each measure costs its weight (Weights.CallEquity,
// WeekendCallEquity, HolidayCallEquity, WeekendOffEquity) times the sum over the level's
// residents of the squared deviation from the level's mean, n·Σc² − (Σc)² over n, kept from
// integer counters that apply updates with each cell (so a move's cost is known at once, and
// exactly). A level's spread is at most 1 exactly when no single call moved from one resident to
// another lowers this sum.

// callKinds are the call roster's kinds, in the order of the equity measures.
var callKinds = [...]Activity{Call, HomeCall, BackupCall}

// The equity measures: for each call kind, its calls, weekend calls and holiday calls (measure
// kind*measuresPerKind + one of the offsets); then the whole weekends off.
const (
	measuresPerKind    = 3
	offsetCalls        = 0
	offsetWeekendCalls = 1
	offsetHolidayCalls = 2
	measureWeekendsOff = len(callKinds) * measuresPerKind
	nMeasures          = measureWeekendsOff + 1
)

// equityState is what the solver keeps for the equity terms.
type equityState struct {
	kind             []int8    // [template]: index into callKinds, -1 not on the call roster
	busy             []bool    // [template]: a session makes its day not a day off (duty or call roster)
	weekend, holiday []bool    // [slot]: the half-day is on a Saturday or Sunday, on a holiday
	weekendOf        []int     // [slot]: the weekend a cell there can decide (Friday: if overnight), -1 none
	weekendSat       []slotIdx // [weekend]: its Saturday morning
	count            [][nMeasures]int
	sum, sumSq       [nMeasures][MaxPGY + 1]int
	n                [MaxPGY + 1]int
	weight           [nMeasures]float64
	// active lists the measures with a weight that some template can produce, callActive those
	// of them about calls; levels the PGY levels with two residents or more, byLevel their
	// residents.
	active, callActive []int
	levels             []int
	byLevel            [MaxPGY + 1][]personIdx
}

// initEquity sets up the equity counters of an empty grid (every weekend off); it runs after
// countAvailability and before any cell is placed.
func (s *solver) initEquity() {
	e := &s.eq
	e.kind, e.busy = make([]int8, s.nTemplates), make([]bool, s.nTemplates)
	for t, tp := range s.templates {
		e.kind[t] = -1
		for k, a := range callKinds {
			if tp.Activity == a {
				e.kind[t] = int8(k)
			}
		}
		_, duty := tp.Duty(Slot{s.problem.From, AM}, s.loc)
		e.busy[t] = duty || tp.Activity.OnCallRoster()
	}
	s.layOutWeekends()
	s.weighEquity()
	e.count = make([][nMeasures]int, len(s.people))
	for _, i := range s.residents {
		g := s.pgy[i]
		e.n[g]++
		e.byLevel[g] = append(e.byLevel[g], i)
		e.count[i][measureWeekendsOff] = len(e.weekendSat)
		e.sum[measureWeekendsOff][g] += len(e.weekendSat)
		e.sumSq[measureWeekendsOff][g] += len(e.weekendSat) * len(e.weekendSat)
	}
	for g := 1; g <= MaxPGY; g++ {
		if e.n[g] >= 2 {
			e.levels = append(e.levels, g)
		}
	}
}

// layOutWeekends marks the half-days on weekends and holidays, and the weekends whose both days
// are in the range, with the cells that can decide whether one is off.
func (s *solver) layOutWeekends() {
	e := &s.eq
	e.weekend, e.holiday, e.weekendOf = make([]bool, s.nSlots), make([]bool, s.nSlots), make([]int, s.nSlots)
	for j, sl := range s.slots {
		wd := sl.Date.Weekday()
		e.weekend[j] = wd == time.Saturday || wd == time.Sunday
		_, e.holiday[j] = HolidayOn(s.problem.Holidays, sl.Date)
		e.weekendOf[j] = -1
	}
	for j := range s.nSlots {
		if s.slots[j].Date.Weekday() != time.Saturday || j%2 != 0 || j+3 >= s.nSlots {
			continue // a weekend counts when both its days are in the range
		}
		w := len(e.weekendSat)
		e.weekendSat = append(e.weekendSat, j)
		for k := max(0, j-2); k < j+4; k++ {
			e.weekendOf[k] = w
		}
	}
}

// weighEquity sets the measures' weights and lists those that count: a weight, and a template
// of the kind that runs when the measure counts (on a weekend, on a holiday).
func (s *solver) weighEquity() {
	e, w := &s.eq, s.weights
	can := [nMeasures]bool{measureWeekendsOff: len(e.weekendSat) > 0}
	for j := range s.nSlots {
		for t := range s.nTemplates {
			if k := int(e.kind[t]); k >= 0 && s.staffed[j][t] {
				can[k*measuresPerKind+offsetCalls] = true
				can[k*measuresPerKind+offsetWeekendCalls] = can[k*measuresPerKind+offsetWeekendCalls] || e.weekend[j]
				can[k*measuresPerKind+offsetHolidayCalls] = can[k*measuresPerKind+offsetHolidayCalls] || e.holiday[j]
			}
		}
	}
	for k := range callKinds {
		e.weight[k*measuresPerKind+offsetCalls] = w.CallEquity
		e.weight[k*measuresPerKind+offsetWeekendCalls] = w.WeekendCallEquity
		e.weight[k*measuresPerKind+offsetHolidayCalls] = w.HolidayCallEquity
	}
	e.weight[measureWeekendsOff] = w.WeekendOffEquity
	for m := range nMeasures {
		if can[m] && e.weight[m] > 0 {
			e.active = append(e.active, m)
			if m != measureWeekendsOff {
				e.callActive = append(e.callActive, m)
			}
		}
	}
}

// bump changes resident i's count of measure m by d, and their level's sums with it.
func (s *solver) bump(i personIdx, m, d int) {
	e, g := &s.eq, s.pgy[i]
	c := e.count[i][m]
	e.count[i][m] = c + d
	e.sum[m][g] += d
	e.sumSq[m][g] += (c+d)*(c+d) - c*c
}

// countsIn says whether template t in slot j counts toward call measure m.
func (s *solver) countsIn(m int, j slotIdx, t templateIdx) bool {
	if t == free || int(s.eq.kind[t]) != m/measuresPerKind {
		return false
	}
	switch m % measuresPerKind {
	case offsetWeekendCalls:
		return s.eq.weekend[j]
	case offsetHolidayCalls:
		return s.eq.holiday[j]
	}
	return true
}

// countCalls moves resident i's call counts from template old to template t in slot j.
func (s *solver) countCalls(i personIdx, j slotIdx, old, t templateIdx) {
	e := &s.eq
	for _, u := range [2]templateIdx{old, t} {
		if u == free || e.kind[u] < 0 {
			continue
		}
		d := 1
		if u == old {
			d = -1
		}
		base := int(e.kind[u]) * measuresPerKind
		s.bump(i, base+offsetCalls, d)
		if e.weekend[j] {
			s.bump(i, base+offsetWeekendCalls, d)
		}
		if e.holiday[j] {
			s.bump(i, base+offsetHolidayCalls, d)
		}
	}
}

// weekendOff says whether resident i has weekend w off: nothing held on its Saturday and Sunday
// that makes a day busy, and no overnight session from the Friday running into it.
func (s *solver) weekendOff(i personIdx, w int) bool {
	sat := s.eq.weekendSat[w]
	for k := max(0, sat-2); k < sat+4; k++ {
		t := s.assigned[i][k]
		if t == free {
			continue
		}
		if k >= sat && s.eq.busy[t] || k < sat && s.overnight[k][t] {
			return false
		}
	}
	return true
}

// recountWeekend counts resident i's weekend w (-1: none) again after a cell of it changed, off
// before if wasOff.
func (s *solver) recountWeekend(i personIdx, w int, wasOff bool) {
	if w < 0 {
		return
	}
	switch isOff := s.weekendOff(i, w); {
	case isOff && !wasOff:
		s.bump(i, measureWeekendsOff, 1)
	case !isOff && wasOff:
		s.bump(i, measureWeekendsOff, -1)
	}
}

// equityCost is the weighted sum of the equity measures' squared deviations within the levels.
func (s *solver) equityCost() float64 {
	e, c := &s.eq, 0.0
	for _, m := range e.active {
		for _, g := range e.levels {
			c += e.weight[m] * float64(e.n[g]*e.sumSq[m][g]-e.sum[m][g]*e.sum[m][g]) / float64(e.n[g])
		}
	}
	return c
}
