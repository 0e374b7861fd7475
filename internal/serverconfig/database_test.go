package serverconfig

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDatabaseDefaultsToVerifyFullAndAHalfHourLifetime(t *testing.T) {
	cfg, err := Parse([]byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.TLS.Mode != "verify-full" || cfg.Database.TLS.InsecureAllowUnverified || cfg.Database.TLS.ClientCertificate() {
		t.Errorf("database.tls defaults: %+v", cfg.Database.TLS)
	}
	if cfg.Database.MaxConnLifetime.D() != 30*time.Minute {
		t.Errorf("database.max_conn_lifetime = %s", cfg.Database.MaxConnLifetime.D())
	}
}

func TestDatabaseTLSSettingsAreValidatedWithClearErrors(t *testing.T) {
	for name, c := range map[string]struct {
		doc  string
		env  []string
		want string // "" accepted
	}{
		"verify-ca":            {doc: "database: {tls: {mode: verify-ca, ca_file: /db/ca.crt}}\n"},
		"a client certificate": {doc: "database: {tls: {ca_file: /db/ca.crt, cert_file: /db/tls.crt, key_file: /db/tls.key}}\n"},
		"every key by environment": {env: []string{"RSCHED_SERVER_DATABASE_TLS_MODE=verify-ca", "RSCHED_SERVER_DATABASE_TLS_CA_FILE=/db/ca.crt",
			"RSCHED_SERVER_DATABASE_TLS_CERT_FILE=/db/tls.crt", "RSCHED_SERVER_DATABASE_TLS_KEY_FILE=/db/tls.key", "RSCHED_SERVER_DATABASE_MAX_CONN_LIFETIME=5m"}},
		"require with the opt-out":     {doc: "database: {tls: {mode: require, insecure_allow_unverified: true}}\n"},
		"disable with the opt-out":     {env: []string{"RSCHED_SERVER_DATABASE_TLS_MODE=disable", "RSCHED_SERVER_DATABASE_TLS_INSECURE_ALLOW_UNVERIFIED=true"}},
		"require without the opt-out":  {doc: "database: {tls: {mode: require}}\n", want: "does not verify the database server"},
		"disable without the opt-out":  {env: []string{"RSCHED_SERVER_DATABASE_TLS_MODE=disable"}, want: "insecure_allow_unverified: true to accept"},
		"the opt-out with verify-full": {doc: "database: {tls: {insecure_allow_unverified: true}}\n", want: "remove it"},
		"not a mode":                   {doc: "database: {tls: {mode: verify}}\n", want: `database.tls.mode "verify" is not`},
		"an empty mode":                {doc: "database: {tls: {mode: \"\"}}\n", want: `database.tls.mode "" is not`},
		"a CA with require":            {doc: "database: {tls: {mode: require, insecure_allow_unverified: true, ca_file: /ca}}\n", want: "ca_file is used only by mode verify-ca or verify-full"},
		"a certificate without a key":  {doc: "database: {tls: {cert_file: /db/tls.crt}}\n", want: "go together"},
		"a key without a certificate":  {env: []string{"RSCHED_SERVER_DATABASE_TLS_KEY_FILE=/db/tls.key"}, want: "go together"},
		"a lifetime too short":         {doc: "database: {max_conn_lifetime: 10s}\n", want: "database.max_conn_lifetime 10s is outside 1m0s..24h0m0s"},
		"a misspelt key":               {doc: "database: {tls: {ca: /db/ca.crt}}\n", want: "unknown field"},
	} {
		_, err := Parse([]byte(minimal+c.doc), c.env)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != "" && err == nil:
			t.Errorf("%s: accepted", name)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestADatabaseURLWeakerThanTheModeIsRefused(t *testing.T) {
	full := DatabaseTLS{Mode: "verify-full"}
	ca := DatabaseTLS{Mode: "verify-ca"}
	require := DatabaseTLS{Mode: "require", InsecureAllowUnverified: true}
	off := DatabaseTLS{Mode: "disable", InsecureAllowUnverified: true}
	for _, c := range []struct {
		tls      DatabaseTLS
		query    string
		want     string // the mode used, or the error
		accepted bool
	}{
		{full, "sslmode=verify-full", "verify-full", true},
		{full, "sslmode=verify-ca", "sslmode=verify-ca, weaker than database.tls.mode verify-full: add sslmode=verify-full", false},
		{full, "sslmode=require", "weaker than database.tls.mode verify-full", false},
		{full, "sslmode=prefer", "weaker", false},
		{full, "sslmode=allow", "weaker", false},
		{full, "sslmode=disable", "sslmode=disable, weaker", false},
		{full, "", "no sslmode (libpq's default, prefer, may fall back to plain text), weaker", false},
		{full, "sslmode=Verify-Full", `sslmode="Verify-Full" is not one of`, false},
		{full, "sslmode=verify-full&sslmode=disable", "more than one sslmode", false},
		{full, "sslmode=verify-full&sslrootcert=/ca.crt", "names sslrootcert: set database.tls.ca_file", false},
		{full, "sslmode=verify-full&sslcert=/c&sslkey=/k", "names sslcert: set database.tls.cert_file", false},
		{full, "sslmode=verify-full&sslpassword=x", "names sslpassword", false},
		{ca, "sslmode=verify-ca", "verify-ca", true},
		{ca, "sslmode=verify-full", "verify-full", true},
		{ca, "sslmode=require", "weaker than database.tls.mode verify-ca", false},
		{ca, "", "no sslmode", false},
		{require, "sslmode=require", "require", true},
		{require, "sslmode=verify-full", "verify-full", true},
		{require, "sslmode=prefer", "weaker than database.tls.mode require: add sslmode=require to the URL", false},
		{off, "", "prefer", true},
		{off, "sslmode=disable", "disable", true},
	} {
		u := &url.URL{Scheme: "postgres", User: url.UserPassword("rsched", "Xk9vQ2mL7pR4tZ8w"), Host: "db:5432", Path: "/rsched", RawQuery: c.query}
		mode, err := c.tls.CheckURL(u)
		name := c.tls.Mode + " with ?" + c.query
		switch {
		case c.accepted && (err != nil || mode != c.want):
			t.Errorf("%s: %q, %v; want %q", name, mode, err, c.want)
		case !c.accepted && err == nil:
			t.Errorf("%s: accepted (%s)", name, mode)
		case !c.accepted && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: %v; want %q", name, err, c.want)
		case err != nil && (strings.Contains(err.Error(), "Xk9vQ2mL7pR4tZ8w") || strings.Contains(err.Error(), "db:5432")):
			t.Errorf("%s: the error echoes the URL: %v", name, err)
		}
	}
}

func TestDatabaseURLChecksTLSBeforeAnythingDialsAndAllowsCertificateLogin(t *testing.T) {
	dir := t.TempDir()
	cfg := Default()
	cfg.Secrets.DatabaseURLFile = filepath.Join(dir, "url")
	const password = "Xk9vQ2mL7pR4tZ8w"
	check := func(raw string) error {
		if err := os.WriteFile(cfg.Secrets.DatabaseURLFile, []byte(raw), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := cfg.DatabaseURL()
		if err != nil && (strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "db.example")) {
			t.Errorf("the error echoes the URL: %v", err)
		}
		return err
	}
	for _, mode := range []string{"disable", "require"} {
		err := check("postgres://rsched:" + password + "@db.example:5432/rsched?sslmode=" + mode)
		if err == nil || !strings.Contains(err.Error(), "sslmode="+mode+", weaker than database.tls.mode verify-full") ||
			!strings.Contains(err.Error(), cfg.Secrets.DatabaseURLFile) {
			t.Errorf("sslmode=%s: %v", mode, err)
		}
	}
	certOnly := "postgres://rsched_cert@db.example:5432/rsched?sslmode=verify-full"
	if err := check(certOnly); err == nil || !strings.Contains(err.Error(), "has no password (and database.tls names no client certificate)") {
		t.Errorf("no password and no client certificate: %v", err)
	}
	cfg.Database.TLS.CertFile, cfg.Database.TLS.KeyFile = "/db/tls.crt", "/db/tls.key"
	if err := check(certOnly); err != nil {
		t.Errorf("a client certificate and no password: %v", err)
	}
	if err := check("postgres://rsched_cert:changeme@db.example:5432/rsched?sslmode=verify-full"); err == nil || !strings.Contains(err.Error(), "well-known default") {
		t.Errorf("a client certificate does not excuse a weak password that is there: %v", err)
	}
}
