package roster

import (
	"strings"
	"testing"

	"github.com/rsched/rsched/internal/server/acgme"
)

func findGap(t *testing.T, sf *Shortfall, tmpl string, d Date, h Half) Gap {
	t.Helper()
	for _, g := range sf.Gaps {
		if g.TemplateID == tmpl && g.Date == d && g.Half == h {
			return g
		}
	}
	t.Fatalf("no gap for %s on %s %s in %+v", tmpl, d, h, sf.Gaps)
	return Gap{}
}

func TestExplainNamesWhyEachResidentIsNotOnAGap(t *testing.T) {
	p := plantProgram()
	p.Templates[0].MinResidents = 1 // ward: one resident every half-day, weekends included
	day5 := p.From.AddDays(5)       // a Tuesday
	p.Absences = []Absence{{PersonID: "r2", Start: day5, End: day5}}
	as := []Assignment{
		// r1: an 18-hour call (13-07) and a ward morning: a ward afternoon would make 30 hours
		// of continuous duty.
		at2(p, 4, PM, "r1", "call"), at2(p, 5, AM, "r1", "ward"),
		at2(p, 5, PM, "r3", "procedures"),
	}
	sf, err := Explain(p, as)
	if err != nil {
		t.Fatal(err)
	}
	g := findGap(t, sf, "ward", day5, PM)
	want := Gap{TemplateID: "ward", Date: day5, Half: PM, Missing: 1, Absent: 1, OnOtherTemplates: 1, Free: 1,
		WouldBreak: map[acgme.Rule]int{acgme.RuleContinuousDuty: 1}}
	g.Message, want.Message = "", g.Message
	if g.Missing != want.Missing || g.Absent != want.Absent || g.OnOtherTemplates != want.OnOtherTemplates || g.Free != want.Free ||
		g.NotEligible != 0 || g.Kept != 0 || len(g.WouldBreak) != 1 || g.WouldBreak[acgme.RuleContinuousDuty] != 1 || g.Impossible {
		t.Errorf("gap %+v, want %+v", g, want)
	}
	for _, part := range []string{"ward on " + day5.String() + " PM has 0 of the 1 residents", "1 absent", "1 on other templates", "1 free", "1 would break continuous_duty"} {
		if !strings.Contains(want.Message, part) {
			t.Errorf("message %q lacks %q", want.Message, part)
		}
	}
	// 56 ward half-days, 1 held (day 5 AM): 55 missing, none impossible; the summary by
	// template has every day of the range.
	if sf.Missing != 55 || sf.Impossible != 0 || len(sf.ByTemplate) != 1 || sf.ByTemplate[0].Missing != 55 || len(sf.ByTemplate[0].Days) != 28 || len(sf.Gaps) != 55 {
		t.Errorf("shortfall: missing %d impossible %d by template %+v, %d gaps", sf.Missing, sf.Impossible, sf.ByTemplate, len(sf.Gaps))
	}
}

func TestExplainSaysWhenNoScheduleCanFillAGap(t *testing.T) {
	p := plantProgram()
	p.Templates[3].MinResidents = 2 // procedures: PGY 2 and 3 only (r2, r3, r4), weekdays
	day6 := p.From.AddDays(6)
	p.Absences = []Absence{{PersonID: "r4", Start: day6, End: day6}}
	p.Keep = []string{"r3"}
	sf, err := Explain(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := findGap(t, sf, "procedures", day6, AM)
	// r1 PGY-1 not eligible, r4 absent, r3 kept out of the run: only r2 could ever be placed.
	if g.Missing != 2 || g.NotEligible != 1 || g.Absent != 1 || g.Kept != 1 || g.Free != 1 || !g.Impossible ||
		!strings.Contains(g.Message, "no schedule can fill it: only 1 resident(s)") {
		t.Errorf("gap %+v", g)
	}
	// 20 weekdays in the 28 days from a Thursday, two half-days each, two missing each; only
	// day 6's two half-days are impossible (r4 is back the other days).
	if sf.Missing != 2*2*20 || sf.Impossible != 4 || sf.ByTemplate[0].Impossible != 4 {
		t.Errorf("missing %d, impossible %d, by template %+v", sf.Missing, sf.Impossible, sf.ByTemplate)
	}
}

func TestExplainIsNilWhenCoverageIsMet(t *testing.T) {
	p := plantProgram()
	sf, err := Explain(p, nil)
	if err != nil || sf != nil {
		t.Fatalf("%+v %v, want nil: no template has a minimum", sf, err)
	}
}

// A resident just off an overnight call is explained by the post-call day: the ward morning
// after an 18-hour call makes 24 hours, within every ACGME rule, but the morning is post-call.
func TestExplainNamesThePostCallDay(t *testing.T) {
	p := plantProgram()
	p.Templates[0].MinResidents = 1
	day5 := p.From.AddDays(5)
	p.Absences = []Absence{{PersonID: "r2", Start: day5, End: day5}, {PersonID: "r3", Start: day5, End: day5}, {PersonID: "r4", Start: day5, End: day5}}
	sf, err := Explain(p, []Assignment{at2(p, 4, PM, "r1", "call")})
	if err != nil {
		t.Fatal(err)
	}
	if g := findGap(t, sf, "ward", day5, AM); g.Absent != 3 || len(g.WouldBreak) != 1 || g.WouldBreak[RulePostCallDay] != 1 ||
		!strings.Contains(g.Message, "1 would break post_call_day") {
		t.Errorf("gap %+v", g)
	}
}
