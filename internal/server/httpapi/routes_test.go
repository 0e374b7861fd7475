package httpapi

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPerAddressLimitsCountIPv6ByItsSlash64(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7":              "ip:198.51.100.7",
		"::ffff:198.51.100.7":       "ip:::ffff:198.51.100.7",
		"2001:db8:1:2:aaaa::1":      "net:2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::9": "net:2001:db8:1:2::/64",
		"2001:db8:1:3::1":           "net:2001:db8:1:3::/64",
	} {
		if got := addressKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// rsched_rate_limited_total starts at 0 for each of limitNames; a route limited by a name missing
// there would count its first refusal from a series born at 1, which increase() cannot see.
func TestEveryNamedLimitOfARouteStartsAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newHTTPMetrics(reg)
	seen := map[string]bool{}
	for _, rt := range (&server{}).routes() {
		if rt.Limit == "" || seen[rt.Limit] {
			continue
		}
		seen[rt.Limit] = true
		if !slices.Contains(limitNames, rt.Limit) {
			t.Errorf("%s %s: limit %q is not in limitNames", rt.Method, rt.Pattern, rt.Limit)
		}
	}
	for _, l := range limitNames {
		if !seen[l] {
			t.Errorf("limitNames holds %q, which no route uses", l)
		}
	}
	if got := testutil.CollectAndCount(m.rateLimited); got != len(limitNames) {
		t.Errorf("rsched_rate_limited_total has %d series before any request, want %d (one per limit)", got, len(limitNames))
	}
	if got := testutil.ToFloat64(m.rateLimited.WithLabelValues("login")); got != 0 {
		t.Errorf("rsched_rate_limited_total{limit=\"login\"} = %v, want 0", got)
	}
}
