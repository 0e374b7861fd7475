package httpapi

import (
	"net/netip"
	"testing"
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
