package roster

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rsched/rsched/internal/server/acgme"
)

// MaxListedGaps bounds the gaps a Shortfall lists (the counts cover them all).
const MaxListedGaps = 200

// Gap is one template's half-day left below its minimum, and why each resident not on it is
// not: the counts add up to every resident of the problem who is not on it.
type Gap struct {
	TemplateID string `json:"rotation_template_id"`
	Date       Date   `json:"date"`
	Half       Half   `json:"half"`
	// Missing is how many residents the template lacks there.
	Missing int `json:"missing"`
	// Absent: on an approved absence that day (or the next, for a session running past midnight).
	Absent int `json:"absent"`
	// NotEligible: the template does not take their PGY level.
	NotEligible int `json:"not_eligible"`
	// OtherRotation: the block plan puts them on another rotation that day.
	OtherRotation int `json:"on_another_rotation"`
	// Kept: outside the run's scope (a filtered run leaves them as they are).
	Kept int `json:"kept_as_they_are"`
	// OnOtherTemplates: placed on another template in that half-day.
	OnOtherTemplates int `json:"on_other_templates"`
	// WouldBreak: free and eligible, but placing them there breaks the rule named (the first
	// one found, in acgme.Check's order, then supervision).
	WouldBreak map[acgme.Rule]int `json:"would_break,omitempty"`
	// Free: free, eligible and breaking nothing: a better search could have placed them.
	Free int `json:"free"`
	// Impossible: fewer residents than the minimum are ever available for it (not absent,
	// eligible, in scope), so no schedule fills it; the demand itself cannot be met.
	Impossible bool   `json:"impossible"`
	Message    string `json:"message"`
}

// TemplateShortfall is one template's part of a shortfall.
type TemplateShortfall struct {
	TemplateID string `json:"rotation_template_id"`
	Missing    int    `json:"missing"`
	Impossible int    `json:"impossible"`
	Days       []Date `json:"days"`
}

// Shortfall is the required coverage a schedule leaves unfilled, and why.
type Shortfall struct {
	// Missing counts resident-half-days below the templates' minimums; Impossible those of
	// them in gaps no schedule can fill.
	Missing    int                 `json:"missing"`
	Impossible int                 `json:"impossible"`
	ByTemplate []TemplateShortfall `json:"by_template"`
	// Gaps lists the first MaxListedGaps gaps in time order; Truncated says more exist.
	Gaps      []Gap `json:"gaps"`
	Truncated bool  `json:"truncated,omitempty"`
}

// Explain finds every half-day where assignments leave a template below its minimum and says
// why: for each resident not on it, absent, not eligible, outside the run's scope, on another
// template, breaking which rule if placed there, or free. It returns nil when coverage is met.
func Explain(p *Problem, assignments []Assignment) (*Shortfall, error) {
	if err := p.checkInput(); err != nil {
		return nil, err
	}
	e := newExplainer(p, assignments)
	sf := &Shortfall{}
	byTemplate := map[string]*TemplateShortfall{}
	for _, s := range Slots(p.From, p.To) {
		for ti, t := range p.Templates {
			n := len(e.on[explainCell{s, ti}])
			if !t.RunsOn(s, p.Holidays) || n >= t.MinResidents {
				continue
			}
			g := e.gap(s, ti, n)
			sf.Missing += g.Missing
			ts := byTemplate[t.ID]
			if ts == nil {
				ts = &TemplateShortfall{TemplateID: t.ID}
				byTemplate[t.ID] = ts
			}
			ts.Missing += g.Missing
			if g.Impossible {
				sf.Impossible += g.Missing
				ts.Impossible += g.Missing
			}
			if len(ts.Days) == 0 || ts.Days[len(ts.Days)-1] != s.Date {
				ts.Days = append(ts.Days, s.Date)
			}
			if len(sf.Gaps) < MaxListedGaps {
				sf.Gaps = append(sf.Gaps, g)
			} else {
				sf.Truncated = true
			}
		}
	}
	if sf.Missing == 0 {
		return nil, nil
	}
	for _, t := range p.Templates {
		if ts := byTemplate[t.ID]; ts != nil {
			sf.ByTemplate = append(sf.ByTemplate, *ts)
		}
	}
	return sf, nil
}

