package httpproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/sluicelb/sluice/internal/testutil"
	"github.com/sluicelb/sluice/proxyproto"
)

// ppV2 is a version 2 PROXY header from src to dst, with tlvs.
func ppV2(t *testing.T, src, dst string, tlvs ...proxyproto.TLV) string {
	t.Helper()
	h := proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Source: netip.MustParseAddrPort(src), Destination: netip.MustParseAddrPort(dst), TLVs: tlvs}
	h.Transport = proxyproto.TCP4
	if h.Source.Addr().Is6() {
		h.Transport = proxyproto.TCP6
	}
	b, err := h.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ppDiffConf has a listen with proxy_protocol, one server that takes the
// client address from the header (real_ip_header proxy_protocol) and one
// that takes it from X-Forwarded-For at the server level, with a
// server-level if on $remote_addr (nginx's realip runs before it) and a
// location with realip settings of its own (they do not run again).
const ppDiffConf = `
	server { listen LISTEN proxy_protocol; server_name pp;
		set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol;
		location / { return 200 "a=$remote_addr pp=$proxy_protocol_addr:$proxy_protocol_port srv=$proxy_protocol_server_addr:$proxy_protocol_server_port ra=$realip_remote_addr\n"; }
	}
	server { listen LISTEN; server_name xff;
		set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;
		if ($remote_addr = 10.1.1.1) { return 403 "srv-if $remote_addr\n"; }
		location / { return 200 "a=$remote_addr pp=$proxy_protocol_addr\n"; }
		location /r { rewrite ^ /x last; }
		location /x { set_real_ip_from 10.0.0.0/8; real_ip_recursive on; return 200 "x $remote_addr\n"; }
	}`

// TestProxyProtocolNginxDifferential sends version 1 and 2 PROXY headers,
// broken ones and none to nginx and sluice on one configuration and
// compares what the client gets.
func TestProxyProtocolNginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	nginxAddr := startNginx(t, ppDiffConf)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(ppDiffConf, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]
	get := func(host, path, extra string) string {
		return "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\n" + extra + "\r\n"
	}
	v2 := ppV2(t, "9.9.9.9:2222", "8.8.8.8:443")
	cases := []string{
		"PROXY TCP4 1.2.3.4 5.6.7.8 1111 80\r\n" + get("pp", "/", ""),
		"PROXY TCP6 2001:db8::1 2001:db8::2 1111 443\r\n" + get("pp", "/", ""),
		"PROXY UNKNOWN\r\n" + get("pp", "/", ""),
		"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n" + get("pp", "/", ""),
		v2 + get("pp", "/", ""),
		ppV2(t, "[2001:db8::7]:7", "[2001:db8::8]:8", proxyproto.TLV{Type: proxyproto.TypeAuthority, Value: []byte("example.com")}) + get("pp", "/", ""),
		"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00" + get("pp", "/", ""), // LOCAL
		"PROXY TCP9 1.2.3.4 5.6.7.8 1111 80\r\n" + get("pp", "/", ""),
		get("pp", "/", ""),
		v2 + get("xff", "/", "X-Forwarded-For: 10.1.1.1\r\n"),
		v2 + get("xff", "/", "X-Forwarded-For: 10.1.1.2\r\n"),
		v2 + get("xff", "/r", "X-Forwarded-For: 10.1.1.2\r\n"),
		v2 + get("xff", "/r", "X-Forwarded-For: 10.2.2.2, 10.1.1.1\r\n"),
		v2 + get("xff", "/x", "X-Forwarded-For: 10.2.2.2, 10.1.1.3\r\n"),
		v2 + get("xff", "/x", ""),
	}
	for _, req := range cases {
		want := normalizeResponse(rawRequest(t, nginxAddr, req), nginxAddr)
		got := normalizeResponse(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if got != want {
			t.Errorf("%q:\nsluice:\n%s\nnginx:\n%s", req, got, want)
		}
	}
	for _, want := range []string{
		`broken header: "PROXY TCP9 1.2.3.4 5.6.7.8 1111 80` + "\r\n",
		`broken header: "GET / HTTP/1.0` + "\r\n",
		"while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:18080",
	} {
		if !strings.Contains(h.errs.String(), want) {
			t.Errorf("error log lacks %q:\n%s", want, h.errs.String())
		}
	}
}

