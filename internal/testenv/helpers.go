package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// RunWithPostgres runs a package's tests with one PostgreSQL cluster shared by them, handed to use
// before any test runs, and returns the exit code for TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.RunWithPostgres(m, func(p *testenv.Postgres) { pg = p })) }
//
// Tests then take a database each with Postgres.CreateDatabase.
func RunWithPostgres(m *testing.M, use func(*Postgres)) int {
	p, err := NewPostgres()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	use(p)
	code := m.Run()
	if err := p.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping PostgreSQL:", err)
		code = 1
	}
	return code
}

// BuildBinary builds the main package in dir (relative to the repository root, e.g. "cmd/manager")
// into a temporary directory, for tests that run the real binary. It returns the binary and a
// function that removes it.
func BuildBinary(dir string) (string, func(), error) {
	tmp, err := os.MkdirTemp("", "rsched-bin-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(tmp, filepath.Base(dir))
	cmd := exec.Command("go", "build", "-o", bin, "./"+dir)
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("go build ./%s: %w\n%s", dir, err, out)
	}
	return bin, func() { _ = os.RemoveAll(tmp) }, nil
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := freePort(false)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// Eventually polls cond every 100 ms until it holds, and fails the test after timeout with the
// last detail cond gave.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s (last: %s)", what, timeout, last)
}
