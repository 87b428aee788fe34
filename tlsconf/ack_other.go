//go:build !linux

package tlsconf

import "net"

// AckFinished does nothing where TCP_QUICKACK does not exist (see
// ack_linux.go).
func AckFinished(raw net.Conn) {}
