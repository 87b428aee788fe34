package stream

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

const prereadFormat = `log_format pre '$status|$upstream_addr|$ssl_preread_server_name|$ssl_preread_alpn_protocols|$ssl_preread_protocol|$bytes_received';`

// sniSetup starts two TLS backends with certificates of their own (for
// a.example and b.example), a plain echo backend, and sluice routing by
// $ssl_preread_server_name as in the seed article.
func sniSetup(t *testing.T, extra string) (h *harness, a, b *testutil.Cert, plain *backend) {
	t.Helper()
	a = testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "a.example", DNS: []string{"a.example"}})
	b = testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "b.example", DNS: []string{"b.example"}, ECDSA: true})
	ba := startTLSBackend(t, "a", &tls.Config{Certificates: []tls.Certificate{a.TLS}})
	bb := startTLSBackend(t, "b", &tls.Config{Certificates: []tls.Certificate{b.TLS}})
	plain = startBackend(t, func(c net.Conn) {
		l, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "plain "+l)
	})
	h = startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} pre;
    map $ssl_preread_server_name $backend {
        a.example      backend_a;
        b.example      backend_b;
        default        backend_default;
    }
    upstream backend_a { server %s; }
    upstream backend_b { server %s; }
    upstream backend_default { server %s; }
    server {
        listen 127.0.0.1:9443;
        ssl_preread on;
        proxy_pass $backend;
        %s
    }
}`, prereadFormat, ba.addr(), bb.addr(), plain.addr(), extra), nil)
	return h, a, b, plain
}

func TestPrereadRoutesBySNI(t *testing.T) {
	h, a, b, _ := sniSetup(t, "")
	tests := []struct {
		sni   string
		alpn  []string
		want  *testutil.Cert
		name  string
		proto string
	}{
		{"a.example", []string{"h2", "http/1.1"}, a, "a", "TLSv1.3"},
		{"b.example", nil, b, "b", "TLSv1.3"},
	}
	for _, tc := range tests {
		raw := h.dial("127.0.0.1:9443")
		c := tls.Client(raw, &tls.Config{ServerName: tc.sni, RootCAs: testutil.CertPool(a, b), NextProtos: tc.alpn})
		if err := c.Handshake(); err != nil {
			t.Fatalf("%s: handshake: %v", tc.sni, err)
		}
		got := c.ConnectionState().PeerCertificates[0]
		if !got.Equal(tc.want.Cert) {
			t.Errorf("%s: certificate of %q", tc.sni, got.Subject.CommonName)
		}
		r := bufio.NewReader(c)
		if l := readLine(t, r); l != "backend "+tc.name+"\n" {
			t.Errorf("%s: greeting %q", tc.sni, l)
		}
		io.WriteString(c, "ping\n")
		if l := readLine(t, r); l != "ping\n" {
			t.Errorf("%s: echo %q", tc.sni, l)
		}
		c.Close()
	}
	h.waitSessions(len(tests))
	lines := h.logLines()
	if len(lines) != len(tests) {
		t.Fatalf("log %q", lines)
	}
	for _, tc := range tests {
		want := fmt.Sprintf("200|%%s|%s|%s|%s|", tc.sni, strings.Join(tc.alpn, ","), tc.proto)
		found := false
		for _, l := range lines {
			f := strings.Split(l, "|")
			if strings.HasPrefix(l, "200|") && fmt.Sprintf(want, f[1]) == strings.Join(f[:5], "|")+"|" {
				found = true
			}
		}
		if !found {
			t.Errorf("no log line for %s in %q", tc.sni, lines)
		}
	}
}

// TestPrereadOpenSSL checks the route with a real TLS stack: openssl
// s_client must get the certificate of the backend its SNI names.
func TestPrereadOpenSSL(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is required in CI")
		}
		t.Skip("openssl not installed")
	}
	h, _, _, _ := sniSetup(t, "")
	for _, name := range []string{"a.example", "b.example"} {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		cmd := exec.CommandContext(ctx, bin, "s_client", "-connect", h.addr["127.0.0.1:9443"], "-servername", name)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil && !strings.Contains(string(out), "subject=") {
			t.Fatalf("openssl: %v\n%s", err, out)
		}
		subj := regexp.MustCompile(`(?m)^subject=.*CN ?= ?([a-z.]+)`).FindStringSubmatch(string(out))
		if subj == nil || subj[1] != name {
			t.Errorf("-servername %s: subject %v\n%s", name, subj, out)
		}
	}
}

func TestPrereadNotTLSGoesOn(t *testing.T) {
	h, _, _, plain := sniSetup(t, "")
	if got := h.request("127.0.0.1:9443", "hello\n"); got != "plain hello\n" {
		t.Errorf("answer %q\n%s", got, h.errs.String())
	}
	h.waitSessions(1)
	lines := h.logLines()
	if len(lines) != 1 || lines[0] != "200|"+plain.addr()+"|-|-|-|0" {
		t.Errorf("log %q", lines)
	}
}

func TestPrereadEnds(t *testing.T) {
	tests := []struct {
		name   string
		extra  string
		send   []byte
		status string
		errLog string
	}{
		// nginx finalizes a session whose ClientHello has not arrived
		// within preread_timeout with status 200, without proxying.
		{"timeout", "preread_timeout 200ms;", []byte{0x16, 3, 1}, "200|-||||0", ""},
		// A ClientHello larger than preread_buffer_size: 400.
		{"buffer full", "preread_buffer_size 64;", helloBytes(t), "400|-||||0", "preread buffer full"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _, _, _ := sniSetup(t, tc.extra)
			c := h.dial("127.0.0.1:9443")
			defer c.Close()
			c.Write(tc.send)
			// The proxy closes the connection by itself.
			if _, err := io.ReadAll(c); err != nil && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("read: %v", err)
			}
			h.waitSessions(1)
			lines := h.logLines()
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tc.status) {
				t.Errorf("log %q, want %s...", lines, tc.status)
			}
			if tc.errLog != "" && !strings.Contains(h.errs.String(), tc.errLog) {
				t.Errorf("error log %q lacks %q", h.errs.String(), tc.errLog)
			}
		})
	}
}

// helloBytes returns a ClientHello as Go's TLS client sends it.
func helloBytes(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		c := tls.Client(b, &tls.Config{ServerName: "a.example", NextProtos: []string{"h2"}})
		c.SetDeadline(time.Now().Add(waitLimit))
		c.Handshake()
		b.Close()
	}()
	a.SetDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 4096)
	n, err := a.Read(buf)
	if err != nil || n < 100 {
		t.Fatalf("ClientHello: %d bytes, %v", n, err)
	}
	return buf[:n]
}
