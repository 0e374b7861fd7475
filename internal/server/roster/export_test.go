package roster

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func exportFixture() ([]Assignment, Directory) {
	d := Date{2026, time.November, 1} // 25 hours in Chicago
	people := []Person{{ID: "r1", Name: "=HYPERLINK(\"x\")", Type: Resident, PGY: 1}, {ID: "f1", Name: "Dr. Ő, Ünal; chief", Type: Faculty}}
	tmpl := []Template{
		{ID: "clinic", Name: "Clinic, main; \\ building — a long name that will need folding in the calendar feed", Activity: Clinic, HoursPerSession: 4, MaxResidents: 2},
		{ID: "call", Name: "Night call", Activity: Call, HoursPerSession: 18, MaxResidents: 1, Weekends: true},
	}
	as := []Assignment{
		{Slot: Slot{d.AddDays(1), AM}, PersonID: "r1", TemplateID: "clinic"},
		{Slot: Slot{d, PM}, PersonID: "r1", TemplateID: "call", Locked: true},
		{Slot: Slot{d.AddDays(1), AM}, PersonID: "f1", TemplateID: "clinic"},
	}
	return as, NewDirectory(people, tmpl)
}

func TestCSVExportIsSortedAndSafe(t *testing.T) {
	as, dir := exportFixture()
	var b bytes.Buffer
	if err := WriteCSV(&b, as, dir); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0][0] != "date" {
		t.Fatalf("%v", rows)
	}
	if rows[1][0] != "2026-11-01" || rows[1][1] != "PM" || rows[1][10] != "true" {
		t.Fatalf("first row %v", rows[1])
	}
	// A name that a spreadsheet would run as a formula is defused.
	if rows[1][3] != `'=HYPERLINK("x")` {
		t.Fatalf("formula not defused: %q", rows[1][3])
	}
	if rows[2][2] != "f1" || rows[3][2] != "r1" || rows[2][5] != "" || rows[3][5] != "1" {
		t.Fatalf("rows %v", rows[2:])
	}
}

func TestICalFeedFollowsRFC5545(t *testing.T) {
	as, dir := exportFixture()
	chicago, _ := time.LoadLocation("America/Chicago")
	var b bytes.Buffer
	err := WriteICal(&b, "r1", as, dir, ICalOptions{Name: "R1, PGY-1", Host: "sched.example.org", Location: chicago, Now: time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	raw := b.String()
	if !strings.HasSuffix(raw, "\r\n") || strings.Contains(strings.ReplaceAll(raw, "\r\n", ""), "\n") {
		t.Fatal("lines must end with CRLF and only CRLF")
	}
	for _, l := range strings.Split(strings.TrimSuffix(raw, "\r\n"), "\r\n") {
		if len(l) > 75 || !utf8.ValidString(l) {
			t.Fatalf("line of %d octets or split inside a character: %q", len(l), l)
		}
	}
	unfolded := strings.ReplaceAll(raw, "\r\n ", "")
	for _, want := range []string{
		"X-WR-CALNAME:R1\\, PGY-1\r\n",
		// The call on Nov 1 (CDT ends at 02:00): 13:00 CST is 19:00 UTC, 18 hours later 13:00 UTC.
		"DTSTART:20261101T190000Z\r\nDTEND:20261102T130000Z\r\nSUMMARY:Night call\r\n",
		"SUMMARY:Clinic\\, main\\; \\\\ building — a long name that will need folding in the calendar feed\r\n",
		"UID:r1-2026-11-01-PM@sched.example.org\r\n",
	} {
		if !strings.Contains(unfolded, want) {
			t.Fatalf("feed lacks %q:\n%s", want, unfolded)
		}
	}
	if strings.Count(unfolded, "BEGIN:VEVENT") != 2 || strings.Contains(unfolded, "f1") {
		t.Fatalf("the feed must hold r1's two sessions only:\n%s", unfolded)
	}
}
