package compliance

import (
	"cmp"
	"slices"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
	"github.com/rsched/rsched/internal/server/roster"
)

// WindowDays is the length of the windows that tile a report's period: the ACGME averaging
// window (acgme.Limits.WindowDays), which is also the length of an academic block.
const WindowDays = 28

// Report is a compliance report of [StartDate, EndDate].
type Report struct {
	StartDate   roster.Date `json:"start_date"`
	EndDate     roster.Date `json:"end_date"`
	TimeZone    string      `json:"time_zone"`
	GeneratedAt time.Time   `json:"generated_at"`
	// PersonID is set when the report is one resident's.
	PersonID string `json:"person_id,omitempty"`
	// WindowDays is the length of the windows that tile the period from StartDate (the last
	// one ends at EndDate and may be shorter).
	WindowDays int               `json:"window_days"`
	Program    Program           `json:"program"`
	Residents  []Resident        `json:"residents"`
	Holidays   []roster.Holiday  `json:"holidays"`
	Overrides  []Override        `json:"overrides"`
	Note       string            `json:"overrides_note"`
	Limits     acgme.Limits      `json:"-"`
	names      map[string]string // person id to name, for the renderers
}

// Program is the program's picture of the period.
type Program struct {
	Residents       int         `json:"residents"`
	Compliant       bool        `json:"compliant"`
	HardViolations  int         `json:"hard_violations"`
	TotalViolations int         `json:"total_violations"`
	ByRule          []RuleGroup `json:"violations_by_rule"`
}

// RuleGroup is the violations of one rule in the period, by person.
type RuleGroup struct {
	Rule  acgme.Rule    `json:"rule"`
	Hard  bool          `json:"hard"`
	Count int           `json:"count"`
	By    []PersonCount `json:"people"`
	// Unattributed counts the violations of a template or half-day rather than of a person
	// (coverage, capacity, supervision).
	Unattributed int `json:"unattributed"`
}

// PersonCount is how many violations of a rule one person has.
type PersonCount struct {
	PersonID string `json:"person_id"`
	Name     string `json:"name"`
	Count    int    `json:"count"`
}

// Resident is one resident's part of the report.
type Resident struct {
	PersonID string `json:"person_id"`
	Name     string `json:"name"`
	PGY      int    `json:"pgy_level"`
	// Period is the whole period's measures.
	Period acgme.Summary `json:"period"`
	// PeakWeeklyAverage is the 80-hour rule's worst rolling window overlapping the period.
	PeakWeeklyAverage float64  `json:"peak_weekly_average_hours"`
	Windows           []Window `json:"windows"`
	// HolidayCalls lists the holidays on which the resident took in-house call.
	HolidayCalls []roster.Holiday `json:"holiday_calls"`
	Compliant    bool             `json:"compliant"`
	Violations   []Violation      `json:"violations"`
}

// Window is one window of the period and its measures.
type Window struct {
	StartDate roster.Date `json:"start_date"`
	EndDate   roster.Date `json:"end_date"`
	acgme.Summary
}

// Violation is one violation as the report lists it.
type Violation struct {
	acgme.Violation
	Hard bool `json:"hard"`
}

