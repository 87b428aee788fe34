//go:build linux

package loopbulk

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

func TestUnpaceLeavesBbr(t *testing.T) {
	a, _ := testutil.TCPPair(t)
	setCongestion(t, a, "bbr")
	Unpace(a)
	if got := Congestion(a); got != "cubic" && got != "reno" {
		t.Fatalf("congestion control after Unpace on loopback: %q, want cubic or reno", got)
	}
	// A second call finds nothing to do.
	Unpace(a)
	if got := Congestion(a); got != "cubic" && got != "reno" {
		t.Fatalf("congestion control after a second Unpace: %q", got)
	}
}

func TestUnpaceKeepsOthers(t *testing.T) {
	a, _ := testutil.TCPPair(t)
	setCongestion(t, a, "reno")
	Unpace(a)
	if got := Congestion(a); got != "reno" {
		t.Fatalf("Unpace changed reno to %q", got)
	}
}
