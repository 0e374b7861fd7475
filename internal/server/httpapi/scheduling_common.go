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
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// validText is UTF-8 without NUL characters (which PostgreSQL's text refuses).
func validText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// pathID reads the {id} path value; anything but a UUID is a 404 (no such record), so a
// malformed id never reaches the database.
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !scheduling.ValidID(id) {
		return "", errStatus(http.StatusNotFound, "not found")
	}
	return strings.ToLower(id), nil
}

// queryDate reads a YYYY-MM-DD query parameter; required says whether it may be missing.
func queryDate(r *http.Request, name string, required bool) (*roster.Date, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		if required {
			return nil, errStatus(http.StatusUnprocessableEntity, name+" is required (YYYY-MM-DD)")
		}
		return nil, nil
	}
	d, err := roster.ParseDate(v)
	if err != nil {
		return nil, errStatus(http.StatusUnprocessableEntity, name+" must be a date (YYYY-MM-DD)")
	}
	return &d, nil
}

// dateRange reads start_date and end_date (both required), start <= end, at most maxDays.
func dateRange(r *http.Request, maxDays int) (roster.Date, roster.Date, error) {
	from, err := queryDate(r, "start_date", true)
	if err != nil {
		return roster.Date{}, roster.Date{}, err
	}
	to, err := queryDate(r, "end_date", true)
	if err != nil {
		return roster.Date{}, roster.Date{}, err
	}
	if to.Before(*from) {
		return roster.Date{}, roster.Date{}, errStatus(http.StatusUnprocessableEntity, "end_date is before start_date")
	}
	if n := to.Sub(*from) + 1; n > maxDays {
		return roster.Date{}, roster.Date{}, errStatus(http.StatusUnprocessableEntity, "the range has "+strconv.Itoa(n)+" days; at most "+strconv.Itoa(maxDays))
	}
	return *from, *to, nil
}

// queryID reads an optional UUID query parameter.
func queryID(r *http.Request, name string) (string, error) {
	v := r.URL.Query().Get(name)
	if v != "" && !scheduling.ValidID(v) {
		return "", errStatus(http.StatusUnprocessableEntity, name+" must be a UUID")
	}
	return strings.ToLower(v), nil
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
	p, err := s.Scheduling.PersonOfUser(r.Context(), principal(r).ID)
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
func version(r *http.Request, bodyVersion *time.Time) (time.Time, error) {
	if im := strings.TrimSpace(r.Header.Get("If-Match")); im != "" {
		t, err := time.Parse(time.RFC3339Nano, strings.Trim(strings.TrimPrefix(im, "W/"), `"`))
		if err != nil {
			return time.Time{}, errStatus(http.StatusPreconditionFailed, "If-Match must be the ETag of the record as read")
		}
		return t, nil
	}
	if bodyVersion != nil {
		return *bodyVersion, nil
	}
	return time.Time{}, errStatus(http.StatusPreconditionRequired, "send the version you read: the If-Match header with the record's ETag, or updated_at in the body")
}
