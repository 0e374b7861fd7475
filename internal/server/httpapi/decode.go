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
	"strings"
	"unicode"
	"unicode/utf8"
)

// The one decode path: JSON bodies (decodeJSON), form fields (decodeForm) and query parameters
// (checkQuery, run by the router before every handler) are checked the same way before any
// value is used. Text must be UTF-8 without NUL characters (PostgreSQL's text refuses both, and
// encoding/json would silently turn invalid UTF-8 into U+FFFD): a 422, like any other field
// rule. A name given twice is a 400: encoding/json keeps the last of two equal keys (and matches
// keys to fields ignoring case), url.Values.Get the first, so the two readers of one request
// could see different values.

func badText(format string, a ...any) error {
	return &apiError{status: http.StatusUnprocessableEntity, detail: fmt.Sprintf(format, a...)}
}

func duplicate(format string, a ...any) error {
	return &apiError{status: http.StatusBadRequest, detail: fmt.Sprintf(format, a...)}
}

// decodeJSON reads exactly one JSON object into v. Unknown fields, trailing data, a wrong
// content type, bodies over the limit, names given twice, NUL characters and invalid UTF-8 are
// refused with a detail the client can act on.
func decodeJSON(r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errStatus(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errStatus(http.StatusRequestEntityTooLarge, "request body too large")
		}
		return errStatus(http.StatusBadRequest, "request body could not be read")
	}
	if err := decodeStrict(body, v); err != nil {
		var api *apiError
		if errors.As(err, &api) {
			return api
		}
		// The decoder's own messages (unknown fields, wrong types, broken JSON) are 422s.
		return errStatus(http.StatusUnprocessableEntity, err.Error())
	}
	return nil
}

// decodeForm parses an application/x-www-form-urlencoded body and checks every field like a
// JSON body's: the caller reads r.PostForm.
func decodeForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errStatus(http.StatusUnprocessableEntity, "the form could not be read")
	}
	return checkValues(r.PostForm)
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
	var walk jsonWalk
	for {
		tok, err := dec.Token()
		if err != nil || len(walk.stack) > maxJSONDepth {
			return nil
		}
		if done, err := walk.step(tok); done || err != nil {
			return err
		}
	}
}

// jsonWalk is the open objects and arrays of checkJSONText's walk, innermost last.
type jsonWalk struct{ stack []jsonFrame }

func (w *jsonWalk) top() *jsonFrame {
	if len(w.stack) == 0 {
		return nil
	}
	return &w.stack[len(w.stack)-1]
}

// step takes one token; done once the first value is complete (trailing data is the decoder's
// to refuse).
func (w *jsonWalk) step(tok json.Token) (done bool, err error) {
	top := w.top()
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' || t == '[' {
			f := jsonFrame{object: t == '{', wantKey: t == '{'}
			if top != nil {
				f.key = top.key
			}
			w.stack = append(w.stack, f)
			return false, nil
		}
		w.stack = w.stack[:len(w.stack)-1] // '}' or ']'
	case string:
		if top != nil && top.object && top.wantKey {
			return false, top.addKey(t)
		}
		if strings.ContainsRune(t, 0) {
			return false, nulValue(top)
		}
	}
	return w.valueDone(), nil
}

// valueDone notes that a value ended: the enclosing object expects a key next. It says whether
// that value was the top-level one.
func (w *jsonWalk) valueDone() bool {
	top := w.top()
	if top == nil {
		return true
	}
	if top.object {
		top.wantKey = true
	}
	return false
}

// addKey takes key k of the object f: no NUL, and not seen before in f (case-folded).
func (f *jsonFrame) addKey(k string) error {
	if strings.ContainsRune(k, 0) {
		return badText("a field name holds a NUL character")
	}
	folded := foldKey(k)
	if _, seen := f.keys[folded]; seen {
		return duplicate("duplicate field %q in the request body: send each field once", clean(k, 60))
	}
	if f.keys == nil {
		f.keys = map[string]struct{}{}
	}
	f.keys[folded] = struct{}{}
	f.key, f.wantKey = k, false
	return nil
}

// nulValue refuses a string value holding a NUL, naming the field it belongs to (f's last key).
func nulValue(f *jsonFrame) error {
	name := "value"
	if f != nil && f.key != "" {
		name = f.key
	}
	return badText("field %q must be text without NUL characters", clean(name, 60))
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
