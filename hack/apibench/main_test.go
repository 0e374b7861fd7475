package main

import (
	"strings"
	"testing"

	"github.com/rsched/rsched/internal/server/auth"
)

func TestRandomPasswordsMeetTheServersPasswordPolicy(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		pw, err := randomPassword(24)
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != 24 || seen[pw] {
			t.Fatalf("password of %d characters, or repeated", len(pw))
		}
		seen[pw] = true
		if err := auth.DefaultPasswordPolicy.Check(pw, "benchadmin", "bench@example.org"); err != nil {
			t.Fatalf("a generated password breaks the policy: %v", err) // the password itself is not printed
		}
	}
}

func TestParseWrkReadsRateLatenciesAndErrors(t *testing.T) {
	w, err := parseWrk(`Running 5s test @ http://127.0.0.1:8080/api/v1/auth/me
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.00ms    2.00ms  30.00ms   90.00%
  Latency Distribution
     50%  457.00us
     75%    1.00ms
     90%    2.00ms
     99%    1.02s
  290000 requests in 5.00s, 40.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:  58086.87
Transfer/sec:      8.00MB
`)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkFigures{rps: 58086.87, p50: "0.46ms", p99: "1020.00ms", non2xx: 12, socketErrors: 5}
	if w != want {
		t.Errorf("got %+v, want %+v", w, want)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil || !strings.Contains(err.Error(), "Requests/sec") {
		t.Errorf("output without figures: err = %v", err)
	}
}
