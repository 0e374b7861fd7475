package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/audit"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// runView is a schedule run as the API shows it.
type runView struct {
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	StartDate roster.Date     `json:"start_date"`
	EndDate   roster.Date     `json:"end_date"`
	Draft     bool            `json:"draft"`
	Request   json.RawMessage `json:"request,omitempty"`
	// Progress is the solver's last report while the run is in progress.
	Progress json.RawMessage `json:"progress,omitempty"`
	Stats    json.RawMessage `json:"stats,omitempty"`
	// HardViolations counts what makes the schedule non-compliant (0 for success).
	HardViolations *int            `json:"hard_violations,omitempty"`
	Violations     json.RawMessage `json:"violations,omitempty"`
	// Shortfall is the required coverage left unfilled and why (absent when every minimum is met).
	Shortfall   json.RawMessage `json:"shortfall,omitempty"`
	Message     *string         `json:"message,omitempty"`
	CreatedBy   *string         `json:"created_by,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	HeartbeatAt *time.Time      `json:"heartbeat_at,omitempty"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
}

func viewRun(r store.Run, full bool) runView {
	v := runView{ID: r.ID, Status: r.Status, StartDate: r.From, EndDate: r.To, Draft: r.Draft, Progress: jsonOrNil(r.Progress), Stats: jsonOrNil(r.Stats),
		HardViolations: r.Violations, Message: r.Message, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, HeartbeatAt: r.HeartbeatAt, FinishedAt: r.FinishedAt}
	if full {
		v.Request, v.Violations, v.Shortfall = jsonOrNil(r.Request), jsonOrNil(r.ViolationList), jsonOrNil(r.Shortfall)
	}
	return v
}

func jsonOrNil(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil
	}
	return b
}

// validIdempotencyKey: 1 to 255 printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// runAudit writes a run's schedule.generate entry in the transaction that records the run's
// outcome (store.RunResult.Record); the entry reaches the stream once that committed, which a
// finished run (success, partial, failed) says.
type runAudit struct {
	s     *server
	r     *http.Request
	draft bool
	entry *audit.Entry
}

func (a *runAudit) record(ctx context.Context, tx pgx.Tx, runID, status string) error {
	details := map[string]any{"status": status}
	if status != store.RunFailed {
		details["draft"] = a.draft
	}
	c := a.s.client(a.r)
	e, err := a.s.Audit.AppendTx(ctx, tx, audit.Event{Actor: principal(a.r).ID, Action: "schedule.generate", Target: "schedule_run:" + runID,
		IP: c.IP, UserAgent: c.UserAgent, RequestID: c.RequestID, Details: details})
	if a.entry = nil; err == nil {
		a.entry = &e
	}
	return err
}

// stream sends the committed entry to the audit stream.
func (a *runAudit) stream() {
	if a.entry != nil {
		a.s.Audit.Stream(*a.entry)
	}
}

