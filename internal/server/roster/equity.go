package roster

import (
	"slices"
	"time"
)

// Equity measures how evenly a schedule spreads the burdens programs compare within a PGY
// level: calls of each kind of the call roster (in-house, home, backup), weekend calls (a call
// starting on a Saturday or Sunday) and holiday calls of each kind, whole weekends off (Saturday
// and Sunday both free of duty and of call of any kind, a night session running into the
// Saturday included), and continuity (template changes from one day to the next in the same
// half-day). Calls, WeekendCalls and HolidayCalls are the in-house ones; HomeCall and BackupCall
// hold the same three for the other kinds. The solver balances all but continuity
// (callequity.go). Each is reported per level as the fewest, the most and their spread, counted over
// the range judged; residents are compared as they are (an absence lowers someone's counts:
// read the spread together with who was away).
type Equity struct {
	Levels []LevelEquity `json:"levels"`
	// Worst is the largest spread of each measure over the levels.
	Worst EquitySpreads `json:"worst"`
}

// Spread is one measure over the residents of a level.
type Spread struct {
	Min    int `json:"min"`
	Max    int `json:"max"`
	Spread int `json:"spread"`
}

// EquitySpreads are the spreads of the measures.
type EquitySpreads struct {
	Calls           int `json:"calls"`
	WeekendCalls    int `json:"weekend_calls"`
	HolidayCalls    int `json:"holiday_calls"`
	WeekendsOff     int `json:"weekends_off"`
	TemplateChanges int `json:"template_changes"`
	// HomeCall and BackupCall are the spreads of the home and backup calls.
	HomeCall   KindSpreads `json:"home_call"`
	BackupCall KindSpreads `json:"backup_call"`
}

// KindSpreads are the largest spreads of one call kind's measures over the levels.
type KindSpreads struct {
	Calls        int `json:"calls"`
	WeekendCalls int `json:"weekend_calls"`
	HolidayCalls int `json:"holiday_calls"`
}

// KindEquity is one call kind's measures in a level.
type KindEquity struct {
	// CallTeam is how many of the level's residents could take a call of this kind in the
	// range (a template of the kind their level and the block plan allow): the spreads are
	// over them, so a block's call team is not compared with residents on other rotations.
	CallTeam     int    `json:"call_team"`
	Calls        Spread `json:"calls"`
	WeekendCalls Spread `json:"weekend_calls"`
	HolidayCalls Spread `json:"holiday_calls"`
}

// LevelEquity is one PGY level's measures.
type LevelEquity struct {
	PGY       int `json:"pgy_level"`
	Residents int `json:"residents"`
	// CallTeam is how many residents the in-house call spreads compare (KindEquity.CallTeam).
	CallTeam        int    `json:"call_team"`
	Calls           Spread `json:"calls"`
	WeekendCalls    Spread `json:"weekend_calls"`
	HolidayCalls    Spread `json:"holiday_calls"`
	WeekendsOff     Spread `json:"weekends_off"`
	TemplateChanges Spread `json:"template_changes"`
	// HomeCall and BackupCall are the measures of the home and backup calls.
	HomeCall   KindEquity `json:"home_call"`
	BackupCall KindEquity `json:"backup_call"`
}

// residentLoad is one resident's counts; the calls by kind (callKinds' order).
type residentLoad struct {
	calls, weekendCalls, holidayCalls [len(callKinds)]int
	weekendsOff, changes              int
	// canCall: the resident could take a call of the kind in the range.
	canCall [len(callKinds)]bool
}

// MeasureEquity measures assignments (p's range) by level; the call spreads compare the
// level's call team only (markCallTeams). Assignments naming unknown people or
// templates are skipped (Validate reports them).
func MeasureEquity(p *Problem, assignments []Assignment) Equity {
	templates := map[string]Template{}
	for _, t := range p.Templates {
		templates[t.ID] = t
	}
	loads := map[string]*residentLoad{}
	busy := map[string]map[Date]bool{} // days a resident has duty on
	held := map[string]map[Slot]string{}
	for _, x := range p.People {
		if x.Type == Resident {
			loads[x.ID], busy[x.ID], held[x.ID] = &residentLoad{}, map[Date]bool{}, map[Slot]string{}
		}
	}
	holidays := map[Date]bool{}
	for _, h := range p.Holidays {
		holidays[h.Date] = true
	}
	for _, a := range assignments {
		l, t := loads[a.PersonID], templates[a.TemplateID]
		if l == nil || t.ID == "" || a.Slot.Date.Before(p.From) || p.To.Before(a.Slot.Date) {
			continue
		}
		held[a.PersonID][a.Slot] = t.ID
		markBusy(busy[a.PersonID], t, a.Slot, p.Location)
		if k := slices.Index(callKinds[:], t.Activity); k >= 0 {
			l.calls[k]++
			if wd := a.Slot.Date.Weekday(); wd == time.Saturday || wd == time.Sunday {
				l.weekendCalls[k]++
			}
			if holidays[a.Slot.Date] {
				l.holidayCalls[k]++
			}
		}
	}
	for id, l := range loads {
		l.weekendsOff = weekendsOff(p.From, p.To, busy[id])
		l.changes = templateChanges(p.From, p.To, held[id])
	}
	markCallTeams(p, loads)
	return equityByLevel(p, loads)
}

