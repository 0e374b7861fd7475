package roster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDayOffRequestsAreChecked(t *testing.T) {
	for _, c := range []struct {
		name string
		r    DayOffRequest
		says string
	}{
		{"an unknown person", DayOffRequest{PersonID: "nobody", Date: Date{2026, 7, 3}, Weight: 1}, "unknown person"},
		{"a faculty member", DayOffRequest{PersonID: "f1", Date: Date{2026, 7, 3}, Weight: 1}, ""},
		{"a learner", DayOffRequest{PersonID: "s1", Date: Date{2026, 7, 3}, Weight: 1}, "learner"},
		{"the day before the range", DayOffRequest{PersonID: "r1", Date: Date{2026, 7, 1}, Weight: 1}, "outside"},
		{"the day after", DayOffRequest{PersonID: "r1", Date: Date{2026, 7, 30}, Weight: 1}, "outside"},
		{"weight 0", DayOffRequest{PersonID: "r1", Date: Date{2026, 7, 3}, Weight: 0}, "positive"},
		{"a negative weight", DayOffRequest{PersonID: "r1", Date: Date{2026, 7, 3}, Weight: -2}, "positive"},
		{"the first day", DayOffRequest{PersonID: "r1", Date: Date{2026, 7, 2}, Weight: 1}, ""},
		{"the last day", DayOffRequest{PersonID: "r1", Date: Date{2026, 7, 29}, Weight: 0.5}, ""},
	} {
		p := plantProgram()
		p.People = append(p.People, Person{ID: "s1", Type: Learner})
		p.DayOffRequests = []DayOffRequest{c.r}
		_, err := Solve(context.Background(), p, Options{Seed: 1, MaxIterations: 10, TimeBudget: time.Second})
		if (err == nil) != (c.says == "") || (err != nil && !strings.Contains(err.Error(), c.says)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.says)
		}
	}
}

// A resident who asks for a day off gets it when others can cover: on a generated block, the
// resident works the date without the request and is free with it, and the run says so.
func TestSolverHonoursDayOffRequests(t *testing.T) {
	from := Date{2026, time.July, 2}
	gen := func() *Problem {
		p, err := GenerateProgram(ProgramConfig{Residents: 18, Faculty: 12, From: from, To: from.AddDays(27), AbsenceRate: 0.05, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	day := from.AddDays(12) // a Tuesday
	busy := func(as []Assignment, who string) int {
		n := 0
		for _, a := range as {
			if a.PersonID == who && a.Slot.Date == day {
				n++
			}
		}
		return n
	}
	base, err := Solve(context.Background(), gen(), Options{Seed: 1, MaxIterations: 200_000, TimeBudget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var who string
	for _, x := range gen().People {
		if x.Type == Resident && busy(base.Assignments, x.ID) > 0 {
			who = x.ID
			break
		}
	}
	if who == "" {
		t.Fatal("nobody works the date without requests")
	}
	p := gen()
	p.DayOffRequests = []DayOffRequest{{PersonID: who, Date: day, Weight: 10}}
	res, err := Solve(context.Background(), p, Options{Seed: 1, MaxIterations: 200_000, TimeBudget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := Validate(p, res.Assignments)
	if err != nil {
		t.Fatal(err)
	}
	if hard := hardOnly(vs); len(hard) > 0 || res.Stats.Shortfall != base.Stats.Shortfall {
		t.Fatalf("with the request: %d hard violations, shortfall %d (was %d)", len(hard), res.Stats.Shortfall, base.Stats.Shortfall)
	}
	out := ExplainDayOffRequests(p, res.Assignments)
	if busy(res.Assignments, who) != 0 || len(out) != 1 || !out[0].Honoured {
		t.Fatalf("%s asked for %s off: %d half-days that day, outcome %+v", who, day, busy(res.Assignments, who), out)
	}
	// Judged the other way: the schedule without the request does not honour it, and says why.
	if o := ExplainDayOffRequests(p, base.Assignments); o[0].Honoured || o[0].Sessions == 0 || o[0].Why == "" {
		t.Fatalf("the schedule without the request: %+v", o)
	}
}

// A faculty member's day-off request steers who supervises: with two faculty alike, the one who
// asked is free that day; when the other is away too, they supervise anyway and the run says
// why.
func TestFacultyDayOffRequestsChooseTheSupervisor(t *testing.T) {
	from := Date{2026, time.July, 6} // a Monday
	day := from.AddDays(2)
	program := func(otherAway bool) *Problem {
		p := &Problem{From: from, To: from.AddDays(4), Location: time.UTC, Limits: plantProgram().Limits, Weights: DefaultWeights()}
		p.People = []Person{{ID: "r1", Type: Resident, PGY: 1}, {ID: "r2", Type: Resident, PGY: 2}, {ID: "f1", Type: Faculty}, {ID: "f2", Type: Faculty}}
		p.Templates = []Template{{ID: "clinic", Activity: Clinic, HoursPerSession: 4, MinResidents: 2, MaxResidents: 2, SupervisionRequired: true}}
		if otherAway {
			p.Absences = []Absence{{PersonID: "f2", Start: day, End: day}}
		}
		return p
	}
	held := func(as []Assignment, id string, d Date) int {
		n := 0
		for _, a := range as {
			if a.PersonID == id && a.Slot.Date == d {
				n++
			}
		}
		return n
	}
	// Without a request f1 supervises on the day (f1 comes first among equals).
	base, err := Solve(context.Background(), program(false), Options{Seed: 1, TimeBudget: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if held(base.Assignments, "f1", day) == 0 {
		t.Fatalf("without a request f1 is free on %s already; the test would prove nothing: %+v", day, base.Assignments)
	}
	for _, c := range []struct {
		otherAway bool
		honoured  bool
		why       string
	}{{false, true, ""}, {true, false, "supervision or a faculty shift needed them"}} {
		p := program(c.otherAway)
		p.DayOffRequests = []DayOffRequest{{PersonID: "f1", Date: day, Weight: 5}}
		res := solveCompliant(t, fmt.Sprintf("f2 away %v", c.otherAway), p, Options{Seed: 1, TimeBudget: 5 * time.Second})
		out := ExplainDayOffRequests(p, res.Assignments)
		if len(out) != 1 || out[0].Honoured != c.honoured || (held(res.Assignments, "f1", day) == 0) != c.honoured || !strings.Contains(out[0].Why, c.why) {
			t.Fatalf("f2 away %v: %+v, f1 holds %d half-days that day", c.otherAway, out, held(res.Assignments, "f1", day))
		}
	}
}
