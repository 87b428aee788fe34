package httpproxy

import (
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// TestHTTPSECDHCurve: ssl_ecdh_curve limits the key exchange to its
// curves, in TLS 1.3 and in TLS 1.2 (ECDHE suites); "auto" keeps Go's
// defaults; curves Go lacks (X448) are left out; the curves of an address
// are those of its default server, as the cipher suites are. A client
// that offers only one curve gets through or not as configured.
func TestHTTPSECDHCurve(t *testing.T) {
	dir := t.TempDir()
	c := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "curves", DNS: []string{"curves.example", "other.example"}})
	dh, err := filepath.Abs("../tlsconf/testdata/dh/ffdhe2048.pem")
	if err != nil {
		t.Fatal(err)
	}
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
    ssl_certificate %s; ssl_certificate_key %s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_dhparam %s;
    server { listen 127.0.0.1:8443 ssl; ssl_ecdh_curve secp384r1; return 200 p384; }
    server { listen 127.0.0.1:8443 ssl; server_name other.example; ssl_ecdh_curve X25519; return 200 other; }
    server { listen 127.0.0.1:8444 ssl; ssl_ecdh_curve X448:prime256v1:X25519; return 200 list; }
    server { listen 127.0.0.1:8445 ssl; ssl_ecdh_curve auto; return 200 auto; }
    server { listen 127.0.0.1:8446 ssl; return 200 default; }
}`, c.CertFile, c.KeyFile, dh), Options{})
	tests := []struct {
		listen string
		name   string
		curve  tls.CurveID
		ok     bool
	}{
		{"127.0.0.1:8443", "curves.example", tls.CurveP384, true},
		{"127.0.0.1:8443", "curves.example", tls.X25519, false},
		{"127.0.0.1:8443", "curves.example", tls.CurveP256, false},
		// the default server's curves, whichever server the name picks
		{"127.0.0.1:8443", "other.example", tls.CurveP384, true},
		{"127.0.0.1:8443", "other.example", tls.X25519, false},
		{"127.0.0.1:8444", "curves.example", tls.CurveP256, true},
		{"127.0.0.1:8444", "curves.example", tls.X25519, true},
		{"127.0.0.1:8444", "curves.example", tls.CurveP384, false},
		{"127.0.0.1:8444", "curves.example", tls.X25519MLKEM768, false},
		{"127.0.0.1:8445", "curves.example", tls.X25519MLKEM768, true},
		{"127.0.0.1:8445", "curves.example", tls.CurveP521, true},
		{"127.0.0.1:8446", "curves.example", tls.X25519, true},
	}
	for _, tc := range tests {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			if v == tls.VersionTLS12 && tc.curve == tls.X25519MLKEM768 {
				continue // a TLS 1.3 key exchange only
			}
			cfg := &tls.Config{ServerName: tc.name, RootCAs: testutil.CertPool(c), CurvePreferences: []tls.CurveID{tc.curve},
				MinVersion: v, MaxVersion: v, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
			_, resp, _, err := httpsGet(h.addr[tc.listen], "/", cfg)
			if ok := err == nil && resp.StatusCode == 200; ok != tc.ok {
				t.Errorf("%s %s offering %v over %s: handshake ok %v (%v), want %v", tc.listen, tc.name, tc.curve, tls.VersionName(v), ok, err, tc.ok)
			}
		}
	}
}

// TestHTTPSSSLOn: the deprecated "ssl on" makes TLS the addresses whose
// default server has it, with listens written before and after it; an
// address where the server is not the default one stays plain, and the
// server answers there over plain HTTP, as in nginx 1.22.
func TestHTTPSSSLOn(t *testing.T) {
	dir := t.TempDir()
	c := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "a", DNS: []string{"a"}})
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
    server { listen 127.0.0.1:8082; return 200 "plain-default\n"; }
    server { listen 127.0.0.1:8080; server_name a; ssl on; ssl_certificate %s; ssl_certificate_key %s;
        listen 127.0.0.1:8081; listen 127.0.0.1:8082; return 200 "a $scheme $https\n"; }
}`, c.CertFile, c.KeyFile), Options{})
	for _, tc := range []struct {
		listen string
		tls    bool
	}{{"127.0.0.1:8080", true}, {"127.0.0.1:8081", true}, {"127.0.0.1:8082", false}} {
		_, resp, body, err := httpsGet(h.addr[tc.listen], "/", &tls.Config{ServerName: "a", RootCAs: testutil.CertPool(c)})
		if tc.tls && (err != nil || body != "a https on\n") {
			t.Errorf("%s over TLS: %v %q", tc.listen, err, body)
		}
		if !tc.tls && err == nil {
			t.Errorf("%s: TLS handshake succeeded on a plain address: %d", tc.listen, resp.StatusCode)
		}
		plain := plainGet(t, h.addr[tc.listen], "a")
		want := "a http \n"
		if tc.tls {
			want = "The plain HTTP request was sent to HTTPS port"
		}
		if !strings.Contains(plain, want) {
			t.Errorf("%s over plain HTTP: %q, want %q", tc.listen, plain, want)
		}
	}
}

// plainGet sends GET / with host over plain HTTP and returns the whole
// response.
func plainGet(t *testing.T, addr, host string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitLimit))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
