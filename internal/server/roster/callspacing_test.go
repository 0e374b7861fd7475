package roster

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCallSpacingBoundaries(t *testing.T) {
	d := Date{2026, time.July, 10}
	cases := []struct {
		name  string
		dates []Date
		n     int
		want  []int // the days apart of each breach
	}{
		{"q4: three days apart breaks it", []Date{d, d.AddDays(3)}, 4, []int{3}},
		{"q4: four days apart keeps it", []Date{d, d.AddDays(4)}, 4, nil},
		{"q4: the exact cycle keeps it", []Date{d, d.AddDays(4), d.AddDays(8), d.AddDays(12)}, 4, nil},
		{"q4: one short pair in a cycle", []Date{d, d.AddDays(4), d.AddDays(7), d.AddDays(11)}, 4, []int{3}},
		{"q2: the next night breaks it", []Date{d, d.AddDays(1)}, 2, []int{1}},
		{"q2: every other night keeps it", []Date{d, d.AddDays(2), d.AddDays(4)}, 2, nil},
		{"two sessions on one day are 0 days apart", []Date{d, d}, 4, []int{0}},
		{"any order", []Date{d.AddDays(5), d, d.AddDays(2)}, 4, []int{2, 3}},
		{"no pattern (0)", []Date{d, d}, 0, nil},
		{"one session", []Date{d}, 4, nil},
		{"a month apart in a q28", []Date{d, d.AddDays(27)}, 28, []int{27}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := CallSpacing(c.dates, c.n)
			if len(got) != len(c.want) {
				t.Fatalf("%+v, want breaches of %v days", got, c.want)
			}
			for k, b := range got {
				if b.Days != c.want[k] || b.Later.Sub(b.Earlier) != b.Days {
					t.Errorf("breach %d: %+v, want %d days apart", k, b, c.want[k])
				}
			}
		})
	}
}

func TestCallSpacingValidation(t *testing.T) {
	for _, c := range []struct {
		t  Template
		ok bool
	}{
		{Template{ID: "c", Activity: Call, HoursPerSession: 18, MaxResidents: 1, EveryNthNight: 4}, true},
		{Template{ID: "c", Activity: HomeCall, HoursPerSession: 12, MaxResidents: 1, EveryNthNight: 2}, true},
		{Template{ID: "c", Activity: BackupCall, HoursPerSession: 12, MaxResidents: 1, EveryNthNight: MaxEveryNthNight}, true},
		{Template{ID: "c", Activity: Call, HoursPerSession: 18, MaxResidents: 1}, true},
		{Template{ID: "c", Activity: Call, HoursPerSession: 18, MaxResidents: 1, EveryNthNight: 1}, false},
		{Template{ID: "c", Activity: Call, HoursPerSession: 18, MaxResidents: 1, EveryNthNight: MaxEveryNthNight + 1}, false},
		{Template{ID: "c", Activity: Call, HoursPerSession: 18, MaxResidents: 1, EveryNthNight: -4}, false},
		{Template{ID: "c", Activity: Clinic, HoursPerSession: 4, MaxResidents: 1, EveryNthNight: 4}, false},
	} {
		if err := c.t.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v, want ok %v", c.t, err, c.ok)
		}
	}
}

// homeCallTeam is n residents sharing a home call every night of 28 days, in the program's
// q4 pattern: four residents can cover it only as an exact four-night cycle.
func homeCallTeam(n int) *Problem {
	from := Date{2026, time.July, 2}
	p := &Problem{From: from, To: from.AddDays(27), Location: time.UTC}
	for k := range n {
		p.People = append(p.People, Person{ID: "r" + string(rune('1'+k)), Type: Resident, PGY: 2})
	}
	p.Templates = []Template{{ID: "home", Activity: HomeCall, HoursPerSession: 12, MinResidents: 1, MaxResidents: 1, Weekends: true, Holidays: true, EveryNthNight: 4}}
	return p
}