// generate runs the solver over a date range: 200 with a compliant schedule that meets every
// template minimum, 207 (status partial) with the violations when the budget ended before a
// compliant one was found or with the shortfall when required coverage is left unfilled, 409 for an overlapping run, a key
// still running or data changed meanwhile, 422 for impossible input. With an Idempotency-Key,
// a retry with the same body answers the first run again (X-Idempotency-Replayed: true).
func (s *server) generate(w http.ResponseWriter, r *http.Request) error {
	var req scheduling.GenerateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if key != "" && !validIdempotencyKey(key) {
		return errStatus(http.StatusUnprocessableEntity, "Idempotency-Key must be 1 to 255 printable ASCII characters")
	}
	p := principal(r)
	// The answer comes after the solve: give it the budget on top of the server's write timeout,
	// or a long run would write the schedule and lose its response (a test recorder has no
	// deadline to extend).
	budget := time.Duration(req.TimeBudgetSeconds * float64(time.Second))
	if budget <= 0 || budget > 10*time.Minute {
		budget = 10 * time.Minute
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(budget + 2*time.Minute))
	ra := &runAudit{s: s, r: r, draft: req.Draft}
	out, err := s.Scheduling.Generate(r.Context(), req, key, p.ID, ra.record)
	var failed *scheduling.RunError
	if errors.As(err, &failed) || (err == nil && !out.Replayed) {
		ra.stream()
	}
	switch {
	case errors.As(err, &failed):
		status := http.StatusInternalServerError
		switch {
		case failed.Input:
			status = http.StatusUnprocessableEntity
		case failed.Changed:
			status = http.StatusConflict
		case r.Context().Err() != nil:
			return nil // the client is gone
		}
		writeJSON(w, status, map[string]any{"detail": failed.Error(), "run": viewRun(failed.Run, true)})
		return nil
	case errors.Is(err, scheduling.ErrKeyInProgress), errors.Is(err, store.ErrOverlap):
		return errStatus(http.StatusConflict, rootMessage(err))
	case errors.Is(err, scheduling.ErrKeyReused):
		return errStatus(http.StatusUnprocessableEntity, err.Error())
	case err != nil:
		return err
	}
	if out.Replayed {
		w.Header().Set("X-Idempotency-Replayed", "true")
	}
	status := http.StatusOK
	if out.Run.Status == store.RunPartial {
		status = http.StatusMultiStatus
	}
	w.Header().Set("Location", "/api/v1/schedule/runs/"+out.Run.ID)
	writeJSON(w, status, viewRun(out.Run, true))
	return nil
}

func (s *server) listRuns(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := page(r, 50, 200)
	if err != nil {
		return err
	}
	runs, total, err := s.Scheduling.ListRuns(r.Context(), pg, size)
	if err != nil {
		return err
	}
	items := make([]runView, 0, len(runs))
	for _, run := range runs {
		items = append(items, viewRun(run, false))
	}
	writeJSON(w, http.StatusOK, pageBody(items, total, pg, size))
	return nil
}

func (s *server) getRun(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	run, err := s.Scheduling.GetRun(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewRun(run, true))
	return nil
}

