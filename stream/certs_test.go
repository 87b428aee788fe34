package stream

import (
	"crypto/tls"
	"net"
	"testing"
)

// loopback is the IP address every certificate of these tests names, so
// that clients may verify it by address.
var loopback = []net.IP{net.ParseIP("127.0.0.1")}

// startTLSBackend is a TLS server that answers each connection with its
// name once the handshake is done, then echoes one line.
func startTLSBackend(t *testing.T, name string, cfg *tls.Config) *backend {
	t.Helper()
	return startBackend(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		tc.Write([]byte("backend " + name + "\n"))
		buf := make([]byte, 512)
		n, _ := tc.Read(buf)
		tc.Write(buf[:n])
		tc.Close()
	})
}
