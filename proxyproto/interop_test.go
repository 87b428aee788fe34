package proxyproto

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// received is what the test backend saw on one connection.
type received struct {
	h       Header
	raw     []byte // the header bytes as sent
	payload string
	err     error
}

// startBackend listens on loopback and parses a PROXY header on every
// connection, then reads one payload line and answers "ok\n".
func startBackend(t *testing.T) (addr netip.AddrPort, out <-chan received) {
	t.Helper()
	ln := testutil.Listen(t)
	ch := make(chan received, 16)
	testutil.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		rec := &recorder{r: c}
		br := bufio.NewReader(rec)
		var r received
		r.h, r.err = Read(br)
		if r.err == nil {
			r.raw = append([]byte{}, rec.buf[:len(rec.buf)-br.Buffered()]...)
			r.payload, r.err = br.ReadString('\n')
			io.WriteString(c, "ok\n")
		}
		ch <- r
	})
	return ln.Addr().(*net.TCPAddr).AddrPort(), ch
}

// recorder keeps a copy of everything read through it.
type recorder struct {
	r   io.Reader
	buf []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf = append(r.buf, p[:n]...)
	return n, err
}

// exchange connects to addr from a loopback address, writes pre (a header
// or nothing) and a payload line, and waits for the backend's answer and
// record.
func exchange(t *testing.T, network, addr string, pre []byte, payload string, out <-chan received) (local netip.AddrPort, r received) {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(append([]byte{}, pre...), payload...)); err != nil {
		t.Fatal(err)
	}
	answer, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || answer != "ok\n" {
		t.Fatalf("answer through %s: %q, %v", addr, answer, err)
	}
	// Readiness probes may have reached the backend with no payload; skip
	// their records.
	timeout := time.After(10 * time.Second)
	for r.payload == "" {
		select {
		case r = <-out:
			if r.payload == "" {
				t.Logf("skipping a connection without payload: %+v", r)
			}
		case <-timeout:
			t.Fatal("backend recorded nothing")
		}
	}
	if r.err != nil {
		t.Fatalf("backend: %v", r.err)
	}
	if r.payload != payload {
		t.Errorf("payload = %q, want %q", r.payload, payload)
	}
	return c.LocalAddr().(*net.TCPAddr).AddrPort(), r
}

