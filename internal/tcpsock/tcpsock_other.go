//go:build !linux

// Package tcpsock is an accepted TCP connection registered with the
// runtime's poller directly (Linux only; elsewhere the net package's
// connections are used).
package tcpsock

import (
	"errors"
	"net"
)

// Supported says whether Accept can be used on this platform.
const Supported = false

// Conn is the Linux accepted connection (tcpsock_linux.go).
type Conn struct{ net.Conn }

// Acceptor is the Linux acceptor (tcpsock_linux.go).
type Acceptor struct{}

// NewAcceptor fails: there is no such connection on this platform.
func NewAcceptor(*net.TCPListener) (*Acceptor, error) {
	return nil, errors.New("tcpsock: not supported on this platform")
}

func (*Acceptor) Accept() (*Conn, error) { return nil, net.ErrClosed }
func (*Acceptor) Close() error           { return nil }
