//go:build linux

package loopcc

import (
	"net"
	"syscall"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// setCongestion sets the congestion control of c, or skips the test
// when this host does not allow it.
func setCongestion(t *testing.T, c *net.TCPConn, name string) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, tcpCongestion, name)
	})
	if serr != nil {
		t.Skipf("congestion control %s not allowed here: %v", name, serr)
	}
	if got := Congestion(c); got != name {
		t.Fatalf("congestion control is %q after setting %q", got, name)
	}
}

func TestBulkLeavesBbr(t *testing.T) {
	a, _ := testutil.TCPPair(t)
	setCongestion(t, a, "bbr")
	Bulk(a)
	if got := Congestion(a); got != "cubic" && got != "reno" {
		t.Fatalf("congestion control after Bulk on loopback: %q, want cubic or reno", got)
	}
	// A second call finds nothing to do.
	Bulk(a)
	if got := Congestion(a); got != "cubic" && got != "reno" {
		t.Fatalf("congestion control after a second Bulk: %q", got)
	}
}

func TestBulkKeepsOthers(t *testing.T) {
	a, _ := testutil.TCPPair(t)
	setCongestion(t, a, "reno")
	Bulk(a)
	if got := Congestion(a); got != "reno" {
		t.Fatalf("Bulk changed reno to %q", got)
	}
}
