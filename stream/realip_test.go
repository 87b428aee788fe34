package stream

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
	"github.com/sluicelb/sluice/proxyproto"
)

const realipFormat = `log_format rip '$status|$remote_addr|$remote_port|$realip_remote_addr|$realip_remote_port|$proxy_protocol_addr';`

func TestRealIP(t *testing.T) {
	be := echoBackend(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} rip;
    server {
        listen 127.0.0.1:1 proxy_protocol;
        set_real_ip_from 127.0.0.0/8;
        deny 192.0.2.66;
        proxy_pass %s;
    }
    server {
        listen 127.0.0.1:2 proxy_protocol;
        set_real_ip_from 10.0.0.0/8;
        proxy_pass %[2]s;
    }
    server {
        listen 127.0.0.1:3;
        set_real_ip_from 127.0.0.1;
        proxy_pass %[2]s;
    }
}`, realipFormat, be.addr()), nil)
	tests := []struct {
		listen, pre, answer, log string
	}{
		{"127.0.0.1:1", "PROXY TCP4 192.0.2.1 198.51.100.2 1234 443\r\n", "echo x\n", "200|192.0.2.1|1234|127.0.0.1|%d|192.0.2.1"},
		{"127.0.0.1:1", "PROXY TCP4 192.0.2.66 198.51.100.2 1234 443\r\n", "", "403|192.0.2.66|1234|127.0.0.1|%d|192.0.2.66"},
		// Not a trusted peer: the header is read but the address stays.
		{"127.0.0.1:2", "PROXY TCP4 192.0.2.1 198.51.100.2 1234 443\r\n", "echo x\n", "200|127.0.0.1|%[1]d|127.0.0.1|%[1]d|192.0.2.1"},
		// No PROXY protocol on the listen: nothing to take the address from.
		{"127.0.0.1:3", "", "echo x\n", "200|127.0.0.1|%[1]d|127.0.0.1|%[1]d|-"},
	}
	for _, tc := range tests {
		c := h.dial(tc.listen)
		port := c.LocalAddr().(*net.TCPAddr).Port
		io.WriteString(c, tc.pre+"x\n")
		got, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if got != tc.answer {
			t.Errorf("%s: answer %q", tc.listen, got)
		}
		h.waitSessions(1)
		l := h.logLines()
		if want := fmt.Sprintf(tc.log, port); l[len(l)-1] != want {
			t.Errorf("%s: log %q, want %q", tc.listen, l[len(l)-1], want)
		}
	}
}

// dialFrom connects to addr from the loopback address 127.0.0.2, so that
// the client address differs from the proxies' own.
func dialFrom(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: waitLimit}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(waitLimit))
	return c
}

// TestHAProxySendsProxy puts haproxy (send-proxy and send-proxy-v2) in
// front of sluice's listen ... proxy_protocol with set_real_ip_from.
func TestHAProxySendsProxy(t *testing.T) {
	testutil.Need(t, "haproxy")
	be := echoBackend(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} rip;
    server {
        listen 127.0.0.1:1 proxy_protocol;
        set_real_ip_from 127.0.0.1;
        proxy_pass %s;
    }
}`, realipFormat, be.addr()), nil)
	p1, p2 := testutil.FreePort(t), testutil.FreePort(t)
	testutil.StartHAProxy(t, fmt.Sprintf(`%s
listen v1
    bind 127.0.0.1:%d
    server s %s send-proxy
listen v2
    bind 127.0.0.1:%d
    server s %s send-proxy-v2
`, testutil.HAProxyDefaults, p1, h.addr["127.0.0.1:1"], p2, h.addr["127.0.0.1:1"]),
		fmt.Sprint("127.0.0.1:", p1), fmt.Sprint("127.0.0.1:", p2))
	// haproxy's readiness probes reach sluice as sessions without a
	// header; leave them out of the count.
	for _, p := range []int{p1, p2} {
		c := dialFrom(t, fmt.Sprint("127.0.0.1:", p))
		port := c.LocalAddr().(*net.TCPAddr).Port
		io.WriteString(c, "x\n")
		got, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if got != "echo x\n" {
			t.Errorf("port %d: answer %q", p, got)
		}
		want := fmt.Sprintf("200|127.0.0.2|%d|127.0.0.1|", port)
		found := false
		deadline := time.Now().Add(waitLimit)
		for !found && time.Now().Before(deadline) {
			<-h.ended
			for _, l := range h.logLines() {
				found = found || strings.HasPrefix(l, want)
			}
		}
		if !found {
			t.Errorf("port %d: no log line %q in %q", p, want, h.logLines())
		}
	}
}

