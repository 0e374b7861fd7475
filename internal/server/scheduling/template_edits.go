package scheduling

import (
	"context"
	"reflect"
	"slices"
	"time"

	"github.com/rsched/rsched/internal/server/roster"
)

// TemplateEditOutcome is what a change of a template caused to the schedule already on it: the
// EditOutcome, whether the schedule was judged at all (not for a change of its name alone), the
// days judged (those with an assignment of the template) and how many of the violations
// caused begin before today (the duty-hour history the change rewrites).
type TemplateEditOutcome struct {
	EditOutcome
	Checked bool `json:"schedule_checked"`
	Days    int  `json:"days_checked"`
	Past    int  `json:"past_violations"`
}

// AuditDetails adds the outcome to an audit entry's details (EditOutcome.AuditDetails), with
// the days judged and the violations caused in the past.
func (o TemplateEditOutcome) AuditDetails(details map[string]any) map[string]any {
	details = o.EditOutcome.AuditDetails(details)
	details["schedule_checked"], details["days_checked"] = o.Checked, o.Days
	if o.Past > 0 {
		details["past_violations_caused"] = o.Past
	}
	return details
}

// SessionsChanged says whether template a and b differ in what gives their sessions a meaning:
// anything but the name (the levels allowed compared as sets). Every field counts unless named
// here, so one added later is judged.
func SessionsChanged(a, b roster.Template) bool {
	norm := func(t roster.Template) roster.Template {
		t.Name = ""
		t.AllowedPGY = slices.Compact(slices.Sorted(slices.Values(t.AllowedPGY)))
		if len(t.AllowedPGY) == 0 {
			t.AllowedPGY = nil
		}
		return t
	}
	return !reflect.DeepEqual(norm(a), norm(b))
}

// CheckTemplateEdit makes write, which changes template before into after, as a checked edit
// (CheckEdit) of every assignment the live schedule holds on it, past and future: the days
// they are on are judged before and after, and a change that breaks a hard rule there
// (duty hours, rest, eligibility, capacity, credentials...) is refused (*RuleRefusal) unless
// override names why. A change of the name alone is written unjudged. s must be bound to the
// change's transaction (OnTx).
func (s *Service) CheckTemplateEdit(ctx context.Context, before, after roster.Template, override string, write func() error) (TemplateEditOutcome, error) {
	if err := CheckOverrideReason(override); err != nil {
		return TemplateEditOutcome{}, err
	}
	if !SessionsChanged(before, after) {
		return TemplateEditOutcome{}, write()
	}
	// The templates first, against another template change taking the same locks, then what
	// every edit check locks; the days are read under the lock, so no assignment comes meanwhile.
	if err := s.st.LockTemplatesForEdit(ctx); err != nil {
		return TemplateEditOutcome{}, err
	}
	if err := s.st.LockScheduleInputs(ctx); err != nil {
		return TemplateEditOutcome{}, err
	}
	dates, err := s.st.TemplateDates(ctx, before.ID)
	if err != nil {
		return TemplateEditOutcome{}, err
	}
	out := TemplateEditOutcome{Checked: true, Days: len(dates)}
	if len(dates) == 0 {
		return out, write()
	}
	out.EditOutcome, err = s.judgeEdit(ctx, editWindows(dates), override, write)
	out.Past = pastViolations(out.Violations, roster.DateOf(time.Now().In(s.cfg.Location)).In(s.cfg.Location))
	return out, err
}

// pastViolations counts the violations of vs that begin before today.
func pastViolations(vs []ViolationView, today time.Time) int {
	n := 0
	for _, v := range vs {
		if v.Start.Before(today) {
			n++
		}
	}
	return n
}
