package roster

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

// The solver's state is a grid of cells, one per person and half-day, each holding a template
// or free, with counters kept in step by apply. Indexes into the problem's slices have types
// of their own so that a person is never used as a half-day.
type (
	// personIdx indexes Problem.People (residents and faculty alike).
	personIdx int
	// slotIdx indexes the half-days of the range, from 0 for From's morning.
	slotIdx int
	// templateIdx indexes Problem.Templates; free is no template.
	templateIdx int16
)

// free is an empty cell.
const free templateIdx = -1

// slotsPerWeek is the length of the weeks the faculty caps count in (from From, not calendar
// weeks).
const slotsPerWeek = 14

// week is the index of the week (from From) that slot j falls in.
func (j slotIdx) week() int { return int(j) / slotsPerWeek }

// problemIndex finds people and templates by id.
type problemIndex struct {
	person   map[string]personIdx
	template map[string]templateIdx
}

// levelLoad sums the loads of the residents of one PGY level, for the fairness term (the sum of
// squared deviations from the mean is sumSq - sum²/n).
type levelLoad struct {
	n, sum, sumSq float64
}

// levelLoads holds one levelLoad per PGY level, indexed by the level (0 unused).
type levelLoads [MaxPGY + 1]levelLoad

type solver struct {
	// The problem, as given and checked.
	problem    *Problem
	limits     acgme.Limits
	weights    Weights
	loc        *time.Location
	ids        problemIndex
	slots      []Slot
	nSlots     slotIdx
	templates  []Template
	nTemplates templateIdx
	people     []Person
	residents  []personIdx
	faculty    []personIdx

	// What each cell may hold.
	locked [][]bool // [person][slot]: a fixed assignment (or a kept person), never moved
	absent [][]bool // [person][slot]: unavailable, and a kept person's free cells
	// beforeAbsence[person][slot]: the person is absent the next day, so no session here may
	// run past midnight (an overnight call would end on their first day of leave).
	beforeAbsence [][]bool
	// overnight[slot][template]: a session of the template in that half-day ends on a later day.
	overnight [][]bool
	// staffed[slot][template] says whether the template takes residents in that half-day.
	staffed [][]bool
	// duty[slot][template] is the duty a session of the template there is, where hasDuty says
	// it counts as one (Template.Duty), laid out once for the rules.
	duty    [][]acgme.Duty
	hasDuty [][]bool
	// nDays is the number of days in the range; midnights[n-midnight0] is when the day n days
	// after From begins (n from -midnight0, far enough before and after the range for every
	// rolling window the rules look at).
	nDays     int
	midnights []time.Time
	midnight0 int
	// anyShift: some template is a shift with its own hours (faculty sessions can overlap).
	anyShift bool
	// planned[person][slot] is the rotation the block plan gives the person (1-based, 0 none;
	// a nil row: no plan), templateRotation[template] the template's (0 none): plan.go.
	planned          [][]int16
	templateRotation []int16

	// About each person.
	pgy []int
	// contextDuties are a resident's fixed duties outside the range, which the rolling rules
	// must see.
	contextDuties [][]acgme.Duty
	// contextCalls are a resident's sessions of spaced call templates outside the range
	// (callspacing.go).
	contextCalls  [][]contextCall
	preference    [][]float64 // [person][template]
	availableDays []float64   // half-days not absent, in days (at least 1)
	dutyHours     []float64   // hours of the sessions held

	// The schedule and the counters apply keeps in step with it.
	assigned          [][]templateIdx // [person][slot]
	residentsOn       [][]int         // [slot][template]
	supervisionUnits  [][]int         // [slot][template]: demand of the residents on it
	facultyOn         [][]int         // [slot][template]
	facultySessions   [][]int         // [person][week]
	levels            levelLoads      // by PGY level (1 to MaxPGY)
	shortfall         int             // resident-half-days below the template minimums
	continuityChanges int             // template changes from one day to the next, same half
	preferenceSum     float64
	dayOff            [][]float64 // [person][slot]: day-off requests' weight (nil row: none)
	// eq holds the call roster's equity counters (callequity.go).
	eq equityState

	// dirty marks residents whose fixed assignments already break a rule somewhere; for the
	// others every kept state has no violation at all, so a move's "before" count is 0.
	dirty []bool

	// Search machinery.
	// ceiling is the most a move under way may leave the schedule costing (+Inf: no bound;
	// randomMove), checked by try and exchange before the rules.
	ceiling  float64
	undoLog  []undo
	rng      *rand.Rand
	scratch  []acgme.Duty // reused by violations
	timeline acgme.Timeline
	// chainBudget is what the ejection chain under way may still try, chainFails how many
	// chains in a row have failed (chain.go).
	chainBudget, chainFails int
	// slotBound[slot] is the shortfall no schedule avoids in that half-day (bound.go): the
	// shortfall moves leave such half-days alone.
	slotBound []int
}

