package scheduling

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rsched/rsched/internal/server/acgme"
	"github.com/rsched/rsched/internal/server/roster"
)

// An override's written reason: long enough to say something, short enough for an audit entry.
const (
	MinOverrideReason = 10
	MaxOverrideReason = 500
)

// RuleRefusal is a manual edit refused because it would break hard rules and no override reason
// was given: Broken lists what it would break (the API answers 422 with them).
type RuleRefusal struct {
	Broken []ViolationView
	// Hard counts every hard violation caused, listed or not (0: len(Broken)).
	Hard int
}

func (e *RuleRefusal) Error() string {
	var rules []string
	for _, v := range e.Broken {
		if !slices.Contains(rules, string(v.Rule)) {
			rules = append(rules, string(v.Rule))
		}
	}
	n := e.Hard
	if n == 0 {
		n = len(e.Broken)
	}
	return fmt.Sprintf("the change would break %d hard rule violation(s) (%s); nothing was changed: send override_reason (%d to %d characters) to make it anyway",
		n, strings.Join(rules, ", "), MinOverrideReason, MaxOverrideReason)
}

// EditOutcome is what a manual edit caused: the violations the schedule has after it and did not
// have before (hard ones first), and the override reason when it broke hard rules with one.
type EditOutcome struct {
	Violations []ViolationView `json:"violations"`
	Hard       int             `json:"hard_violations"`
	Override   string          `json:"override_reason,omitempty"`
}

// AuditDetails adds the outcome to an audit entry's details: the rules broken and, for an
// override, its reason (the override justification the audit log keeps).
func (o EditOutcome) AuditDetails(details map[string]any) map[string]any {
	if details == nil {
		details = map[string]any{}
	}
	if len(o.Violations) == 0 {
		return details
	}
	var rules []string
	for _, v := range o.Violations {
		rules = append(rules, string(v.Rule))
	}
	details["violations_caused"], details["hard_violations_caused"], details["rules"] = len(o.Violations), o.Hard, rules
	if o.Override != "" {
		details["override_reason"] = o.Override
	}
	return details
}

// CheckOverrideReason validates an override reason ("" is none).
func CheckOverrideReason(reason string) error {
	if reason == "" {
		return nil
	}
	n := utf8.RuneCountInString(reason)
	if !utf8.ValidString(reason) || n < MinOverrideReason || n > MaxOverrideReason || strings.TrimSpace(reason) != reason ||
		strings.ContainsFunc(reason, unicode.IsControl) {
		return invalidf("override_reason must be %d to %d characters of text, without control characters or surrounding spaces", MinOverrideReason, MaxOverrideReason)
	}
	return nil
}

// CheckEdit judges the stored schedule around dates before and after write, which makes the
// edit. s must be bound to the change's transaction (OnTx): the second judgement sees the edit
// before it commits, and an error from CheckEdit rolls it back. An edit that breaks a hard rule
// is refused (*RuleRefusal) unless override names why; one that only breaks soft rules
// (coverage) goes through with them listed.
func (s *Service) CheckEdit(ctx context.Context, dates []roster.Date, override string, write func() error) (EditOutcome, error) {
	return s.checkEdit(ctx, dates, override, write, false)
}

// CheckManualEdit is CheckEdit for an assignment written by hand: a resident placed on another
// rotation than the block plan's is a hard rotation_plan violation even on a day their backup
// call covers, so crossing the plan by hand needs an override reason, audited with the edit
// (a backup session and a placement beside it are otherwise two plain edits). Only a repair
// activates a backup without one.
func (s *Service) CheckManualEdit(ctx context.Context, dates []roster.Date, override string, write func() error) (EditOutcome, error) {
	return s.checkEdit(ctx, dates, override, write, true)
}

func (s *Service) checkEdit(ctx context.Context, dates []roster.Date, override string, write func() error, strictPlan bool) (EditOutcome, error) {
	if err := CheckOverrideReason(override); err != nil {
		return EditOutcome{}, err
	}
	// Nothing the judgements read changes until the edit commits: no other edit, run write or
	// change of people, templates, absences or holidays comes between them.
	if err := s.st.LockScheduleInputs(ctx); err != nil {
		return EditOutcome{}, err
	}
	// One range from the first date to the last: a publication sends its range's ends.
	w := spanWindow(dates)
	w.strictPlan = strictPlan
	return s.judgeEdit(ctx, []window{w}, override, write)
}

// judgeEdit judges the stored schedule over windows before and after write and answers what
// write caused: refused (*RuleRefusal) when it broke a hard rule and override is "".
func (s *Service) judgeEdit(ctx context.Context, windows []window, override string, write func() error) (EditOutcome, error) {
	before, err := s.judgeWindows(ctx, windows)
	if err != nil {
		return EditOutcome{}, err
	}
	if err := write(); err != nil {
		return EditOutcome{}, err
	}
	after, err := s.judgeWindows(ctx, windows)
	if err != nil {
		return EditOutcome{}, err
	}
	list, hard := SortViolations(missingFrom(after, before))
	out := EditOutcome{Violations: list, Hard: hard}
	if hard > 0 {
		if override == "" {
			// At most MaxListedViolations are listed, hard ones first.
			return out, &RuleRefusal{Broken: list[:min(hard, len(list))], Hard: hard}
		}
		out.Override = override
	}
	return out, nil
}

