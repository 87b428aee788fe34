package httpproxy

import (
	"syscall"
	"unsafe"
)

// peerClosed reports whether the peer of socket fd has shut its side
// (FIN or reset), even while bytes it sent are still unread: a TLS client
// sends close_notify before it closes, so peeking for end of file is not
// enough. It does not wait.
func peerClosed(fd uintptr) bool {
	const (
		pollIN    = 0x1
		pollERR   = 0x8
		pollHUP   = 0x10
		pollRDHUP = 0x2000
	)
	pfd := struct {
		fd      int32
		events  int16
		revents int16
	}{fd: int32(fd), events: pollIN | pollRDHUP}
	var ts syscall.Timespec
	n, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if errno != 0 || n == 0 {
		return false
	}
	return pfd.revents&(pollRDHUP|pollHUP|pollERR) != 0
}

// canWatchTLS says whether peerClosed works here.
const canWatchTLS = true
