package scheduling

import (
	"context"
	"errors"
	"slices"

	"github.com/rsched/rsched/internal/server/acgme"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

// MaxListedChanges bounds the changes a diff lists (the counts are exact).
const MaxListedChanges = 2000

// Change is one half-day a run would change: From is the live template (empty: nothing there),
// To the proposed one (empty: the half-day becomes free).
type Change struct {
	PersonID string      `json:"person_id"`
	Date     roster.Date `json:"date"`
	Half     roster.Half `json:"time_of_day"`
	From     string      `json:"from_template_id,omitempty"`
	To       string      `json:"to_template_id,omitempty"`
}

// ViolationCounts sums a schedule's violations up.
type ViolationCounts struct {
	Hard   int                `json:"hard_violations"`
	Total  int                `json:"total_violations"`
	ByRule map[acgme.Rule]int `json:"by_rule"`
}

// Diff is what publishing a run would change in the live schedule of its range, judged on the
// data as it is now.
type Diff struct {
	RunID     string      `json:"run_id"`
	StartDate roster.Date `json:"start_date"`
	EndDate   roster.Date `json:"end_date"`
	Draft     bool        `json:"draft"`
	Status    string      `json:"status"`
	// Publishable says whether POST .../publish would make it live now; Why says why not.
	Publishable bool   `json:"publishable"`
	Why         string `json:"why,omitempty"`
	// PublicationID names the publication that made it live, if one did.
	PublicationID string `json:"publication_id,omitempty"`
	Added         int    `json:"added"`
	Removed       int    `json:"removed"`
	Changed       int    `json:"changed"`
	Unchanged     int    `json:"unchanged"`
	// Changes lists the first MaxListedChanges changes by date, half-day and person.
	Changes   []Change        `json:"changes"`
	Truncated bool            `json:"truncated,omitempty"`
	Before    ViolationCounts `json:"before"`
	After     ViolationCounts `json:"after"`
	// NewViolations are in the proposed schedule and not the live one; Resolved the reverse
	// (each at most MaxListedViolations).
	NewViolations []ViolationView `json:"new_violations"`
	Resolved      []ViolationView `json:"resolved_violations"`
	// EquityBefore and EquityAfter are how evenly the live and the proposed schedule spread
	// calls, weekends and continuity within each PGY level.
	EquityBefore roster.Equity `json:"equity_before"`
	EquityAfter  roster.Equity `json:"equity_after"`
}

type cellKey struct {
	person string
	date   roster.Date
	half   roster.Half
}

// Diff compares run id's proposal with the live schedule of its range as it is now: the
// assignments publishing it would add, remove and change (publishing replaces the unlocked
// half-days of the people in its scope and keeps everything else), and the violations before
// and after, judged by every rule with the stored schedule around the range as context.
func (s *Service) Diff(ctx context.Context, id string) (*Diff, error) {
	run, err := s.st.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if run.Status != store.RunSuccess && run.Status != store.RunPartial {
		return nil, invalidf("the run is %s: only a finished run (success or partial) has a schedule to compare", run.Status)
	}
	proposed, err := s.st.RunAssignments(ctx, id)
	if err != nil {
		return nil, err
	}
	in, err := s.st.LoadInputs(ctx, run.From, run.To, Margin)
	if err != nil {
		return nil, err
	}
	d := &Diff{RunID: run.ID, StartDate: run.From, EndDate: run.To, Draft: run.Draft, Status: run.Status}
	if err := s.publicationState(ctx, d, run, in.Fingerprint); err != nil {
		return nil, err
	}
	live, merged := published(in.Assignments, proposed, run)
	d.compare(live, merged)
	p, _ := s.problem(in, run.From, run.To, nil)
	before, err := roster.Validate(p, live)
	if err != nil {
		return nil, err
	}
	after, err := roster.Validate(p, merged)
	if err != nil {
		return nil, err
	}
	d.Before, d.After = countViolations(before), countViolations(after)
	d.EquityBefore, d.EquityAfter = roster.MeasureEquity(p, live), roster.MeasureEquity(p, merged)
	d.NewViolations, _ = SortViolations(missingFrom(after, before))
	d.Resolved, _ = SortViolations(missingFrom(before, after))
	return d, nil
}

// publicationState fills in whether the run can be published now, and its publication.
func (s *Service) publicationState(ctx context.Context, d *Diff, run store.Run, fingerprint string) error {
	pub, err := s.st.PublicationOfRun(ctx, run.ID)
	switch {
	case err == nil:
		d.PublicationID = pub.ID
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	switch {
	case !run.Draft:
		d.Why = store.ErrNotDraft.Error()
	case d.PublicationID != "":
		d.Why = store.ErrPublished.Error()
	case run.Fingerprint == nil || *run.Fingerprint != fingerprint:
		d.Why = store.ErrDraftStale.Error()
	case run.Status == store.RunPartial:
		d.Publishable, d.Why = true, store.ErrIncomplete.Error()
	default:
		d.Publishable = true
	}
	return nil
}

// published returns the live assignments of the run's range and what they would be once the
// run is published (store.publishRun's rule: the unlocked half-days of the people in scope are
// replaced by the proposal, a half-day still held keeps its holder).
func published(stored []store.StoredAssignment, proposed []roster.Assignment, run store.Run) (live, merged []roster.Assignment) {
	inScope := func(id string) bool { return run.Scope == nil || slices.Contains(run.Scope, id) }
	held := map[cellKey]bool{}
	for _, a := range stored {
		if a.Slot.Date.Before(run.From) || run.To.Before(a.Slot.Date) {
			continue
		}
		live = append(live, a.Assignment)
		if a.Locked || !inScope(a.PersonID) {
			merged = append(merged, a.Assignment)
			held[cellKey{a.PersonID, a.Slot.Date, a.Slot.Half}] = true
		}
	}
	for _, a := range proposed {
		if inScope(a.PersonID) && !held[cellKey{a.PersonID, a.Slot.Date, a.Slot.Half}] {
			a.Locked = false
			merged = append(merged, a)
		}
	}
	return live, merged
}

// compare counts and lists the half-days that differ between live and merged.
func (d *Diff) compare(live, merged []roster.Assignment) {
	before, after := map[cellKey]string{}, map[cellKey]string{}
	for _, a := range live {
		before[cellKey{a.PersonID, a.Slot.Date, a.Slot.Half}] = a.TemplateID
	}
	for _, a := range merged {
		after[cellKey{a.PersonID, a.Slot.Date, a.Slot.Half}] = a.TemplateID
	}
	var changes []Change
	for k, from := range before {
		to, ok := after[k]
		switch {
		case !ok:
			d.Removed++
		case to != from:
			d.Changed++
		default:
			d.Unchanged++
			continue
		}
		changes = append(changes, Change{PersonID: k.person, Date: k.date, Half: k.half, From: from, To: to})
	}
	for k, to := range after {
		if _, ok := before[k]; !ok {
			d.Added++
			changes = append(changes, Change{PersonID: k.person, Date: k.date, Half: k.half, To: to})
		}
	}
	slices.SortFunc(changes, func(a, b Change) int {
		if c := a.Date.Sub(b.Date); c != 0 {
			return c
		}
		if a.Half != b.Half {
			if a.Half == roster.AM {
				return -1
			}
			return 1
		}
		switch {
		case a.PersonID < b.PersonID:
			return -1
		case a.PersonID > b.PersonID:
			return 1
		}
		return 0
	})
	if len(changes) > MaxListedChanges {
		changes, d.Truncated = changes[:MaxListedChanges], true
	}
	d.Changes = changes
}

func countViolations(vs []acgme.Violation) ViolationCounts {
	c := ViolationCounts{Total: len(vs), ByRule: map[acgme.Rule]int{}}
	for _, v := range vs {
		c.ByRule[v.Rule]++
		if roster.Hard(v.Rule) {
			c.Hard++
		}
	}
	return c
}

// missingFrom lists the violations of a that b does not have.
func missingFrom(a, b []acgme.Violation) []acgme.Violation {
	type key struct {
		rule       acgme.Rule
		person     string
		start, end int64
		value      float64
	}
	have := map[key]int{}
	for _, v := range b {
		have[key{v.Rule, v.PersonID, v.Start.UnixNano(), v.End.UnixNano(), v.Value}]++
	}
	var out []acgme.Violation
	for _, v := range a {
		k := key{v.Rule, v.PersonID, v.Start.UnixNano(), v.End.UnixNano(), v.Value}
		if have[k] > 0 {
			have[k]--
			continue
		}
		out = append(out, v)
	}
	return out
}

// Publish makes a finished draft the live schedule of its range (store.PublishDraft).
func (s *Service) Publish(ctx context.Context, runID, by string, acceptIncomplete bool, record store.PublicationRecorder) (store.Publication, error) {
	return s.st.PublishDraft(ctx, runID, by, acceptIncomplete, record)
}

// Rollback puts back what publication id replaced (store.RollbackPublication) on s, bound to the
// change's transaction, checked like a manual edit (CheckEdit over the publication's range): the
// schedule it restores is judged on the people, templates, absences and holidays as they are now,
// and one that would add hard violations (an absence approved since, say) is refused
// (*RuleRefusal) unless override names why.
func (s *Service) Rollback(ctx context.Context, id, by, override string) (store.Publication, EditOutcome, error) {
	// A publication's range never changes: reading it before CheckEdit takes its locks is safe.
	pub, err := s.st.GetPublication(ctx, id)
	if err != nil {
		return store.Publication{}, EditOutcome{}, err
	}
	outcome, err := s.CheckEdit(ctx, []roster.Date{pub.From, pub.To}, override, func() error {
		var err error
		pub, err = s.st.RollbackPublication(ctx, id, by)
		return err
	})
	return pub, outcome, err
}

// ListPublications is a page of publications, newest first, and how many there are.
func (s *Service) ListPublications(ctx context.Context, page, size int) ([]store.Publication, int, error) {
	return s.st.ListPublications(ctx, page, size)
}

// GetPublication is one publication.
func (s *Service) GetPublication(ctx context.Context, id string) (store.Publication, error) {
	return s.st.GetPublication(ctx, id)
}
