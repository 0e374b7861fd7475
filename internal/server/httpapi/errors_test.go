package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/accounts"
	"github.com/rsched/rsched/internal/server/auth"
	"github.com/rsched/rsched/internal/server/clienterr"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// TestEveryErrorKindHasOneAnswer walks the one error vocabulary: each kind a handler can return,
// wrapped or not, maps onto one status, detail and header set; anything else is a 500 whose
// detail never carries the error's text.
func TestEveryErrorKindHasOneAnswer(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("somewhere: %w", err) }
	for _, c := range []struct {
		err    error
		status int
		detail string
		header map[string]string
	}{
		{errStatus(http.StatusConflict, "taken"), 409, "taken", nil},
		{&apiError{status: 429, detail: "slow down", header: map[string]string{"Retry-After": "3"}}, 429, "slow down", map[string]string{"Retry-After": "3"}},
		{wrap(&clienterr.Invalid{Reason: "bad field"}), 422, "bad field", nil},
		{&accounts.InvalidError{Reason: "Cannot lock your own account", BadRequest: true}, 400, "Cannot lock your own account", nil},
		{wrap(&scheduling.InvalidError{Reason: "end_date is before start_date"}), 422, "end_date is before start_date", nil},
		{&auth.PolicyError{Problems: []string{"too short"}}, 422, (&auth.PolicyError{Problems: []string{"too short"}}).Error(), nil},
		{&accounts.ConflictError{Reason: "MFA is already enabled"}, 409, "MFA is already enabled", nil},
		{&accounts.LockedError{RetryAfter: 90 * time.Second}, 423, "Account temporarily locked; retry in 90 seconds", map[string]string{"Retry-After": "90"}},
		{&accounts.LockedError{RetryAfter: time.Millisecond}, 423, "Account temporarily locked; retry in 1 seconds", map[string]string{"Retry-After": "1"}},
		{wrap(accounts.ErrBadCredentials), 401, "Incorrect username or password", map[string]string{"WWW-Authenticate": `Bearer realm="rsched"`}},
		{accounts.ErrInactive, 403, "Account is inactive", nil},
		{accounts.ErrAdminLocked, 423, "Account is locked; contact an administrator", nil},
		{accounts.ErrInvalidRefresh, 401, "Invalid or expired refresh token", nil},
		{accounts.ErrInvalidMFA, 401, "Invalid or expired authentication code", nil},
		{accounts.ErrNotFound, 404, "not found", nil},
		{accounts.ErrAdminRequired, 403, "Admin access required to create users", nil},
		{&roster.InputError{Reason: "no resident is eligible"}, 422, "no resident is eligible", nil},
		{wrap(store.ErrNotFound), 404, "not found", nil},
		{wrap(store.ErrStale), 409, store.ErrStale.Error(), nil},
		{wrap(store.ErrOverlap), 409, store.ErrOverlap.Error(), nil},
		{wrap(store.ErrAbsenceOverlap), 409, store.ErrAbsenceOverlap.Error(), nil},
		{wrap(store.ErrChanged), 409, store.ErrChanged.Error(), nil},
		{wrap(store.ErrConflict), 409, "a record with the same unique value exists (an e-mail, an account, a name, or the person's half-day)", nil},
		{wrap(store.ErrInUse), 409, "the record is in use: other records refer to it", nil},
		{wrap(store.ErrUnknownReference), 422, "a referenced record (person, rotation template, rotation or user) does not exist", nil},
		{wrap(store.ErrState), 409, store.ErrState.Error(), nil},
		{errors.New("pq: password authentication failed for user rsched"), 500, "internal error", nil},
	} {
		t.Run(c.err.Error(), func(t *testing.T) {
			rec := httptest.NewRecorder()
			(&server{Options: Options{Log: quiet}}).respond(rec, httptest.NewRequest("GET", "/x", nil), c.err)
			res := rec.Result()
			if res.StatusCode != c.status {
				t.Errorf("status %d, want %d", res.StatusCode, c.status)
			}
			if d := detail(t, res); d != c.detail {
				t.Errorf("detail %q, want %q", d, c.detail)
			}
			for k, v := range c.header {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if c.status == 500 && strings.Contains(rec.Body.String(), "password") {
				t.Error("an internal error's text reached the client")
			}
		})
	}
}
