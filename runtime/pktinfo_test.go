package runtime

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// TestUDPWildcardRepliesFromDestination checks that a session of a
// listener on a wildcard address knows the address its client sent to
// and that its replies leave from that address: the clients' sockets are
// connected, so the kernel drops a reply from any other address.
func TestUDPWildcardRepliesFromDestination(t *testing.T) {
	cases := []struct {
		network, listen string
		clients         []string
	}{
		{"udp4", "0.0.0.0:0", []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{"udp", "0.0.0.0:0", []string{"127.0.0.1", "127.0.0.2"}}, // dual-stack socket
		{"udp6", "[::]:0", []string{"::1"}},
		{"udp", "127.0.0.1:0", []string{"127.0.0.1"}}, // not a wildcard
	}
	for _, tc := range cases {
		t.Run(tc.network+" "+tc.listen, func(t *testing.T) {
			pc, err := net.ListenPacket(tc.network, tc.listen)
			if err != nil {
				t.Skipf("listen: %v", err)
			}
			l := newPacketListener(pc.(*net.UDPConn))
			port := pc.LocalAddr().(*net.UDPAddr).Port
			testutil.Serve(t, l, func(c net.Conn) {
				c.SetReadDeadline(time.Now().Add(waitLimitUDP))
				buf := make([]byte, 100)
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				c.Write([]byte(c.LocalAddr().String() + "|" + string(buf[:n])))
			})
			for _, ip := range tc.clients {
				to := net.JoinHostPort(ip, strconv.Itoa(port))
				c, err := net.Dial("udp", to)
				if err != nil {
					t.Fatal(err)
				}
				got := ask(t, c, "hello", 1, waitLimitUDP)
				c.Close()
				if want := to + "|hello"; len(got) != 1 || got[0] != want {
					t.Errorf("client to %s got %q, want %q", to, got, want)
				}
			}
		})
	}
}

const waitLimitUDP = 5 * time.Second
