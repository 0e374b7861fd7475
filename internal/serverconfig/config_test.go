package serverconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = "issuer: https://schedule.example.org\n"

func TestDefaultsMirrorTheSchedulerInstanceDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Auth
	for name, c := range map[string]struct{ got, want any }{
		"access TTL":         {a.AccessTokenTTL.D(), 15 * time.Minute},
		"refresh TTL":        {a.RefreshTokenTTL.D(), 168 * time.Hour},
		"lockout attempts":   {a.Lockout.MaxFailedAttempts, 5},
		"lockout duration":   {a.Lockout.Duration.D(), 30 * time.Minute},
		"MFA roles":          {strings.Join(a.MFARequiredRoles, ","), "admin"},
		"password length":    {a.PasswordPolicy.MinLength, 12},
		"password history":   {a.PasswordPolicy.HistorySize, 5},
		"password max age":   {a.PasswordPolicy.MaxAge.D(), 2160 * time.Hour},
		"login limit":        {cfg.RateLimit.Login, Limit{5, Duration(time.Minute)}},
		"register limit":     {cfg.RateLimit.Register, Limit{3, Duration(time.Minute)}},
		"api limit":          {cfg.RateLimit.API, Limit{600, Duration(time.Minute)}},
		"hsts":               {cfg.Security.HSTS, true},
		"csp report-only":    {cfg.Security.CSPReportOnly, false},
		"listen and metrics": {cfg.ListenAddr + " " + cfg.MetricsAddr, ":8080 :9090"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
}

func TestAFullFileParses(t *testing.T) {
	doc := `
listen_addr: ":8443"
metrics_addr: "127.0.0.1:9100"
issuer: https://schedule.example.org
audience: residency-api
auth:
  access_token_ttl: 10m
  refresh_token_ttl: 72h
  lockout: {max_failed_attempts: 3, duration: 1h}
  mfa_required_roles: [admin, coordinator]
  password_policy: {min_length: 14, history_size: 10, max_age: 0s}
rate_limit:
  login: {requests: 10, period: 5m}
  register: {requests: 1, period: 1h}
  api: {requests: 1200, period: 1m}
  trusted_proxies: [10.0.0.0/8, "fd00::/8"]
security:
  allowed_origins: [https://schedule.example.org, "http://localhost:3000"]
  hsts: false
  csp_report_only: true
secrets:
  database_url_file: /secrets/db/url
  keyring_file: /secrets/keyring/keyring.json
`
	cfg, err := Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.Lockout.Duration.D() != time.Hour || len(cfg.RateLimit.TrustedProxies) != 2 || cfg.Security.HSTS ||
		cfg.Auth.PasswordPolicy.MaxAge != 0 || cfg.Secrets.KeyringFile != "/secrets/keyring/keyring.json" || cfg.Audience != "residency-api" {
		t.Errorf("parsed %+v", cfg)
	}
}

func TestEnvironmentOverridesTheFile(t *testing.T) {
	cfg, err := Parse([]byte(minimal+"auth: {access_token_ttl: 10m}\n"), []string{
		"RSCHED_SERVER_AUTH_ACCESS_TOKEN_TTL=5m",
		"RSCHED_SERVER_AUTH_LOCKOUT_MAX_FAILED_ATTEMPTS=7",
		"RSCHED_SERVER_SECURITY_HSTS=false",
		"RSCHED_SERVER_AUTH_MFA_REQUIRED_ROLES=admin, faculty",
		"RSCHED_SERVER_RATE_LIMIT_TRUSTED_PROXIES=10.1.0.0/16",
		"RSCHED_CACHE=/root/.cache/rsched", // other RSCHED_ variables are not ours
		"PATH=/usr/bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.AccessTokenTTL.D() != 5*time.Minute || cfg.Auth.Lockout.MaxFailedAttempts != 7 || cfg.Security.HSTS ||
		strings.Join(cfg.Auth.MFARequiredRoles, ",") != "admin,faculty" || cfg.RateLimit.TrustedProxies[0] != "10.1.0.0/16" {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	for env, want := range map[string]string{
		"RSCHED_SERVER_AUTH_ACCESS_TOKN_TTL=5m":            "unknown environment override RSCHED_SERVER_AUTH_ACCESS_TOKN_TTL",
		"RSCHED_SERVER_SECURITY_HSTS=maybe":                `RSCHED_SERVER_SECURITY_HSTS="maybe" is not true or false`,
		"RSCHED_SERVER_AUTH_LOCKOUT_MAX_FAILED_ATTEMPTS=x": "is not an integer",
		"RSCHED_SERVER_AUTH_ACCESS_TOKEN_TTL=fifteen":      `"fifteen" is not a duration`,
		"RSCHED_SERVER_AUTH_ACCESS_TOKEN_TTL=2h":           "auth.access_token_ttl 2h0m0s is outside 1m0s..1h0m0s",
	} {
		if _, err := Parse([]byte(minimal), []string{env}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", env, err, want)
		}
	}
}

func TestInvalidConfigurationsAreRefusedWithEveryProblem(t *testing.T) {
	for doc, want := range map[string]string{
		"issuer: https://x.org\nauth: {acess_token_ttl: 5m}\n": `unknown field "acess_token_ttl"`,
		"issuer: ftp://x.org\n":                                "issuer must be the instance's absolute URL",
		"":                                                     "issuer must be",
		minimal + "metrics_addr: \":8080\"\n":                  "metrics_addr must differ from listen_addr",
		minimal + "auth: {refresh_token_ttl: 30m}\n":                                               "auth.refresh_token_ttl 30m0s is below 1h0m0s",
		minimal + "auth: {access_token_ttl: 1h, refresh_token_ttl: 1h}\n":                          "auth.refresh_token_ttl must be longer than auth.access_token_ttl",
		minimal + "auth: {lockout: {max_failed_attempts: 0}}\n":                                    "auth.lockout.max_failed_attempts 0 is outside 1..100",
		minimal + "auth: {mfa_required_roles: [root]}\n":                                           `auth.mfa_required_roles: "root" is not a role`,
		minimal + "auth: {password_policy: {min_length: 6}}\n":                                     "auth.password_policy.min_length 6 is outside 8..128",
		minimal + "auth: {password_policy: {max_age: 1h}}\n":                                       "auth.password_policy.max_age 1h0m0s is below 24h0m0s",
		minimal + "rate_limit: {login: {requests: 0, period: 1m}}\n":                               "rate_limit.login.requests 0 is outside 1..1000000",
		minimal + "rate_limit: {api: {requests: 5, period: 100ms}}\n":                              "rate_limit.api.period 100ms is outside 1s..24h0m0s",
		minimal + "rate_limit: {trusted_proxies: [0.0.0.0/0]}\n":                                   `"0.0.0.0/0" is not a CIDR other than /0`,
		minimal + "security: {allowed_origins: [\"*\"]}\n":                                         `"*" is not an origin`,
		minimal + "secrets: {keyring_file: \"\"}\n":                                                "secrets.database_url_file and secrets.keyring_file are required",
		"issuer: https://x.org\nauth: {access_token_ttl: 2h, lockout: {max_failed_attempts: 0}}\n": "auth.access_token_ttl 2h0m0s is outside 1m0s..1h0m0s; auth.lockout.max_failed_attempts 0 is outside 1..100",
	} {
		if _, err := Parse([]byte(doc), nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", doc, err, want)
		}
	}
}

func TestLoadReadsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serverconfig.yaml")
	if err := os.WriteFile(path, []byte(minimal+"audience: from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil || cfg.Audience != "from-file" {
		t.Fatalf("Load: %+v %v", cfg, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestDatabaseURLRefusesWeakSecretsWithoutEchoingThem(t *testing.T) {
	dir := t.TempDir()
	cfg := Default()
	cfg.Secrets.DatabaseURLFile = filepath.Join(dir, "url")
	write := func(s string) {
		if err := os.WriteFile(cfg.Secrets.DatabaseURLFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	good := "postgres://rsched:Xk9vQ2mL7pR4tZ8w@db.example:5432/rsched?sslmode=verify-full"
	write(good + "\n")
	if got, err := cfg.DatabaseURL(); err != nil || got != good {
		t.Fatalf("a strong URL: %v", err)
	}
	for url, want := range map[string]string{
		"postgres://rsched@db:5432/rsched?sslmode=verify-full":                    "has no password",
		"postgres://rsched:changeme@db:5432/rsched?sslmode=verify-full":           "well-known default",
		"postgres://rsched:Dev_Only_Password@db:5432/rsched?sslmode=verify-full":  "well-known default",
		"postgres://scheduler:postgres@db/rsched?sslmode=verify-full":             "well-known default",
		"postgres://rsched:Sh0rt-pw@db/rsched?sslmode=verify-full":                "shorter than 12 characters",
		"postgres://averylongusername:AVERYLONGUSERNAME@db/x?sslmode=verify-full": "equals the user name",
		"mysql://rsched:Xk9vQ2mL7pR4tZ8w@db/rsched":                               "not a postgres:// URL",
		"not a url at all": "not a postgres:// URL",
	} {
		write(url)
		_, err := cfg.DatabaseURL()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", url, err, want)
			continue
		}
		if pw := strings.SplitN(strings.TrimPrefix(url, "postgres://"), "@", 2)[0]; strings.Contains(pw, ":") && strings.Contains(err.Error(), strings.SplitN(pw, ":", 2)[1]) {
			t.Errorf("the error %q contains the password", err)
		}
		if strings.Contains(err.Error(), "db:5432") || strings.Contains(err.Error(), "@") {
			t.Errorf("the error %q echoes the URL", err)
		}
	}
}