// undo is one cell change, to roll back.
type undo struct {
	person personIdx
	slot   slotIdx
	old    templateIdx
}

// newSolver lays out p for the search: the fixed cells placed, kept people closed, the counters
// in step and the locked cells supervised as far as the faculty allow.
func newSolver(p *Problem, seed uint64) (*solver, error) {
	s := &solver{problem: p, limits: p.Limits, weights: p.Weights, loc: p.Location, templates: p.Templates, people: p.People,
		rng: rand.New(rand.NewPCG(seed, 0x501)), slots: Slots(p.From, p.To), ceiling: math.Inf(1)}
	s.nSlots, s.nTemplates = slotIdx(len(s.slots)), templateIdx(len(p.Templates))
	s.layOutMidnights()
	s.indexProblem()
	s.anyShift = slices.ContainsFunc(p.Templates, Template.IsShift)
	s.allocatePeople()
	s.markAbsences()
	for _, pr := range p.Preferences {
		s.preference[s.ids.person[pr.PersonID]][s.ids.template[pr.TemplateID]] += pr.Weight
	}
	s.allocateSlots()
	s.layOutDayOff()
	s.layOutPlan()
	s.countAvailability()
	s.initEquity()
	s.placeFixed()
	s.closeKeptPeople()
	s.undoLog = s.undoLog[:0]
	// The shortfall counted from scratch (placing the fixed cells above moved it from 0).
	s.shortfall = s.countShortfall()
	// The locked cells may need faculty of their own. If there are not enough, the schedule
	// starts with a supervision violation there, which the validator reports; the solver adds none.
	for j := range s.nSlots {
		for t := range s.nTemplates {
			s.superviseOK(j, t)
		}
	}
	s.undoLog = s.undoLog[:0]
	s.dirty = make([]bool, len(p.People))
	for _, i := range s.residents {
		s.dirty[i] = len(s.violations(i, 0, s.nSlots)) > 0
	}
	return s, nil
}

// layOutMidnights lays out the start of every day the rules may look at: the range and
// WindowDays+3 days on either side.
func (s *solver) layOutMidnights() {
	s.nDays = int(s.nSlots) / 2
	reach := s.limits.WindowDays + 3
	s.midnight0 = -reach
	for n := -reach; n <= s.nDays+reach; n++ {
		s.midnights = append(s.midnights, s.problem.From.AddDays(n).In(s.loc))
	}
}

// indexProblem maps ids to indexes and sorts people into residents and faculty.
func (s *solver) indexProblem() {
	s.ids = problemIndex{person: map[string]personIdx{}, template: map[string]templateIdx{}}
	for n, x := range s.people {
		i := personIdx(n)
		s.ids.person[x.ID] = i
		switch x.Type {
		case Resident:
			s.residents = append(s.residents, i)
		case Faculty:
			s.faculty = append(s.faculty, i)
		}
	}
	for t, tp := range s.templates {
		s.ids.template[tp.ID] = templateIdx(t)
	}
}

