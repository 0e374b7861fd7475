package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rsched/rsched/internal/server/accounts"
	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/server/schedule"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// validText is UTF-8 without NUL characters (which PostgreSQL's text refuses).
func validText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// pathID reads the {id} path value; anything but a UUID is a 404 (no such record), so a
// malformed id never reaches the database.
func pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !scheduling.ValidID(id) {
		Error(w, http.StatusNotFound, "not found")
		return "", false
	}
	return strings.ToLower(id), true
}

// queryDate reads a YYYY-MM-DD query parameter; required says whether it may be missing.
func queryDate(w http.ResponseWriter, r *http.Request, name string, required bool) (*schedule.Date, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		if required {
			Error(w, http.StatusUnprocessableEntity, name+" is required (YYYY-MM-DD)")
			return nil, false
		}
		return nil, true
	}
	d, err := schedule.ParseDate(v)
	if err != nil {
		Error(w, http.StatusUnprocessableEntity, name+" must be a date (YYYY-MM-DD)")
		return nil, false
	}
	return &d, true
}

// dateRange reads start_date and end_date (both required), start <= end, at most maxDays.
func dateRange(w http.ResponseWriter, r *http.Request, maxDays int) (schedule.Date, schedule.Date, bool) {
	from, ok := queryDate(w, r, "start_date", true)
	if !ok {
		return schedule.Date{}, schedule.Date{}, false
	}
	to, ok := queryDate(w, r, "end_date", true)
	if !ok {
		return schedule.Date{}, schedule.Date{}, false
	}
	if to.Before(*from) {
		Error(w, http.StatusUnprocessableEntity, "end_date is before start_date")
		return schedule.Date{}, schedule.Date{}, false
	}
	if n := to.Sub(*from) + 1; n > maxDays {
		Error(w, http.StatusUnprocessableEntity, "the range has "+strconv.Itoa(n)+" days; at most "+strconv.Itoa(maxDays))
		return schedule.Date{}, schedule.Date{}, false
	}
	return *from, *to, true
}

// queryID reads an optional UUID query parameter.
func queryID(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	v := r.URL.Query().Get(name)
	if v != "" && !scheduling.ValidID(v) {
		Error(w, http.StatusUnprocessableEntity, name+" must be a UUID")
		return "", false
	}
	return strings.ToLower(v), true
}

// schedFail maps an error of the scheduling domain onto a status and a client-safe detail.
func (s *server) schedFail(w http.ResponseWriter, r *http.Request, err error) {
	var invalid *scheduling.InvalidError
	var input *schedule.InputError
	switch {
	case errors.As(err, &invalid):
		Error(w, http.StatusUnprocessableEntity, invalid.Reason)
	case errors.As(err, &input):
		Error(w, http.StatusUnprocessableEntity, input.Reason)
	case errors.Is(err, store.ErrNotFound):
		Error(w, http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrStale):
		Error(w, http.StatusConflict, store.ErrStale.Error())
	case errors.Is(err, store.ErrOverlap), errors.Is(err, store.ErrAbsenceOverlap), errors.Is(err, store.ErrChanged):
		Error(w, http.StatusConflict, rootMessage(err))
	case errors.Is(err, store.ErrConflict):
		Error(w, http.StatusConflict, "a record with the same unique value exists (an e-mail, an account, a name, or the person's half-day)")
	case errors.Is(err, store.ErrInUse):
		Error(w, http.StatusConflict, "the record is in use: other records refer to it")
	case errors.Is(err, store.ErrUnknownReference):
		Error(w, http.StatusUnprocessableEntity, "a referenced record (person, rotation template or user) does not exist")
	case errors.Is(err, store.ErrState):
		Error(w, http.StatusConflict, store.ErrState.Error())
	default:
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err, "request_id", RequestID(r.Context()))
		Error(w, http.StatusInternalServerError, "internal error")
	}
}

// rootMessage is the sentinel's own message (no "store: ..." wrapping).
func rootMessage(err error) string {
	for _, e := range []error{store.ErrOverlap, store.ErrAbsenceOverlap, store.ErrChanged} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return err.Error()
}

// isManager says whether the caller manages the resource for everyone (coordinators and
// administrators): others act on their own records only.
func isManager(p *accounts.Principal, res rbac.Resource) bool {
	return rbac.Allowed(p.Role, res, rbac.List) && !rbac.OwnOnly(p.Role, res, rbac.Update)
}

// ownPerson is the person record of the caller ("" when the account is not linked to one).
func (s *server) ownPerson(r *http.Request) (string, error) {
	p, err := s.Scheduling.Store().PersonOfUser(r.Context(), principal(r).ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return p.ID, err
}

// etag is an assignment's version as an entity tag: its updated_at to the microsecond.
func etag(t time.Time) string { return `"` + t.UTC().Format(time.RFC3339Nano) + `"` }

// version reads the version the caller last saw: If-Match (an ETag from a read) or, failing
// that, updated_at in the body. Neither is a 428: a write without a version could overwrite a
// change the caller never saw.
func version(w http.ResponseWriter, r *http.Request, bodyVersion *time.Time) (time.Time, bool) {
	if im := strings.TrimSpace(r.Header.Get("If-Match")); im != "" {
		t, err := time.Parse(time.RFC3339Nano, strings.Trim(strings.TrimPrefix(im, "W/"), `"`))
		if err != nil {
			Error(w, http.StatusPreconditionFailed, "If-Match must be the ETag of the record as read")
			return time.Time{}, false
		}
		return t, true
	}
	if bodyVersion != nil {
		return *bodyVersion, true
	}
	Error(w, http.StatusPreconditionRequired, "send the version you read: the If-Match header with the record's ETag, or updated_at in the body")
	return time.Time{}, false
}