type explainCell struct {
	slot Slot
	t    int
}

// explainer holds a schedule by person and cell, and each resident's violations as it stands.
type explainer struct {
	p       *Problem
	on      map[explainCell][]int // residents (indexes into p.People) on a cell
	faculty map[explainCell]int
	holds   map[string]bool // "person/date/half" held
	duties  map[string][]acgme.Duty
	before  map[string][]acgme.Violation
	keep    map[string]bool
	rng     acgme.Range
	spaced  map[validationSpan][]Date // the dates of each resident's spaced calls (callspacing.go)
}

func newExplainer(p *Problem, assignments []Assignment) *explainer {
	e := &explainer{p: p, on: map[explainCell][]int{}, faculty: map[explainCell]int{}, holds: map[string]bool{},
		duties: map[string][]acgme.Duty{}, before: map[string][]acgme.Violation{}, keep: map[string]bool{}, spaced: map[validationSpan][]Date{},
		rng: acgme.Range{From: p.From.In(p.Location), To: p.To.AddDays(1).In(p.Location)}}
	people := map[string]int{}
	for i, x := range p.People {
		people[x.ID] = i
	}
	templates := map[string]int{}
	for i, t := range p.Templates {
		templates[t.ID] = i
	}
	for _, id := range p.Keep {
		e.keep[id] = true
	}
	all := slices.Clone(assignments)
	for _, a := range p.Fixed {
		if a.Slot.Date.Before(p.From) || p.To.Before(a.Slot.Date) {
			all = append(all, a) // context; inside the range they are part of assignments
		}
	}
	for k, a := range all {
		xi, okP := people[a.PersonID]
		ti, okT := templates[a.TemplateID]
		if !okP || !okT {
			continue // Validate reports these
		}
		x, t := p.People[xi], p.Templates[ti]
		if d, ok := t.Duty(a.Slot, p.Location); ok && x.Type == Resident {
			e.duties[x.ID] = append(e.duties[x.ID], d)
		}
		if t.EveryNthNight > 0 && x.Type == Resident {
			e.spaced[validationSpan{x.ID, ti}] = append(e.spaced[validationSpan{x.ID, ti}], a.Slot.Date)
		}
		if k >= len(assignments) {
			continue // context outside the range
		}
		e.holds[holdKey(x.ID, a.Slot)] = true
		if x.Type == Resident {
			e.on[explainCell{a.Slot, ti}] = append(e.on[explainCell{a.Slot, ti}], xi)
		} else if x.Type == Faculty {
			e.faculty[explainCell{a.Slot, ti}]++
		}
	}
	for _, x := range p.People {
		if x.Type == Resident {
			e.before[x.ID] = e.check(x.ID, e.duties[x.ID])
		}
	}
	return e
}

// absent says whether person id is on leave in slot s, or the next day when a session of t
// there runs past midnight.
func (e *explainer) absent(id string, s Slot, t Template) bool {
	overnight := t.Overnight(s, e.p.Location)
	return slices.ContainsFunc(e.p.Absences, func(a Absence) bool {
		return a.PersonID == id && (a.Covers(s.Date) || overnight && a.Covers(s.Date.AddDays(1)))
	})
}

func holdKey(id string, s Slot) string { return id + "/" + s.Date.String() + "/" + string(s.Half) }

func (e *explainer) check(id string, duties []acgme.Duty) []acgme.Violation {
	return e.p.checkDuties(id, acgme.NewTimeline(e.p.Location, duties, e.p.Limits.MaxBreak), duties, e.rng)
}

