//go:build linux

package runtime

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/loopbulk"
	"github.com/sluicelb/sluice/internal/testutil"
)

// TestLoopbackListenerUnpaced: on a host whose congestion control is bbr,
// a connection accepted on a loopback address is on cubic (or reno) from
// its first byte, so that the kernel never paces it; one accepted on the
// wildcard address keeps bbr.
func TestLoopbackListenerUnpaced(t *testing.T) {
	testutil.NeedBBR(t)
	for _, tc := range []struct {
		addr    string
		unpaced bool
	}{{"127.0.0.1:0", true}, {"0.0.0.0:0", false}} {
		ln, err := openListener(Binding{Network: "tcp", Address: tc.addr})
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ac, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got := loopbulk.Congestion(ac)
		if unpaced := got == "cubic" || got == "reno"; unpaced != tc.unpaced || !unpaced && !strings.HasPrefix(got, "bbr") {
			t.Errorf("listening on %s: accepted connection on %q, want unpaced: %v", tc.addr, got, tc.unpaced)
		}
		c.Close()
		ac.Close()
		ln.Close()
	}
}
