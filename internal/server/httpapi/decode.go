package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rsched/rsched/internal/server/accounts"
	"github.com/rsched/rsched/internal/server/auth"
)

// The one decode path: JSON bodies (decodeJSON), form fields (decodeForm) and query parameters
// (checkQuery, run by the router before every handler) are checked the same way before any
// value is used. Text must be UTF-8 without NUL characters (PostgreSQL's text refuses both, and
// encoding/json would silently turn invalid UTF-8 into U+FFFD): a 422, like any other field
// rule. A name given twice is a 400: encoding/json keeps the last of two equal keys (and matches
// keys to fields ignoring case), url.Values.Get the first, so the two readers of one request
// could see different values.

// decodeError is a refusal of the decode path with its status.
type decodeError struct {
	status int
	detail string
}

func (e *decodeError) Error() string { return e.detail }

func badText(format string, a ...any) error {
	return &decodeError{http.StatusUnprocessableEntity, fmt.Sprintf(format, a...)}
}

func duplicate(format string, a ...any) error {
	return &decodeError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

// writeDecodeError answers a refusal of the decode path: its own status, or 422 for the
// decoder's messages (unknown fields, wrong types, broken JSON).
func writeDecodeError(w http.ResponseWriter, err error) {
	var de *decodeError
	if errors.As(err, &de) {
		Error(w, de.status, de.detail)
		return
	}
	Error(w, http.StatusUnprocessableEntity, err.Error())
}

// decodeJSON reads exactly one JSON object into v. Unknown fields, trailing data, a wrong
// content type, bodies over the limit, names given twice, NUL characters and invalid UTF-8 are
// refused with a detail the client can act on.
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
		writeDecodeError(w, err)
		return false
	}
	return true
}

// decodeForm parses an application/x-www-form-urlencoded body and checks every field like a
// JSON body's: the caller reads r.PostForm.
func decodeForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		Error(w, http.StatusUnprocessableEntity, "the form could not be read")
		return false
	}
	if err := checkValues(r.PostForm); err != nil {
		writeDecodeError(w, err)
		return false
	}
	return true
}

// checkQuery checks the query parameters of r; the router runs it before every handler.
func checkQuery(r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	return checkValues(r.URL.Query())
}

// checkValues checks form fields or query parameters: text names and values, each name once.
// Names are echoed (cut short) only when they are valid text; values never are.
func checkValues(values url.Values) error {
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	slices.Sort(names) // the same request always gets the same detail
	for _, k := range names {
		if !validText(k) {
			return badText("a parameter name must be text without NUL characters (UTF-8)")
		}
		for _, v := range values[k] {
			if !validText(v) {
				return badText("parameter %q must be text without NUL characters (UTF-8)", clean(k, 60))
			}
		}
		if len(values[k]) > 1 {
			return duplicate("parameter %q is repeated: send it once", clean(k, 60))
		}
	}
	return nil
}

// decodeStrict is the pure part of decodeJSON (fuzzed by FuzzDecodeRequest): it returns
// client-safe messages only.
func decodeStrict(body []byte, v any) error {
	if !utf8.Valid(body) {
		return badText("request body is not valid UTF-8")
	}
	if err := checkJSONText(body); err != nil {
		return err
	}
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

// maxJSONDepth is encoding/json's own nesting limit: deeper input is left to the decoder, which
// refuses it, so the walk below never holds more frames than that.
const maxJSONDepth = 10000

// jsonFrame is one open object or array of the walk.
type jsonFrame struct {
	object  bool
	wantKey bool                // in an object: the next string is a key
	key     string              // the last key read here (or, in an array, the enclosing one)
	keys    map[string]struct{} // the keys seen, case-folded as encoding/json matches them
}

// checkJSONText walks the first JSON value of body (valid UTF-8) and refuses what encoding/json
// lets through: a key given twice in one object (ignoring case, as fields are matched), and a
// NUL character in a key or a string value. Syntax errors end the walk without a verdict: the
// decoder reports them with its own messages.
func checkJSONText(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []jsonFrame
	for {
		tok, err := dec.Token()
		if err != nil || len(stack) > maxJSONDepth {
			return nil
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				f := jsonFrame{object: t == '{', wantKey: t == '{'}
				if top != nil {
					f.key = top.key
				}
				stack = append(stack, f)
				continue
			default: // '}' or ']': the value of the enclosing frame is complete
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.object && top.wantKey {
				if strings.ContainsRune(t, 0) {
					return badText("a field name holds a NUL character")
				}
				folded := foldKey(t)
				if _, seen := top.keys[folded]; seen {
					return duplicate("duplicate field %q in the request body: send each field once", clean(t, 60))
				}
				if top.keys == nil {
					top.keys = map[string]struct{}{}
				}
				top.keys[folded] = struct{}{}
				top.key, top.wantKey = t, false
				continue
			}
			if strings.ContainsRune(t, 0) {
				name := "value"
				if top != nil && top.key != "" {
					name = top.key
				}
				return badText("field %q must be text without NUL characters", clean(name, 60))
			}
		}
		if len(stack) == 0 {
			return nil // the first value is complete; trailing data is the decoder's to refuse
		}
		if top := &stack[len(stack)-1]; top.object {
			top.wantKey = true
		}
	}
}

// foldKey maps a key to one representative of its case-folding class (the smallest rune of each
// rune's orbit), so keys encoding/json would match to the same field compare equal.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
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
