//go:build unix

package listen

import (
	"os"
	"syscall"
)

// DupCloexec duplicates the descriptor fd, close-on-exec: a listening
// socket handed to a worker, or a second registration of one with the
// poller.
func DupCloexec(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return -1, os.NewSyscallError("fcntl", e)
	}
	return int(r), nil
}
