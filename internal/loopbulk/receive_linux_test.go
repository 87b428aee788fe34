//go:build linux

package loopbulk

import (
	"net"
	"syscall"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// receiveBuffer returns the receive buffer of c as SO_RCVBUF reads it.
func receiveBuffer(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var serr error
	rc.Control(func(fd uintptr) {
		n, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	if serr != nil {
		t.Fatal(serr)
	}
	return n
}

func TestCapReceive(t *testing.T) {
	if !CanCapReceive() {
		t.Skipf("net.core.rmem_max is %d, below %d", rmemMax(), ReceiveCap)
	}
	a, b := testutil.TCPPair(t)
	before := receiveBuffer(t, b)
	CapReceive(a)
	// The kernel doubles what SO_RCVBUF asks for.
	if got := receiveBuffer(t, a); got != 2*ReceiveCap {
		t.Errorf("receive buffer after CapReceive: %d, want %d", got, 2*ReceiveCap)
	}
	if got := receiveBuffer(t, b); got != before {
		t.Errorf("the peer's receive buffer changed from %d to %d", before, got)
	}
}
