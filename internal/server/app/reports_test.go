package app

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ledongthuc/pdf"
)

const (
	blockStart = "2026-07-02"
	blockEnd   = "2026-07-29"
)

func residentNamed(t *testing.T, r resp, name string) map[string]any {
	t.Helper()
	for _, x := range r.Body["residents"].([]any) {
		if m := x.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("no resident %q in %.500s", name, r.Raw)
	return nil
}

func pdfPlainText(t *testing.T, b []byte) string {
	t.Helper()
	rd, err := pdf.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	txt, err := rd.GetPlainText()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(txt)
	return string(out)
}

// The compliance report on real PostgreSQL, over a generated week and manual edits after it:
// the planted violation (8 consecutive duty days) and holiday call appear per resident and per
// program, the manual edits are the overrides (from the audit log, with who and when), the same
// report comes as CSV and as a PDF a reader parses, a resident reads only their own, every input
// is checked, and every report read is audited.
func TestComplianceReportJSONCSVPDFScopedAndAudited(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	nurse := e.create(admin, "nurse", "rn")
	res := e.create(admin, "resi", "resident")
	p := e.makeProgram(admin)
	e.call("PATCH", "/api/v1/people/"+p.residents[0], map[string]any{"user_id": res.ID}, req{bearer: coord.Access}).want(t, 200, "link the account")
	e.call("POST", "/api/v1/holidays", map[string]any{"date": "2026-07-20", "name": "Founders' Day"}, req{bearer: coord.Access}).want(t, 201, "a holiday")
	e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5},
		req{bearer: coord.Access}).want(t, 200, "generate a week")
	const reason = "planted: an 8-day run for the compliance report"
	assign := func(person, tmpl, date, half string) {
		e.call("POST", "/api/v1/assignments", map[string]any{"person_id": person, "rotation_template_id": tmpl, "date": date, "time_of_day": half,
			"override_reason": reason}, req{bearer: coord.Access}).want(t, 201, "a manual assignment")
	}
	for d := 9; d <= 16; d++ { // Resident 2 on the wards eight mornings in a row
		assign(p.residents[1], p.ward, fmt.Sprintf("2026-07-%02d", d), "AM")
	}
	assign(p.residents[2], p.call, "2026-07-20", "PM") // Resident 3's call on the holiday

	q := "/api/v1/reports/compliance?start_date=" + blockStart + "&end_date=" + blockEnd
	r := e.call("GET", q, nil, req{bearer: coord.Access}).want(t, 200, "the program's report")
	if len(r.Body["residents"].([]any)) != 6 || r.str("start_date") != blockStart {
		t.Fatalf("report %.600s", r.Raw)
	}
	r2 := residentNamed(t, r, "Resident 2")
	found := false
	for _, v := range r2["violations"].([]any) {
		found = found || v.(map[string]any)["type"] == "consecutive_duty_days"
	}
	if !found || r2["compliant"] != false || len(r2["windows"].([]any)) != 1 {
		t.Fatalf("Resident 2: %v", r2)
	}
	w := r2["windows"].([]any)[0].(map[string]any)
	if w["days"].(float64) != 28 || w["duty_hours"].(float64) < 48 {
		t.Fatalf("Resident 2's window: %v", w)
	}
	r3 := residentNamed(t, r, "Resident 3")
	if hc := r3["holiday_calls"].([]any); len(hc) != 1 || hc[0].(map[string]any)["name"] != "Founders' Day" {
		t.Fatalf("Resident 3's holiday calls: %v", r3["holiday_calls"])
	}
	byRule := r.Body["program"].(map[string]any)["violations_by_rule"].([]any)
	if !strings.Contains(r.Raw, `"rule":"consecutive_duty_days"`) || len(byRule) == 0 || r.Body["program"].(map[string]any)["compliant"] != false {
		t.Fatalf("program %v", r.Body["program"])
	}
	overrides := r.Body["overrides"].([]any)
	if len(overrides) != 9 {
		t.Fatalf("%d overrides, want the 9 manual assignments: %v", len(overrides), overrides)
	}
	reasons := 0
	for _, o := range overrides {
		m := o.(map[string]any)
		if m["actor"] != "coord" || m["action"] != "assignment.create" || m["date"] == nil || m["at"] == nil {
			t.Fatalf("override %v", m)
		}
		// The 7th and 8th mornings (at least) broke the rule; the audit entries kept why they
		// were made anyway.
		if m["override_reason"] != nil {
			reasons++
			if m["override_reason"] != reason || !strings.Contains(fmt.Sprint(m["rules"]), "consecutive_duty_days") {
				t.Fatalf("override %v", m)
			}
		}
	}
	if reasons < 2 {
		t.Fatalf("%d overrides with a reason, want at least the 2 that broke the rule: %v", reasons, overrides)
	}

	for _, how := range []struct {
		path   string
		header map[string]string
	}{{q + "&format=csv", nil}, {q, map[string]string{"Accept": "text/csv"}}} {
		c := e.call("GET", how.path, nil, req{bearer: coord.Access, header: how.header}).want(t, 200, "the report as CSV")
		if c.Header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(c.Header.Get("Content-Disposition"), "compliance-2026-07-02-2026-07-29.csv") {
			t.Fatalf("CSV headers %v", c.Header)
		}
		rows, err := csv.NewReader(strings.NewReader(c.Raw)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, row := range rows[1:] {
			kinds[row[0]]++
		}
		if rows[0][0] != "record" || kinds["period"] != 6 || kinds["override"] != 9 || kinds["holiday"] != 1 || !strings.Contains(c.Raw, "consecutive_duty_days") {
			t.Fatalf("CSV records %v:\n%.500s", kinds, c.Raw)
		}
	}

	pd := e.call("GET", q+"&format=pdf&paper=letter", nil, req{bearer: coord.Access}).want(t, 200, "the report as PDF")
	if pd.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("PDF headers %v", pd.Header)
	}
	text := pdfPlainText(t, []byte(pd.Raw))
	for _, want := range []string{"2026-07-02 to 2026-07-29", "Resident 2 (PGY-2)", "Resident 6 (PGY-3)", "consecutive_duty_days", "Founders' Day", "coord",
		"Override reason: " + reason} {
		if !strings.Contains(text, want) {
			t.Fatalf("the PDF's text lacks %q:\n%s", want, text)
		}
	}

	// A resident reads their own report only.
	own := e.call("GET", q, nil, req{bearer: res.Access}).want(t, 200, "a resident's own report")
	if rs := own.Body["residents"].([]any); len(rs) != 1 || rs[0].(map[string]any)["name"] != "Resident 1" || own.str("person_id") != p.residents[0] {
		t.Fatalf("the resident's report: %.400s", own.Raw)
	}
	if len(own.Body["overrides"].([]any)) != 0 || strings.Contains(own.Raw, p.residents[1]) {
		t.Fatalf("the resident's report shows others: %.600s", own.Raw)
	}
	e.call("GET", q+"&person_id="+p.residents[0], nil, req{bearer: res.Access}).want(t, 200, "naming themselves")
	if d := e.call("GET", q+"&person_id="+p.residents[1], nil, req{bearer: res.Access}).want(t, 403, "another resident's").detail(); d != "you may read your own compliance report only" {
		t.Fatalf("detail %q", d)
	}
	e.call("GET", q, nil, req{bearer: nurse.Access}).want(t, 403, "a nurse with no person")
	one := e.call("GET", q+"&person_id="+p.residents[1], nil, req{bearer: coord.Access}).want(t, 200, "one resident for the coordinator")
	if len(one.Body["residents"].([]any)) != 1 || len(one.Body["overrides"].([]any)) != 8 {
		t.Fatalf("Resident 2's report: %.400s", one.Raw)
	}

	for _, c := range []struct {
		query  string
		status int
		detail string
	}{
		{"?end_date=" + blockEnd, 422, "start_date is required (YYYY-MM-DD)"},
		{"?start_date=2026-07-02&end_date=2026-02-30", 422, "end_date must be a date (YYYY-MM-DD)"},
		{"?start_date=2026-07-29&end_date=2026-07-02", 422, "end_date is before start_date"},
		{"?start_date=2026-07-01&end_date=2027-08-05", 422, "the range has 401 days; at most 400"},
		{"?start_date=2026-07-02&end_date=2026-07-29&person_id=nope", 422, "person_id must be a UUID"},
		{"?start_date=2026-07-02&end_date=2026-07-29&person_id=" + p.faculty[0], 422, "person_id names a faculty member; compliance reports are per resident"},
		{"?start_date=2026-07-02&end_date=2026-07-29&person_id=00000000-0000-4000-8000-000000000000", 404, "not found"},
		{"?start_date=2026-07-02&end_date=2026-07-29&format=xml", 422, "format must be json, csv or pdf"},
		{"?start_date=2026-07-02&end_date=2026-07-29&format=pdf&paper=a3", 422, "paper must be a4 or letter"},
	} {
		r := e.call("GET", "/api/v1/reports/compliance"+c.query, nil, req{bearer: coord.Access}).want(t, c.status, c.query)
		if r.detail() != c.detail {
			t.Fatalf("%s: detail %q, want %q", c.query, r.detail(), c.detail)
		}
	}

	// Every report served is in the audit log, with its format; refused ones are not.
	a := e.call("GET", "/api/v1/audit?action=report.compliance&page_size=100", nil, req{bearer: admin.Access}).want(t, 200, "audit")
	if a.Body["total"].(float64) != 7 || !strings.Contains(a.Raw, `\"format\":\"pdf\"`) && !strings.Contains(a.Raw, `"format":"pdf"`) {
		t.Fatalf("report audit entries: %.800s", a.Raw)
	}
}