// window is a range of days judged as one. at, when set, is a date of the academic year whose
// PGY levels the residents are judged at (the year of the edited dates, which the window's
// day on either side may leave); unset, at their current levels.
type window struct {
	from, to roster.Date
	at       *roster.Date
	// strictPlan: a backup call does not excuse crossing the block plan (roster.Problem.StrictPlan).
	strictPlan bool
}

// editWindows are the ranges an edit of the schedule on dates is judged over: each date with
// the day before and after (a session runs past midnight into the next day, and the rolling
// windows, periods and rests that touch these days are all judged), dates at most Margin days
// apart judged in one range (which loads that much context either side anyway) unless 1 July
// falls between them (each academic year is judged with its own levels: judge; so no range is
// over roster.MaxRangeDays), and each at least 7 days from its first (the faculty's weekly session
// caps are counted in 7-day periods from it).
func editWindows(dates []roster.Date) []window {
	sorted := slices.SortedFunc(slices.Values(dates), compareDates)
	var out []window
	for _, d := range slices.Compact(sorted) {
		lo, hi := d.AddDays(-1), d.AddDays(1)
		// The last date of the range before is the day before its end.
		if n := len(out); n > 0 && lo.Sub(out[n-1].to) <= Margin && roster.AcademicYearOf(d) == roster.AcademicYearOf(*out[n-1].at) {
			out[n-1].to = hi
			continue
		}
		out = append(out, window{from: lo, to: hi, at: &d})
	}
	out = mergeSparseYears(out)
	for i := range out {
		out[i] = out[i].atLeastAWeek()
	}
	return out
}

// maxWindowsPerYear bounds the ranges one academic year of an edit is judged in: more (a
// template used every month, say) are judged as one range over that year, so the time an edit
// holds the schedule's locks grows with the years it touches, not with its dates.
const maxWindowsPerYear = 4

// mergeSparseYears replaces the windows of an academic year with one spanning them when there
// are more than maxWindowsPerYear (windows in date order, each with its year's date).
func mergeSparseYears(ws []window) []window {
	var out []window
	for i := 0; i < len(ws); {
		k := i
		for k < len(ws) && roster.AcademicYearOf(*ws[k].at) == roster.AcademicYearOf(*ws[i].at) {
			k++
		}
		if k-i > maxWindowsPerYear {
			out = append(out, window{from: ws[i].from, to: ws[k-1].to, at: ws[i].at})
		} else {
			out = append(out, ws[i:k]...)
		}
		i = k
	}
	return out
}

// spanWindow is the one range from the day before the first of dates to the day after the
// last, at least 7 days (as editWindows).
func spanWindow(dates []roster.Date) window {
	first, last := slices.MinFunc(dates, compareDates), slices.MaxFunc(dates, compareDates)
	w := window{from: first.AddDays(-1), to: last.AddDays(1)}
	if roster.AcademicYearOf(first) == roster.AcademicYearOf(last) {
		w.at = &first
	}
	return w.atLeastAWeek()
}

// atLeastAWeek is w, made 7 days from its first when shorter.
func (w window) atLeastAWeek() window {
	if w.to.Sub(w.from) < 6 {
		w.to = w.from.AddDays(6)
	}
	return w
}

// judgeWindows is every violation of the stored schedule in each window, window by window.
func (s *Service) judgeWindows(ctx context.Context, windows []window) ([]acgme.Violation, error) {
	var all []acgme.Violation
	for _, w := range windows {
		vs, err := s.judge(ctx, w)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			// Windows of two academic years meet on 30 June and 1 July: a violation there is
			// listed once.
			if !slices.ContainsFunc(all, func(u acgme.Violation) bool { return sameViolation(u, v) }) {
				all = append(all, v)
			}
		}
	}
	return all, nil
}

// sameViolation says whether a and b are one violation found twice.
func sameViolation(a, b acgme.Violation) bool {
	return a.Rule == b.Rule && a.PersonID == b.PersonID && a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.Value == b.Value && a.Message == b.Message
}

func compareDates(a, b roster.Date) int { return a.Sub(b) }

// judge is every violation of the stored schedule of w, with its context. A window whose
// edited dates lie in one academic year is judged with the residents' levels of that year
// (levelsOf), so an edit of last year's schedule is judged with last year's levels, even where
// its day on either side crosses 1 July; a manual edit whose dates span 1 July, with the current
// levels, as its days lie on either side.
func (s *Service) judge(ctx context.Context, w window) ([]acgme.Violation, error) {
	from, to := w.from, w.to
	in, err := s.st.LoadInputs(ctx, from, to, Margin)
	if err != nil {
		return nil, err
	}
	if w.at != nil {
		if err := s.levelsOf(ctx, in, *w.at); err != nil {
			return nil, err
		}
	}
	p, _ := s.problem(in, from, to, nil)
	p.StrictPlan = w.strictPlan
	var live []roster.Assignment
	for _, a := range in.Assignments {
		if !a.Slot.Date.Before(from) && !to.Before(a.Slot.Date) {
			live = append(live, a.Assignment)
		}
	}
	return roster.Validate(p, live)
}
