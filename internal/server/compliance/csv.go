package compliance

import (
	"encoding/csv"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
	"github.com/rsched/rsched/internal/server/roster"
)

// csvHeader names the CSV's columns. One table holds every record kind, told apart by the first
// column: period and window (a resident's measures), violation (a resident's), rule (the
// program's violations of a rule by person; no person for unattributed ones), holiday and
// override.
var csvHeader = []string{"record", "person_id", "name", "pgy_level", "start", "end", "days", "duty_hours", "weekly_average_hours",
	"days_off", "in_house_calls", "shortest_rest_hours", "longest_continuous_hours", "peak_weekly_average_hours", "holiday_calls",
	"rule", "hard", "value", "limit", "detail"}

// WriteCSV writes the report as CSV (RFC 4180 through encoding/csv); every text cell that a
// spreadsheet would read as a formula is defused (roster.CSVSafe).
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	row := func(m map[string]string) {
		out := make([]string, len(csvHeader))
		for i, k := range csvHeader {
			out[i] = m[k]
		}
		_ = cw.Write(out)
	}
	_ = cw.Write(csvHeader)
	for _, x := range r.Residents {
		who := map[string]string{"person_id": roster.CSVSafe(x.PersonID), "name": roster.CSVSafe(x.Name), "pgy_level": strconv.Itoa(x.PGY)}
		m := summaryCells(who, "period", r.StartDate, r.EndDate, x.Period)
		m["peak_weekly_average_hours"], m["holiday_calls"] = num(x.PeakWeeklyAverage), strconv.Itoa(len(x.HolidayCalls))
		row(m)
		for _, win := range x.Windows {
			row(summaryCells(who, "window", win.StartDate, win.EndDate, win.Summary))
		}
		for _, v := range x.Violations {
			m := maps.Clone(who)
			m["record"], m["start"], m["end"] = "violation", stamp(v.Start), stamp(v.End)
			m["rule"], m["hard"], m["value"], m["limit"] = string(v.Rule), strconv.FormatBool(v.Hard), num(v.Value), num(v.Limit)
			m["detail"] = roster.CSVSafe(v.Message)
			row(m)
		}
	}
	for _, g := range r.Program.ByRule {
		for _, p := range g.By {
			row(map[string]string{"record": "rule", "person_id": roster.CSVSafe(p.PersonID), "name": roster.CSVSafe(p.Name), "rule": string(g.Rule),
				"hard": strconv.FormatBool(g.Hard), "value": strconv.Itoa(p.Count)})
		}
		if g.Unattributed > 0 {
			row(map[string]string{"record": "rule", "rule": string(g.Rule), "hard": strconv.FormatBool(g.Hard), "value": strconv.Itoa(g.Unattributed),
				"detail": "not attributed to a person (a template or half-day)"})
		}
	}
	for _, h := range r.Holidays {
		row(map[string]string{"record": "holiday", "start": h.Date.String(), "end": h.Date.String(), "detail": roster.CSVSafe(h.Name)})
	}
	for _, o := range r.Overrides {
		row(overrideCells(o, r.names))
	}
	cw.Flush()
	return cw.Error()
}

func summaryCells(who map[string]string, record string, from, to roster.Date, s acgme.Summary) map[string]string {
	m := maps.Clone(who)
	m["record"], m["start"], m["end"], m["days"] = record, from.String(), to.String(), strconv.Itoa(s.Days)
	m["duty_hours"], m["weekly_average_hours"], m["days_off"] = num(s.DutyHours), num(s.WeeklyAverage), strconv.Itoa(s.DaysOff)
	m["in_house_calls"], m["longest_continuous_hours"] = strconv.Itoa(s.Calls), num(s.LongestContinuous)
	if s.ShortestRest != nil {
		m["shortest_rest_hours"] = num(*s.ShortestRest)
	}
	return m
}

func overrideCells(o Override, names map[string]string) map[string]string {
	m := map[string]string{"record": "override", "start": stamp(o.At), "rule": roster.CSVSafe(o.Action), "detail": roster.CSVSafe(overrideDetail(o))}
	if o.PersonID != nil {
		m["person_id"], m["name"] = roster.CSVSafe(*o.PersonID), roster.CSVSafe(names[*o.PersonID])
	}
	return m
}

// overrideDetail says who changed what: the actor, the assignment and, while it exists, its day.
func overrideDetail(o Override) string {
	s := "by " + o.Actor + " on " + o.Target
	if o.Range != "" {
		s += " (the publication of " + o.Range + " rolled back)"
	} else if o.Date != nil {
		s += " (" + o.Date.String() + " " + o.Half + ")"
	} else {
		s += " (since deleted)"
	}
	if len(o.Rules) > 0 {
		s += "; broke " + strings.Join(o.Rules, ", ")
	}
	if o.Reason != "" {
		s += "; reason: " + o.Reason
	}
	return s
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