// TestHAProxyInterop runs haproxy on loopback: it sends version 1 and 2
// headers (send-proxy, send-proxy-v2 with a unique ID) to a backend that
// parses them, and it receives headers this package writes (accept-proxy)
// and relays their addresses and authority with send-proxy-v2.
func TestHAProxyInterop(t *testing.T) {
	bin := "/usr/sbin/haproxy"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("haproxy is not installed")
	}
	backend, out := startBackend(t)
	p1 := testutil.FreePort(t)
	p2 := testutil.FreePort(t)
	p3 := testutil.FreePort(t)
	cfg := testutil.HAProxyDefaults + fmt.Sprintf(`frontend v1
    bind 127.0.0.1:%d
    default_backend v1
backend v1
    server s 127.0.0.1:%d send-proxy
frontend v2
    bind 127.0.0.1:%d
    unique-id-format conn-%%ci-%%cp
    default_backend v2
backend v2
    server s 127.0.0.1:%d send-proxy-v2 proxy-v2-options unique-id
frontend accept
    bind 127.0.0.1:%d accept-proxy
    default_backend accept
backend accept
    server s 127.0.0.1:%d send-proxy-v2 proxy-v2-options authority
`, p1, backend.Port(), p2, backend.Port(), p3, backend.Port())
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a1, a2, a3 := fmt.Sprint("127.0.0.1:", p1), fmt.Sprint("127.0.0.1:", p2), fmt.Sprint("127.0.0.1:", p3)
	testutil.Daemon{Path: bin, Args: []string{"-db", "-f", path}, Ready: []string{a1, a2, a3}}.Start(t)

	t.Run("send-proxy", func(t *testing.T) {
		local, r := exchange(t, "tcp", a1, nil, "hello v1\n", out)
		want := Header{Version: 1, Command: Proxy, Transport: TCP4, Source: local, Destination: netip.MustParseAddrPort(a1)}
		if fmt.Sprint(r.h) != fmt.Sprint(want) {
			t.Errorf("header = %+v, want %+v (raw %q)", r.h, want, r.raw)
		}
	})
	t.Run("send-proxy-v2", func(t *testing.T) {
		local, r := exchange(t, "tcp", a2, nil, "hello v2\n", out)
		if r.h.Version != 2 || r.h.Command != Proxy || r.h.Transport != TCP4 ||
			r.h.Source != local || r.h.Destination != netip.MustParseAddrPort(a2) {
			t.Errorf("header = %+v, want PROXY TCP4 from %v to %v", r.h, local, a2)
		}
		if id, want := string(r.h.UniqueID()), fmt.Sprintf("conn-127.0.0.1-%d", local.Port()); id != want {
			t.Errorf("unique ID = %q, want %q", id, want)
		}
	})
	accept := []struct {
		name string
		h    Header
	}{
		{"v1 tcp4", Header{Version: 1, Command: Proxy, Transport: TCP4,
			Source: netip.MustParseAddrPort("203.0.113.7:4242"), Destination: netip.MustParseAddrPort("198.51.100.9:443")}},
		{"v1 tcp6", Header{Version: 1, Command: Proxy, Transport: TCP6,
			Source: netip.MustParseAddrPort("[2001:db8::7]:4242"), Destination: netip.MustParseAddrPort("[2001:db8:1::9]:443")}},
		{"v2 tcp4 with crc32c and authority", Header{Version: 2, Command: Proxy, Transport: TCP4,
			Source: netip.MustParseAddrPort("203.0.113.8:1"), Destination: netip.MustParseAddrPort("198.51.100.9:65535"),
			TLVs: []TLV{{TypeAuthority, []byte("api.example")}, {TypeNOOP, []byte("pad")}, {TypeCRC32C, nil}}}},
		{"v2 tcp6", Header{Version: 2, Command: Proxy, Transport: TCP6,
			Source: netip.MustParseAddrPort("[2001:db8::8]:5555"), Destination: netip.MustParseAddrPort("[::1]:80")}},
	}
	for _, tt := range accept {
		t.Run("accept-proxy "+tt.name, func(t *testing.T) {
			pre, err := tt.h.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			_, r := exchange(t, "tcp", a3, pre, "via accept-proxy\n", out)
			if r.h.Source != tt.h.Source || r.h.Destination != tt.h.Destination {
				t.Errorf("haproxy relayed %v -> %v, want %v -> %v", r.h.Source, r.h.Destination, tt.h.Source, tt.h.Destination)
			}
			if want := tt.h.Authority(); r.h.Authority() != want {
				t.Errorf("haproxy relayed authority %q, want %q", r.h.Authority(), want)
			}
		})
	}
	// Headers haproxy rejects must be rejected here too. (haproxy accepts
	// some headers the specification forbids, such as ports with leading
	// zeros, port 65536 or the address 1.2.3; this package rejects those.)
	for _, bad := range []string{
		"PROXY TCP4 203.0.113.7 198.51.100.9 4242 443 \r\n",
		"PROXY TCP4 203.0.113.7 198.51.100.9 4242 443\n",
		"PROXY TCP4 203.0.113.7  198.51.100.9 4242 443\r\n",
		"PROXY TCP6 203.0.113.7 198.51.100.9 4242 443\r\n",
		"PROXY TCP4 ::1 ::1 4242 443\r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY TCP4 203.0.113.7 198.51.100.9 +4242 443\r\n",
		"PROXY TCP4 203.0.113.7 198.51.100.9 4242 443x\r\n",
		"PROXY TCP6 fe80::1%lo ::1 4242 443\r\n",
		string(v2(0x22, 0x11, inet4)),
		string(v2(0x21, 0x11, inet4[:8])),
	} {
		t.Run(fmt.Sprintf("both reject %q", bad), func(t *testing.T) {
			if _, _, err := Parse([]byte(bad + "x\n")); !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse = %v, want ErrInvalid", err)
			}
			c, err := net.DialTimeout("tcp", a3, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, bad+"x\n")
			if n, err := c.Read(make([]byte, 1)); err == nil {
				t.Errorf("haproxy accepted it and answered %d bytes", n)
			}
		})
	}
}