// gap explains one cell with n residents on it.
func (e *explainer) gap(s Slot, ti, n int) Gap {
	t := e.p.Templates[ti]
	g := Gap{TemplateID: t.ID, Date: s.Date, Half: s.Half, Missing: t.MinResidents - n}
	onIt := e.on[explainCell{s, ti}]
	for xi, x := range e.p.People {
		if x.Type != Resident || slices.Contains(onIt, xi) {
			continue
		}
		switch {
		case e.absent(x.ID, s, t):
			g.Absent++
		case !t.Allows(x.PGY):
			g.NotEligible++
		case !e.p.PlanAllows(x.ID, t, s.Date):
			g.OtherRotation++
		case e.keep[x.ID]:
			g.Kept++
		case e.holds[holdKey(x.ID, s)]:
			g.OnOtherTemplates++
		default:
			if r := e.wouldBreak(x, s, ti); r != "" {
				if g.WouldBreak == nil {
					g.WouldBreak = map[acgme.Rule]int{}
				}
				g.WouldBreak[r]++
			} else {
				g.Free++
			}
		}
	}
	available := n + g.OnOtherTemplates + g.Free
	for _, c := range g.WouldBreak {
		available += c
	}
	g.Impossible = available < t.MinResidents
	g.Message = gapMessage(g, t, n, available)
	return g
}

// wouldBreak names the first rule placing resident x on template ti in slot s breaks that the
// schedule did not break already, or "".
func (e *explainer) wouldBreak(x Person, s Slot, ti int) acgme.Rule {
	t := e.p.Templates[ti]
	if breaksPattern(e.spaced[validationSpan{x.ID, ti}], s.Date, t.EveryNthNight) {
		return RuleCallSpacing
	}
	if d, ok := t.Duty(s, e.p.Location); ok {
		duties := append(slices.Clip(e.duties[x.ID]), d)
		before := e.before[x.ID]
		for _, v := range e.check(x.ID, duties) {
			if !slices.ContainsFunc(before, func(b acgme.Violation) bool {
				return b.Rule == v.Rule && b.Start.Equal(v.Start) && b.End.Equal(v.End) && b.Value == v.Value
			}) {
				return v.Rule
			}
		}
	}
	if t.SupervisionRequired {
		c := explainCell{s, ti}
		var pgys []int
		for _, xi := range e.on[c] {
			pgys = append(pgys, e.p.People[xi].PGY)
		}
		at := t.StartIn(s, e.p.Location)
		if acgme.Supervision(acgme.Staffing{Slot: at, Residents: append(pgys, x.PGY), Faculty: e.faculty[c]}, e.p.Limits) != nil {
			return acgme.RuleSupervision
		}
	}
	return ""
}

func gapMessage(g Gap, t Template, n, available int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s %s has %d of the %d residents it needs", t.ID, g.Date, g.Half, n, t.MinResidents)
	if g.Impossible {
		fmt.Fprintf(&b, "; no schedule can fill it: only %d resident(s) could ever be placed there", available)
	}
	var why []string
	for _, c := range []struct {
		n    int
		what string
	}{
		{g.Absent, "absent"}, {g.NotEligible, "not eligible for its PGY levels"}, {g.OtherRotation, "on another rotation"}, {g.Kept, "outside this run's scope"},
		{g.OnOtherTemplates, "on other templates"}, {g.Free, "free (a longer run may place them)"},
	} {
		if c.n > 0 {
			why = append(why, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	rules := make([]string, 0, len(g.WouldBreak))
	for r := range g.WouldBreak {
		rules = append(rules, string(r))
	}
	slices.Sort(rules)
	for _, r := range rules {
		why = append(why, fmt.Sprintf("%d would break %s", g.WouldBreak[acgme.Rule(r)], r))
	}
	if len(why) > 0 {
		b.WriteString(". Of the other residents: " + strings.Join(why, ", "))
	}
	return b.String()
}
