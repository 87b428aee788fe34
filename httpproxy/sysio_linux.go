package httpproxy

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// sysRead and sysWrite are recv(2) and send(2) on a non-blocking socket
// made without entering the scheduler's syscall state: they never block,
// so the processor stays with the goroutine and the runtime has no reason
// to hand it to another thread meanwhile (which it does for a system call
// that outlasts its 20 µs check, as a loopback write often does, at the
// price of thread wake-ups and context switches). The socket calls skip
// the file layer that read(2) and write(2) go through (the position
// lock, the iterator set-up), and send never raises SIGPIPE.
func sysRead(fd int, b []byte) (int, error) { return sysIO(syscall.SYS_RECVFROM, fd, b, 0) }

func sysWrite(fd int, b []byte) (int, error) {
	return sysIO(syscall.SYS_SENDTO, fd, b, syscall.MSG_NOSIGNAL)
}

// sysIO makes the recvfrom(2) or sendto(2) call trap on b, with flags
// and no address.
func sysIO(trap uintptr, fd int, b []byte, flags uintptr) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), flags, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// sysConnect is connect(2) on a non-blocking socket, made the same way: on
// loopback the whole handshake runs inside the call, long enough for the
// runtime to take the processor away from a call that entered the
// syscall state. v6 says the socket is AF_INET6 (ap is then used as an
// IPv6 address, IPv4-mapped if need be).
func sysConnect(fd int, ap netip.AddrPort, v6 bool) error {
	var e syscall.Errno
	port := ap.Port()
	if v6 {
		sa := syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: ap.Addr().As16()}
		*(*[2]byte)(unsafe.Pointer(&sa.Port)) = [2]byte{byte(port >> 8), byte(port)} // network byte order
		_, _, e = syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	} else {
		sa := syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: ap.Addr().As4()}
		*(*[2]byte)(unsafe.Pointer(&sa.Port)) = [2]byte{byte(port >> 8), byte(port)}
		_, _, e = syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	}
	if e != 0 {
		return e
	}
	return nil
}