// A planted violation: calls three days apart, one inside the range and one in the context
// before it, are reported; four apart are not.
func TestValidateReportsCallSpacing(t *testing.T) {
	p := homeCallTeam(1)
	at := func(day int) Assignment {
		return Assignment{Slot: Slot{p.From.AddDays(day), PM}, PersonID: "r1", TemplateID: "home"}
	}
	cases := []struct {
		name     string
		schedule []Assignment
		context  []Assignment
		want     int
	}{
		{"four nights apart", []Assignment{at(0), at(4), at(8)}, nil, 0},
		{"three nights apart", []Assignment{at(0), at(3)}, nil, 1},
		{"two short pairs", []Assignment{at(0), at(3), at(5)}, nil, 2},
		{"the context before the range", []Assignment{at(1)}, []Assignment{at(-2)}, 1},
		{"the context far enough before", []Assignment{at(1)}, []Assignment{at(-3)}, 0},
		{"the context after the range", []Assignment{at(27)}, []Assignment{at(29)}, 1},
		{"two context sessions alone are not judged", nil, []Assignment{at(-5), at(-4)}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := homeCallTeam(1)
			p.Fixed = c.context
			vs, err := Validate(p, c.schedule)
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, v := range vs {
				if v.Rule == RuleCallSpacing {
					got++
					if !Hard(v.Rule) || v.Limit != 4 || !strings.Contains(v.Message, "q4") {
						t.Errorf("%+v", v)
					}
				}
			}
			if got != c.want {
				t.Fatalf("%d call_spacing violations, want %d: %+v", got, c.want, vs)
			}
		})
	}
}

// The solver keeps the pattern: four residents cover every night as a four-night cycle; three
// can cover at most three nights in four (21 of 28), and the rest is reported short, with the
// pattern as the reason.
func TestSolverKeepsCallSpacing(t *testing.T) {
	for _, c := range []struct{ residents, short int }{{4, 0}, {3, 7}} {
		p := homeCallTeam(c.residents)
		res := solveCompliant(t, fmt.Sprintf("%d residents", c.residents), p, Options{Seed: 1, TimeBudget: time.Minute, MaxIterations: 2_000_000})
		t.Logf("%d residents: shortfall %d (%s, %d iterations)", c.residents, res.Stats.Shortfall, res.Stats.StoppedBy, res.Stats.Iterations)
		if res.Stats.Shortfall != c.short {
			t.Fatalf("%d residents: shortfall %d, want %d", c.residents, res.Stats.Shortfall, c.short)
		}
		if c.short == 0 {
			continue
		}
		sf, err := Explain(p, res.Assignments)
		if err != nil {
			t.Fatal(err)
		}
		if len(sf.Gaps) == 0 || sf.Gaps[0].WouldBreak[RuleCallSpacing] == 0 {
			t.Fatalf("the gaps do not name the pattern: %+v", sf.Gaps)
		}
	}
}

// A repair keeps the pattern: when the only residents who could take a sick resident's home call
// hold it a night before or after, the vacancy stays open and says why; without the pattern one
// of them is chosen.
func TestRepairKeepsCallSpacing(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string // the vacancy's why ("" when filled)
	}{{3, "2 would break call_spacing"}, {0, ""}} {
		p := homeCallTeam(3)
		p.To = p.From.AddDays(6)
		p.Templates[0].EveryNthNight = c.n
		var live []Assignment
		for day, who := range []string{"r1", "r2", "r3", "r1", "r2", "r3", "r1"} {
			live = append(live, Assignment{Slot: Slot{p.From.AddDays(day), PM}, PersonID: who, TemplateID: "home"})
		}
		sick := p.From.AddDays(3)
		plan, err := PlanRepair(p, live, Absence{PersonID: "r1", Start: sick, End: sick})
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Vacancies) != 1 {
			t.Fatalf("q%d: %+v", c.n, plan)
		}
		v := plan.Vacancies[0]
		if c.want == "" {
			if v.Chosen == nil {
				t.Fatalf("without a pattern the home call is not filled: %+v", v)
			}
			continue
		}
		if v.Chosen != nil || !strings.Contains(v.Why, c.want) {
			t.Fatalf("q%d: chosen %+v, why %q, want %q", c.n, v.Chosen, v.Why, c.want)
		}
	}
}
