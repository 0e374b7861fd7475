package controllers

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/testenv"
)

// serverAndPostgres builds the real API server (cmd/scheduler) while a real PostgreSQL starts,
// for the tests that run the server beside the operator.
func serverAndPostgres(t *testing.T) (string, *testenv.Postgres) {
	t.Helper()
	type built struct {
		bin string
		err error
	}
	buildDone := make(chan built, 1)
	go func() {
		bin, cleanup, err := testenv.BuildBinary("cmd/scheduler")
		if err == nil {
			t.Cleanup(cleanup)
		}
		buildDone <- built{bin, err}
	}()
	pg := testenv.StartPostgres(t)
	b := <-buildDone
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin, pg
}

// runServer starts the server binary with a config file, its output in out, and stops it
// (SIGTERM, then SIGKILL after 20 s) when the test ends, calling onFailure first if the test
// failed. The channel closes when the process exits.
func runServer(t *testing.T, bin, configPath string, out *testenv.OutputBuffer, onFailure func()) <-chan struct{} {
	t.Helper()
	cmd := exec.Command(bin, "--config", configPath)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			onFailure()
		}
	})
	return done
}
