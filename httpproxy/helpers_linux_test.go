//go:build linux

package httpproxy

import (
	"net"

	"github.com/sluicelb/sluice/internal/tcpsock"
)

// heldListener accepts as the runtime does on Linux, through tcpsock, so
// that the connections the tests serve are those sluice serves (whose
// writes can be deferred, wbatch.go).
type heldListener struct {
	net.Listener
	a *tcpsock.Acceptor
}

func (l *heldListener) Accept() (net.Conn, error) {
	c, err := l.a.Accept()
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (l *heldListener) Close() error {
	l.a.Close()
	return l.Listener.Close()
}

// runtimeListener returns ln accepting as the runtime does.
func runtimeListener(ln net.Listener) net.Listener {
	a, err := tcpsock.NewAcceptor(ln.(*net.TCPListener))
	if err != nil {
		return ln
	}
	return &heldListener{ln, a}
}
