//go:build !linux

package httpproxy

// peerClosed cannot tell without Linux's POLLRDHUP: clients of TLS
// connections are not watched (see clientWatch).
func peerClosed(fd uintptr) bool { return false }

const canWatchTLS = false
