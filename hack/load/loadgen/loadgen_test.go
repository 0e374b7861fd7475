package loadgen

import (
	"testing"
	"time"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one value", ms(7), 0.99, 7 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 0.50, 50 * time.Millisecond},
		{"p90 of 1..100", ms(hundred...), 0.90, 90 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p100 of 1..100", ms(hundred...), 1, 100 * time.Millisecond},
		{"p50 of an even count rounds up the rank", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of ten values is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
	} {
		if got := Percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestResultLineAndNon2xx(t *testing.T) {
	r := Result{Requests: 10, RPS: 1234.56, P50: 1234 * time.Microsecond, P90: 2 * time.Millisecond,
		P99: 4560 * time.Microsecond, Max: 10 * time.Millisecond, Status: map[int]int{200: 7, 404: 2, 503: 1}}
	if got, want := r.String(), "rps=1234.6 p50=1.23ms p90=2.00ms p99=4.56ms max=10.00ms n=10 non2xx=3 errors=0"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := r.StatusSummary(); got != "200:7 404:2 503:1" {
		t.Errorf("StatusSummary = %q", got)
	}
	if r.OK() {
		t.Error("OK with non-2xx responses")
	}
}
