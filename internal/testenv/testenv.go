package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// RepoRoot is the root of the rsched repository, so tests in any package can reach config/ and
// hack/. It comes from this source file's location, or, when that is not a real path (a
// -trimpath build), from the nearest go.mod above the working directory.
func RepoRoot() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	}
	dir, err := os.Getwd()
	if err != nil {
		panic("testenv: cannot find the repository root: " + err.Error())
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module github.com/rsched/rsched\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			panic("testenv: cannot find the repository root (no go.mod of github.com/rsched/rsched above the working directory)")
		}
		dir = parent
	}
}

// CBC returns the path of the cbc binary (COIN-OR's exact MILP solver), which the scheduling
// tests compare the native solver with.
func CBC() (string, error) {
	return lookupExecutable("CBC", "RSCHED_CBC_BIN", "hack/get-cbc.sh", "")
}

// MissingComponentError says which component is missing and how to get it.
type MissingComponentError struct {
	Component string
	EnvVar    string
	Script    string
	Detail    string
}

func (e *MissingComponentError) Error() string {
	return fmt.Sprintf("%s is not available (%s): run `make test`, or `export %s=\"$(%s)\"` and run the tests again",
		e.Component, e.Detail, e.EnvVar, e.Script)
}

// lookupExecutable returns envVar's value joined with name when that is an executable file.
func lookupExecutable(component, envVar, script, name string) (string, error) {
	dir := os.Getenv(envVar)
	if dir == "" {
		return "", &MissingComponentError{Component: component, EnvVar: envVar, Script: script, Detail: envVar + " is not set"}
	}
	path := dir
	if name != "" {
		path = filepath.Join(dir, name)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", &MissingComponentError{Component: component, EnvVar: envVar, Script: script, Detail: path + " is not an executable file"}
	}
	return path, nil
}

// handedOut are the ports freePort has returned in this process.
var handedOut sync.Map

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. With consecutive set, the
// port after it was free too (Vault's dev server binds port+1 for its cluster listener).
func freePort(consecutive bool) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		// The kernel may hand a just-closed port out again at once: two calls in a row (an API
		// and a metrics address) once got the same port. A port is given out once per process.
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			_ = l.Close()
			continue
		}
		if !consecutive {
			_ = l.Close()
			return port, nil
		}
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = l2.Close()
		if _, taken := handedOut.LoadOrStore(port+1, true); !taken {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free pair of loopback ports found")
}

// procState reads the state letter and process group of pid from /proc/<pid>/stat.
func procState(pid int) (state string, pgid int, ok bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, false
	}
	// The command name (field 2) may contain spaces, so split after its closing parenthesis.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, false
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 3 {
		return "", 0, false
	}
	pgid, err = strconv.Atoi(fields[2])
	return fields[0], pgid, err == nil
}

// ProcessAlive reports whether pid is a live process (not gone, not a zombie).
func ProcessAlive(pid int) bool {
	state, _, ok := procState(pid)
	return ok && state != "Z" && state != "X"
}

// ProcessGroupAlive reports the PIDs of live processes in process group pgid. The components
// are started in their own process group, so after a stop this must be empty: a PostgreSQL
// backend left behind would show up here.
func ProcessGroupAlive(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, pg, ok := procState(pid); ok && pg == pgid && state != "Z" && state != "X" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ownGroup makes the child the leader of a new process group, and kills it if the test binary
// dies first, so an interrupted test leaves nothing behind.
func ownGroup() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
