// Package accounts is the account logic of the scheduling API server: sign-in with lockout and
// MFA, sessions and their refresh token families, access token revocation, registration and the
// first-user bootstrap, password changes, and administrators' user management, on the users,
// sessions, refresh_tokens, revoked_tokens, mfa_challenges and login_failures tables, and writes
// an audit event for every security decision. Its SQL is the store's (internal/server/store:
// users.go, sessions.go, passwords.go, mfa_secrets.go, mfa_challenges.go, lockout.go, sealed.go,
// accounts_cleanup.go); this package decides what to read and write and where a transaction
// begins and ends, and runs the statements on the transaction (store.Store.On). The only statement
// left here is cache.go's LISTEN. Each security flow loads its rows, decides with a pure
// function of them (classify.go, table-tested on its own), writes what the outcome calls for and
// audits it. HTTP lives in internal/server/httpapi, which maps this
// package's errors onto status codes.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rsched/rsched/internal/server/audit"
	"github.com/rsched/rsched/internal/server/auth"
	"github.com/rsched/rsched/internal/server/clienterr"
	"github.com/rsched/rsched/internal/server/fieldcrypt"
	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/server/store"
)

// Config is the account behaviour (config auth.*).
type Config struct {
	// AccessTTL is the access token lifetime; RefreshTTL the absolute lifetime of a session.
	AccessTTL, RefreshTTL time.Duration
	// IdleTimeout ends a session whose refresh token has not been used for this long.
	IdleTimeout time.Duration
	// MaxFailedAttempts failures in a row lock an account name for LockoutDuration, doubled for
	// every further lockout up to MaxLockout.
	MaxFailedAttempts int
	LockoutDuration   time.Duration
	MaxLockout        time.Duration
	// MFARoles must use a second factor.
	MFARoles []rbac.Role
	// Policy is the password policy.
	Policy auth.PasswordPolicy
	// Issuer names the service in authenticator apps.
	Issuer string
}

// Service is the account logic on one database.
type Service struct {
	// st runs the statements; pool, its pool, begins the flows' transactions.
	st     *store.Store
	pool   *pgxpool.Pool
	tokens *auth.Tokens
	hasher *auth.Hasher
	fields *fieldcrypt.Fields
	audit  *audit.Log
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	cache  *principalCache
	// lost counts the audit entries of protective revocations that could not be written (protect.go).
	lost *prometheus.CounterVec
}

// Deps are what a Service works with.
type Deps struct {
	Store  *store.Store
	Tokens *auth.Tokens
	Hasher *auth.Hasher
	Fields *fieldcrypt.Fields
	Audit  *audit.Log
	Log    *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Metrics receives the service's metrics; nil for none.
	Metrics prometheus.Registerer
}

