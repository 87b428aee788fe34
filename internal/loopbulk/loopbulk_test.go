package loopbulk

import (
	"net/netip"
	"testing"
)

func TestLocal(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		local, remote netip.Addr
		want          bool
	}{
		{a("127.0.0.1"), a("127.0.0.1"), true},
		{a("127.0.0.1"), a("127.0.0.2"), true},
		{a("::1"), a("::1"), true},
		{a("10.0.0.5"), a("10.0.0.5"), true},   // another address of this host
		{a("10.0.0.5"), a("10.0.0.6"), false},  // another host
		{a("10.0.0.5"), a("192.0.2.1"), false}, // another host
		{a("10.0.0.5"), netip.Addr{}, false},
	} {
		if got := Local(tc.local, tc.remote); got != tc.want {
			t.Errorf("Local(%v, %v) = %v, want %v", tc.local, tc.remote, got, tc.want)
		}
	}
}