// TestNginxInterop runs nginx's stream module on loopback: nginx writes
// version 1 headers (proxy_protocol on), which must parse and match this
// package's encoding byte for byte, and nginx reads version 1 and 2 headers
// this package writes (listen ... proxy_protocol).
func TestNginxInterop(t *testing.T) {
	testutil.SkipUnless(t, testutil.NginxPath, testutil.NginxStreamModule)
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback")
	} else {
		ln.Close()
	}
	backend, out := startBackend(t)
	p1 := testutil.FreePort(t)
	p2 := testutil.FreePort(t)
	dir := t.TempDir()
	cfg := testutil.NginxStreamConf(dir, fmt.Sprintf(`    server {
        listen 127.0.0.1:%d;
        listen [::1]:%d;
        proxy_pass 127.0.0.1:%d;
        proxy_protocol on;
    }
    server {
        listen 127.0.0.1:%d proxy_protocol;
        return "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port\n";
    }
`, p1, p1, backend.Port(), p2))
	a4, a6 := fmt.Sprint("127.0.0.1:", p1), fmt.Sprint("[::1]:", p1)
	nginx := testutil.Nginx(t, dir, cfg)
	nginx.Ready = []string{a4, a6}
	nginx.Start(t)
	for _, a := range []string{a4, a6} {
		t.Run("proxy_protocol on via "+a, func(t *testing.T) {
			local, r := exchange(t, "tcp", a, nil, "hello\n", out)
			want := FromAddrs(1, net.TCPAddrFromAddrPort(local), net.TCPAddrFromAddrPort(netip.MustParseAddrPort(a)))
			if r.h.Source != want.Source || r.h.Destination != want.Destination || r.h.Transport != want.Transport {
				t.Errorf("nginx sent %+v, want %+v", r.h, want)
			}
			enc, err := want.Bytes()
			if err != nil || string(enc) != string(r.raw) {
				t.Errorf("nginx wrote %q, this package writes %q (%v)", r.raw, enc, err)
			}
		})
	}
	for _, h := range []Header{
		{Version: 1, Command: Proxy, Transport: TCP4, Source: netip.MustParseAddrPort("203.0.113.7:4242"), Destination: netip.MustParseAddrPort("198.51.100.9:443")},
		{Version: 1, Command: Proxy, Transport: TCP6, Source: netip.MustParseAddrPort("[2001:db8::7]:4242"), Destination: netip.MustParseAddrPort("[::ffff:10.1.2.3]:443")},
		{Version: 2, Command: Proxy, Transport: TCP4, Source: netip.MustParseAddrPort("203.0.113.8:1"), Destination: netip.MustParseAddrPort("198.51.100.9:2"),
			TLVs: []TLV{{TypeAuthority, []byte("api.example")}, {TypeCRC32C, nil}}},
		{Version: 2, Command: Proxy, Transport: TCP6, Source: netip.MustParseAddrPort("[2001:db8::8]:5555"), Destination: netip.MustParseAddrPort("[::1]:80")},
	} {
		t.Run(fmt.Sprintf("listen proxy_protocol v%d %v", h.Version, h.Transport), func(t *testing.T) {
			pre, err := h.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.DialTimeout("tcp", fmt.Sprint("127.0.0.1:", p2), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(pre)
			line, err := bufio.NewReader(c).ReadString('\n')
			want := fmt.Sprintf("%s %d %s %d\n", nginxAddr(h.Source.Addr()), h.Source.Port(), nginxAddr(h.Destination.Addr()), h.Destination.Port())
			if err != nil || line != want {
				t.Errorf("nginx read %q, %v; want %q", line, err, want)
			}
		})
	}
}

// nginxAddr is how nginx prints an address it read from a PROXY header.
func nginxAddr(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	return string(appendIPv6(nil, a.As16()))
}
