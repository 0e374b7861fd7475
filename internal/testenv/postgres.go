package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a throw-away PostgreSQL cluster: initdb in a temporary directory, a server on a
// random loopback port with password authentication, and one database.
type Postgres struct {
	// URL is a pgx connection URL for the database, with password and sslmode=disable.
	URL string
	// Port is the server's TCP port (on 127.0.0.1, or the address given to NewPostgresOn).
	Port int

	proc *process
	dir  string
	// serverArgs are added to the server's command line; urlHost and urlQuery, when set, replace
	// the listen address and sslmode=disable in its URLs (the TLS-only cluster uses them).
	serverArgs        []string
	urlHost, urlQuery string
}

// StartPostgres starts a PostgreSQL cluster and removes it when the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p, err := NewPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres server output:\n%s", p.proc.out.String())
		}
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// NewPostgres starts a PostgreSQL cluster; the caller must Stop it. For TestMain.
func NewPostgres() (*Postgres, error) { return NewPostgresOn("127.0.0.1", "") }

// NewPostgresOn starts a PostgreSQL cluster listening on the IPv4 address listen, accepting
// password logins from clientCIDR too (pods of a local cluster reaching the host); URL names
// listen. For end-to-end tests.
func NewPostgresOn(listen, clientCIDR string) (*Postgres, error) {
	c, err := newCluster("rsched-pg-")
	if err != nil {
		return nil, err
	}
	p := c.p
	fail := func(err error) (*Postgres, error) {
		_ = p.Stop()
		return nil, err
	}
	if clientCIDR != "" {
		if err := allowClients(c.data, clientCIDR, listen); err != nil {
			return fail(err)
		}
	}
	if err := p.start(c.postgres, c.data, listen, c.password, c.cred); err != nil {
		return fail(err)
	}
	if err := p.exec("CREATE DATABASE rsched"); err != nil {
		return fail(err)
	}
	p.URL = p.databaseURL(listen, c.password, "rsched")
	return p, nil
}

// cluster is an initialised, not yet started PostgreSQL cluster: the server binary, the user it
// runs as, its data directory and its superuser's password.
type cluster struct {
	p              *Postgres
	postgres, data string
	password       string
	cred           *syscall.Credential
}

// newCluster finds the binaries and runs initdb in a new temporary directory (named with prefix),
// with a random password for the superuser "rsched". On error nothing is left behind.
func newCluster(prefix string) (cluster, error) {
	initdb, err := lookupExecutable("PostgreSQL", "RSCHED_PG_BINDIR", "hack/postgres.sh", "initdb")
	if err != nil {
		return cluster{}, err
	}
	postgres, err := lookupExecutable("PostgreSQL", "RSCHED_PG_BINDIR", "hack/postgres.sh", "postgres")
	if err != nil {
		return cluster{}, err
	}
	cred, err := unprivilegedCredential()
	if err != nil {
		return cluster{}, err
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return cluster{}, err
	}
	c := cluster{p: &Postgres{dir: dir}, postgres: postgres, data: filepath.Join(dir, "data"), cred: cred}
	pw := make([]byte, 18)
	if _, err := rand.Read(pw); err != nil {
		_ = c.p.Stop()
		return cluster{}, err
	}
	c.password = hex.EncodeToString(pw)
	if err := initCluster(initdb, dir, c.data, c.password, cred); err != nil {
		_ = c.p.Stop()
		return cluster{}, err
	}
	return c, nil
}