// markCallTeams marks who could take a call of each kind in p's range: a template of the kind
// their PGY level may hold and the block plan lets them hold on some day (or who took one).
func markCallTeams(p *Problem, loads map[string]*residentLoad) {
	for _, x := range p.People {
		l := loads[x.ID]
		if l == nil {
			continue
		}
		for k, kind := range callKinds {
			l.canCall[k] = l.calls[k] > 0 || slices.ContainsFunc(p.Templates, func(t Template) bool {
				return t.Activity == kind && t.Allows(x.PGY) && p.planAllowsSome(x.ID, t)
			})
		}
	}
}

// markBusy marks the days a session of t in slot s takes: the days its duty runs on, or its own
// day for a call of any kind without duty hours (home or backup call).
func markBusy(busy map[Date]bool, t Template, s Slot, loc *time.Location) {
	d, ok := t.Duty(s, loc)
	if !ok {
		if t.Activity.OnCallRoster() {
			busy[s.Date] = true
		}
		return
	}
	for day := s.Date; ; day = day.AddDays(1) {
		busy[day] = true
		if !d.End.After(day.AddDays(1).In(loc)) {
			return
		}
	}
}

// weekendsOff counts the Saturday-Sunday pairs inside [from, to] with no duty on either day.
func weekendsOff(from, to Date, busy map[Date]bool) int {
	n := 0
	for d := from; !to.Before(d.AddDays(1)); d = d.AddDays(1) {
		if d.Weekday() == time.Saturday && !busy[d] && !busy[d.AddDays(1)] {
			n++
		}
	}
	return n
}

// templateChanges counts the half-days held on a different template than the day before.
func templateChanges(from, to Date, held map[Slot]string) int {
	n := 0
	for d := from.AddDays(1); !to.Before(d); d = d.AddDays(1) {
		for _, h := range []Half{AM, PM} {
			cur, prev := held[Slot{d, h}], held[Slot{d.AddDays(-1), h}]
			if cur != "" && prev != "" && cur != prev {
				n++
			}
		}
	}
	return n
}

func equityByLevel(p *Problem, loads map[string]*residentLoad) Equity {
	byLevel := map[int][]*residentLoad{}
	for _, x := range p.People {
		if l := loads[x.ID]; l != nil {
			byLevel[x.PGY] = append(byLevel[x.PGY], l)
		}
	}
	levels := make([]int, 0, len(byLevel))
	for pgy := range byLevel {
		levels = append(levels, pgy)
	}
	slices.Sort(levels)
	e := Equity{Levels: []LevelEquity{}}
	for _, pgy := range levels {
		ls := byLevel[pgy]
		inHouse, home, backup := kindEquity(ls, 0), kindEquity(ls, 1), kindEquity(ls, 2)
		le := LevelEquity{PGY: pgy, Residents: len(ls), CallTeam: inHouse.CallTeam,
			Calls: inHouse.Calls, WeekendCalls: inHouse.WeekendCalls, HolidayCalls: inHouse.HolidayCalls,
			WeekendsOff:     spreadOf(ls, func(l *residentLoad) int { return l.weekendsOff }),
			TemplateChanges: spreadOf(ls, func(l *residentLoad) int { return l.changes }),
			HomeCall:        home, BackupCall: backup,
		}
		e.Levels = append(e.Levels, le)
		w := &e.Worst
		w.Calls, w.WeekendCalls = max(w.Calls, le.Calls.Spread), max(w.WeekendCalls, le.WeekendCalls.Spread)
		w.HolidayCalls, w.WeekendsOff = max(w.HolidayCalls, le.HolidayCalls.Spread), max(w.WeekendsOff, le.WeekendsOff.Spread)
		w.TemplateChanges = max(w.TemplateChanges, le.TemplateChanges.Spread)
		w.HomeCall, w.BackupCall = w.HomeCall.worst(home), w.BackupCall.worst(backup)
	}
	return e
}

// kindEquity is the measures of call kind k (callKinds' order) over a level's residents.
func kindEquity(all []*residentLoad, k int) KindEquity {
	var ls []*residentLoad
	for _, l := range all {
		if l.canCall[k] {
			ls = append(ls, l)
		}
	}
	return KindEquity{CallTeam: len(ls),
		Calls:        spreadOf(ls, func(l *residentLoad) int { return l.calls[k] }),
		WeekendCalls: spreadOf(ls, func(l *residentLoad) int { return l.weekendCalls[k] }),
		HolidayCalls: spreadOf(ls, func(l *residentLoad) int { return l.holidayCalls[k] }),
	}
}

// worst is the larger of w and a level's spreads, measure by measure.
func (w KindSpreads) worst(le KindEquity) KindSpreads {
	return KindSpreads{Calls: max(w.Calls, le.Calls.Spread), WeekendCalls: max(w.WeekendCalls, le.WeekendCalls.Spread),
		HolidayCalls: max(w.HolidayCalls, le.HolidayCalls.Spread)}
}

func spreadOf(ls []*residentLoad, f func(*residentLoad) int) Spread {
	if len(ls) == 0 {
		return Spread{}
	}
	s := Spread{Min: f(ls[0]), Max: f(ls[0])}
	for _, l := range ls[1:] {
		s.Min, s.Max = min(s.Min, f(l)), max(s.Max, f(l))
	}
	s.Spread = s.Max - s.Min
	return s
}
