//go:build linux

package loopbulk

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ReceiveCap is the receive buffer CapReceive gives a socket.
const ReceiveCap = 1 << 20

// rmemMax reads net.core.rmem_max once: the most SO_RCVBUF may ask for.
var rmemMax = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
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
