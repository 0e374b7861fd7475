package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// report is the -json output.
type report struct {
	Requests       int            `json:"requests"`
	WarmupRequests int            `json:"warmup_requests"`
	RPS            float64        `json:"rps"`
	P50            float64        `json:"p50_ms"`
	P90            float64        `json:"p90_ms"`
	P99            float64        `json:"p99_ms"`
	Max            float64        `json:"max_ms"`
	Status         map[string]int `json:"status"`
	Non2xx         int            `json:"non2xx"`
	Errors         int            `json:"errors"`
}

func runJSON(t *testing.T, args ...string) (report, int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"-json", "-c", "4", "-d", "300ms", "-warmup", "100ms"}, args...), &stdout, &stderr)
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("output is not one JSON object: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	return r, code, stderr.String()
}

func TestLoadCountsEveryRequestTheServerAnsweredAndSendsMethodHeadersAndBody(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("X-Bench") != "yes" || r.Header.Get("Authorization") != "Bearer abc" || string(body) != `{"a":1}` {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()

	r, code, stderr := runJSON(t, "-url", srv.URL, "-method", "POST", "-H", "X-Bench: yes", "-H", "Authorization: Bearer abc", "-body", `{"a":1}`)
	if code != 0 {
		t.Fatalf("exit status %d, want 0; stderr: %s", code, stderr)
	}
	if r.Requests == 0 || r.WarmupRequests == 0 {
		t.Fatalf("requests=%d warmup=%d, want both > 0", r.Requests, r.WarmupRequests)
	}
	// Every request the server saw is either warm-up or measured, and Run waits for all of them.
	if got := int64(r.Requests + r.WarmupRequests); got != served.Load() {
		t.Errorf("measured %d + warm-up %d = %d requests, the server answered %d", r.Requests, r.WarmupRequests, got, served.Load())
	}
	if r.Status["200"] != r.Requests || len(r.Status) != 1 || r.Non2xx != 0 || r.Errors != 0 {
		t.Errorf("status=%v non2xx=%d errors=%d, want all %d requests 200", r.Status, r.Non2xx, r.Errors, r.Requests)
	}
	if r.RPS <= 0 {
		t.Errorf("rps=%v", r.RPS)
	}
	if !(0 < r.P50 && r.P50 <= r.P90 && r.P90 <= r.P99 && r.P99 <= r.Max) {
		t.Errorf("percentiles not ordered: p50=%v p90=%v p99=%v max=%v", r.P50, r.P90, r.P99, r.Max)
	}
}

func TestLoadCountsNon2xxByStatusAndExitsOne(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()

	r, code, stderr := runJSON(t, "-url", srv.URL)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if r.Status["201"] == 0 || r.Status["503"] == 0 || r.Status["201"]+r.Status["503"] != r.Requests {
		t.Errorf("status=%v for %d requests, want both 201 and 503 adding up", r.Status, r.Requests)
	}
	if r.Non2xx != r.Status["503"] || r.Errors != 0 {
		t.Errorf("non2xx=%d errors=%d, want %d and 0", r.Non2xx, r.Errors, r.Status["503"])
	}
	if !strings.Contains(stderr, "non-2xx") || !strings.Contains(stderr, "503:") {
		t.Errorf("stderr does not report the non-2xx responses by status: %q", stderr)
	}
}

func TestLoadCountsTransportErrorsAndExitsOne(t *testing.T) {
	// A port bound but never listened on: every connection is refused, and no other test's
	// server can take the port meanwhile (a port closed a moment ago could be reused by a test
	// running in parallel, which then answered).
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))

	r, code, stderr := runJSON(t, "-url", "http://"+addr+"/")
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if r.Errors == 0 || r.Errors != r.Requests || len(r.Status) != 0 {
		t.Errorf("errors=%d requests=%d status=%v, want every request a transport error", r.Errors, r.Requests, r.Status)
	}
	if !strings.Contains(stderr, "transport errors") || !strings.Contains(stderr, "refused") {
		t.Errorf("stderr does not show the errors: %q", stderr)
	}
}

func TestLoadTextLineAndUsageErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-url", srv.URL, "-c", "2", "-d", "100ms", "-warmup", "0"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d; stderr: %s", code, stderr.String())
	}
	line := strings.TrimSpace(stdout.String())
	for _, key := range []string{"rps=", " p50=", " p90=", " p99=", " max=", " n=", " non2xx=0", " errors=0"} {
		if !strings.Contains(line, key) || strings.Contains(line, "\n") {
			t.Errorf("text output %q lacks %q or is not one line", line, key)
		}
	}
	for _, args := range [][]string{{}, {"-url", srv.URL, "-c", "0"}, {"-url", srv.URL, "-H", "no colon"}, {"-url", "http://[::1"}} {
		if code := run(context.Background(), args, io.Discard, io.Discard); code != 2 {
			t.Errorf("%q: exit status %d, want 2", args, code)
		}
	}
}
