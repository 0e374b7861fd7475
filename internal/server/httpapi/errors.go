package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rsched/rsched/internal/server/accounts"
	"github.com/rsched/rsched/internal/server/auth"
	"github.com/rsched/rsched/internal/server/clienterr"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// handlerFunc is an API handler: it writes its answer and returns nil, or returns an error that
// respond, the one adapter, turns into a status and {"detail": ...}.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// apiError is an answer a handler decided on: a status, a client-safe detail, and headers.
type apiError struct {
	status int
	detail string
	header map[string]string
}

func (e *apiError) Error() string { return e.detail }

// errStatus is the error that answers status with detail.
func errStatus(status int, detail string) error { return &apiError{status: status, detail: detail} }

// handle runs h and answers its error, if any.
func (s *server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.respond(w, r, err)
		}
	}
}

// respond answers err: the status and detail of its kind, or a logged 500 with a generic detail
// for anything unexpected (no internal message ever reaches the client).
func (s *server) respond(w http.ResponseWriter, r *http.Request, err error) {
	answer := classify(err)
	if answer == nil {
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err, "request_id", RequestID(r.Context()))
		answer = &apiError{status: http.StatusInternalServerError, detail: "internal error"}
	}
	for k, v := range answer.header {
		w.Header().Set(k, v)
	}
	Error(w, answer.status, answer.detail)
}

// classify maps an error onto its answer; nil for an unexpected error.
func classify(err error) *apiError {
	var api *apiError
	var invalid *clienterr.Invalid
	switch {
	case errors.As(err, &api):
		return api
	case errors.As(err, &invalid):
		status := http.StatusUnprocessableEntity
		if invalid.BadRequest {
			status = http.StatusBadRequest
		}
		return &apiError{status: status, detail: invalid.Reason}
	}
	if a := accountError(err); a != nil {
		return a
	}
	return schedulingError(err)
}

// accountError is the answer to an error of the account logic (nil: not one).
func accountError(err error) *apiError {
	var policy *auth.PolicyError
	var conflict *accounts.ConflictError
	var locked *accounts.LockedError
	switch {
	case errors.As(err, &policy):
		return &apiError{status: http.StatusUnprocessableEntity, detail: policy.Error()}
	case errors.As(err, &conflict):
		return &apiError{status: http.StatusConflict, detail: conflict.Reason}
	case errors.As(err, &locked):
		secs := max(int(locked.RetryAfter.Round(time.Second).Seconds()), 1)
		return &apiError{status: http.StatusLocked, detail: fmt.Sprintf("Account temporarily locked; retry in %d seconds", secs),
			header: map[string]string{"Retry-After": strconv.Itoa(secs)}}
	case errors.Is(err, accounts.ErrBadCredentials):
		return &apiError{status: http.StatusUnauthorized, detail: "Incorrect username or password", header: map[string]string{"WWW-Authenticate": `Bearer realm="rsched"`}}
	case errors.Is(err, accounts.ErrInactive):
		return &apiError{status: http.StatusForbidden, detail: "Account is inactive"}
	case errors.Is(err, accounts.ErrAdminLocked):
		return &apiError{status: http.StatusLocked, detail: "Account is locked; contact an administrator"}
	case errors.Is(err, accounts.ErrInvalidRefresh):
		return &apiError{status: http.StatusUnauthorized, detail: "Invalid or expired refresh token"}
	case errors.Is(err, accounts.ErrInvalidMFA):
		return &apiError{status: http.StatusUnauthorized, detail: "Invalid or expired authentication code"}
	case errors.Is(err, accounts.ErrNotFound):
		return &apiError{status: http.StatusNotFound, detail: "not found"}
	case errors.Is(err, accounts.ErrAdminRequired):
		return &apiError{status: http.StatusForbidden, detail: "Admin access required to create users"}
	}
	return nil
}

// schedulingError is the answer to an error of the scheduling domain (nil: not one).
func schedulingError(err error) *apiError {
	var input *roster.InputError
	switch {
	case errors.As(err, &input):
		return &apiError{status: http.StatusUnprocessableEntity, detail: input.Reason}
	case errors.Is(err, store.ErrYearsRollForward):
		return &apiError{status: http.StatusConflict, detail: store.ErrYearsRollForward.Error()}
	case errors.Is(err, store.ErrRolloverUnconfirmed):
		return &apiError{status: http.StatusUnprocessableEntity, detail: store.ErrRolloverUnconfirmed.Error()}
	case errors.Is(err, store.ErrRolloverChanged):
		return &apiError{status: http.StatusConflict, detail: store.ErrRolloverChanged.Error()}
	case errors.Is(err, store.ErrPlanUnconfirmed):
		return &apiError{status: http.StatusUnprocessableEntity, detail: store.ErrPlanUnconfirmed.Error()}
	case errors.Is(err, store.ErrPlanChanged):
		return &apiError{status: http.StatusConflict, detail: store.ErrPlanChanged.Error()}
	case store.IsBusy(err):
		return &apiError{status: http.StatusServiceUnavailable, detail: "another change to the same data is in progress; nothing was changed, try again in a moment"}
	case errors.Is(err, scheduling.ErrPlannerBusy):
		return &apiError{status: http.StatusServiceUnavailable, detail: scheduling.ErrPlannerBusy.Error()}
	case errors.Is(err, store.ErrNotFound):
		return &apiError{status: http.StatusNotFound, detail: "not found"}
	case errors.Is(err, store.ErrStale):
		return &apiError{status: http.StatusConflict, detail: store.ErrStale.Error()}
	case errors.Is(err, store.ErrOverlap), errors.Is(err, store.ErrAbsenceOverlap), errors.Is(err, store.ErrChanged):
		return &apiError{status: http.StatusConflict, detail: rootMessage(err)}
	case errors.Is(err, store.ErrConflict):
		return &apiError{status: http.StatusConflict, detail: "a record with the same unique value exists (an e-mail, an account, a name, or the person's half-day)"}
	case errors.Is(err, store.ErrInUse):
		return &apiError{status: http.StatusConflict, detail: "the record is in use: other records refer to it"}
	case errors.Is(err, store.ErrUnknownReference):
		return &apiError{status: http.StatusUnprocessableEntity, detail: "a referenced record (person, rotation template, rotation or user) does not exist"}
	case errors.Is(err, store.ErrState):
		return &apiError{status: http.StatusConflict, detail: store.ErrState.Error()}
	}
	for _, refusal := range []error{store.ErrNotDraft, store.ErrNotPublishable, store.ErrIncomplete, store.ErrPublished,
		store.ErrDraftStale, store.ErrRolledBack, store.ErrRangeChangedSince, store.ErrRepairStale} {
		if errors.Is(err, refusal) {
			return &apiError{status: http.StatusConflict, detail: refusal.Error()}
		}
	}
	return nil
}
