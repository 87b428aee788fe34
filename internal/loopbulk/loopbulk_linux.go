//go:build linux

package loopbulk

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// tcpCongestion is TCP_CONGESTION (not in package syscall).
const tcpCongestion = 13

// unpaced lists the congestion controls Unpace tries, in order. chosen is
// the index of the one that was last accepted, so that the next call
// tries it first.
var (
	unpaced = [...]string{"cubic", "reno"}
	chosen  atomic.Int32
)

// Unpace switches c, when it is a TCP connection whose peer is on this
// host, from bbr to an unpaced congestion control. It does nothing to any
// other connection, and nothing when the switch is refused.
//
// The kernel keeps pacing a socket that bbr once paced, after the switch,
// at a rate of the new congestion control's: UnpaceLoopback, on a socket
// that has carried nothing yet, takes it off pacing altogether.
func Unpace(c net.Conn) {
	if !Local(addrOf(c.LocalAddr()), addrOf(c.RemoteAddr())) {
		return
	}
	if rc := rawConn(c); rc != nil {
		rc.Control(func(fd uintptr) {
			if strings.HasPrefix(congestion(fd), "bbr") {
				unpace(fd)
			}
		})
	}
}

// UnpaceLoopback gives the socket fd, about to listen on or connect to
// address (host:port), an unpaced congestion control when address is a
// loopback address and the system's default is bbr: every connection of
// such a socket stays on this host. A listening socket's connections
// inherit it. It is meant for a socket that has carried nothing yet, so
// that bbr never starts pacing it.
func UnpaceLoopback(fd uintptr, address string) {
	if !defaultBBR() {
		return
	}
	if ap, err := netip.ParseAddrPort(address); err != nil || !ap.Addr().Unmap().IsLoopback() {
		return
	}
	unpace(fd)
}

// unpace sets the first unpaced congestion control the kernel accepts on
// the socket fd.
func unpace(fd uintptr) {
	first := int(chosen.Load())
	for i := range unpaced {
		k := (first + i) % len(unpaced)
		if syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, tcpCongestion, unpaced[k]) == nil {
			chosen.Store(int32(k))
			return
		}
	}
}

// defaultBBR reports whether the system's default congestion control,
// read once, is bbr.
var defaultBBR = sync.OnceValue(func() bool {
	return strings.HasPrefix(sysctl("net/ipv4/tcp_congestion_control"), "bbr")
})

// sysctl returns the value of the kernel setting name (a path under
// /proc/sys), or "" when it cannot be read.
func sysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// congestion returns the name of the congestion control of the socket
// fd, or "" when it cannot be read.
func congestion(fd uintptr) string {
	var name [16]byte
	n := uint32(len(name))
	_, _, e := syscall.RawSyscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, tcpCongestion, uintptr(unsafe.Pointer(&name[0])), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return ""
	}
	s := string(name[:min(int(n), len(name))])
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return s
}

// Congestion returns the name of the congestion control of c, or "" when
// it has none or it cannot be read.
func Congestion(c net.Conn) string {
	rc := rawConn(c)
	if rc == nil {
		return ""
	}
	var s string
	rc.Control(func(fd uintptr) { s = congestion(fd) })
	return s
}

// rawConn returns the raw connection of c, or nil when it has none.
func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// addrOf returns the IP address of a TCP address, or the zero Addr.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
