package compliance

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode"

	"codeberg.org/go-pdf/fpdf"
)

// Paper sizes WritePDF prints on.
const (
	A4     = "A4"
	Letter = "Letter"
)

// pdfDoc is a report being laid out: every text goes through put (the library's text
// operators escape it; put maps it to the core fonts' Windows-1252 and drops control characters).
type pdfDoc struct {
	*fpdf.Fpdf
	tr    func(string) string
	width float64 // printable width, mm
}

// WritePDF writes the report as a printable PDF on paper (A4 or Letter): a title and the
// period, the program summary, the holidays, a table of windows and the violations per
// resident, and the overrides.
func WritePDF(w io.Writer, r *Report, paper string) error {
	if paper != Letter {
		paper = A4
	}
	f := fpdf.New("P", "mm", paper, "")
	d := &pdfDoc{Fpdf: f, tr: f.UnicodeTranslatorFromDescriptor("")}
	f.SetMargins(15, 15, 15)
	f.SetAutoPageBreak(true, 15)
	pw, _ := f.GetPageSize()
	d.width = pw - 30
	// Fixed dates and sorted catalogs keep the same report byte for byte the same file.
	f.SetCatalogSort(true)
	f.SetCreationDate(r.GeneratedAt)
	f.SetModificationDate(r.GeneratedAt)
	f.SetTitle(d.put("Duty-hour compliance report "+r.StartDate.String()+" to "+r.EndDate.String()), false)
	f.SetProducer("rsched", false)
	f.AliasNbPages("{nb}")
	f.SetFooterFunc(func() {
		f.SetY(-12)
		f.SetFont("Helvetica", "", 8)
		f.CellFormat(0, 5, d.put(fmt.Sprintf("Compliance report %s to %s - page %d of {nb}", r.StartDate, r.EndDate, f.PageNo())), "", 0, "C", false, 0, "")
	})
	f.AddPage()
	d.header(r)
	d.programSummary(r)
	for _, x := range r.Residents {
		d.resident(x)
	}
	d.overrides(r)
	return f.Output(w)
}

// put makes s printable in a core font: control characters dropped, the rest mapped to
// Windows-1252 (what has no mapping prints as a question mark).
func (d *pdfDoc) put(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return d.tr(s)
}

func (d *pdfDoc) text(style string, size float64, s string) {
	d.SetFont("Helvetica", style, size)
	d.MultiCell(d.width, size*0.5, d.put(s), "", "L", false)
}

func (d *pdfDoc) header(r *Report) {
	d.text("B", 16, "Duty-hour compliance report")
	d.text("", 11, fmt.Sprintf("Period: %s to %s (%s)", r.StartDate, r.EndDate, r.TimeZone))
	d.text("", 9, fmt.Sprintf("Generated %s UTC. Windows of %d days tile the period from its first day; the last ends with the period. "+
		"Limits: %g duty hours a week averaged over %d days, %d day off in 7, in-house call at most every %s night, "+
		"%g hours continuous duty plus %g for transitions, %g hours off between periods (%g after 24 hours).",
		r.GeneratedAt.Format("2006-01-02 15:04"), r.WindowDays, r.Limits.WeeklyHours, r.Limits.WindowDays, r.Limits.DaysOffPerWeek,
		nth(r.Limits.CallEveryNthNight), r.Limits.MaxContinuous.Hours(), r.Limits.Transition.Hours(), r.Limits.MinRest.Hours(),
		r.Limits.MinRestAfterExtended.Hours()))
	d.Ln(2)
}

func (d *pdfDoc) programSummary(r *Report) {
	p := r.Program
	d.text("B", 13, "Program summary")
	verdict := "compliant"
	if !p.Compliant {
		verdict = "NOT compliant"
	}
	d.text("", 10, fmt.Sprintf("%d residents; %s: %d hard violations, %d in all.", p.Residents, verdict, p.HardViolations, p.TotalViolations))
	if len(p.ByRule) > 0 {
		cols := []float64{45, 15, 15, d.width - 75}
		d.row(cols, true, "Rule", "Hard", "Count", "By person")
		for _, g := range p.ByRule {
			var who []string
			for _, pc := range g.By {
				who = append(who, fmt.Sprintf("%s (%d)", pc.Name, pc.Count))
			}
			if g.Unattributed > 0 {
				who = append(who, fmt.Sprintf("templates/half-days (%d)", g.Unattributed))
			}
			d.row(cols, false, string(g.Rule), yesNo(g.Hard), fmt.Sprint(g.Count), strings.Join(who, ", "))
		}
	}
	if len(r.Holidays) > 0 {
		var hs []string
		for _, h := range r.Holidays {
			hs = append(hs, h.Date.String()+" "+h.Name)
		}
		d.text("", 9, "Holidays: "+strings.Join(hs, "; "))
	}
	d.Ln(3)
}

