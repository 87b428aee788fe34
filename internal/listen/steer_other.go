//go:build !linux

package listen

// SteerLocal does nothing here: the kernel's own choice stays.
func SteerLocal(fd, n int) error { return nil }
