//go:build !linux

package httpproxy

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// haveSock says whether dialSock can be used; elsewhere than on Linux,
// upstream connections are made by net.Dialer.
const haveSock = false

// upSock is the Linux upstream socket (upsock_linux.go).
type upSock struct {
	net.Conn
	connecting bool
}

func dialSock(netip.AddrPort, time.Duration, bool, bool) (*upSock, error) {
	return nil, errors.New("httpproxy: no socket dialer on this platform")
}

func (*upSock) setNoDelay()                         {}
func (*upSock) finishConnect(time.Duration) error   { return nil }
func (*upSock) firstWrite(int, error) (bool, error) { return false, nil }
func isDialError(error) bool                        { return false }
