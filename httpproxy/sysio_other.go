//go:build !linux

package httpproxy

import "syscall"

// sysRead is read(2) on a non-blocking socket.
func sysRead(fd int, b []byte) (int, error) { return syscall.Read(fd, b) }

// sysWrite is write(2) on a non-blocking socket.
func sysWrite(fd int, b []byte) (int, error) { return syscall.Write(fd, b) }
