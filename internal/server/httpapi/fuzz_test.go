package httpapi

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeRequest feeds arbitrary bodies to the strict JSON decoder the handlers use: it must
// never panic, must accept only one JSON object of the declared fields, and its messages must be
// short, valid text that never echoes large parts of the input.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"username": "alice", "password": "x"}`, `{}`, `[]`, `null`, `{"username": 1}`, `{"extra": true}`,
		`{"username": "a"} {"username": "b"}`, `{"username": "a", "Username": "b"}`, `{"username": "\u0000"}`, `{"password": "` + strings.Repeat("a", 100) + `"}`, "\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		err := decodeStrict(body, &v)
		if err == nil {
			return
		}
		msg := err.Error()
		if !utf8.ValidString(msg) {
			t.Fatalf("invalid UTF-8 in message %q", msg)
		}
		if len(msg) > 200+len(body)/2 && len(msg) > 300 {
			t.Fatalf("message of %d bytes for a body of %d", len(msg), len(body))
		}
	})
}

// FuzzCSPReport: the public report sink parses whatever a browser (or anyone) sends.
func FuzzCSPReport(f *testing.F) {
	f.Add([]byte(`{"csp-report": {"blocked-uri": "https://x", "violated-directive": "script-src"}}`))
	f.Add([]byte(`[{"type": "csp-violation", "body": {"blockedURL": "data"}}]`))
	f.Add([]byte(`[{"type": "csp-violation", "body": null}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		reports, err := parseCSPReports(body)
		if err != nil {
			return
		}
		if len(reports) == 0 || len(reports) > 10 {
			t.Fatalf("%d reports", len(reports))
		}
		for _, r := range reports {
			for k, v := range r {
				s := v.(string)
				if len(s) > 256 || !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\n\r") {
					t.Fatalf("field %s not cleaned: %q", k, s)
				}
			}
		}
	})
}
