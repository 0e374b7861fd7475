package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestDecodeRefusesWhatEncodingJSONLetsThrough: encoding/json keeps the last of two equal keys
// (matched ignoring case, as it matches fields), passes NUL characters through and replaces
// invalid UTF-8 with U+FFFD. The one decode path refuses all three before anything is used.
func TestDecodeRefusesWhatEncodingJSONLetsThrough(t *testing.T) {
	type inner struct {
		X string `json:"x"`
	}
	type body struct {
		Role  string  `json:"role"`
		Name  string  `json:"name"`
		Inner *inner  `json:"inner"`
		List  []inner `json:"list"`
		Tags  []string
	}
	for name, c := range map[string]struct {
		body   string
		status int    // 0: accepted
		detail string // a part of the detail
	}{
		"control":                            {`{"role":"resident","name":"A","inner":{"x":"1"},"list":[{"x":"1"},{"x":"1"}]}`, 0, ""},
		"same key in sibling objects":        {`{"inner":{"x":"1"},"list":[{"x":"1"},{"x":"2"}]}`, 0, ""},
		"escaped non-ASCII text":             {`{"name":"Ren\u00e9e \u4e2d"}`, 0, ""},
		"a duplicate key":                    {`{"role":"resident","role":"admin"}`, 400, `duplicate field "role"`},
		"a duplicate key differing in case":  {`{"role":"resident","ROLE":"admin"}`, 400, `duplicate field "ROLE"`},
		"a duplicate key, escaped":           {`{"role":"resident","r\u006fle":"admin"}`, 400, `duplicate field "role"`},
		"a duplicate key in a nested object": {`{"inner":{"x":"1","x":"2"}}`, 400, `duplicate field "x"`},
		"a duplicate key in a list":          {`{"list":[{"x":"1"},{"x":"1","x":"2"}]}`, 400, `duplicate field "x"`},
		"a duplicate unknown key":            {`{"extra":1,"extra":2}`, 400, `duplicate field "extra"`},
		"a NUL in a value":                   {`{"name":"ali\u0000ce"}`, 422, `field "name" must be text without NUL characters`},
		"a NUL in a nested value":            {`{"list":[{"x":"\u0000"}]}`, 422, `field "x" must be text without NUL characters`},
		"a NUL in a list of strings":         {`{"Tags":["a","\u0000"]}`, 422, `field "Tags" must be text without NUL characters`},
		"a NUL in a key":                     {`{"na\u0000me":"x"}`, 422, "a field name holds a NUL character"},
		"invalid UTF-8 in a value":           {"{\"name\":\"ali\xffce\"}", 422, "request body is not valid UTF-8"},
		"invalid UTF-8 in a key":             {"{\"n\xc3\":\"x\"}", 422, "request body is not valid UTF-8"},
		"invalid UTF-8 outside strings":      {"{\"name\":\"x\"}\xff", 422, "request body is not valid UTF-8"},
		// The strictness that was there stays, with the same answers.
		"unknown field":  {`{"extra":true}`, 422, `unknown field "extra"`},
		"trailing data":  {`{"name":"a"} {"name":"b"}`, 422, "exactly one JSON object"},
		"broken JSON":    {`{"name":}`, 422, "not valid JSON"},
		"cut short":      {`{"name":`, 422, "unexpected EOF"},
		"wrong type":     {`{"name":1}`, 422, `field "name" must be a string`},
		"empty body":     {``, 422, "request body is empty"},
		"not an object":  {`[]`, 422, "must be a JSON object"},
		"too deep":       {strings.Repeat(`[`, 20000), 422, "not valid JSON"},
		"deep but valid": {`{"list":[{"x":"a"}],"inner":{"x":"b"}}`, 0, ""},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/x", strings.NewReader(c.body))
			r.Header.Set("Content-Type", "application/json")
			var v body
			err := decodeJSON(r, &v)
			if c.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted as %+v", v)
			}
			rec := httptest.NewRecorder()
			(&server{Options: Options{Log: quiet}}).respond(rec, r, err)
			res := rec.Result()
			if res.StatusCode != c.status {
				t.Errorf("status %d, want %d", res.StatusCode, c.status)
			}
			if d := detail(t, res); !strings.Contains(d, c.detail) {
				t.Errorf("detail %q, want it to hold %q", d, c.detail)
			}
		})
	}
}

// TestFormAndQueryTextIsCheckedLikeJSON: form fields and query parameters go through the same
// checks: a NUL or invalid UTF-8 anywhere in a name or value is a 422, a repeated name a 400
// (url.Values.Get would silently take the first).
func TestFormAndQueryTextIsCheckedLikeJSON(t *testing.T) {
	for name, c := range map[string]struct {
		raw    string
		status int
		detail string
	}{
		"control":                {"username=alice&password=x", 0, ""},
		"percent-encoded text":   {"username=Ren%C3%A9e&q=a%20b", 0, ""},
		"a NUL in a value":       {"username=ali%00ce", 422, `parameter "username" must be text without NUL characters`},
		"invalid UTF-8 in value": {"username=ali%FFce", 422, `parameter "username" must be text without NUL characters`},
		"a NUL in a name":        {"user%00name=x", 422, "a parameter name must be text without NUL characters"},
		"invalid UTF-8 in name":  {"user%FF=x", 422, "a parameter name must be text without NUL characters"},
		"a repeated name":        {"username=alice&username=admin", 400, `parameter "username" is repeated`},
	} {
		t.Run(name, func(t *testing.T) {
			values, err := url.ParseQuery(c.raw)
			if err != nil {
				t.Fatal(err)
			}
			err = checkValues(values)
			if c.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			rec := httptest.NewRecorder()
			(&server{Options: Options{Log: quiet}}).respond(rec, httptest.NewRequest("GET", "/x", nil), err)
			if rec.Code != c.status {
				t.Errorf("status %d, want %d", rec.Code, c.status)
			}
			if d := detail(t, rec.Result()); !strings.Contains(d, c.detail) {
				t.Errorf("detail %q, want it to hold %q", d, c.detail)
			}
		})
	}

	// Through the router: a bad query parameter is refused before the handler runs.
	h := NewHandler(Options{Log: quiet})
	for _, q := range []string{"?x=%00", "?x=%FF", "?x=1&x=2"} {
		res := serve(t, h, "GET", "/api/v1/health/live"+q, nil, nil)
		if res.StatusCode == http.StatusOK {
			t.Errorf("GET /api/v1/health/live%s answered 200", q)
		}
	}
}