// allocatePeople makes the per-person rows, every cell free.
func (s *solver) allocatePeople() {
	nP := len(s.people)
	s.assigned, s.locked, s.absent, s.beforeAbsence = make([][]templateIdx, nP), make([][]bool, nP), make([][]bool, nP), make([][]bool, nP)
	s.preference, s.availableDays, s.dutyHours, s.pgy = make([][]float64, nP), make([]float64, nP), make([]float64, nP), make([]int, nP)
	s.contextDuties, s.facultySessions = make([][]acgme.Duty, nP), make([][]int, nP)
	s.contextCalls = make([][]contextCall, nP)
	weeks := int(s.nSlots)/slotsPerWeek + 2
	for i, x := range s.people {
		s.assigned[i] = make([]templateIdx, s.nSlots)
		for j := range s.assigned[i] {
			s.assigned[i][j] = free
		}
		s.locked[i], s.absent[i], s.preference[i] = make([]bool, s.nSlots), make([]bool, s.nSlots), make([]float64, s.nTemplates)
		s.beforeAbsence[i] = make([]bool, s.nSlots)
		s.facultySessions[i] = make([]int, weeks)
		s.pgy[i] = x.PGY
	}
}

func (s *solver) markAbsences() {
	for _, a := range s.problem.Absences {
		i := s.ids.person[a.PersonID]
		for j, sl := range s.slots {
			if a.Covers(sl.Date) {
				s.absent[i][j] = true
			}
			if a.Covers(sl.Date.AddDays(1)) {
				s.beforeAbsence[i][j] = true
			}
		}
	}
}

// allocateSlots makes the per-half-day counters and says which templates run when.
func (s *solver) allocateSlots() {
	nT := int(s.nTemplates)
	s.staffed, s.residentsOn, s.overnight = make([][]bool, s.nSlots), make([][]int, s.nSlots), make([][]bool, s.nSlots)
	s.duty, s.hasDuty = make([][]acgme.Duty, s.nSlots), make([][]bool, s.nSlots)
	s.supervisionUnits, s.facultyOn = make([][]int, s.nSlots), make([][]int, s.nSlots)
	for j, sl := range s.slots {
		s.staffed[j], s.residentsOn[j], s.supervisionUnits[j], s.facultyOn[j] = make([]bool, nT), make([]int, nT), make([]int, nT), make([]int, nT)
		s.overnight[j] = make([]bool, nT)
		s.duty[j], s.hasDuty[j] = make([]acgme.Duty, nT), make([]bool, nT)
		for t, tp := range s.templates {
			s.duty[j][t], s.hasDuty[j][t] = tp.Duty(sl, s.loc)
			s.staffed[j][t] = tp.RunsOn(sl, s.problem.Holidays)
			s.overnight[j][t] = tp.Overnight(sl, s.loc)
		}
	}
}

// countAvailability counts each resident's available days and the residents per PGY level.
func (s *solver) countAvailability() {
	for _, i := range s.residents {
		for j := range s.slots {
			if !s.absent[i][j] {
				s.availableDays[i] += 0.5
			}
		}
		s.availableDays[i] = max(s.availableDays[i], 1)
		s.levels[s.pgy[i]].n++
	}
}

// placeFixed places the fixed assignments: inside the range they are locked cells, outside they
// are context.
func (s *solver) placeFixed() {
	p := s.problem
	for _, a := range p.Fixed {
		i, t := s.ids.person[a.PersonID], s.ids.template[a.TemplateID]
		j := a.Slot.Index(p.From)
		if j >= 0 && j < int(s.nSlots) {
			s.set(i, slotIdx(j), t)
			s.locked[i][j] = true
			continue
		}
		if p.People[i].Type != Resident {
			continue
		}
		if d, ok := p.Templates[t].Duty(a.Slot, s.loc); ok {
			s.contextDuties[i] = append(s.contextDuties[i], d)
		}
		if p.Templates[t].EveryNthNight > 0 {
			s.contextCalls[i] = append(s.contextCalls[i], contextCall{day: a.Slot.Date.Sub(p.From), t: t})
		}
	}
}

// closeKeptPeople locks every cell of a kept person, and closes a free one like an absence (so
// that neither a move nor the supervision fill places them); availability was counted before,
// so fairness sees their real load.
func (s *solver) closeKeptPeople() {
	for _, id := range s.problem.Keep {
		i := s.ids.person[id]
		for j := range s.slots {
			s.locked[i][j] = true
			if s.assigned[i][j] == free {
				s.absent[i][j] = true
			}
		}
	}
}
