//go:build linux

package loopbulk

import (
	"net"
	"strconv"
	"sync"
	"syscall"
)

// ReceiveCap is the receive buffer CapReceive gives a socket.
const ReceiveCap = 1 << 20

// rmemMax is net.core.rmem_max, read once: the most SO_RCVBUF may ask for.
var rmemMax = sync.OnceValue(func() int {
	n, _ := strconv.Atoi(sysctl("net/core/rmem_max"))
	return n
})

// CanCapReceive reports whether net.core.rmem_max allows ReceiveCap.
func CanCapReceive() bool { return rmemMax() >= ReceiveCap }

// CapReceive sets the receive buffer of c, when it is a TCP connection
// whose peer is on this host, to ReceiveCap. It does nothing to any other
// connection, and nothing where net.core.rmem_max does not allow
// ReceiveCap.
func CapReceive(c net.Conn) {
	if !CanCapReceive() || !Local(addrOf(c.LocalAddr()), addrOf(c.RemoteAddr())) {
		return
	}
	if rc := rawConn(c); rc != nil {
		rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, ReceiveCap)
		})
	}
}