func (d *pdfDoc) resident(x Resident) {
	d.text("B", 12, fmt.Sprintf("%s (PGY-%d)", x.Name, x.PGY))
	s := x.Period
	rest := "none"
	if s.ShortestRest != nil {
		rest = fmt.Sprintf("%g h", *s.ShortestRest)
	}
	d.text("", 9, fmt.Sprintf("Period: %g duty hours (%g a week), %d days off in %d, %d in-house calls (%d on holidays), shortest rest %s, "+
		"longest continuous %g h; worst 28-day average %g h a week. %s.",
		s.DutyHours, s.WeeklyAverage, s.DaysOff, s.Days, s.Calls, len(x.HolidayCalls), rest, s.LongestContinuous, x.PeakWeeklyAverage,
		map[bool]string{true: "Compliant", false: "NOT compliant"}[x.Compliant]))
	cols := []float64{42, 14, 20, 22, 18, 16, 24, d.width - 156}
	d.row(cols, true, "Window", "Days", "Duty h", "Avg h/week", "Days off", "Calls", "Min rest h", "Max cont. h")
	for _, w := range x.Windows {
		rest := "-"
		if w.ShortestRest != nil {
			rest = fmt.Sprint(*w.ShortestRest)
		}
		d.row(cols, false, w.StartDate.String()+" - "+w.EndDate.String(), fmt.Sprint(w.Days), fmt.Sprint(w.DutyHours), fmt.Sprint(w.WeeklyAverage),
			fmt.Sprint(w.DaysOff), fmt.Sprint(w.Calls), rest, fmt.Sprint(w.LongestContinuous))
	}
	for _, v := range x.Violations {
		d.text("", 9, fmt.Sprintf("- %s %s: %s", v.Start.Format("2006-01-02 15:04"), v.Rule, v.Message))
	}
	d.Ln(3)
}

func (d *pdfDoc) overrides(r *Report) {
	d.text("B", 13, "Overrides")
	d.text("", 9, "Source: "+r.Note+".")
	if len(r.Overrides) == 0 {
		d.text("", 10, "None in the period.")
		return
	}
	cols := []float64{28, 28, 32, 50, d.width - 138}
	d.row(cols, true, "When (UTC)", "Who", "Action", "Assignment", "Broke / reason")
	for _, o := range r.Overrides {
		what := o.Target
		if o.Range != "" {
			what = "publication " + o.Range + " rolled back"
		} else if o.Date != nil {
			what = fmt.Sprintf("%s %s %s", r.names[deref(o.PersonID)], o.Date, o.Half)
		} else {
			what += " (since deleted)"
		}
		d.row(cols, false, o.At.UTC().Format("2006-01-02 15:04"), o.Actor, o.Action, what, strings.Join(o.Rules, ", "))
		if o.Reason != "" {
			d.text("", 8, "Override reason: "+o.Reason)
		}
	}
}

// row prints one table row; a cell too wide for its column is cut with an ellipsis.
func (d *pdfDoc) row(cols []float64, head bool, cells ...string) {
	style := ""
	if head {
		style = "B"
	}
	d.SetFont("Helvetica", style, 8)
	for i, c := range cells {
		d.CellFormat(cols[i], 5, d.fit(d.put(c), cols[i]-2), "1", 0, "L", false, 0, "")
	}
	d.Ln(-1)
}

// fit cuts s, put's text, to its longest prefix that fits in w with an ellipsis ("..." alone
// when none does). put's text is the core fonts' single-byte encoding, so every byte is one
// character and a cut point. A prefix's width only grows with its length, so the cut is found by
// a binary search: O(log n) measurements, where trimming a byte at a time took one per byte
// (quadratic in a long cell).
func (d *pdfDoc) fit(s string, w float64) string {
	if d.GetStringWidth(s) <= w {
		return s
	}
	// The shortest prefix that no longer fits is one byte longer than the one kept.
	n := sort.Search(len(s), func(i int) bool { return d.GetStringWidth(s[:i+1]+"...") > w })
	return s[:n] + "..."
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func nth(n int) string {
	switch n {
	case 2:
		return "second"
	case 3:
		return "third"
	}
	return fmt.Sprintf("%dth", n)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
