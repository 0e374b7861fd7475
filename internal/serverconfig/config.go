package serverconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Duration is a time.Duration written as a Go duration string ("15m", "168h").
type Duration time.Duration

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("must be a duration string such as \"15m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"15m\" or \"168h\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D is the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Config is the whole server configuration.
type Config struct {
	// ListenAddr is the public API address. Default ":8080".
	ListenAddr string `json:"listen_addr"`
	// MetricsAddr serves Prometheus metrics, never on the public address. Default ":9090".
	MetricsAddr string `json:"metrics_addr"`
	// Issuer is the "iss" of access tokens: the instance's public URL.
	Issuer string `json:"issuer"`
	// Audience is the "aud" of access tokens. Default "rsched-api".
	Audience string `json:"audience"`

	Auth      Auth      `json:"auth"`
	RateLimit RateLimit `json:"rate_limit"`
	Security  Security  `json:"security"`
	Audit     Audit     `json:"audit"`
	Secrets   Secrets   `json:"secrets"`
	// Database is how the server reaches PostgreSQL: verified TLS and the pool (database.go).
	Database Database `json:"database"`
	// TLS is the listeners' serving certificate (tls.go); empty: plain HTTP.
	TLS TLS `json:"tls"`
	// Scheduling are the scheduling API's settings.
	Scheduling Scheduling `json:"scheduling"`
}

// Scheduling are the settings of schedule generation.
type Scheduling struct {
	// TimeZone is the program's IANA time zone: days, session times and the 28-day windows of
	// the ACGME rules are local to it. Default "UTC".
	TimeZone string `json:"time_zone"`
	// DefaultTimeBudget is how long POST /schedule/generate solves when the request names no
	// time_budget_seconds. Default 10s.
	DefaultTimeBudget Duration `json:"default_time_budget"`
	// MaxTimeBudget caps a request's time_budget_seconds. Default 60s; at most 10m (a request
	// holds its connection while it solves).
	MaxTimeBudget Duration `json:"max_time_budget"`
}

// Location is the program's time zone (Validate has checked that it loads).
func (s Scheduling) Location() *time.Location {
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Audit is the audit trail's handling (server-side settings; the SchedulerInstance leaves them
// at their defaults).
type Audit struct {
	// Retention deletes entries older than this (the chain stays verifiable from an anchor);
	// 0 keeps everything. Default 8760h (one year); at least 24h.
	Retention Duration `json:"retention"`
	// Stdout also writes every entry as a JSON line to standard output for SIEM forwarding.
	// Default true.
	Stdout bool `json:"stdout"`
}

// Auth mirrors SchedulerInstance spec.auth.
type Auth struct {
	AccessTokenTTL  Duration `json:"access_token_ttl"`
	RefreshTokenTTL Duration `json:"refresh_token_ttl"`
	// SessionIdleTimeout ends a session whose refresh token was not used for this long.
	// Default 8h; from access_token_ttl to refresh_token_ttl.
	SessionIdleTimeout Duration       `json:"session_idle_timeout"`
	Lockout            Lockout        `json:"lockout"`
	MFARequiredRoles   []string       `json:"mfa_required_roles"`
	PasswordPolicy     PasswordPolicy `json:"password_policy"`
	// PasswordHashing are the Argon2id costs (server-side; default OWASP's m=19456 KiB, t=2, p=1).
	PasswordHashing PasswordHashing `json:"password_hashing"`
}

// PasswordHashing are Argon2id cost parameters. Raising them rehashes each password at its
// owner's next sign-in.
type PasswordHashing struct {
	MemoryKiB   int `json:"memory_kib"`
	Iterations  int `json:"iterations"`
	Parallelism int `json:"parallelism"`
}

// Lockout mirrors spec.auth.lockout.
type Lockout struct {
	MaxFailedAttempts int      `json:"max_failed_attempts"`
	Duration          Duration `json:"duration"`
}

// PasswordPolicy mirrors spec.auth.passwordPolicy.
type PasswordPolicy struct {
	MinLength   int      `json:"min_length"`
	HistorySize int      `json:"history_size"`
	MaxAge      Duration `json:"max_age"`
}

// RateLimit mirrors spec.rateLimit.
type RateLimit struct {
	Login    Limit `json:"login"`
	Register Limit `json:"register"`
	API      Limit `json:"api"`
	// Refresh and MFA are server-side settings (defaults 10/min and 5/min per address).
	Refresh        Limit    `json:"refresh"`
	MFA            Limit    `json:"mfa"`
	TrustedProxies []string `json:"trusted_proxies"`
}

// Limit allows Requests per Period.
type Limit struct {
	Requests int      `json:"requests"`
	Period   Duration `json:"period"`
}

// Security mirrors spec.security.
type Security struct {
	AllowedOrigins []string `json:"allowed_origins"`
	HSTS           bool     `json:"hsts"`
	CSPReportOnly  bool     `json:"csp_report_only"`
}

// Secrets are paths of files mounted from Secrets; their contents never enter the serverconfig.
type Secrets struct {
	DatabaseURLFile string `json:"database_url_file"`
	KeyringFile     string `json:"keyring_file"`
}

// Roles are the user roles of the API.
var Roles = []string{"admin", "coordinator", "faculty", "resident", "clinical_staff", "rn", "lpn", "msa"}

// Default is the configuration with every default of the SchedulerInstance API applied.
func Default() Config {
	return Config{
		ListenAddr:  ":8080",
		MetricsAddr: ":9090",
		Audience:    "rsched-api",
		Auth: Auth{
			AccessTokenTTL:     Duration(15 * time.Minute),
			RefreshTokenTTL:    Duration(168 * time.Hour),
			SessionIdleTimeout: Duration(8 * time.Hour),
			Lockout:            Lockout{MaxFailedAttempts: 5, Duration: Duration(30 * time.Minute)},
			MFARequiredRoles:   []string{"admin"},
			PasswordPolicy:     PasswordPolicy{MinLength: 12, HistorySize: 5, MaxAge: Duration(2160 * time.Hour)},
			PasswordHashing:    PasswordHashing{MemoryKiB: 19456, Iterations: 2, Parallelism: 1},
		},
		RateLimit: RateLimit{
			Login:    Limit{Requests: 5, Period: Duration(time.Minute)},
			Register: Limit{Requests: 3, Period: Duration(time.Minute)},
			API:      Limit{Requests: 600, Period: Duration(time.Minute)},
			Refresh:  Limit{Requests: 10, Period: Duration(time.Minute)},
			MFA:      Limit{Requests: 5, Period: Duration(time.Minute)},
		},
		Audit:      Audit{Retention: Duration(8760 * time.Hour), Stdout: true},
		Security:   Security{HSTS: true},
		Scheduling: Scheduling{TimeZone: "UTC", DefaultTimeBudget: Duration(10 * time.Second), MaxTimeBudget: Duration(time.Minute)},
		Database:   Database{MaxConnLifetime: Duration(30 * time.Minute), TLS: DatabaseTLS{Mode: "verify-full"}},
		Secrets: Secrets{
			DatabaseURLFile: "/var/run/secrets/rsched/database/url",
			KeyringFile:     "/var/run/secrets/rsched/keyring/keyring.json",
		},
	}
}

// EnvPrefix starts every environment override: RSCHED_SERVER_AUTH_ACCESS_TOKEN_TTL=10m sets
// auth.access_token_ttl. Lists are comma-separated. An unknown RSCHED_SERVER_ name is an error,
// so a misspelt override is caught at start.
const EnvPrefix = "RSCHED_SERVER_"

// Parse reads a YAML document over the defaults, applies environment overrides from environ
// (os.Environ() form) and validates the result. Unknown keys are errors, so a typo in the
// ConfigMap is caught at start instead of silently ignored.
func Parse(yamlDoc []byte, environ []string) (Config, error) {
	cfg := Default()
	if len(bytes.TrimSpace(yamlDoc)) > 0 {
		if err := yaml.UnmarshalStrict(yamlDoc, &cfg); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Load reads the config file at path (empty: defaults only) and the process environment.
func Load(path string) (Config, error) {
	var doc []byte
	if path != "" {
		var err error
		if doc, err = os.ReadFile(path); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
	}
	return Parse(doc, os.Environ())
}

// applyEnv sets the fields named by RSCHED_* variables. It works on the JSON form of the config so
// that every field has exactly one name (its path in the file, upper-cased, "." as "_").
func applyEnv(cfg *Config, environ []string) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	var tree map[string]any
	if err := json.Unmarshal(b, &tree); err != nil {
		return err
	}
	leaves := map[string][]string{} // RSCHED_AUTH_LOCKOUT_DURATION -> [auth lockout duration]
	envLeaves(nil, tree, leaves)
	changed := false
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		path, known := leaves[name]
		if !known {
			return fmt.Errorf("config: unknown environment override %s", name)
		}
		if err := setLeaf(tree, path, name, value); err != nil {
			return err
		}
		changed = true
	}
	if !changed {
		return nil
	}
	b, err = json.Marshal(tree)
	if err != nil {
		return err
	}
	var out Config
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("config: environment override: %w", err)
	}
	*cfg = out
	return nil
}

// envLeaves records, for every leaf of the config's JSON tree, the environment variable that
// names it and its path.
func envLeaves(prefix []string, m map[string]any, leaves map[string][]string) {
	for k, v := range m {
		path := append(append([]string{}, prefix...), k)
		if sub, ok := v.(map[string]any); ok {
			envLeaves(path, sub, leaves)
			continue
		}
		leaves[EnvPrefix+strings.ToUpper(strings.Join(path, "_"))] = path
	}
}

// setLeaf parses value as the type the leaf at path already has (lists are comma-separated) and
// stores it there. name is the variable, for the error.
func setLeaf(tree map[string]any, path []string, name, value string) error {
	parent := tree
	for _, p := range path[:len(path)-1] {
		parent = parent[p].(map[string]any)
	}
	leaf := path[len(path)-1]
	switch parent[leaf].(type) {
	case bool:
		v, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("config: %s=%q is not true or false", name, value)
		}
		parent[leaf] = v
	case float64:
		v, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("config: %s=%q is not an integer", name, value)
		}
		parent[leaf] = v
	case []any, nil:
		var items []any
		for _, item := range strings.Split(value, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		parent[leaf] = items
	default:
		parent[leaf] = value
	}
	return nil
}