// New checks cfg and returns a Service.
func New(d Deps, cfg Config) (*Service, error) {
	if d.Store == nil || d.Tokens == nil || d.Hasher == nil || d.Fields == nil || d.Audit == nil {
		return nil, errors.New("accounts: missing dependency")
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxFailedAttempts < 1 || cfg.LockoutDuration <= 0 || cfg.RefreshTTL <= cfg.AccessTTL || cfg.IdleTimeout <= 0 {
		return nil, errors.New("accounts: lockout, session and token lifetimes must be positive and refresh longer than access")
	}
	if cfg.MaxLockout < cfg.LockoutDuration {
		cfg.MaxLockout = max(cfg.LockoutDuration, 24*time.Hour)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &Service{st: d.Store, pool: d.Store.Pool, tokens: d.Tokens, hasher: d.Hasher, fields: d.Fields, audit: d.Audit,
		cfg: cfg, now: d.Now, log: d.Log, cache: newPrincipalCache(), lost: newLostCounter(d.Metrics)}, nil
}

// Client describes who is calling, for sessions and the audit trail.
type Client struct {
	IP, UserAgent, RequestID string
}

// User is an account as the API shows it.
type User struct {
	ID                 string     `json:"id"`
	Username           string     `json:"username"`
	Email              string     `json:"email"`
	Role               rbac.Role  `json:"role"`
	IsActive           bool       `json:"is_active"`
	IsLocked           bool       `json:"is_locked"`
	MFAEnabled         bool       `json:"mfa_enabled"`
	MustChangePassword bool       `json:"must_change_password"`
	PasswordChangedAt  time.Time  `json:"password_changed_at"`
	LastLoginAt        *time.Time `json:"last_login_at"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

// Errors. The HTTP layer maps each to one status and detail; the wrapped causes are for logs.
var (
	// ErrBadCredentials: unknown user, wrong password, or a deleted account (401).
	ErrBadCredentials = errors.New("incorrect username or password")
	// ErrInactive: the password was right but the account is deactivated (403).
	ErrInactive = errors.New("account is inactive")
	// ErrAdminLocked: the password was right but an administrator locked the account (423).
	ErrAdminLocked = errors.New("account is locked by an administrator")
	// ErrInvalidRefresh: unknown, used, revoked, idle or expired refresh token (401).
	ErrInvalidRefresh = errors.New("invalid or expired refresh token")
	// ErrInvalidMFA: wrong code or unknown/expired challenge (401).
	ErrInvalidMFA = errors.New("invalid or expired authentication code")
	// ErrUnauthenticated: the access token is not (or no longer) valid (401).
	ErrUnauthenticated = errors.New("not authenticated")
	// ErrNotFound (404), ErrConflict (409).
	ErrNotFound = errors.New("not found")
	// ErrAdminRequired: registration after the first user needs an administrator (403).
	ErrAdminRequired = errors.New("admin access required to create users")
)

// LockedError is a temporarily locked account name (423 with Retry-After).
type LockedError struct{ RetryAfter time.Duration }

func (e *LockedError) Error() string {
	return fmt.Sprintf("account temporarily locked; retry in %d seconds", int(e.RetryAfter.Round(time.Second).Seconds()))
}

// ConflictError is a request that contradicts the current state (409), with a client-safe reason.
type ConflictError struct{ Reason string }

func (e *ConflictError) Error() string { return e.Reason }

// InvalidError is a request whose content is wrong, with a client-safe reason: 422 for a field
// that fails validation, 400 (BadRequest) for a request that is well-formed but not allowed. It
// is the server's one kind for refused content, shared with scheduling.
type InvalidError = clienterr.Invalid

// requiresMFA reports whether role must use a second factor.
func (s *Service) requiresMFA(role rbac.Role) bool { return slices.Contains(s.cfg.MFARoles, role) }

// Policy is the password policy in force.
func (s *Service) Policy() auth.PasswordPolicy { return s.cfg.Policy }

// randomToken returns an opaque token (32 random bytes, base64url) and its SHA-256, which is what
// the database stores: a leaked table holds nothing that can be presented.
func randomToken() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, hashToken(tok), nil
}

func hashToken(tok string) []byte {
	sum := sha256.Sum256([]byte(tok))
	return sum[:]
}

// nameHash is the lockout key of an account name.
func nameHash(username string) []byte {
	sum := sha256.Sum256([]byte("rsched-login:" + strings.ToLower(strings.TrimSpace(username))))
	return sum[:]
}

// record appends an audit event that is not part of a change: a refused or failed attempt (and
// the failure counters it moved), whose answer must not depend on the audit. A failure to audit
// is logged loudly. A change records its events through inTx instead.
func (s *Service) record(ctx context.Context, c Client, actor, action, target string, details map[string]any) {
	if actor == "" {
		actor = "anonymous"
	}
	_, err := s.audit.Append(ctx, audit.Event{Actor: actor, Action: action, Target: target, IP: c.IP,
		UserAgent: c.UserAgent, RequestID: c.RequestID, Details: details})
	if err != nil {
		s.log.Error("audit append failed", "action", action, "error", err, "request_id", c.RequestID)
	}
}

// recorder notes the audit events of one change (see inTx and protectTx).
type recorder struct {
	c      Client
	events *[]audit.Event
}

func (r recorder) record(actor, action, target string, details map[string]any) {
	if actor == "" {
		actor = "anonymous"
	}
	*r.events = append(*r.events, audit.Event{Actor: actor, Action: action, Target: target, IP: r.c.IP,
		UserAgent: r.c.UserAgent, RequestID: r.c.RequestID, Details: details})
}

// inTx runs a change in one transaction together with the audit events it records: both commit
// or neither does, so a change is never without its audit entry, and a failed audit write rolls
// the change back and fails the request. A revocation that protects the user goes through
// protectTx instead.
func (s *Service) inTx(ctx context.Context, c Client, fn func(tx pgx.Tx, a recorder) error) error {
	return s.audit.WithTx(ctx, s.pool, func(tx pgx.Tx, rec *audit.Recorder) error {
		var events []audit.Event
		if err := fn(tx, recorder{c: c, events: &events}); err != nil {
			return err
		}
		for _, e := range events {
			rec.Record(e)
		}
		return nil
	})
}

func userTarget(id string) string { return "user:" + id }