// TestHAProxyAcceptsProxy puts sluice's proxy_protocol (on: version 1,
// and the extension v2) in front of haproxy's accept-proxy; haproxy
// passes the address on to a backend that reads it.
func TestHAProxyAcceptsProxy(t *testing.T) {
	testutil.Need(t, "haproxy")
	seen := make(chan string, 10)
	be := startBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		hdr, err := proxyproto.Read(br)
		if err != nil {
			return
		}
		l, _ := br.ReadString('\n')
		seen <- hdr.Source.String()
		io.WriteString(c, "echo "+l)
	})
	p := testutil.FreePort(t)
	testutil.StartHAProxy(t, fmt.Sprintf(`%s
listen in
    bind 127.0.0.1:%d accept-proxy
    server s %s send-proxy-v2
`, testutil.HAProxyDefaults, p, be.addr()), fmt.Sprint("127.0.0.1:", p))
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    server {
        listen 127.0.0.1:1;
        proxy_protocol on;
        proxy_pass 127.0.0.1:%[1]d;
    }
    server {
        listen 127.0.0.1:2;
        proxy_protocol v2;
        proxy_pass 127.0.0.1:%[1]d;
    }
}`, p), nil)
	for _, listen := range []string{"127.0.0.1:1", "127.0.0.1:2"} {
		c := dialFrom(t, h.addr[listen])
		io.WriteString(c, "x\n")
		got, _ := bufio.NewReader(c).ReadString('\n')
		local := c.LocalAddr().String()
		c.Close()
		if got != "echo x\n" {
			t.Fatalf("%s: answer %q", listen, got)
		}
		select {
		case src := <-seen:
			if src != local {
				t.Errorf("%s: haproxy passed on %s, want %s", listen, src, local)
			}
		case <-time.After(waitLimit):
			t.Fatalf("%s: backend saw no header", listen)
		}
	}
}

// TestProxyProtocolV2Relay: proxy_protocol v2 relays the header a client
// connection came with (listen ... proxy_protocol), TLVs aside, and a
// LOCAL header as LOCAL.
func TestProxyProtocolV2Relay(t *testing.T) {
	seen := make(chan proxyproto.Header, 4)
	be := startBackend(t, func(c net.Conn) {
		hdr, err := proxyproto.Read(bufio.NewReader(c))
		if err == nil {
			seen <- hdr
		}
		io.WriteString(c, "ok")
	})
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    server {
        listen 127.0.0.1:1 proxy_protocol;
        proxy_protocol v2;
        proxy_pass %s;
    }
}`, be.addr()), nil)
	for _, in := range []string{
		"PROXY TCP6 2001:db8::1 2001:db8::2 1111 443\r\n",
		"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00",
	} {
		c, err := net.DialTimeout("tcp", h.addr["127.0.0.1:1"], waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(waitLimit))
		io.WriteString(c, in)
		io.ReadAll(c)
		c.Close()
		select {
		case hdr := <-seen:
			if hdr.Version != 2 {
				t.Errorf("%q: version %d", in, hdr.Version)
			}
			if strings.HasPrefix(in, "PROXY") && (hdr.Source.String() != "[2001:db8::1]:1111" || hdr.Destination.String() != "[2001:db8::2]:443" || hdr.Transport != proxyproto.TCP6) {
				t.Errorf("relayed %+v", hdr)
			}
			if !strings.HasPrefix(in, "PROXY") && !hdr.IsLocal() {
				t.Errorf("a LOCAL header relayed as %+v", hdr)
			}
		case <-time.After(waitLimit):
			t.Fatalf("%q: backend saw no header", in)
		}
	}
}