// Override is one manual change to an assignment that the audit log recorded.
type Override struct {
	Seq    int64     `json:"audit_seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	// PersonID, Date, Half and TemplateID describe the assignment as it stands now (nil and
	// empty when it has been deleted since).
	PersonID   *string      `json:"person_id"`
	Date       *roster.Date `json:"date"`
	Half       string       `json:"time_of_day,omitempty"`
	TemplateID string       `json:"rotation_template_id,omitempty"`
	// Reason is the override reason of an edit that broke a hard rule, and Rules the rules
	// the edit broke, as its audit entry recorded them.
	Reason string   `json:"override_reason,omitempty"`
	Rules  []string `json:"rules,omitempty"`
	// Range is the publication's range ("2026-07-02..2026-07-29") of a schedule.rollback made
	// over the hard rules it broke; empty for an assignment change.
	Range string `json:"range,omitempty"`
}

// OverridesNote says where the overrides come from.
const OverridesNote = "manual assignment changes recorded in the audit log (assignment.create, assignment.update, assignment.delete) " +
	"for assignments in the period, and those of since-deleted assignments made during it; an edit that broke a hard rule " +
	"carries the override reason and the rules it broke (edits made before reasons were required carry none)"

// Build makes the report of p's range from the stored schedule of the range (live) and p.Fixed
// around it (the context the rolling windows see, as roster.Validate takes it). personID, when
// set, restricts it to that resident (their violations only in the program part).
func Build(p *roster.Problem, live []roster.Assignment, personID string, now time.Time) (*Report, error) {
	vs, err := roster.Validate(p, live) // also fills p's defaults (limits, time zone)
	if err != nil {
		return nil, err
	}
	r := &Report{StartDate: p.From, EndDate: p.To, TimeZone: p.Location.String(), GeneratedAt: now.UTC(), PersonID: personID,
		WindowDays: WindowDays, Holidays: slices.Clone(p.Holidays), Overrides: []Override{}, Note: OverridesNote, Limits: p.Limits,
		names: map[string]string{}}
	if r.Holidays == nil {
		r.Holidays = []roster.Holiday{}
	}
	for _, x := range p.People {
		r.names[x.ID] = x.Name
	}
	if personID != "" {
		vs = slices.DeleteFunc(vs, func(v acgme.Violation) bool { return v.PersonID != personID })
	}
	r.Program = program(vs, r.names)
	duties, calls := dutiesOf(p, live)
	for _, x := range p.People {
		if x.Type != roster.Resident || (personID != "" && x.ID != personID) {
			continue
		}
		r.Residents = append(r.Residents, resident(p, x, duties[x.ID], calls[x.ID], vs))
	}
	slices.SortFunc(r.Residents, func(a, b Resident) int {
		return cmp.Or(cmp.Compare(a.PGY, b.PGY), cmp.Compare(a.Name, b.Name), cmp.Compare(a.PersonID, b.PersonID))
	})
	if r.Residents == nil {
		r.Residents = []Resident{}
	}
	r.Program.Residents = len(r.Residents)
	return r, nil
}

// dutiesOf lays out every resident's duties, as the validator does: the schedule of the range
// and p.Fixed outside it; and the days of the range each resident starts an in-house call.
func dutiesOf(p *roster.Problem, live []roster.Assignment) (map[string][]acgme.Duty, map[string][]roster.Date) {
	people := map[string]roster.Person{}
	for _, x := range p.People {
		people[x.ID] = x
	}
	templates := map[string]roster.Template{}
	for _, t := range p.Templates {
		templates[t.ID] = t
	}
	duties, calls := map[string][]acgme.Duty{}, map[string][]roster.Date{}
	add := func(a roster.Assignment, inRange bool) {
		t, ok := templates[a.TemplateID]
		if x := people[a.PersonID]; !ok || x.Type != roster.Resident {
			return
		}
		if d, ok := t.Duty(a.Slot, p.Location); ok {
			duties[a.PersonID] = append(duties[a.PersonID], d)
			if inRange && d.Call {
				calls[a.PersonID] = append(calls[a.PersonID], a.Slot.Date)
			}
		}
	}
	for _, a := range live {
		add(a, true)
	}
	for _, a := range p.Fixed {
		if a.Slot.Date.Before(p.From) || p.To.Before(a.Slot.Date) {
			add(a, false)
		}
	}
	return duties, calls
}

func resident(p *roster.Problem, x roster.Person, duties []acgme.Duty, calls []roster.Date, vs []acgme.Violation) Resident {
	loc, lim := p.Location, p.Limits
	tl := acgme.NewTimeline(loc, duties, lim.MaxBreak)
	whole := acgme.Range{From: p.From.In(loc), To: p.To.AddDays(1).In(loc)}
	out := Resident{PersonID: x.ID, Name: x.Name, PGY: x.PGY, Period: acgme.Summarize(tl, whole),
		PeakWeeklyAverage: acgme.PeakWeeklyAverage(tl, whole, lim), HolidayCalls: []roster.Holiday{}, Violations: []Violation{}, Compliant: true}
	for s := p.From; !p.To.Before(s); s = s.AddDays(WindowDays) {
		e := s.AddDays(WindowDays - 1)
		if p.To.Before(e) {
			e = p.To
		}
		out.Windows = append(out.Windows, Window{StartDate: s, EndDate: e,
			Summary: acgme.Summarize(tl, acgme.Range{From: s.In(loc), To: e.AddDays(1).In(loc)})})
	}
	for _, d := range calls {
		if h, ok := roster.HolidayOn(p.Holidays, d); ok {
			out.HolidayCalls = append(out.HolidayCalls, h)
		}
	}
	for _, v := range vs {
		if v.PersonID == x.ID {
			hard := roster.Hard(v.Rule)
			out.Compliant = out.Compliant && !hard
			out.Violations = append(out.Violations, Violation{Violation: v, Hard: hard})
		}
	}
	slices.SortStableFunc(out.Violations, func(a, b Violation) int { return a.Start.Compare(b.Start) })
	return out
}

// program groups the violations by rule (hard rules first, then by name) and person.
func program(vs []acgme.Violation, names map[string]string) Program {
	out := Program{TotalViolations: len(vs), ByRule: []RuleGroup{}}
	groups := map[acgme.Rule]*RuleGroup{}
	counts := map[acgme.Rule]map[string]int{}
	for _, v := range vs {
		g := groups[v.Rule]
		if g == nil {
			g = &RuleGroup{Rule: v.Rule, Hard: roster.Hard(v.Rule), By: []PersonCount{}}
			groups[v.Rule], counts[v.Rule] = g, map[string]int{}
		}
		g.Count++
		if g.Hard {
			out.HardViolations++
		}
		if v.PersonID == "" {
			g.Unattributed++
		} else {
			counts[v.Rule][v.PersonID]++
		}
	}
	for rule, g := range groups {
		for id, n := range counts[rule] {
			g.By = append(g.By, PersonCount{PersonID: id, Name: names[id], Count: n})
		}
		slices.SortFunc(g.By, func(a, b PersonCount) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Name, b.Name), cmp.Compare(a.PersonID, b.PersonID))
		})
		out.ByRule = append(out.ByRule, *g)
	}
	slices.SortFunc(out.ByRule, func(a, b RuleGroup) int {
		if a.Hard != b.Hard {
			if a.Hard {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Rule, b.Rule)
	})
	out.Compliant = out.HardViolations == 0
	return out
}
