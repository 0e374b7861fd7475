// Package app assembles the scheduling API server from its configuration: database, keyring,
// token and password machinery, account logic, audit trail, HTTP handler and background jobs.
// cmd/scheduler runs it; tests build the very same server on a throw-away database.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/server/accounts"
	"github.com/rsched/rsched/internal/server/audit"
	"github.com/rsched/rsched/internal/server/auth"
	"github.com/rsched/rsched/internal/server/fieldcrypt"
	"github.com/rsched/rsched/internal/server/httpapi"
	"github.com/rsched/rsched/internal/server/ratelimit"
	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
	"github.com/rsched/rsched/internal/serverconfig"
)

// Options are what the configuration does not hold.
type Options struct {
	Log *slog.Logger
	// Metrics receives every metric of the server; nil for none.
	Metrics prometheus.Registerer
	// AuditStream receives the audit trail as JSON lines when config audit.stdout is set.
	AuditStream io.Writer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// App is an assembled server.
type App struct {
	// HTTP is the public API handler.
	HTTP     http.Handler
	Store    *store.Store
	Accounts *accounts.Service
	Audit    *audit.Log
	Limiter  *ratelimit.Limiter
	// APILimit is the whole-API limit; RunBackground syncs it across replicas.
	APILimit *ratelimit.Local
	Rewrap   *accounts.Rewrapper
	// Scheduling is the scheduling domain the API serves.
	Scheduling *scheduling.Service

	cfg  serverconfig.Config
	keys keyring.Source
	log  *slog.Logger
	m    *jobMetrics
}

// New opens (and migrates) the database at dbURL and assembles the server.
func New(ctx context.Context, cfg serverconfig.Config, keys keyring.Source, dbURL string, o Options) (*App, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	st, res, err := store.Open(ctx, dbURL, store.Options{MaxConns: 20, MaxConnLifetime: cfg.Database.MaxConnLifetime.D(),
		TLS: &cfg.Database.TLS, Log: o.Log})
	if err != nil {
		return nil, err
	}
	o.Log.Info("database ready", "schemaFrom", res.From, "schemaTo", res.To, "schemaNewerThanServer", res.Newer)
	a, err := assemble(cfg, keys, st, o)
	if err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

func assemble(cfg serverconfig.Config, keys keyring.Source, st *store.Store, o Options) (*App, error) {
	ph := cfg.Auth.PasswordHashing
	hasher, err := auth.NewHasher(auth.Argon2Params{MemoryKiB: uint32(ph.MemoryKiB), Iterations: uint32(ph.Iterations),
		Parallelism: uint8(ph.Parallelism), SaltLen: auth.DefaultArgon2Params.SaltLen, KeyLen: auth.DefaultArgon2Params.KeyLen})
	if err != nil {
		return nil, err
	}
	tokens, err := auth.NewTokens(keys, auth.TokenConfig{Issuer: cfg.Issuer, Audience: cfg.Audience, TTL: cfg.Auth.AccessTokenTTL.D(), Now: o.Now})
	if err != nil {
		return nil, err
	}
	log := audit.New(st, o.Now)
	if cfg.Audit.Stdout && o.AuditStream != nil {
		log.StreamTo(o.AuditStream)
	}
	var mfaRoles []rbac.Role
	for _, r := range cfg.Auth.MFARequiredRoles {
		mfaRoles = append(mfaRoles, rbac.Role(r))
	}
	pp := cfg.Auth.PasswordPolicy
	policy := auth.DefaultPasswordPolicy
	policy.MinLength, policy.HistorySize, policy.MaxAge = pp.MinLength, pp.HistorySize, pp.MaxAge.D()
	acc, err := accounts.New(accounts.Deps{Store: st, Tokens: tokens, Hasher: hasher, Fields: fieldcrypt.NewFields(keys), Audit: log, Log: o.Log, Now: o.Now, Metrics: o.Metrics},
		accounts.Config{
			AccessTTL: cfg.Auth.AccessTokenTTL.D(), RefreshTTL: cfg.Auth.RefreshTokenTTL.D(), IdleTimeout: cfg.Auth.SessionIdleTimeout.D(),
			MaxFailedAttempts: cfg.Auth.Lockout.MaxFailedAttempts, LockoutDuration: cfg.Auth.Lockout.Duration.D(), MaxLockout: 24 * time.Hour,
			MFARoles: mfaRoles, Policy: policy, Issuer: issuerName(cfg.Issuer),
		})
	if err != nil {
		return nil, err
	}
	var proxies []netip.Prefix
	for _, p := range cfg.RateLimit.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("app: trusted proxy %q: %w", p, err)
		}
		proxies = append(proxies, pfx.Masked())
	}
	lim := func(l serverconfig.Limit) ratelimit.Limit {
		return ratelimit.Limit{Requests: l.Requests, Period: l.Period.D()}
	}
	a := &App{Store: st, Accounts: acc, Audit: log, Limiter: ratelimit.New(st, o.Now), cfg: cfg, keys: keys, log: o.Log,
		m: newJobMetrics(o.Metrics)}
	a.Scheduling = scheduling.New(st, fieldcrypt.NewFields(keys), scheduling.Config{Location: cfg.Scheduling.Location(),
		DefaultBudget: cfg.Scheduling.DefaultTimeBudget.D(), MaxBudget: cfg.Scheduling.MaxTimeBudget.D(), Log: o.Log, Metrics: o.Metrics})
	a.APILimit = ratelimit.NewLocal(lim(cfg.RateLimit.API), a.Limiter, o.Now)
	a.Rewrap = acc.NewRewrapper(func() string { return keys.Current().ActiveEncryptionKey().KID })
	a.HTTP = httpapi.NewHandler(httpapi.Options{
		Headers:  httpapi.Headers{HSTS: cfg.Security.HSTS, CSPReportOnly: cfg.Security.CSPReportOnly},
		Log:      o.Log,
		Ready:    a.ready,
		Accounts: acc, Audit: log, Limiter: a.Limiter,
		Limits: httpapi.Limits{Login: lim(cfg.RateLimit.Login), Register: lim(cfg.RateLimit.Register), Refresh: lim(cfg.RateLimit.Refresh),
			MFA: lim(cfg.RateLimit.MFA), CSPReport: ratelimit.Limit{Requests: 30, Period: time.Minute}},
		APILimit:       a.APILimit,
		TrustedProxies: proxies,
		AllowedOrigins: cfg.Security.AllowedOrigins,
		AccessTTL:      cfg.Auth.AccessTokenTTL.D(),
		RefreshTTL:     cfg.Auth.RefreshTokenTTL.D(),
		Rewrap:         func() any { return a.Rewrap.Status() },
		Metrics:        o.Metrics,
		Scheduling:     a.Scheduling,
		Now:            o.Now,
	})
	return a, nil
}

// issuerName is what authenticator apps show: the issuer's host.
func issuerName(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "rsched"
}

// ready is the readiness check: keyring loaded, database reachable with the expected schema.
func (a *App) ready(ctx context.Context) error {
	if a.keys.Current() == nil {
		return errors.New("no keyring loaded")
	}
	return a.Store.Ready(ctx)
}

// ListenForChanges follows the database's notifications of account and session changes, which
// lets the server answer authenticated requests from its principal cache; it returns when ctx
// ends. Without it every request reads the database.
func (a *App) ListenForChanges(ctx context.Context) {
	a.Accounts.ListenForChanges(ctx, a.Store.Connect)
}

// Close releases the database pool.
func (a *App) Close() { a.Store.Close() }
