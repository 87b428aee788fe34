//go:build !linux

package httpproxy

import (
	"net/netip"
	"syscall"
)

// sysRead is read(2) on a non-blocking socket.
func sysRead(fd int, b []byte) (int, error) { return syscall.Read(fd, b) }

// sysWrite is write(2) on a non-blocking socket.
func sysWrite(fd int, b []byte) (int, error) { return syscall.Write(fd, b) }

// sysConnect is connect(2) on a non-blocking socket; v6 says the socket is
// AF_INET6.
func sysConnect(fd int, ap netip.AddrPort, v6 bool) error {
	if v6 {
		return syscall.Connect(fd, &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()})
	}
	return syscall.Connect(fd, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
}
