package roster

import "fmt"

// PreferenceOutcome says whether a schedule honoured one preference: a positive weight is
// honoured when the person holds the template at least once in the range, a negative one (avoid
// it) when they never do; Why says what stood in the way when it was not.
type PreferenceOutcome struct {
	Preference
	Sessions int    `json:"sessions"`
	Honoured bool   `json:"honoured"`
	Why      string `json:"why,omitempty"`
}

// ExplainPreferences judges p.Preferences against assignments (p's range).
func ExplainPreferences(p *Problem, assignments []Assignment) []PreferenceOutcome {
	if len(p.Preferences) == 0 {
		return nil
	}
	people, templates := map[string]Person{}, map[string]Template{}
	for _, x := range p.People {
		people[x.ID] = x
	}
	for _, t := range p.Templates {
		templates[t.ID] = t
	}
	type key struct{ person, template string }
	held := map[key]int{}
	for _, a := range assignments {
		if !a.Slot.Date.Before(p.From) && !p.To.Before(a.Slot.Date) {
			held[key{a.PersonID, a.TemplateID}]++
		}
	}
	out := make([]PreferenceOutcome, 0, len(p.Preferences))
	for _, pr := range p.Preferences {
		o := PreferenceOutcome{Preference: pr, Sessions: held[key{pr.PersonID, pr.TemplateID}]}
		x, t := people[pr.PersonID], templates[pr.TemplateID]
		switch {
		case pr.Weight > 0 && o.Sessions > 0, pr.Weight < 0 && o.Sessions == 0, pr.Weight == 0:
			o.Honoured = true
		case pr.Weight < 0:
			o.Why = fmt.Sprintf("placed on it %d time(s): coverage or the hard rules needed them there", o.Sessions)
		case x.Type == Resident && !t.Allows(x.PGY):
			o.Why = fmt.Sprintf("the template does not take PGY-%d residents", x.PGY)
		case x.Type == Resident && !p.planAllowsSome(x.ID, t):
			o.Why = "the block plan puts them on another rotation on every day of the range"
		case x.Type == Faculty && !t.Credentialed(x):
			o.Why = fmt.Sprintf("the template requires the credential %q, which they do not hold", t.RequiredCredential)
		case x.Type == Faculty && !t.SupervisionRequired && t.MinFaculty == 0:
			o.Why = "faculty are placed only to supervise or on faculty shifts (min_faculty), and the template is neither"
		case !p.availableFor(x.ID, t):
			o.Why = "absent or the template closed on every half-day of the range"
		default:
			o.Why = "not placed: coverage, the duty-hour rules and fairness come before preferences, and left no room"
		}
		out = append(out, o)
	}
	return out
}

// availableFor says whether person id is present on some half-day of p's range when t runs.
func (p *Problem) availableFor(id string, t Template) bool {
	for _, s := range Slots(p.From, p.To) {
		if !t.RunsOn(s, p.Holidays) {
			continue
		}
		absent := false
		for _, a := range p.Absences {
			if a.PersonID == id && a.Covers(s.Date) {
				absent = true
				break
			}
		}
		if !absent {
			return true
		}
	}
	return false
}
