package roster

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Directory resolves the ids an assignment names.
type Directory struct {
	People    map[string]Person
	Templates map[string]Template
}

// NewDirectory indexes people and templates by id.
func NewDirectory(people []Person, templates []Template) Directory {
	d := Directory{People: map[string]Person{}, Templates: map[string]Template{}}
	for _, p := range people {
		d.People[p.ID] = p
	}
	for _, t := range templates {
		d.Templates[t.ID] = t
	}
	return d
}

func sortAssignments(as []Assignment) []Assignment {
	out := slices.Clone(as)
	slices.SortFunc(out, func(a, b Assignment) int {
		if c := a.Slot.Date.Sub(b.Slot.Date); c != 0 {
			return c
		}
		if c := strings.Compare(string(a.Slot.Half), string(b.Slot.Half)); c != 0 {
			return c
		}
		return strings.Compare(a.PersonID, b.PersonID)
	})
	return out
}

// CSVSafe keeps a spreadsheet from reading a cell as a formula (CSV injection): a value that
// starts with =, +, -, @, tab or carriage return gets a leading apostrophe.
func CSVSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSV writes assignments as CSV, one row per assignment, sorted by day, half and person.
func WriteCSV(w io.Writer, as []Assignment, dir Directory) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"date", "time_of_day", "person_id", "person_name", "person_type", "pgy_level",
		"rotation_template_id", "rotation_template_name", "activity_type", "hours", "locked"})
	for _, a := range sortAssignments(as) {
		p, t := dir.People[a.PersonID], dir.Templates[a.TemplateID]
		pgy := ""
		if p.Type == Resident {
			pgy = strconv.Itoa(p.PGY)
		}
		_ = cw.Write([]string{a.Slot.Date.String(), string(a.Slot.Half), CSVSafe(a.PersonID), CSVSafe(p.Name), string(p.Type), pgy,
			CSVSafe(a.TemplateID), CSVSafe(t.Name), string(t.Activity), strconv.FormatFloat(t.HoursPerSession, 'f', -1, 64), strconv.FormatBool(a.Locked)})
	}
	cw.Flush()
	return cw.Error()
}

// ICalOptions name a person's calendar feed.
type ICalOptions struct {
	// Name is the calendar's display name.
	Name string
	// Host makes event UIDs globally unique (RFC 5545 §3.8.4.7), such as the API's host name.
	Host string
	// Location is the program's time zone; times are written in UTC.
	Location *time.Location
	// Now stamps the events (DTSTAMP).
	Now time.Time
}

// WriteICal writes one person's assignments as an iCalendar feed (RFC 5545): one event per
// session with a duty period, in UTC, lines folded at 75 octets and CRLF-terminated.
func WriteICal(w io.Writer, personID string, as []Assignment, dir Directory, o ICalOptions) error {
	if o.Location == nil {
		o.Location = time.UTC
	}
	bw := bufio.NewWriter(w)
	line := func(s string) { writeFolded(bw, s) }
	stamp := o.Now.UTC().Format("20060102T150405Z")
	line("BEGIN:VCALENDAR")
	line("VERSION:2.0")
	line("PRODID:-//rsched//residency schedule//EN")
	line("CALSCALE:GREGORIAN")
	line("METHOD:PUBLISH")
	line("X-WR-CALNAME:" + icalText(o.Name))
	for _, a := range sortAssignments(as) {
		if a.PersonID != personID {
			continue
		}
		t, ok := dir.Templates[a.TemplateID]
		if !ok {
			continue
		}
		d, ok := t.Duty(a.Slot, o.Location)
		if !ok {
			continue
		}
		line("BEGIN:VEVENT")
		line(fmt.Sprintf("UID:%s-%s-%s@%s", icalText(personID), a.Slot.Date.String(), a.Slot.Half, icalText(o.Host)))
		line("DTSTAMP:" + stamp)
		line("DTSTART:" + d.Start.UTC().Format("20060102T150405Z"))
		line("DTEND:" + d.End.UTC().Format("20060102T150405Z"))
		line("SUMMARY:" + icalText(t.Name))
		line("CATEGORIES:" + icalText(string(t.Activity)))
		line("END:VEVENT")
	}
	line("END:VCALENDAR")
	return bw.Flush()
}

// icalText escapes a TEXT value (RFC 5545 §3.3.11).
func icalText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)
	return r.Replace(s)
}

// writeFolded writes one content line, folded so no physical line exceeds 75 octets (a fold is
// CRLF and a space, never inside a UTF-8 sequence).
func writeFolded(w *bufio.Writer, s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a multi-byte character
			cut--
		}
		w.WriteString(s[:cut])
		w.WriteString("\r\n ")
		s = s[cut:]
		limit = 74 // the leading space counts
	}
	w.WriteString(s)
	w.WriteString("\r\n")
}