var originPattern = regexp.MustCompile(`^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)

// Validate checks every field against the same bounds the SchedulerInstance API enforces and
// reports all problems at once.
func (c *Config) Validate() error {
	var p problems
	c.validateEndpoints(&p)
	c.TLS.validate(&p)
	c.Database.validate(&p)
	c.Scheduling.validate(&p)
	c.Auth.validate(&p)
	if c.Audit.Retention != 0 {
		p.within("audit.retention", c.Audit.Retention, 24*time.Hour, 0)
	}
	c.RateLimit.validate(&p)
	for _, o := range c.Security.AllowedOrigins {
		if !originPattern.MatchString(o) {
			p.add("security.allowed_origins: %q is not an origin such as https://schedule.example.org", o)
		}
	}
	if c.Secrets.DatabaseURLFile == "" || c.Secrets.KeyringFile == "" {
		p.add("secrets.database_url_file and secrets.keyring_file are required")
	}
	if len(p) > 0 {
		return fmt.Errorf("config: %s", strings.Join(p, "; "))
	}
	return nil
}

// problems collects every finding of Validate, so that one run names them all.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// within reports d outside lo..hi; hi 0 means no upper bound.
func (p *problems) within(name string, d Duration, lo, hi time.Duration) {
	switch {
	case hi > 0 && (d.D() < lo || d.D() > hi):
		p.add("%s %s is outside %s..%s", name, d.D(), lo, hi)
	case hi <= 0 && d.D() < lo:
		p.add("%s %s is below %s", name, d.D(), lo)
	}
}

// intWithin reports n outside lo..hi.
func (p *problems) intWithin(name string, n, lo, hi int) {
	if n < lo || n > hi {
		p.add("%s %d is outside %d..%d", name, n, lo, hi)
	}
}

func (c *Config) validateEndpoints(p *problems) {
	if c.ListenAddr == "" || c.MetricsAddr == "" {
		p.add("listen_addr and metrics_addr are required")
	} else if c.ListenAddr == c.MetricsAddr {
		p.add("metrics_addr must differ from listen_addr: metrics are never served on the public port")
	}
	if !absoluteHTTPURL(c.Issuer) {
		p.add("issuer must be the instance's absolute URL, such as https://schedule.example.org")
	}
	if c.Audience == "" {
		p.add("audience is required")
	}
}

func absoluteHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return s != "" && err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

func (sc *Scheduling) validate(p *problems) {
	if _, err := time.LoadLocation(sc.TimeZone); sc.TimeZone == "" || sc.TimeZone == "Local" || err != nil {
		p.add("scheduling.time_zone %q is not an IANA time zone such as America/Chicago", sc.TimeZone)
	}
	p.within("scheduling.max_time_budget", sc.MaxTimeBudget, time.Second, 10*time.Minute)
	p.within("scheduling.default_time_budget", sc.DefaultTimeBudget, 100*time.Millisecond, sc.MaxTimeBudget.D())
}

func (a *Auth) validate(p *problems) {
	p.within("auth.access_token_ttl", a.AccessTokenTTL, time.Minute, time.Hour)
	p.within("auth.refresh_token_ttl", a.RefreshTokenTTL, time.Hour, 0)
	if a.RefreshTokenTTL <= a.AccessTokenTTL {
		p.add("auth.refresh_token_ttl must be longer than auth.access_token_ttl")
	}
	if a.SessionIdleTimeout < a.AccessTokenTTL || a.SessionIdleTimeout > a.RefreshTokenTTL {
		p.add("auth.session_idle_timeout %s must be from auth.access_token_ttl to auth.refresh_token_ttl", a.SessionIdleTimeout.D())
	}
	if !a.PasswordHashing.withinOWASP() {
		p.add("auth.password_hashing: memory_kib must be 7168..1048576, iterations 1..10, parallelism 1..8 (OWASP's minimum is 7 MiB)")
	}
	p.intWithin("auth.lockout.max_failed_attempts", a.Lockout.MaxFailedAttempts, 1, 100)
	p.within("auth.lockout.duration", a.Lockout.Duration, time.Minute, 24*time.Hour)
	for _, r := range a.MFARequiredRoles {
		if !contains(Roles, r) {
			p.add("auth.mfa_required_roles: %q is not a role (%s)", r, strings.Join(Roles, ", "))
		}
	}
	pp := a.PasswordPolicy
	p.intWithin("auth.password_policy.min_length", pp.MinLength, 8, 128)
	p.intWithin("auth.password_policy.history_size", pp.HistorySize, 0, 24)
	if pp.MaxAge != 0 {
		p.within("auth.password_policy.max_age", pp.MaxAge, 24*time.Hour, 0)
	}
}

// withinOWASP: Argon2id parameters from OWASP's minimum (7 MiB) to what a pod can afford.
func (ph PasswordHashing) withinOWASP() bool {
	return ph.MemoryKiB >= 7168 && ph.MemoryKiB <= 1<<20 && ph.Iterations >= 1 && ph.Iterations <= 10 &&
		ph.Parallelism >= 1 && ph.Parallelism <= 8
}

func (rl *RateLimit) validate(p *problems) {
	for _, nl := range []struct {
		name string
		l    Limit
	}{{"login", rl.Login}, {"register", rl.Register}, {"api", rl.API}, {"refresh", rl.Refresh}, {"mfa", rl.MFA}} {
		p.intWithin("rate_limit."+nl.name+".requests", nl.l.Requests, 1, 1_000_000)
		p.within("rate_limit."+nl.name+".period", nl.l.Period, time.Second, 24*time.Hour)
	}
	for _, s := range rl.TrustedProxies {
		if pfx, err := netip.ParsePrefix(s); err != nil || pfx.Bits() == 0 {
			p.add("rate_limit.trusted_proxies: %q is not a CIDR other than /0", s)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
