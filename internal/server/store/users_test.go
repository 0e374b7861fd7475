package store

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/rbac"
)

// A user is inserted, found by id and (case-insensitively) by name, listed by filter, changed,
// locked and anonymised; the registrations' lock says whether users exist.
func TestUsersAreInsertedFoundListedChangedAndAnonymised(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if exists, err := s.AnyUsers(ctx); exists || err != nil {
		t.Fatalf("an empty database has users (%v)", err)
	}
	u, err := s.InsertUser(ctx, NewUser{ID: "6f0c1f9e-8a5b-4c1e-9d7a-2b3c4d5e6f70", Username: "Dr_Jones", Email: "jones@hospital.example",
		Role: rbac.Faculty, PasswordHash: "h0", MustChangePassword: true, At: at})
	if err != nil || u.Username != "Dr_Jones" || !u.MustChangePassword || !u.PasswordChangedAt.Equal(at) || u.IsLocked {
		t.Fatalf("inserted %+v (%v)", u, err)
	}
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		exists, err := s.On(tx).LockRegistrations(ctx)
		if !exists {
			t.Error("the registrations' lock sees no users")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, hash, ok, err := s.UserForLogin(ctx, "dr_jones"); !ok || err != nil || got.ID != u.ID || hash != "h0" {
		t.Fatalf("by name: %+v %q %v (%v)", got, hash, ok, err)
	}
	active := true
	if list, total, err := s.ListUsers(ctx, UserFilter{Role: rbac.Faculty, IsActive: &active, Query: "JON", Page: 1, PageSize: 10}); err != nil || total != 1 || len(list) != 1 {
		t.Fatalf("listed %v, total %d (%v)", list, total, err)
	}
	if list, total, err := s.ListUsers(ctx, UserFilter{Query: "j_n", Page: 1, PageSize: 10}); err != nil || total != 0 || len(list) != 0 {
		t.Fatalf("a LIKE wildcard in the query matched: %v (%v)", list, err)
	}
	role := rbac.Coordinator
	if got, err := s.UpdateUser(ctx, u.ID, UserChange{Role: &role, At: at}); err != nil || got.Role != rbac.Coordinator || got.Email != u.Email {
		t.Fatalf("changed %+v (%v)", got, err)
	}
	if err := s.SetAdminLock(ctx, u.ID, true, at); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.UserByID(ctx, u.ID); !ok || err != nil || !got.IsLocked {
		t.Fatalf("locked %+v %v (%v)", got, ok, err)
	}
	if err := s.AnonymiseUser(ctx, u.ID, "deleted-1", "deleted-1@deleted.invalid", at); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.UserByID(ctx, u.ID); ok || err != nil {
		t.Fatalf("a deleted user is found (%v)", err)
	}
}

// A session's refresh token is found locked with its session, rotated once, and the session
// revoked once; the principal reads the session's state and the revoked access token.
func TestSessionsRotateAndRevoke(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	u, err := s.InsertUser(ctx, NewUser{ID: "6f0c1f9e-8a5b-4c1e-9d7a-2b3c4d5e6f71", Username: "dr_who", Email: "who@hospital.example",
		Role: rbac.Faculty, PasswordHash: "h0", At: at})
	if err != nil {
		t.Fatal(err)
	}
	sid := "0b7e6d2c-1f3a-4e5b-8c9d-0a1b2c3d4e5f"
	if err := s.CreateSession(ctx, NewSession{ID: sid, UserID: u.ID, At: at, ExpiresAt: at.Add(time.Hour), CSRFHash: h32("c")}, h32("r1")); err != nil {
		t.Fatal(err)
	}
	tok, ok, err := s.LockRefreshToken(ctx, h32("r1"))
	if !ok || err != nil || tok.SessionID != sid || tok.UserID != u.ID || tok.UsedAt != nil || !tok.LastUsedAt.Equal(at) {
		t.Fatalf("token %+v %v (%v)", tok, ok, err)
	}
	later := at.Add(time.Minute)
	if err := s.RotateRefreshToken(ctx, h32("r1"), h32("r2"), sid, later); err != nil {
		t.Fatal(err)
	}
	if tok, _, _ := s.LockRefreshToken(ctx, h32("r1")); tok.UsedAt == nil || !tok.LastUsedAt.Equal(later) {
		t.Fatalf("after the rotation: %+v", tok)
	}
	if list, err := s.LiveSessions(ctx, u.ID, later); err != nil || len(list) != 1 || list[0].ID != sid {
		t.Fatalf("live sessions %v (%v)", list, err)
	}
	if err := s.RevokeAccessToken(ctx, "jti-1", later.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, p, ok, err := s.Principal(ctx, mustUUID(t, u.ID), mustUUID(t, sid), "jti-1", later); !ok || err != nil || !p.Live || !p.Revoked {
		t.Fatalf("principal %+v %v (%v)", p, ok, err)
	}
	for i, want := range []bool{true, false} {
		if done, err := s.RevokeSession(ctx, sid, "logout", later); err != nil || done != want {
			t.Fatalf("revocation %d: %v (%v), want %v", i, done, err, want)
		}
	}
	if n, err := s.RevokeUserSessions(ctx, u.ID, "", "locked_by_admin", later); err != nil || n != 0 {
		t.Fatalf("revoked %d again (%v)", n, err)
	}
}

// A sealed value is re-sealed only while it is still the value that was read.
func TestSealedValuesAreWalkedAndResealedCompareAndSet(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	u, err := s.InsertUser(ctx, NewUser{ID: "6f0c1f9e-8a5b-4c1e-9d7a-2b3c4d5e6f72", Username: "dr_no", Email: "no@hospital.example",
		Role: rbac.Faculty, PasswordHash: "h0", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetTOTPPending(ctx, u.ID, "old", time.Now()); err != nil {
		t.Fatal(err)
	}
	vals, err := s.SealedValues(ctx, "users", "totp_pending", mustUUID(t, "00000000-0000-0000-0000-000000000000"), 10)
	if err != nil || len(vals) != 1 || vals[0].Value != "old" {
		t.Fatalf("sealed values %v (%v)", vals, err)
	}
	for i, want := range []bool{true, false} {
		if done, err := s.ResealValue(ctx, "users", "totp_pending", vals[0].ID, "new", "old"); err != nil || done != want {
			t.Fatalf("reseal %d: %v (%v), want %v", i, done, err, want)
		}
	}
}

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// h32 is a 32-byte token hash standing for s.
func h32(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
