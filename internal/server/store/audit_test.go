package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func auditRows(t *testing.T, s *Store, at time.Time, actions ...string) {
	t.Helper()
	for i, a := range actions {
		r := AuditRow{Seq: int64(i + 1), At: at.Add(time.Duration(i) * time.Minute), Actor: fmt.Sprintf("actor%d", i%2),
			Action: a, Target: "t", Details: "{}", PrevHash: []byte{byte(i)}, Hash: []byte{byte(i + 1)}}
		if err := s.InsertAuditEntry(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func seqs(rows []AuditRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.Seq
	}
	return out
}

// The list filters by actor, by action prefix (LIKE's wildcards taken literally) and by time,
// newest first, one page at a time, with the total of all matches.
func TestAuditListFiltersNewestFirstAndPages(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	auditRows(t, s, t0, "auth.login.failed", "auth.login.succeeded", "authxlogin", "auth_login", "user.created")
	for name, c := range map[string]struct {
		f     AuditFilter
		want  string
		total int
	}{
		"everything, first page":        {AuditFilter{Page: 1, PageSize: 2}, "[5 4]", 5},
		"everything, second page":       {AuditFilter{Page: 2, PageSize: 2}, "[3 2]", 5},
		"an action prefix":              {AuditFilter{Action: "auth.login", Page: 1, PageSize: 10}, "[2 1]", 2},
		"an underscore is no wildcard":  {AuditFilter{Action: "auth_", Page: 1, PageSize: 10}, "[4]", 1},
		"a percent sign is no wildcard": {AuditFilter{Action: "auth%", Page: 1, PageSize: 10}, "[]", 0},
		"an actor":                      {AuditFilter{Actor: "actor1", Page: 1, PageSize: 10}, "[4 2]", 2},
		"since is inclusive, until not": {AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute), Page: 1, PageSize: 10}, "[3 2]", 2},
	} {
		rows, total, err := s.ListAuditEntries(ctx, c.f)
		if got := fmt.Sprint(seqs(rows)); err != nil || got != c.want || total != c.total {
			t.Errorf("%s: %s of %d (%v), want %s of %d", name, got, total, err, c.want, c.total)
		}
	}
}

// Pruning keeps the newest entry whatever its age, and the anchor moves with each prune.
func TestAuditPruneAnchorKeepsTheHead(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if _, _, ok, err := s.AuditHead(ctx); ok || err != nil {
		t.Fatalf("an empty log has a head (%v)", err)
	}
	if _, _, ok, err := s.AuditAnchor(ctx); ok || err != nil {
		t.Fatalf("a log never pruned has an anchor (%v)", err)
	}
	auditRows(t, s, t0, "a", "b", "c")
	seq, _, ok, err := s.AuditPruneAnchor(ctx, t0.Add(time.Hour))
	if err != nil || !ok || seq != 2 {
		t.Fatalf("prune anchor %d %v (%v), want 2: never the newest entry", seq, ok, err)
	}
	if _, _, ok, err := s.AuditPruneAnchor(ctx, t0); ok || err != nil {
		t.Fatalf("nothing is older than the first entry, yet an anchor (%v)", err)
	}
	if n, err := s.DeleteAuditThrough(ctx, seq); err != nil || n != 2 {
		t.Fatalf("deleted %d (%v), want 2", n, err)
	}
	for _, h := range []byte{1, 2} {
		if err := s.SetAuditAnchor(ctx, seq+int64(h), []byte{h}); err != nil {
			t.Fatal(err)
		}
	}
	if a, h, ok, err := s.AuditAnchor(ctx); err != nil || !ok || a != 4 || h[0] != 2 {
		t.Fatalf("anchor %d %v %v (%v), want the last one set (4)", a, h, ok, err)
	}
	if head, _, ok, err := s.AuditHead(ctx); err != nil || !ok || head != 3 {
		t.Fatalf("head %d %v (%v), want 3", head, ok, err)
	}
}
