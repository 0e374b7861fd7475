package roster

import (
	"context"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

func TestMinFacultyBoundaries(t *testing.T) {
	for _, c := range []struct {
		n  int
		ok bool
	}{{-1, false}, {0, true}, {1, true}, {MaxFacultyPerTemplate, true}, {MaxFacultyPerTemplate + 1, false}} {
		tp := Template{ID: "att", Activity: Inpatient, HoursPerSession: 6, MaxResidents: 2, MinFaculty: c.n}
		if err := tp.Validate(); (err == nil) != c.ok {
			t.Errorf("min_faculty %d: %v", c.n, err)
		}
	}
}

// Planted, on one Monday: a faculty shift left short is soft faculty_coverage (one attending is
// enough), and a faculty member on two overlapping sessions is overlapping_sessions.
func TestValidatorJudgesFacultyShifts(t *testing.T) {
	type want struct {
		rule   acgme.Rule
		person string
	}
	day := func(p *Problem, h Half, who, tmpl string) Assignment {
		return Assignment{Slot: Slot{p.From, h}, PersonID: who, TemplateID: tmpl}
	}
	for _, c := range []struct {
		name string
		as   func(p *Problem) []Assignment
		want []want
	}{
		{"a ward day with its attending", func(p *Problem) []Assignment {
			return []Assignment{day(p, AM, "r2", "ward"), day(p, AM, "f1", "ward"), day(p, PM, "f1", "ward")}
		}, nil},
		{"the afternoon without", func(p *Problem) []Assignment {
			return []Assignment{day(p, AM, "r2", "ward"), day(p, AM, "f1", "ward")}
		}, []want{{RuleFacultyCoverage, ""}}},
		{"an attending on a day shift and an afternoon clinic", func(p *Problem) []Assignment {
			return []Assignment{day(p, AM, "f2", "day"), day(p, PM, "f2", "clinic"), day(p, AM, "f1", "ward"), day(p, PM, "f1", "ward")}
		}, []want{{acgme.RuleOverlap, "f2"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := shiftProgram()
			p.Templates[0].MinFaculty = 1 // the ward needs an attending
			p.From = p.From.AddDays(4)
			p.To = p.From
			vs, err := Validate(p, c.as(p))
			if err != nil {
				t.Fatal(err)
			}
			got := map[want]int{}
			for _, v := range vs {
				got[want{v.Rule, v.PersonID}]++
			}
			for _, w := range c.want {
				if got[w] != 1 {
					t.Errorf("planted %v found %d times in %+v", w, got[w], vs)
				}
				delete(got, w)
			}
			if len(got) > 0 {
				t.Errorf("found more than was planted: %v in %+v", got, vs)
			}
		})
	}
}

// The solver gives the wards an attending in every half-day they run, from the faculty the
// residents' supervision leaves free, mostly the same one from one day to the next, and its
// schedules pass the validator with no faculty member in two places at once.
func TestSolverStaffsFacultyShifts(t *testing.T) {
	from := Date{2026, time.July, 2}
	for seed := uint64(1); seed <= 3; seed++ {
		p, err := GenerateProgram(ProgramConfig{Residents: 18, Faculty: 12, From: from, To: from.AddDays(27), AbsenceRate: 0.05, Seed: seed, Shifts: seed == 3})
		if err != nil {
			t.Fatal(err)
		}
		p.Templates[0].MinFaculty = 1
		res, err := Solve(context.Background(), p, Options{Seed: seed, TimeBudget: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		vs, err := Validate(p, res.Assignments)
		if err != nil {
			t.Fatal(err)
		}
		short := 0
		for _, v := range vs {
			if v.Rule == RuleFacultyCoverage {
				short++
			}
		}
		if hard := hardOnly(vs); len(hard) > 0 {
			t.Fatalf("seed %d: %+v", seed, hard[0])
		}
		faculty := map[string]bool{}
		for _, x := range p.People {
			faculty[x.ID] = x.Type == Faculty
		}
		attending := map[Slot]string{}
		for _, a := range res.Assignments {
			if a.TemplateID == p.Templates[0].ID && faculty[a.PersonID] {
				attending[a.Slot] = a.PersonID
			}
		}
		changes, days := 0, 0
		for d := from.AddDays(1); !p.To.Before(d); d = d.AddDays(1) {
			for _, h := range []Half{AM, PM} {
				a, b := attending[Slot{d.AddDays(-1), h}], attending[Slot{d, h}]
				if a != "" && b != "" {
					days++
					if a != b {
						changes++
					}
				}
			}
		}
		if short > 0 || days == 0 || 2*changes > days {
			t.Fatalf("seed %d: %d half-days without an attending; the attending changed %d times over %d consecutive half-day pairs", seed, short, changes, days)
		}
		t.Logf("seed %d (shifts %v): attending on all %d ward half-days, changed %d times in %d consecutive pairs", seed, seed == 3, len(attending), changes, days)
	}
}

// Faculty preferences: among free faculty, the one who likes a template supervises it first,
// and one who dislikes it only when nobody else can; a preference that cannot be honoured says
// why.
func TestFacultyPreferencesChooseWhoSupervises(t *testing.T) {
	from := Date{2026, time.July, 2}
	p, err := GenerateProgram(ProgramConfig{Residents: 12, Faculty: 8, From: from, To: from.AddDays(13), Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	p.Templates[0].MinFaculty = 1
	p.Preferences = []Preference{{PersonID: "f001", TemplateID: "clinic", Weight: 5}, {PersonID: "f002", TemplateID: "clinic", Weight: -5},
		{PersonID: "f003", TemplateID: "didactics", Weight: 3}}
	res, err := Solve(context.Background(), p, Options{Seed: 1, TimeBudget: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	on := map[string]int{}
	for _, a := range res.Assignments {
		if a.TemplateID == "clinic" {
			on[a.PersonID]++
		}
	}
	if on["f001"] == 0 || on["f001"] <= on["f002"] {
		t.Fatalf("clinic half-days: f001 (likes it) %d, f002 (dislikes it) %d", on["f001"], on["f002"])
	}
	outcomes := ExplainPreferences(p, res.Assignments)
	for _, o := range outcomes {
		if o.PersonID == "f003" && (o.Honoured || o.Why == "") {
			t.Fatalf("f003's wish for didactics (no faculty there): %+v", o)
		}
	}
	t.Logf("clinic half-days: f001 %d, f002 %d", on["f001"], on["f002"])
}
