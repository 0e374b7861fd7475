// Package scheduling is the scheduling API's domain logic between the HTTP handlers and the
// store: generating a schedule (problem assembly from the database, the solver under a time
// budget, validation, and a result written only if nothing changed meanwhile), validating what
// is stored, and absences with their sealed reasons. The handlers reach the scheduling records
// only through it (records.go), never through the store.
package scheduling

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rsched/rsched/internal/server/acgme"
	"github.com/rsched/rsched/internal/server/clienterr"
	"github.com/rsched/rsched/internal/server/fieldcrypt"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

// Margin is how many days around a range the rolling 28-day rules look at: a window that
// overlaps the range reaches 27 days beyond it.
const Margin = 27

// AbandonAfter is how long a run in progress may go without a heartbeat before the next run over
// its range closes it (its server died). Heartbeats come every second while solving.
const AbandonAfter = 2 * time.Minute

// MaxListedViolations bounds the violations a run keeps and returns (the count is exact).
const MaxListedViolations = 1000

// Config are the service's settings (config.Scheduling).
type Config struct {
	Location                 *time.Location
	DefaultBudget, MaxBudget time.Duration
	HeartbeatEvery           time.Duration
	AbandonAfter             time.Duration
	Now                      func() time.Time
	Log                      *slog.Logger
	Metrics                  prometheus.Registerer
}

// Service is the scheduling domain over a store.
type Service struct {
	st     *store.Store
	fields *fieldcrypt.Fields
	cfg    Config
	m      *metrics
	// annual holds the one annual-plan solve a process runs at a time (shared by the copies
	// On and OnTx make).
	annual chan struct{}
}

