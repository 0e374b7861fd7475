package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rsched/rsched/internal/server/accounts"
	"github.com/rsched/rsched/internal/server/auth"
)

// decodeJSON reads exactly one JSON object into v. Unknown fields, trailing data, a wrong
// content type and bodies over the limit are refused with a detail the client can act on.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		Error(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			Error(w, http.StatusRequestEntityTooLarge, "request body too large")
		} else {
			Error(w, http.StatusBadRequest, "request body could not be read")
		}
		return false
	}
	if err := decodeStrict(body, v); err != nil {
		Error(w, http.StatusUnprocessableEntity, err.Error())
		return false
	}
	return true
}

// decodeStrict is the pure part of decodeJSON (fuzzed by FuzzDecodeJSON): it returns
// client-safe messages only.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return errors.New("request body is empty: a JSON object is required")
		case errors.As(err, &syn):
			return fmt.Errorf("request body is not valid JSON (at byte %d)", syn.Offset)
		case errors.As(err, &typ):
			if typ.Field != "" {
				return fmt.Errorf("field %q must be a %s", typ.Field, jsonKind(typ.Type.Kind().String()))
			}
			return errors.New("request body must be a JSON object")
		default:
			// "json: unknown field \"x\"" and friends only echo the client's input; cut to a
			// length that names the problem without reflecting a large body back.
			return fmt.Errorf("invalid request body: %s", clean(strings.TrimPrefix(err.Error(), "json: "), 120))
		}
	}
	if dec.More() {
		return errors.New("request body must hold exactly one JSON object")
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "list"
	case "struct", "map":
		return "object"
	}
	return "number"
}

// fail maps an error from the account logic onto a status and a client-safe detail.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var policy *auth.PolicyError
	var invalid *accounts.InvalidError
	var conflict *accounts.ConflictError
	var locked *accounts.LockedError
	switch {
	case errors.As(err, &policy):
		Error(w, http.StatusUnprocessableEntity, policy.Error())
	case errors.As(err, &invalid):
		status := http.StatusUnprocessableEntity
		if invalid.BadRequest {
			status = http.StatusBadRequest
		}
		Error(w, status, invalid.Reason)
	case errors.As(err, &conflict):
		Error(w, http.StatusConflict, conflict.Reason)
	case errors.As(err, &locked):
		secs := max(int(locked.RetryAfter.Round(time.Second).Seconds()), 1)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		Error(w, http.StatusLocked, fmt.Sprintf("Account temporarily locked; retry in %d seconds", secs))
	case errors.Is(err, accounts.ErrBadCredentials):
		w.Header().Set("WWW-Authenticate", `Bearer realm="rsched"`)
		Error(w, http.StatusUnauthorized, "Incorrect username or password")
	case errors.Is(err, accounts.ErrInactive):
		Error(w, http.StatusForbidden, "Account is inactive")
	case errors.Is(err, accounts.ErrAdminLocked):
		Error(w, http.StatusLocked, "Account is locked; contact an administrator")
	case errors.Is(err, accounts.ErrInvalidRefresh):
		Error(w, http.StatusUnauthorized, "Invalid or expired refresh token")
	case errors.Is(err, accounts.ErrInvalidMFA):
		Error(w, http.StatusUnauthorized, "Invalid or expired authentication code")
	case errors.Is(err, accounts.ErrNotFound):
		Error(w, http.StatusNotFound, "not found")
	case errors.Is(err, accounts.ErrAdminRequired):
		Error(w, http.StatusForbidden, "Admin access required to create users")
	default:
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err, "request_id", RequestID(r.Context()))
		Error(w, http.StatusInternalServerError, "internal error")
	}
}