// runAssignments lists what a run proposed (for a draft, the only place its result lives).
func (s *server) runAssignments(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if _, err := s.Scheduling.GetRun(r.Context(), id); err != nil {
		return err
	}
	as, err := s.Scheduling.RunAssignments(r.Context(), id)
	if err != nil {
		return err
	}
	if as == nil {
		as = []roster.Assignment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": as, "total": len(as)})
	return nil
}

func (s *server) validateSchedule(w http.ResponseWriter, r *http.Request) error {
	from, to, err := dateRange(r, roster.MaxRangeDays)
	if err != nil {
		return err
	}
	v, err := s.Scheduling.Validate(r.Context(), from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// directory resolves the names the exports print: the given people and every template.
func (s *server) directory(r *http.Request, people []store.PersonRecord) (roster.Directory, error) {
	ts, err := s.Scheduling.ListTemplates(r.Context())
	if err != nil {
		return roster.Directory{}, err
	}
	var ps []roster.Person
	for _, p := range people {
		ps = append(ps, p.Person)
	}
	var tt []roster.Template
	for _, t := range ts {
		tt = append(tt, t.Template)
	}
	return roster.NewDirectory(ps, tt), nil
}

func liveAssignments(as []store.StoredAssignment) []roster.Assignment {
	out := make([]roster.Assignment, 0, len(as))
	for _, a := range as {
		out = append(out, a.Assignment)
	}
	return out
}

// exportCSV writes the live schedule of a range as CSV (cells that a spreadsheet would read as
// formulas are defused).
func (s *server) exportCSV(w http.ResponseWriter, r *http.Request) error {
	from, to, err := dateRange(r, roster.MaxRangeDays)
	if err != nil {
		return err
	}
	as, err := s.Scheduling.Schedule(r.Context(), from, to)
	if err != nil {
		return err
	}
	people, _, err := s.Scheduling.ListPeople(r.Context(), store.PersonFilter{})
	if err != nil {
		return err
	}
	s.record(r, principal(r).ID, "schedule.export", fmt.Sprintf("schedule:%s..%s", from, to), map[string]any{"format": "csv", "rows": len(as)})
	return s.attachment(w, r, people, "text/csv; charset=utf-8", fmt.Sprintf("schedule-%s-%s.csv", from, to), func(buf io.Writer, dir roster.Directory) error {
		return roster.WriteCSV(buf, liveAssignments(as), dir)
	})
}

// attachment writes what render makes with the names of people and templates as a download.
// It renders into a buffer first, so a failure is still a JSON error and never half a file.
func (s *server) attachment(w http.ResponseWriter, r *http.Request, people []store.PersonRecord, contentType, filename string, render func(io.Writer, roster.Directory) error) error {
	dir, err := s.directory(r, people)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := render(&buf, dir); err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, filename))
	_, _ = w.Write(buf.Bytes())
	return nil
}

// calendar is one person's iCalendar feed (RFC 5545) of a range; without one, the academic
// year of today.
func (s *server) calendar(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	from, to, err := s.optionalRange(r)
	if err != nil {
		return err
	}
	p, err := s.Scheduling.GetPerson(r.Context(), id)
	if err != nil {
		return err
	}
	as, _, err := s.Scheduling.ListAssignments(r.Context(), store.AssignmentFilter{From: from, To: to, PersonID: id, Page: 1, Size: 2 * roster.MaxRangeDays})
	if err != nil {
		return err
	}
	// One person's feed needs only that person's name, not the whole program's.
	return s.attachment(w, r, []store.PersonRecord{p}, "text/calendar; charset=utf-8", "schedule.ics", func(buf io.Writer, dir roster.Directory) error {
		return roster.WriteICal(buf, id, liveAssignments(as), dir, roster.ICalOptions{Name: p.Name + " — schedule", Host: r.Host,
			Location: s.Scheduling.Location(), Now: s.now()})
	})
}

// blocks lists the academic blocks overlapping a range (default: the academic year of today).
func (s *server) blocks(w http.ResponseWriter, r *http.Request) error {
	from, to, err := s.optionalRange(r)
	if err != nil {
		return err
	}
	items := []roster.Block{}
	for y := roster.AcademicYearOf(from); y <= roster.AcademicYearOf(to); y++ {
		for _, b := range y.Blocks() {
			if b.Days() > 0 && !b.End.Before(from) && !to.Before(b.Start) {
				items = append(items, b)
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
	return nil
}

// slotView is one half-day of the calendar.
type slotView struct {
	roster.Slot
	BlockNumber  int  `json:"block_number"`
	AcademicYear int  `json:"academic_year"`
	IsWeekend    bool `json:"is_weekend"`
}

// slots lists the half-day slots of a range (default: the academic year of today, 730 slots).
func (s *server) slots(w http.ResponseWriter, r *http.Request) error {
	from, to, err := s.optionalRange(r)
	if err != nil {
		return err
	}
	all := roster.Slots(from, to)
	items := make([]slotView, 0, len(all))
	for _, sl := range all {
		wd := sl.Date.Weekday()
		items = append(items, slotView{Slot: sl, BlockNumber: roster.BlockOf(sl.Date).Number, AcademicYear: int(roster.AcademicYearOf(sl.Date)),
			IsWeekend: wd == time.Saturday || wd == time.Sunday})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
	return nil
}

func (s *server) optionalRange(r *http.Request) (roster.Date, roster.Date, error) {
	q := r.URL.Query()
	if q.Get("start_date") == "" && q.Get("end_date") == "" {
		y := roster.AcademicYearOf(roster.DateOf(s.now().In(s.Scheduling.Location())))
		return y.First(), y.Last(), nil
	}
	return dateRange(r, roster.MaxRangeDays)
}

func (s *server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
