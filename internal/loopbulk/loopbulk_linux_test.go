//go:build linux

package loopbulk

import (
	"net"
	"strings"
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

// needDefaultBBR skips the test unless the system's default congestion
// control is bbr, the only case UnpaceLoopback acts on.
func needDefaultBBR(t *testing.T) {
	t.Helper()
	if !defaultBBR() {
		t.Skip("the system's default congestion control is not bbr")
	}
}

// TestUnpaceLoopbackListener: a listener on a loopback address that
// UnpaceLoopback set up hands out connections that were never on bbr,
// and so are not paced; its client's end keeps the default.
func TestUnpaceLoopbackListener(t *testing.T) {
	needDefaultBBR(t)
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		lc := net.ListenConfig{Control: func(_, address string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { UnpaceLoopback(fd, address) })
		}}
		ln, err := lc.Listen(t.Context(), "tcp", addr)
		if err != nil {
			t.Logf("%s: %v", addr, err) // no IPv6 here
			continue
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		ac, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if got := Congestion(ac); got != "cubic" && got != "reno" {
			t.Errorf("%s: accepted connection on %q, want cubic or reno", addr, got)
		}
		if got := Congestion(c); !strings.HasPrefix(got, "bbr") {
			t.Errorf("%s: the client's end changed to %q", addr, got)
		}
		c.Close()
		ac.Close()
		ln.Close()
	}
}

// TestUnpaceLoopbackOthers: a socket for any other address keeps the
// system's default.
func TestUnpaceLoopbackOthers(t *testing.T) {
	needDefaultBBR(t)
	for _, addr := range []string{"192.0.2.1:80", "[2001:db8::1]:80", "0.0.0.0:80", "[::]:80", "localhost:80", ""} {
		fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		UnpaceLoopback(uintptr(fd), addr)
		if got := congestion(uintptr(fd)); !strings.HasPrefix(got, "bbr") {
			t.Errorf("UnpaceLoopback(%q) set %q", addr, got)
		}
		syscall.Close(fd)
	}
}
