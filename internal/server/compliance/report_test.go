package compliance

import (
	"bytes"
	"encoding/csv"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ledongthuc/pdf"

	"github.com/rsched/rsched/internal/server/acgme"
	"github.com/rsched/rsched/internal/server/roster"
)

var from = roster.Date{Year: 2026, Month: time.July, Day: 2} // a Thursday

// smallProgram: r1 works two ward mornings each followed by an overnight call (one 48-hour
// period: continuous_duty), the second call on the July 3 holiday, then 8 ward mornings in a
// row (consecutive_duty_days); r2's name would be a spreadsheet formula.
func smallProgram() (*roster.Problem, []roster.Assignment) {
	p := &roster.Problem{From: from, To: from.AddDays(34), Location: time.UTC,
		People: []roster.Person{
			{ID: "r1", Name: "Ada Lovelace", Type: roster.Resident, PGY: 1},
			{ID: "r2", Name: "=HYPERLINK(\"http://x\")", Type: roster.Resident, PGY: 2},
			{ID: "f1", Name: "Dr Faculty", Type: roster.Faculty},
		},
		Templates: []roster.Template{
			{ID: "ward", Name: "Wards", Activity: roster.Inpatient, HoursPerSession: 6, MaxResidents: 4, Weekends: true, Holidays: true},
			{ID: "call", Name: "Call", Activity: roster.Call, HoursPerSession: 18, MaxResidents: 2, Weekends: true, Holidays: true},
		},
		Holidays: []roster.Holiday{{Date: from.AddDays(1), Name: "Independence Day (observed)"}},
	}
	on := func(person, tmpl string, day int, h roster.Half) roster.Assignment {
		return roster.Assignment{Slot: roster.Slot{Date: from.AddDays(day), Half: h}, PersonID: person, TemplateID: tmpl}
	}
	live := []roster.Assignment{
		on("r1", "ward", 0, roster.AM), on("r1", "call", 0, roster.PM), on("r1", "ward", 1, roster.AM), on("r1", "call", 1, roster.PM),
		on("r2", "ward", 3, roster.AM),
	}
	for d := 4; d < 12; d++ {
		live = append(live, on("r1", "ward", d, roster.AM))
	}
	// Context before the range: the rolling windows see it, the report's period does not count it.
	p.Fixed = []roster.Assignment{on("r2", "ward", -3, roster.AM)}
	return p, live
}

