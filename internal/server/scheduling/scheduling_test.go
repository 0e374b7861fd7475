package scheduling

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
	"github.com/rsched/rsched/internal/server/roster"
)

var (
	d1 = roster.Date{Year: 2026, Month: time.July, Day: 2}
	d2 = roster.Date{Year: 2026, Month: time.July, Day: 29}
	a  = "6f1c1a52-5b1e-4a43-9a43-000000000001"
	b  = "6f1c1a52-5b1e-4a43-9a43-000000000002"
)

// Requests that mean the same hash the same (so an Idempotency-Key retry replays), and any
// difference in meaning hashes differently.
func TestEquivalentRequestsHashTheSame(t *testing.T) {
	s := New(nil, nil, Config{DefaultBudget: 10 * time.Second, MaxBudget: time.Minute})
	norm := func(r GenerateRequest) []byte {
		t.Helper()
		if err := s.normalize(&r); err != nil {
			t.Fatal(err)
		}
		return r.hash()
	}
	base := norm(GenerateRequest{StartDate: d1, EndDate: d2, PersonIDs: []string{a, b}, PGYLevels: []int{1, 2}})
	for name, r := range map[string]GenerateRequest{
		"defaults written out": {StartDate: d1, EndDate: d2, PersonIDs: []string{a, b}, PGYLevels: []int{1, 2}, TimeBudgetSeconds: 10, Seed: 1},
		"ids in another order": {StartDate: d1, EndDate: d2, PersonIDs: []string{b, a, b}, PGYLevels: []int{2, 1}},
		"levels repeated":      {StartDate: d1, EndDate: d2, PersonIDs: []string{a, b}, PGYLevels: []int{1, 2, 2}},
	} {
		if !bytes.Equal(norm(r), base) {
			t.Errorf("%s: hashes differently", name)
		}
	}
	for name, r := range map[string]GenerateRequest{
		"another budget": {StartDate: d1, EndDate: d2, PersonIDs: []string{a, b}, PGYLevels: []int{1, 2}, TimeBudgetSeconds: 11},
		"a draft":        {StartDate: d1, EndDate: d2, PersonIDs: []string{a, b}, PGYLevels: []int{1, 2}, Draft: true},
		"another seed":   {StartDate: d1, EndDate: d2, PersonIDs: []string{a, b}, PGYLevels: []int{1, 2}, Seed: 2},
		"fewer people":   {StartDate: d1, EndDate: d2, PersonIDs: []string{a}, PGYLevels: []int{1, 2}},
		"another range":  {StartDate: d1, EndDate: d2.AddDays(1), PersonIDs: []string{a, b}, PGYLevels: []int{1, 2}},
	} {
		if bytes.Equal(norm(r), base) {
			t.Errorf("%s: hashes the same", name)
		}
	}
}

func TestGenerateRequestsAreChecked(t *testing.T) {
	s := New(nil, nil, Config{DefaultBudget: 10 * time.Second, MaxBudget: time.Minute})
	for _, c := range []struct {
		r    GenerateRequest
		want string
	}{
		{GenerateRequest{EndDate: d2}, "start_date and end_date are required"},
		{GenerateRequest{StartDate: d2, EndDate: d1}, "before start_date"},
		{GenerateRequest{StartDate: d1, EndDate: d1.AddDays(400)}, "at most 400"},
		{GenerateRequest{StartDate: d1, EndDate: d2, TimeBudgetSeconds: 61}, "time_budget_seconds must be from 0.1 to 60"},
		{GenerateRequest{StartDate: d1, EndDate: d2, TimeBudgetSeconds: 0.01}, "time_budget_seconds"},
		{GenerateRequest{StartDate: d1, EndDate: d2, PersonIDs: []string{"r001"}}, "is not a UUID"},
		{GenerateRequest{StartDate: d1, EndDate: d2, PGYLevels: []int{0}}, "pgy_levels"},
		{GenerateRequest{StartDate: d1, EndDate: d2, MaxIterations: -1}, "max_iterations"},
	} {
		err := s.normalize(&c.r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
}

func TestViolationsListHardOnesFirstAndCountThem(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 7, 2, h, 0, 0, 0, time.UTC) }
	list, hard := SortViolations([]acgme.Violation{
		{Rule: roster.RuleCoverage, Start: at(1)},
		{Rule: acgme.RuleWeeklyHours, Start: at(9)},
		{Rule: roster.RuleCapacity, Start: at(3)},
	})
	if hard != 2 || list[0].Rule != roster.RuleCapacity || list[1].Rule != acgme.RuleWeeklyHours || list[2].Hard {
		t.Fatalf("%d hard, list %+v", hard, list)
	}
	many := make([]acgme.Violation, MaxListedViolations+5)
	for i := range many {
		many[i] = acgme.Violation{Rule: acgme.RuleRest}
	}
	if list, hard := SortViolations(many); len(list) != MaxListedViolations || hard != MaxListedViolations+5 {
		t.Fatalf("%d listed, %d counted", len(list), hard)
	}
}