// initCluster runs initdb into data as cred (PostgreSQL refuses to run as root, and the
// directory must belong to the user that runs it), with one superuser "rsched" and password.
func initCluster(initdb, dir, data, password string, cred *syscall.Credential) error {
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	defer func() { _ = os.Remove(pwfile) }()
	if cred != nil {
		for _, f := range []string{dir, pwfile} {
			if err := os.Chown(f, int(cred.Uid), int(cred.Gid)); err != nil {
				return err
			}
		}
	}
	init := exec.Command(initdb, "-D", data, "-U", "rsched", "--pwfile", pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	init.Dir = dir
	if out, err := init.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

// allowClients lets clientCIDR, and the host itself on the address it listens on, sign in with
// a password.
func allowClients(data, clientCIDR, listen string) error {
	hba, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(hba, "host all all %s scram-sha-256\nhost all all %s/32 scram-sha-256\n", clientCIDR, listen)
	if cerr := hba.Close(); err == nil {
		err = cerr
	}
	return err
}

// start runs the server on a free port until it accepts connections, trying three ports: the
// free port may be taken by someone else before the server binds it.
func (p *Postgres) start(postgres, data, listen, password string, cred *syscall.Credential) error {
	var err, lastErr error
	for range 3 {
		if p.Port, err = freePort(false); err != nil {
			return err
		}
		cmd := exec.Command(postgres, "-D", data,
			"-p", strconv.Itoa(p.Port),
			"-c", "listen_addresses="+listen,
			"-c", "unix_socket_directories="+p.dir,
			"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
			"-c", "max_connections=200")
		cmd.Args = append(cmd.Args, p.serverArgs...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Dir = p.dir
		if p.proc, err = startProcess("postgres", cmd); err != nil {
			return err
		}
		p.URL = p.databaseURL(listen, password, "postgres")
		if lastErr = p.waitReady(30 * time.Second); lastErr == nil {
			return nil
		}
		_ = p.proc.stop(syscall.SIGINT, 10*time.Second)
		p.proc = nil
	}
	return lastErr
}

func (p *Postgres) databaseURL(listen, password, database string) string {
	host, query := listen, "sslmode=disable"
	if p.urlHost != "" {
		host, query = p.urlHost, p.urlQuery
	}
	return (&url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("rsched", password),
		Host:     net.JoinHostPort(host, strconv.Itoa(p.Port)),
		Path:     "/" + database,
		RawQuery: query,
	}).String()
}

// String describes the cluster without its password, so that printing a Postgres (%v, %+v)
// never leaks it.
func (p *Postgres) String() string {
	u, err := url.Parse(p.URL)
	if err != nil {
		return fmt.Sprintf("postgres on 127.0.0.1:%d", p.Port)
	}
	return "postgres " + u.Redacted()
}

func (p *Postgres) exec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

// waitReady connects until the server accepts connections.
func (p *Postgres) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, p.URL)
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		if p.proc.exited() {
			return fmt.Errorf("postgres exited before accepting connections:\n%s", p.proc.out.String())
		}
		if time.Now().After(deadline) {
			// pgconn redacts the password in its errors; the URL itself is never printed.
			return fmt.Errorf("postgres on port %d not ready after %s: %v\n%s", p.Port, timeout, err, p.proc.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CreateDatabase creates an empty database named name (letters, digits, underscore) in this
// cluster and returns its URL, so tests sharing one cluster never share tables.
func (p *Postgres) CreateDatabase(name string) (string, error) {
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return "", fmt.Errorf("database name %q: use a-z, 0-9 and _", name)
		}
	}
	if err := p.exec("CREATE DATABASE " + name); err != nil {
		return "", err
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// Pid is the process ID of the postmaster (also the process group of all its backends).
func (p *Postgres) Pid() int { return p.proc.Pid() }

// Stop shuts the server down (fast shutdown: SIGINT) and removes the cluster's files. It fails if
// any server process outlives it.
func (p *Postgres) Stop() error {
	var err error
	if p.proc != nil {
		err = p.proc.stop(syscall.SIGINT, 15*time.Second)
		p.proc = nil
	}
	if p.dir != "" {
		if rmErr := os.RemoveAll(p.dir); rmErr != nil && err == nil {
			err = rmErr
		}
		p.dir = ""
	}
	return err
}

// unprivilegedCredential is nil when we are not root. As root, PostgreSQL will not start, so the
// server runs as the "postgres" system user (Debian's package creates it) or else "nobody".
func unprivilegedCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root and no unprivileged user (postgres or nobody) to run PostgreSQL as")
}