// New returns the service.
func New(st *store.Store, fields *fieldcrypt.Fields, cfg Config) *Service {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.DefaultBudget <= 0 {
		cfg.DefaultBudget = 10 * time.Second
	}
	if cfg.MaxBudget <= 0 {
		cfg.MaxBudget = time.Minute
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = time.Second
	}
	if cfg.AbandonAfter <= 0 {
		cfg.AbandonAfter = AbandonAfter
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{st: st, fields: fields, cfg: cfg, m: newMetrics(cfg.Metrics), annual: make(chan struct{}, 1)}
}

// Location is the program's time zone.
func (s *Service) Location() *time.Location { return s.cfg.Location }

// InvalidError is a request that makes no sense on its own (422 with Reason): the server's one
// kind for refused content, shared with accounts.
type InvalidError = clienterr.Invalid

func invalidf(format string, args ...any) error { return clienterr.Invalidf(format, args...) }

// GenerateRequest is the body of POST /schedule/generate.
type GenerateRequest struct {
	StartDate roster.Date `json:"start_date"`
	EndDate   roster.Date `json:"end_date"`
	// TimeBudgetSeconds bounds the solve (default and maximum from the configuration).
	TimeBudgetSeconds float64 `json:"time_budget_seconds,omitempty"`
	// Draft keeps the result on the run only; the live schedule is not changed.
	Draft bool `json:"draft,omitempty"`
	// PersonIDs and PGYLevels select the people to reschedule (both: people matching both);
	// everyone else's half-days in the range are kept as they are. Empty: everyone.
	PersonIDs []string `json:"person_ids,omitempty"`
	PGYLevels []int    `json:"pgy_levels,omitempty"`
	// Seed makes the run reproducible with MaxIterations (default 1).
	Seed          uint64 `json:"seed,omitempty"`
	MaxIterations int    `json:"max_iterations,omitempty"`
	// Weights replace the solver's soft-goal weights (roster.DefaultWeights) for this run.
	Weights *roster.Weights `json:"weights,omitempty"`
	// Preferences are people's wishes for (weight > 0) or against (< 0) templates, weighed by
	// the solver after coverage, fairness and continuity; the run says which were honoured.
	Preferences []roster.Preference `json:"preferences,omitempty"`
	// DayOffRequests are residents' wishes to be free on a date of the range, weighed like
	// preferences; the run says which were honoured.
	DayOffRequests []roster.DayOffRequest `json:"day_off_requests,omitempty"`
}

// The bounds of a request's weights and preferences.
const (
	MaxWeight            = 100_000
	MaxPreferenceWeight  = 10
	MaxPreferencesPerRun = 5000
)

// checkSoftGoals validates the request's weights and preferences and sorts the preferences.
func (r *GenerateRequest) checkSoftGoals() error {
	if w := r.Weights; w != nil {
		for name, v := range map[string]float64{"coverage": w.Coverage, "fairness": w.Fairness, "continuity": w.Continuity, "preference": w.Preference,
			"call_equity": w.CallEquity, "weekend_call_equity": w.WeekendCallEquity, "holiday_call_equity": w.HolidayCallEquity, "weekend_off_equity": w.WeekendOffEquity} {
			if v < 0 || v > MaxWeight || math.IsNaN(v) {
				return invalidf("weights.%s must be from 0 to %d", name, MaxWeight)
			}
		}
		if w.Coverage < 1 {
			return invalidf("weights.coverage must be at least 1: coverage is never weighed at nothing")
		}
	}
	if len(r.Preferences) > MaxPreferencesPerRun {
		return invalidf("at most %d preferences", MaxPreferencesPerRun)
	}
	seen := map[[2]string]bool{}
	for i, pr := range r.Preferences {
		if !ValidID(pr.PersonID) || !ValidID(pr.TemplateID) {
			return invalidf("preferences[%d]: person_id and rotation_template_id must be ids", i)
		}
		if pr.Weight < -MaxPreferenceWeight || pr.Weight > MaxPreferenceWeight || pr.Weight == 0 || math.IsNaN(pr.Weight) {
			return invalidf("preferences[%d]: weight must be from -%d (avoid) to %d (prefer), not 0", i, MaxPreferenceWeight, MaxPreferenceWeight)
		}
		r.Preferences[i].PersonID, r.Preferences[i].TemplateID = strings.ToLower(pr.PersonID), strings.ToLower(pr.TemplateID)
		k := [2]string{r.Preferences[i].PersonID, r.Preferences[i].TemplateID}
		if seen[k] {
			return invalidf("preferences[%d]: a second preference of the same person for the same template", i)
		}
		seen[k] = true
	}
	slices.SortFunc(r.Preferences, func(a, b roster.Preference) int {
		return strings.Compare(a.PersonID+a.TemplateID, b.PersonID+b.TemplateID)
	})
	return r.checkDayOffRequests()
}

// checkDayOffRequests validates the request's day-off requests and sorts them (the solver
// refuses those naming no resident of the program).
func (r *GenerateRequest) checkDayOffRequests() error {
	if len(r.DayOffRequests) > MaxPreferencesPerRun {
		return invalidf("at most %d day-off requests", MaxPreferencesPerRun)
	}
	seen := map[string]bool{}
	for i, d := range r.DayOffRequests {
		switch {
		case !ValidID(d.PersonID):
			return invalidf("day_off_requests[%d]: person_id must be an id", i)
		case d.Date.Before(r.StartDate) || r.EndDate.Before(d.Date):
			return invalidf("day_off_requests[%d]: the date must be in the range", i)
		case d.Weight < 1 || d.Weight > MaxPreferenceWeight || math.IsNaN(d.Weight):
			return invalidf("day_off_requests[%d]: weight must be from 1 to %d", i, MaxPreferenceWeight)
		}
		r.DayOffRequests[i].PersonID = strings.ToLower(d.PersonID)
		k := r.DayOffRequests[i].PersonID + d.Date.String()
		if seen[k] {
			return invalidf("day_off_requests[%d]: a second request of the same person for the same date", i)
		}
		seen[k] = true
	}
	slices.SortFunc(r.DayOffRequests, func(a, b roster.DayOffRequest) int {
		return strings.Compare(a.PersonID+a.Date.String(), b.PersonID+b.Date.String())
	})
	return nil
}

// normalize checks the request and fills its defaults, so that two requests meaning the same
// thing hash the same.
func (s *Service) normalize(r *GenerateRequest) error {
	if r.StartDate == (roster.Date{}) || r.EndDate == (roster.Date{}) {
		return invalidf("start_date and end_date are required (YYYY-MM-DD)")
	}
	if r.EndDate.Before(r.StartDate) {
		return invalidf("end_date %s is before start_date %s", r.EndDate, r.StartDate)
	}
	if n := r.EndDate.Sub(r.StartDate) + 1; n > roster.MaxRangeDays {
		return invalidf("the range has %d days; at most %d", n, roster.MaxRangeDays)
	}
	maxSecs := s.cfg.MaxBudget.Seconds()
	switch {
	case r.TimeBudgetSeconds == 0:
		r.TimeBudgetSeconds = s.cfg.DefaultBudget.Seconds()
	case r.TimeBudgetSeconds < 0.1 || r.TimeBudgetSeconds > maxSecs:
		return invalidf("time_budget_seconds must be from 0.1 to %g", maxSecs)
	}
	if r.MaxIterations < 0 || r.MaxIterations > 100_000_000 {
		return invalidf("max_iterations must be from 0 (until the budget) to 100000000")
	}
	if r.Seed == 0 {
		r.Seed = 1
	}
	if len(r.PersonIDs) > 2000 {
		return invalidf("person_ids lists more than 2000 people")
	}
	for i, id := range r.PersonIDs {
		if !ValidID(id) {
			return invalidf("person_ids: %q is not a UUID", clip(id))
		}
		r.PersonIDs[i] = strings.ToLower(id)
	}
	for _, l := range r.PGYLevels {
		if l < 1 || l > roster.MaxPGY {
			return invalidf("pgy_levels: %d is not 1 to %d", l, roster.MaxPGY)
		}
	}
	slices.Sort(r.PersonIDs)
	r.PersonIDs = slices.Compact(r.PersonIDs)
	slices.Sort(r.PGYLevels)
	r.PGYLevels = slices.Compact(r.PGYLevels)
	return r.checkSoftGoals()
}

func (r GenerateRequest) hash() []byte {
	b, _ := json.Marshal(r) // a struct of plain fields always encodes
	h := sha256.Sum256(b)
	return h[:]
}

// Outcome is a finished (or replayed) generation.
type Outcome struct {
	Run store.Run
	// Replayed is true when an earlier request with the same Idempotency-Key and body is
	// answered again.
	Replayed bool
}

// Sentinel outcomes of Generate that are not a finished run.
var (
	// ErrKeyInProgress: the same Idempotency-Key is still being solved (409).
	ErrKeyInProgress = errors.New("a request with this Idempotency-Key is still running; retry when it has finished")
	// ErrKeyReused: the Idempotency-Key was used with another body (422).
	ErrKeyReused = errors.New("this Idempotency-Key was used with a different request body")
)

// RunError is a run that ended failed: Run says why (its message), Input tells a problem no
// schedule satisfies (422) from data that changed meanwhile (409) or a cancelled request.
type RunError struct {
	Run     store.Run
	Input   bool
	Changed bool
}

func (e *RunError) Error() string {
	if e.Run.Message != nil {
		return *e.Run.Message
	}
	return "the run failed"
}

// Generate solves [StartDate, EndDate] and, unless the request is a draft, makes the result the
// live schedule. The run is recorded before solving (so overlapping runs are refused with
// store.ErrOverlap) and finished whatever happens, so it never holds its range after an error.
//
// record, when set, writes the run's audit entry in the transaction that records its outcome
// (store.RunResult.Record).
func (s *Service) Generate(ctx context.Context, r GenerateRequest, idempotencyKey, userID string, record store.RunRecorder) (*Outcome, error) {
	if err := s.normalize(&r); err != nil {
		return nil, err
	}
	hash := r.hash()
	begin := time.Now()
	start := store.RunStart{From: r.StartDate, To: r.EndDate, Draft: r.Draft, Request: r,
		IdempotencyKey: idempotencyKey, RequestHash: hash, CreatedBy: userID, AbandonAfter: s.cfg.AbandonAfter}
	run, err := s.st.BeginRun(ctx, start)
	var again *store.ErrIdempotent
	if errors.As(err, &again) && again.Run.Status == store.RunFailed {
		// The run with this key failed between BeginRun freeing failed runs' keys and finding
		// it: a failed run is never replayed, so try once more (the key is free now).
		run, err = s.st.BeginRun(ctx, start)
	}
	switch {
	case errors.As(err, &again) && again.Run.Status == store.RunFailed:
		return nil, ErrKeyInProgress
	case errors.As(err, &again):
		switch {
		case string(again.Run.RequestHash) != string(hash):
			return nil, ErrKeyReused
		case again.Run.Status == store.RunInProgress:
			return nil, ErrKeyInProgress
		}
		return &Outcome{Run: again.Run, Replayed: true}, nil
	case err != nil:
		return nil, err
	}
	res, ferr := s.solveAndFinish(ctx, run, r, record)
	// Whatever went wrong above, the run must not keep its range: record the failure with a
	// context that outlives a cancelled request.
	if ferr != nil && res.Status == "" {
		msg := "internal error"
		switch {
		case ctx.Err() != nil:
			msg = "cancelled: the request ended before the run finished; nothing was written"
		case roster.IsInputError(ferr):
			msg = ferr.Error()
		}
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.st.FinishRun(closeCtx, run.ID, store.RunResult{Status: store.RunFailed, Message: msg, Record: record}); err != nil {
			s.cfg.Log.Error("recording a failed run", "run", run.ID, "error", err)
		}
	}
	stored, err := s.st.GetRun(context.WithoutCancel(ctx), run.ID)
	if err != nil {
		return nil, err
	}
	s.m.runs.WithLabelValues(stored.Status).Inc()
	s.m.duration.Observe(time.Since(begin).Seconds())
	if stored.Status == store.RunFailed {
		return nil, &RunError{Run: stored, Input: roster.IsInputError(ferr), Changed: errors.Is(ferr, store.ErrChanged)}
	}
	if ferr != nil {
		return nil, ferr
	}
	return &Outcome{Run: stored}, nil
}

// solveAndFinish does the run's work. A non-empty res.Status means FinishRun recorded the
// outcome (ErrChanged included); otherwise the caller records the failure.
func (s *Service) solveAndFinish(ctx context.Context, run store.Run, r GenerateRequest, record store.RunRecorder) (store.RunResult, error) {
	in, err := s.st.LoadInputs(ctx, r.StartDate, r.EndDate, Margin)
	if err != nil {
		return store.RunResult{}, err
	}
	if err := checkLearnerPreferences(in, r.Preferences); err != nil {
		return store.RunResult{}, err
	}
	p, scope := s.problem(in, r.StartDate, r.EndDate, &r)
	if scope != nil && len(scope) == 0 {
		return store.RunResult{}, &roster.InputError{Reason: "the filters select nobody to schedule"}
	}
	// The first report (after the solver's first 100 ms) is recorded at once, so a run shows its
	// progress from the start; later ones every HeartbeatEvery.
	var last time.Time
	res, err := roster.Solve(ctx, p, roster.Options{
		Seed: r.Seed, TimeBudget: time.Duration(r.TimeBudgetSeconds * float64(time.Second)), MaxIterations: r.MaxIterations,
		Progress: func(pr roster.Progress) {
			if time.Since(last) < s.cfg.HeartbeatEvery {
				return
			}
			last = time.Now()
			hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := s.st.RunHeartbeat(hctx, run.ID, pr); err != nil && ctx.Err() == nil {
				s.cfg.Log.Warn("recording run progress", "run", run.ID, "error", err)
			}
		},
	})
	if err != nil {
		return store.RunResult{}, err
	}
	if res.Stats.StoppedBy == roster.StopCancelled || ctx.Err() != nil {
		return store.RunResult{}, context.Canceled
	}
	violations, err := roster.Validate(p, res.Assignments)
	if err != nil {
		return store.RunResult{}, err
	}
	list, hard := SortViolations(violations)
	shortfall, err := roster.Explain(p, res.Assignments)
	if err != nil {
		return store.RunResult{}, err
	}
	stats := runStats{Stats: res.Stats, Equity: roster.MeasureEquity(p, res.Assignments), Preferences: roster.ExplainPreferences(p, res.Assignments),
		DayOffRequests: roster.ExplainDayOffRequests(p, res.Assignments)}
	out := store.RunResult{Status: store.RunSuccess, Stats: stats, Violations: hard, ViolationList: list,
		Assignments: res.Assignments, Fingerprint: in.Fingerprint, Margin: Margin, Scope: scope, Record: record}
	if shortfall != nil {
		out.Shortfall = shortfall
	}
	out.Status, out.Message = outcome(hard, shortfall)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.st.FinishRun(fctx, run.ID, out); err != nil {
		if errors.Is(err, store.ErrChanged) {
			out.Status = store.RunFailed
			return out, err
		}
		return store.RunResult{}, err
	}
	return out, nil
}

// runStats are a finished run's statistics: the solver's, and how evenly the schedule spreads
// calls, weekends and continuity within each PGY level (roster.MeasureEquity).
type runStats struct {
	roster.Stats
	Equity         roster.Equity              `json:"equity"`
	Preferences    []roster.PreferenceOutcome `json:"preferences,omitempty"`
	DayOffRequests []roster.DayOffOutcome     `json:"day_off_requests,omitempty"`
}

// outcome is a finished run's status and message: success only for a compliant schedule that
// meets every template minimum; partial, saying what is wrong, otherwise.
func outcome(hard int, sf *roster.Shortfall) (string, string) {
	var why []string
	if hard > 0 {
		why = append(why, fmt.Sprintf("the time budget ended before a compliant schedule was found: %d hard violations", hard))
	}
	if sf != nil {
		msg := fmt.Sprintf("incomplete: %d required resident-half-days are unstaffed", sf.Missing)
		switch {
		case sf.Impossible == sf.Missing:
			msg += ", and no schedule can staff them (see shortfall)"
		case sf.Impossible > 0:
			msg += fmt.Sprintf(", %d of which no schedule can staff (see shortfall)", sf.Impossible)
		default:
			msg += " (see shortfall)"
		}
		why = append(why, msg)
	}
	if len(why) == 0 {
		return store.RunSuccess, ""
	}
	return store.RunPartial, strings.Join(why, "; ")
}

// ViolationView is one violation as the API lists it.
type ViolationView struct {
	acgme.Violation
	// Hard violations make a schedule non-compliant; coverage below a minimum is soft.
	Hard bool `json:"hard"`
}

// SortViolations lists hard violations first (by time), then soft ones, at most
// MaxListedViolations, and counts the hard ones.
func SortViolations(vs []acgme.Violation) ([]ViolationView, int) {
	out := make([]ViolationView, 0, len(vs))
	hard := 0
	for _, v := range vs {
		h := roster.Hard(v.Rule)
		if h {
			hard++
		}
		out = append(out, ViolationView{Violation: v, Hard: h})
	}
	slices.SortStableFunc(out, func(a, b ViolationView) int {
		if a.Hard != b.Hard {
			if a.Hard {
				return -1
			}
			return 1
		}
		return a.Start.Compare(b.Start)
	})
	if len(out) > MaxListedViolations {
		out = out[:MaxListedViolations]
	}
	return out, hard
}

// problem assembles the solver's problem from the inputs. The people the request does not
// select are kept exactly as they are in the range (their half-days fixed, their free ones left
// free); scope lists the selected people (nil when everyone is).
func (s *Service) problem(in store.Inputs, from, to roster.Date, r *GenerateRequest) (*roster.Problem, []string) {
	p := &roster.Problem{From: from, To: to, Location: s.cfg.Location, Absences: in.Absences, Holidays: in.Holidays}
	if r != nil {
		p.Preferences, p.DayOffRequests = r.Preferences, r.DayOffRequests
		if r.Weights != nil {
			p.Weights = *r.Weights
		}
	}
	in, setAsideKept := withoutIdleSetAside(in)
	p.Absences = in.Absences
	selected := map[string]bool{}
	filtered := r != nil && (len(r.PersonIDs) > 0 || len(r.PGYLevels) > 0 || setAsideKept)
	var scope []string
	for _, x := range in.People {
		p.People = append(p.People, x.Person)
		if !filtered {
			continue
		}
		ok := !setAside(x) && (len(r.PersonIDs) == 0 || slices.Contains(r.PersonIDs, x.ID))
		if len(r.PGYLevels) > 0 {
			ok = ok && x.Type == roster.Resident && slices.Contains(r.PGYLevels, x.PGY)
		}
		if ok {
			selected[x.ID] = true
			scope = append(scope, x.ID)
		} else {
			p.Keep = append(p.Keep, x.ID)
		}
	}
	if filtered && scope == nil {
		scope = []string{}
	}
	for _, t := range in.Templates {
		p.Templates = append(p.Templates, t.Template)
	}
	p.Plan = planOf(in.Plan, p.People)
	for _, a := range in.Assignments {
		inRange := !a.Slot.Date.Before(from) && !to.Before(a.Slot.Date)
		keep := !inRange || a.Locked || (filtered && !selected[a.PersonID])
		if r == nil {
			keep = !inRange // validating: the range's assignments are what is judged
		}
		if keep {
			fixed := a.Assignment
			fixed.Locked = fixed.Locked || inRange
			p.Fixed = append(p.Fixed, fixed)
		}
	}
	return p, scope
}

// Validation is the result of checking the stored schedule of a range.
type Validation struct {
	StartDate      roster.Date     `json:"start_date"`
	EndDate        roster.Date     `json:"end_date"`
	Compliant      bool            `json:"compliant"`
	HardViolations int             `json:"hard_violations"`
	Total          int             `json:"total_violations"`
	Violations     []ViolationView `json:"violations"`
	Assignments    int             `json:"assignments"`
}

// Validate judges the stored schedule of [from, to] by every rule, with the stored schedule
// around it as the rolling windows' context, with the residents at their levels of the
// academic year from falls in (levelsOf).
func (s *Service) Validate(ctx context.Context, from, to roster.Date) (*Validation, error) {
	if to.Before(from) || to.Sub(from)+1 > roster.MaxRangeDays {
		return nil, invalidf("need start_date <= end_date and at most %d days", roster.MaxRangeDays)
	}
	in, err := s.st.LoadInputs(ctx, from, to, Margin)
	if err != nil {
		return nil, err
	}
	if err := s.levelsOf(ctx, in, from); err != nil {
		return nil, err
	}
	p, _ := s.problem(in, from, to, nil)
	var live []roster.Assignment
	for _, a := range in.Assignments {
		if !a.Slot.Date.Before(from) && !to.Before(a.Slot.Date) {
			live = append(live, a.Assignment)
		}
	}
	vs, err := roster.Validate(p, live)
	if err != nil {
		return nil, err
	}
	list, hard := SortViolations(vs)
	return &Validation{StartDate: from, EndDate: to, Compliant: hard == 0, HardViolations: hard, Total: len(vs), Violations: list, Assignments: len(live)}, nil
}

// ValidID reports whether s is a UUID in its canonical 36-character form (the only form the
// API hands out).
func ValidID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

type metrics struct {
	runs     *prometheus.CounterVec
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rsched_schedule_runs_total",
			Help: "Schedule generation runs by outcome (success, partial, failed)."}, []string{"status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rsched_schedule_run_duration_seconds",
			Help: "Wall time of schedule generation runs, from the request to the recorded outcome.", Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600}}),
	}
	for _, status := range []string{store.RunSuccess, store.RunPartial, store.RunFailed} {
		m.runs.WithLabelValues(status) // at 0, so that increase() sees the first run of each outcome
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.duration)
	}
	return m
}
