package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is a child started in its own process group, with its output kept for failure reports.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *OutputBuffer
	done chan struct{}
	err  error // set before done is closed
}

// OutputBuffer collects a child process's output: safe for concurrent use, and it keeps only the
// last 512 KiB once it passes 1 MiB, so a long-running server cannot grow a test's memory
// without bound.
type OutputBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *OutputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		tail := append([]byte(nil), b.buf.Bytes()[b.buf.Len()-(512<<10):]...)
		b.buf.Reset()
		b.buf.Write(tail)
	}
	return b.buf.Write(p)
}

// String returns what was kept.
func (b *OutputBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startProcess(name string, cmd *exec.Cmd) (*process, error) {
	p := &process{name: name, cmd: cmd, out: &OutputBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = ownGroup()
	} else {
		cmd.SysProcAttr.Setpgid = true
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Pid is the process ID, which is also its process group ID.
func (p *process) Pid() int { return p.cmd.Process.Pid }

// stop sends sig to the whole process group, waits up to grace, then SIGKILLs the group. It
// returns an error when something of the group is still alive afterwards.
func (p *process) stop(sig syscall.Signal, grace time.Duration) error {
	pgid := p.Pid()
	_ = syscall.Kill(-pgid, sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children of the leader (PostgreSQL backends) leave shortly after it; give them a moment,
	// then make sure.
	deadline := time.Now().Add(5 * time.Second)
	for len(ProcessGroupAlive(pgid)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := ProcessGroupAlive(pgid); len(left) > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return fmt.Errorf("%s: processes %v of group %d outlived the stop", p.name, left, pgid)
	}
	var exitErr *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exitErr) {
		return fmt.Errorf("%s: %w", p.name, p.err)
	}
	return nil
}
