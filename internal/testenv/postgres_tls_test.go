package testenv_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/testenv"
)

// TestPostgresTLSAcceptsOnlyVerifiedTLS pins what the TLS-only cluster is for: verify-full with
// its CA passes; the wrong host name, another CA or plaintext never get a session; a client
// certificate signs in without a password; and no error carries the password.
func TestPostgresTLSAcceptsOnlyVerifiedTLS(t *testing.T) {
	p := testenv.StartPostgresTLS(t)
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	with := func(mutate func(u *url.URL, q url.Values)) string {
		v := *u
		q := v.Query()
		mutate(&v, q)
		v.RawQuery = q.Encode()
		return v.String()
	}
	connect := func(dsn string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return "", err
		}
		defer func() { _ = conn.Close(ctx) }()
		var who string
		var ssl bool
		err = conn.QueryRow(ctx, "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&who, &ssl)
		if err == nil && !ssl {
			t.Errorf("%s signed in without TLS", who)
		}
		return who, err
	}

	if who, err := connect(p.URL); err != nil || who != "rsched" {
		t.Fatalf("verify-full with the cluster's CA: %q, %v", who, err)
	}
	if who, err := connect(p.CertURL); err != nil || who != "rsched_cert" {
		t.Fatalf("a client certificate without a password: %q, %v", who, err)
	}
	refused := map[string]string{
		// The certificate names localhost only: 127.0.0.1 is another host.
		"the wrong host": with(func(u *url.URL, _ url.Values) { u.Host = strings.Replace(u.Host, "localhost", "127.0.0.1", 1) }),
		"another CA":     with(func(_ *url.URL, q url.Values) { q.Set("sslrootcert", p.OtherCAFile) }),
		"plaintext":      with(func(_ *url.URL, q url.Values) { q.Set("sslmode", "disable"); q.Del("sslrootcert") }),
		"the certificate role with a password but no certificate": with(func(u *url.URL, _ url.Values) {
			u.User = url.UserPassword("rsched_cert", password)
		}),
	}
	for name, dsn := range refused {
		who, err := connect(dsn)
		if err == nil {
			t.Errorf("%s: signed in as %q", name, who)
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("%s: the error carries the password", name)
		}
		t.Logf("%s: refused: %v", name, err)
	}
	if strings.Contains(p.String(), password) {
		t.Error("the cluster's description carries the password")
	}
}
