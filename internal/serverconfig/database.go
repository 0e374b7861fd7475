package serverconfig

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Database is how the server reaches PostgreSQL. The URL itself is a secret and comes from the
// file secrets.database_url_file; this section holds what is not secret.
type Database struct {
	// MaxConnLifetime closes a pooled connection this long after it was opened (plus up to a tenth
	// more, at random, so the pool does not re-dial all at once). It bounds how long a connection
	// dialled with a rotated-out CA or client certificate lives on. Default 30m; 1m..24h.
	// Environment: RSCHED_SERVER_DATABASE_MAX_CONN_LIFETIME.
	MaxConnLifetime Duration `json:"max_conn_lifetime"`
	// TLS is how the connection to the database is secured and verified.
	TLS DatabaseTLS `json:"tls"`
}

// DatabaseTLS is the TLS of every connection to the database (the pool, the migration and the
// notification listener). The files are read again for every new connection and used when their
// content changed, so a rotated CA bundle or client certificate (a mounted Secret the kubelet
// swaps) is picked up without a restart; connections already open live until
// database.max_conn_lifetime. Environment overrides: RSCHED_SERVER_DATABASE_TLS_MODE,
// _CA_FILE, _CERT_FILE, _KEY_FILE and _INSECURE_ALLOW_UNVERIFIED.
type DatabaseTLS struct {
	// Mode is the least verification the server accepts: "verify-full" (the default: the chain up
	// to ca_file and the URL's host name in the certificate) or "verify-ca" (the chain only). The
	// database URL's sslmode must be at least as strong; a stronger one is used as written.
	// "require", "prefer", "allow" and "disable" (libpq's meanings: no verification, possibly no
	// TLS) are refused unless InsecureAllowUnverified is set.
	Mode string `json:"mode"`
	// CAFile is the PEM bundle of the CA(s) that issue the database server's certificate (a
	// CloudNativePG cluster's <cluster>-ca Secret, key ca.crt). Empty: the system's trust store.
	// Only with verify-ca or verify-full.
	CAFile string `json:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its unencrypted key, presented to the
	// database (a kubernetes.io/tls Secret: tls.crt and tls.key); with them the URL may carry no
	// password (pg_hba "cert", or clientcert=verify-full). Both or neither.
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	// InsecureAllowUnverified permits a Mode weaker than verify-ca: the server then talks to
	// whatever answers at the database's address, and with prefer, allow or disable may send
	// the password in clear text. Default false; refused with verify-ca or verify-full, where it
	// would mean nothing.
	InsecureAllowUnverified bool `json:"insecure_allow_unverified"`
}

// SSL modes in libpq's order of strength; the index is the strength.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// SSLModeRank is the strength of a libpq sslmode ("" is libpq's default, prefer); -1 when s is
// not an sslmode.
func SSLModeRank(s string) int {
	if s == "" {
		s = "prefer"
	}
	return slices.Index(sslModes, s)
}

// Verifies reports whether an sslmode verifies the server's certificate (verify-ca or stronger).
func Verifies(sslmode string) bool { return SSLModeRank(sslmode) >= SSLModeRank("verify-ca") }

// ClientCertificate reports whether the server presents a client certificate.
func (t DatabaseTLS) ClientCertificate() bool { return t.CertFile != "" && t.KeyFile != "" }

// urlFileParams are libpq parameters that name TLS files: pgx would read them once, at start, so
// a rotation would need a restart. The files come from database.tls instead.
var urlFileParams = map[string]string{
	"sslrootcert": "database.tls.ca_file", "sslcert": "database.tls.cert_file",
	"sslkey": "database.tls.key_file", "sslpassword": "database.tls.key_file (unencrypted)",
}

// CheckURL checks a database URL's TLS parameters against the section and returns the sslmode
// the connection uses (the URL's, which is at least Mode). It refuses a URL with no sslmode or
// one weaker than Mode, and one that names TLS files. Its errors never contain the URL.
func (t DatabaseTLS) CheckURL(u *url.URL) (string, error) {
	q := u.Query()
	for _, p := range slices.Sorted(maps.Keys(urlFileParams)) {
		if q.Has(p) {
			return "", fmt.Errorf("names %s: set %s instead (it is re-read when it changes)", p, urlFileParams[p])
		}
	}
	if len(q["sslmode"]) > 1 {
		return "", errors.New("has more than one sslmode")
	}
	mode, has := q.Get("sslmode"), q.Has("sslmode")
	got := "sslmode=" + mode
	if !has {
		got = "no sslmode (libpq's default, prefer, may fall back to plain text)"
	}
	if SSLModeRank(mode) < 0 {
		return "", fmt.Errorf("sslmode=%q is not one of %s", mode, strings.Join(sslModes, ", "))
	}
	if SSLModeRank(mode) < SSLModeRank(t.Mode) {
		hint := ""
		if Verifies(t.Mode) {
			hint = " (to accept an unverified database, which nobody should, set database.tls.mode to the weaker mode and database.tls.insecure_allow_unverified: true)"
		}
		return "", fmt.Errorf("has %s, weaker than database.tls.mode %s: add sslmode=%s to the URL%s", got, t.Mode, t.Mode, hint)
	}
	if mode == "" {
		mode = "prefer"
	}
	return mode, nil
}

func (d *Database) validate(p *problems) {
	p.within("database.max_conn_lifetime", d.MaxConnLifetime, time.Minute, 24*time.Hour)
	t := d.TLS
	switch rank := SSLModeRank(t.Mode); {
	case t.Mode == "" || rank < 0:
		p.add("database.tls.mode %q is not verify-full or verify-ca (or, with database.tls.insecure_allow_unverified, require, prefer, allow or disable)", t.Mode)
	case !Verifies(t.Mode) && !t.InsecureAllowUnverified:
		p.add("database.tls.mode %s does not verify the database server: use verify-full or verify-ca, or set database.tls.insecure_allow_unverified: true to accept that risk", t.Mode)
	case Verifies(t.Mode) && t.InsecureAllowUnverified:
		p.add("database.tls.insecure_allow_unverified is set but database.tls.mode %s verifies the server: remove it", t.Mode)
	}
	if t.CAFile != "" && SSLModeRank(t.Mode) >= 0 && !Verifies(t.Mode) {
		p.add("database.tls.ca_file is used only by mode verify-ca or verify-full, not %s", t.Mode)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.add("database.tls.cert_file and database.tls.key_file go together: set both to present a client certificate, or neither")
	}
}