// TestProxyProtocolHTTP covers what the differential test does not: a
// header split over two writes (nginx calls it broken; sluice waits), the
// variables in the access log (not found without a header), ports, a
// client that sends nothing within client_header_timeout, and a header
// followed by TLS and by HTTP/2.
func TestProxyProtocolHTTP(t *testing.T) {
	cert := testutil.NewCert(t, testutil.CertOptions{ECDSA: true, DNS: []string{"a.test"}})
	crt, key := cert.CertFile, cert.KeyFile
	h := startProxy(t, `events {} http {
		log_format pp "$remote_addr|$remote_port|$proxy_protocol_addr|$proxy_protocol_port|$proxy_protocol_server_addr|$proxy_protocol_server_port|$realip_remote_addr";
		access_log {{DIR}}/logs/pp.log pp;
		client_header_timeout 300ms;
		set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol;
		server { listen 127.0.0.1:18080 proxy_protocol; listen 127.0.0.1:18081;
			location / { return 200 "a=$remote_addr:$remote_port pp=$proxy_protocol_addr proto=$server_protocol\n"; } }
		server { listen 127.0.0.1:18443 ssl proxy_protocol http2; ssl_certificate `+crt+`; ssl_certificate_key `+key+`;
			location / { return 200 "tls a=$remote_addr:$remote_port pp=$proxy_protocol_addr proto=$server_protocol\n"; } }
		server { listen 127.0.0.1:18082 proxy_protocol http2;
			location / { return 200 "h2c a=$remote_addr:$remote_port pp=$proxy_protocol_addr proto=$server_protocol\n"; } }
	}`, Options{})
	dial := func(listen string) net.Conn {
		c, err := net.DialTimeout("tcp", h.addr[listen], waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(waitLimit))
		t.Cleanup(func() { c.Close() })
		return c
	}
	// split header
	c := dial("127.0.0.1:18080")
	io.WriteString(c, "PROXY TCP4 1.2.3.4 5.6.")
	time.Sleep(50 * time.Millisecond) // two segments: the proxy sees the first alone
	io.WriteString(c, "7.8 1111 80\r\nGET / HTTP/1.0\r\n\r\n")
	b, _ := io.ReadAll(c)
	if !bytes.HasSuffix(b, []byte("a=1.2.3.4:1111 pp=1.2.3.4 proto=HTTP/1.0\n")) {
		t.Errorf("split header: %q", b)
	}
	// no header on the listen without proxy_protocol
	b = []byte(rawRequest(t, h.addr["127.0.0.1:18081"], "GET / HTTP/1.0\r\n\r\n"))
	if !bytes.Contains(b, []byte("a=127.0.0.1:")) || !bytes.HasSuffix(b, []byte(" pp= proto=HTTP/1.0\n")) {
		t.Errorf("without proxy_protocol: %q", b)
	}
	// nothing sent: closed after client_header_timeout, without an answer
	c = dial("127.0.0.1:18080")
	start := time.Now()
	if b, _ := io.ReadAll(c); len(b) != 0 || time.Since(start) < 250*time.Millisecond {
		t.Errorf("silent client: %q after %v", b, time.Since(start))
	}
	// TLS after the header, with HTTP/2 negotiated
	c = dial("127.0.0.1:18443")
	io.WriteString(c, ppV2(t, "[2001:db8::5]:5555", "[2001:db8::6]:443"))
	tc := tls.Client(c, &tls.Config{ServerName: "a.test", RootCAs: testutil.CertPool(cert), NextProtos: []string{"http/1.1"}})
	io.WriteString(tc, "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
	b, _ = io.ReadAll(tc)
	if !bytes.HasSuffix(b, []byte("tls a=2001:db8::5:5555 pp=2001:db8::5 proto=HTTP/1.1\n")) {
		t.Errorf("TLS after the header: %q", b)
	}
	// HTTP/2 with prior knowledge after the header
	hc := &http.Client{Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, waitLimit)
			if err == nil {
				_, err = io.WriteString(c, "PROXY TCP4 4.4.4.4 5.5.5.5 4444 80\r\n")
			}
			return c, err
		},
	}, Timeout: waitLimit}
	resp, err := hc.Get("http://" + h.addr["127.0.0.1:18082"] + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "h2c a=4.4.4.4:4444 pp=4.4.4.4 proto=HTTP/2.0\n" {
		t.Errorf("h2c after the header: %q", b)
	}
	var lines []string
	testutil.WaitFor(t, "four log lines", func() bool {
		b, _ := os.ReadFile(filepath.Join(h.dir, "logs/pp.log"))
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) >= 4
	})
	if !strings.HasPrefix(lines[0], "1.2.3.4|1111|1.2.3.4|1111|5.6.7.8|80|127.0.0.1") {
		t.Errorf("log of the split header: %q", lines[0])
	}
	if f := strings.Split(lines[1], "|"); len(f) != 7 || f[0] != "127.0.0.1" || f[2] != "-" || f[3] != "-" || f[4] != "-" || f[5] != "-" {
		t.Errorf("log without a header: %q", lines[1])
	}
	if !strings.Contains(h.errs.String(), "client timed out (110: Connection timed out) while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:18080") {
		t.Errorf("error log:\n%s", h.errs.String())
	}
}

// TestProxyProtocolHAProxy: HAProxy's send-proxy and send-proxy-v2 in
// front of an http listen ... proxy_protocol give the client's address
// and port to sluice.
func TestProxyProtocolHAProxy(t *testing.T) {
	h := startProxy(t, `events {} http {
		server { listen 127.0.0.1:18080 proxy_protocol;
			set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol;
			location / { return 200 "$remote_addr:$remote_port $proxy_protocol_server_port"; } }
	}`, Options{})
	p1, p2 := testutil.FreePort(t), testutil.FreePort(t)
	testutil.StartHAProxy(t, fmt.Sprintf(`%s
listen v1
    bind 127.0.0.1:%d
    server s %s send-proxy
listen v2
    bind 127.0.0.1:%d
    server s %s send-proxy-v2
`, testutil.HAProxyDefaults, p1, h.addr["127.0.0.1:18080"], p2, h.addr["127.0.0.1:18080"]),
		fmt.Sprint("127.0.0.1:", p1), fmt.Sprint("127.0.0.1:", p2))
	for _, p := range []int{p1, p2} {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: waitLimit}
		c, err := d.Dial("tcp", fmt.Sprint("127.0.0.1:", p))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(waitLimit))
		io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
		b, _ := io.ReadAll(c)
		c.Close()
		want := fmt.Sprintf("\r\n\r\n127.0.0.2:%d %d", c.LocalAddr().(*net.TCPAddr).Port, p)
		if !bytes.HasSuffix(b, []byte(want)) {
			t.Errorf("through haproxy on port %d: %q, want it to end with %q", p, b, want)
		}
	}
}