func build(t testing.TB, person string) *Report {
	t.Helper()
	p, live := smallProgram()
	r, err := Build(p, live, person, time.Date(2026, 8, 10, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReportMeasuresEachResidentWithTheValidatorsRules(t *testing.T) {
	r := build(t, "")
	if len(r.Residents) != 2 || r.Residents[0].PersonID != "r1" {
		t.Fatalf("residents %+v", r.Residents)
	}
	ada := r.Residents[0]
	// 35 days: a 28-day window and a 7-day one.
	if len(ada.Windows) != 2 || ada.Windows[0].Days != 28 || ada.Windows[1].Days != 7 || ada.Windows[1].EndDate != r.EndDate {
		t.Fatalf("windows %+v", ada.Windows)
	}
	// 2 calls x (6 + 18) + 8 ward mornings x 6 = 96 hours.
	if ada.Period.DutyHours != 96 || ada.Period.Calls != 2 || ada.Period.LongestContinuous != 48 || *ada.Period.ShortestRest != 18 {
		t.Fatalf("period %+v (rest %v)", ada.Period, *ada.Period.ShortestRest)
	}
	if len(ada.HolidayCalls) != 1 || ada.HolidayCalls[0].Name != "Independence Day (observed)" {
		t.Fatalf("holiday calls %+v", ada.HolidayCalls)
	}
	rules := map[acgme.Rule]int{}
	for _, v := range ada.Violations {
		rules[v.Rule]++
	}
	if ada.Compliant || rules[acgme.RuleConsecutiveDays] != 1 || rules[acgme.RuleContinuousDuty] != 1 {
		t.Fatalf("violations %+v", ada.Violations)
	}
	// The program part lists the same violations by rule and person.
	total := 0
	for _, g := range r.Program.ByRule {
		for _, pc := range g.By {
			if pc.PersonID == "r1" {
				total += pc.Count
			}
		}
	}
	if total != len(ada.Violations) || r.Program.Compliant || r.Program.Residents != 2 {
		t.Fatalf("program %+v, r1 has %d", r.Program, len(ada.Violations))
	}
	// r2's context duty before the range is not counted in the period.
	if r.Residents[1].Period.DutyHours != 6 || !r.Residents[1].Compliant {
		t.Fatalf("r2 %+v", r.Residents[1])
	}

	one := build(t, "r2")
	if len(one.Residents) != 1 || one.Residents[0].PersonID != "r2" || one.Program.TotalViolations != 0 {
		t.Fatalf("r2's report %+v", one)
	}
}

func TestCSVIsRFC4180AndDefusesFormulas(t *testing.T) {
	r := build(t, "")
	var buf bytes.Buffer
	if err := WriteCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, row := range rows[1:] {
		kinds[row[0]]++
		if strings.HasPrefix(row[2], "=") {
			t.Fatalf("a formula cell: %q", row)
		}
	}
	if kinds["period"] != 2 || kinds["window"] != 4 || kinds["holiday"] != 1 || kinds["violation"] == 0 || kinds["rule"] == 0 {
		t.Fatalf("records %v", kinds)
	}
	if rows[1][2] != "Ada Lovelace" || rows[len(rows)-1][0] != "holiday" {
		t.Fatalf("first and last rows: %q, %q", rows[1], rows[len(rows)-1])
	}
	defused := false
	for _, row := range rows {
		defused = defused || row[2] == `'=HYPERLINK("http://x")`
	}
	if !defused {
		t.Fatal("the formula name is not defused")
	}
}

// pdfText extracts the text of a PDF with a PDF reader (github.com/ledongthuc/pdf): what a
// reader of the file sees, not what the writer meant to write.
func pdfText(t testing.TB, b []byte) string {
	t.Helper()
	rd, err := pdf.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	txt, err := rd.GetPlainText()
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(txt)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestPDFReadsBackWithResidentsPeriodAndViolations(t *testing.T) {
	r := build(t, "")
	for _, paper := range []string{A4, Letter} {
		var buf bytes.Buffer
		if err := WritePDF(&buf, r, paper); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
			t.Fatalf("not a PDF: %.20q", buf.Bytes())
		}
		text := pdfText(t, buf.Bytes())
		for _, want := range []string{"Duty-hour compliance report", "2026-07-02 to 2026-08-05", "Ada Lovelace (PGY-1)", "=HYPERLINK",
			"consecutive_duty_days", "Independence Day", "Overrides"} {
			if !strings.Contains(text, want) {
				t.Fatalf("%s: the PDF's text lacks %q:\n%s", paper, want, text)
			}
		}
		// The same report is the same file.
		var again bytes.Buffer
		_ = WritePDF(&again, r, paper)
		if !bytes.Equal(buf.Bytes(), again.Bytes()) {
			t.Fatalf("%s: two renderings of one report differ", paper)
		}
	}
}

// Text that tries to end a string and add PDF operators stays text.
func TestPDFTextCannotInjectPDFOperators(t *testing.T) {
	r := build(t, "")
	r.Residents[0].Name = "x) Tj ET BT /F1 99 Tf (pwned\\"
	r.Residents[0].Violations[0].Message = "\x00\x07line\nbreak ) Tj"
	var buf bytes.Buffer
	if err := WritePDF(&buf, r, A4); err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, buf.Bytes())
	if !strings.Contains(text, "x) Tj ET BT /F1 99 Tf (pwned\\") {
		t.Fatalf("the name did not come back as text:\n%s", text)
	}
}
