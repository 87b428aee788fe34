package stream

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
	"github.com/sluicelb/sluice/tlsconf"
)

const tlsFormat = `log_format tls '$status|$ssl_protocol|$ssl_cipher|$ssl_server_name|$ssl_session_reused|$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn|$ssl_client_serial|$ssl_client_fingerprint|$ssl_alpn_protocol';`

// echoBackend answers each line with "echo LINE".
func echoBackend(t *testing.T) *backend {
	return startBackend(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			io.WriteString(c, "echo "+l)
		}
	})
}

// tlsExchange completes a handshake with cfg, sends a line and returns
// the connection state and the answer; err is the first failure.
func tlsExchange(h *harness, listen string, cfg *tls.Config) (tls.ConnectionState, string, error) {
	raw := h.dial(listen)
	defer raw.Close()
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return tls.ConnectionState{}, "", err
	}
	if _, err := io.WriteString(c, "hi\n"); err != nil {
		return c.ConnectionState(), "", err
	}
	l, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	return c.ConnectionState(), l, err
}

func TestTLSTermination(t *testing.T) {
	rsaCert := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "rsa.example", DNS: []string{"rsa.example", "both.example"}})
	ecCert := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "ec.example", DNS: []string{"ec.example", "both.example"}, ECDSA: true})
	other := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "other.example", DNS: []string{"other.example"}})
	be := echoBackend(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} tls;
    server {
        listen 127.0.0.1:9443 ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_alpn h2 x-test;
        proxy_pass %s;
    }
    server {
        listen 127.0.0.1:9444 ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_ciphers ECDHE-RSA-AES128-GCM-SHA256;
        ssl_session_tickets off;
        proxy_pass %s;
    }
}`, tlsFormat, rsaCert.CertFile, rsaCert.KeyFile, ecCert.CertFile, ecCert.KeyFile, be.addr(),
		other.CertFile, other.KeyFile, be.addr()), nil)
	roots := testutil.CertPool(rsaCert, ecCert, other)
	tests := []struct {
		name    string
		listen  string
		cfg     *tls.Config
		cert    *testutil.Cert
		logPart string
	}{
		{"ecdsa for a modern client", "127.0.0.1:9443",
			&tls.Config{ServerName: "both.example", RootCAs: roots, NextProtos: []string{"x-test"}},
			ecCert, "200|TLSv1.3|TLS_AES_128_GCM_SHA256|both.example|.|NONE|||||x-test"},
		{"rsa for an RSA-only client", "127.0.0.1:9443",
			&tls.Config{ServerName: "both.example", RootCAs: roots, MaxVersion: tls.VersionTLS12,
				CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}},
			rsaCert, "200|TLSv1.2|ECDHE-RSA-AES256-GCM-SHA384|both.example|.|NONE|||||"},
		{"other server, own certificate, TLSv1.2 by default", "127.0.0.1:9444",
			&tls.Config{ServerName: "other.example", RootCAs: roots},
			other, "200|TLSv1.2|ECDHE-RSA-AES128-GCM-SHA256|other.example|.|NONE|||||"},
	}
	for _, tc := range tests {
		st, answer, err := tlsExchange(h, tc.listen, tc.cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if answer != "echo hi\n" {
			t.Errorf("%s: answer %q", tc.name, answer)
		}
		if !st.PeerCertificates[0].Equal(tc.cert.Cert) {
			t.Errorf("%s: got certificate %s", tc.name, st.PeerCertificates[0].Subject.CommonName)
		}
		h.waitSessions(1)
		lines := h.logLines()
		if got := lines[len(lines)-1]; got != tc.logPart {
			t.Errorf("%s: log\n%s\nwant\n%s", tc.name, got, tc.logPart)
		}
	}
	// A cipher list that leaves the client nothing: the handshake fails.
	if _, _, err := tlsExchange(h, "127.0.0.1:9444", &tls.Config{ServerName: "other.example", RootCAs: roots,
		MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}}); err == nil {
		t.Error("handshake with an excluded cipher succeeded")
	}
	h.waitSessions(1)
	if l := h.logLines(); !strings.HasPrefix(l[len(l)-1], "500|") {
		t.Errorf("failed handshake logged %q", l[len(l)-1])
	}
}

func TestTLSSessionReuse(t *testing.T) {
	cert := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "s.example", DNS: []string{"s.example"}})
	be := echoBackend(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} tls;
    ssl_certificate %s;
    ssl_certificate_key %s;
    server { listen 127.0.0.1:1 ssl; proxy_pass %s; }
    server { listen 127.0.0.1:2 ssl; ssl_session_tickets off; proxy_pass %s; }
    server { listen 127.0.0.1:3 ssl; ssl_session_timeout 0; proxy_pass %s; }
}`, tlsFormat, cert.CertFile, cert.KeyFile, be.addr(), be.addr(), be.addr()), nil)
	for _, tc := range []struct {
		listen string
		want   string
	}{{"127.0.0.1:1", "r"}, {"127.0.0.1:2", "."}, {"127.0.0.1:3", "."}} {
		cfg := &tls.Config{ServerName: "s.example", RootCAs: testutil.CertPool(cert), ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		for i := 0; i < 2; i++ {
			if _, _, err := tlsExchange(h, tc.listen, cfg); err != nil {
				t.Fatal(err)
			}
			h.waitSessions(1)
		}
		lines := h.logLines()
		if got := strings.Split(lines[len(lines)-1], "|")[4]; got != tc.want {
			t.Errorf("%s: $ssl_session_reused %q, want %q", tc.listen, got, tc.want)
		}
	}
}

func TestTLSClientVerify(t *testing.T) {
	ca := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "Test CA", CA: true})
	otherCA := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "Other CA", CA: true})
	server := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "v.example", DNS: []string{"v.example"}, Issuer: ca})
	good := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "alice", Client: true, Issuer: ca})
	stranger := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "mallory", Client: true, Issuer: otherCA})
	self := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "selfie", Client: true})
	expired := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "old", Client: true, Issuer: ca, Expired: true})
	be := echoBackend(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} tls;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_client_certificate %s;
    server { listen 127.0.0.1:1 ssl; ssl_verify_client on; proxy_pass %s; }
    server { listen 127.0.0.1:2 ssl; ssl_verify_client optional; proxy_pass %s; }
    server { listen 127.0.0.1:3 ssl; ssl_verify_client optional_no_ca; proxy_pass %s; }
}`, tlsFormat, server.CertFile, server.KeyFile, ca.CertFile, be.addr(), be.addr(), be.addr()), nil)
	fp := sha1.Sum(good.Cert.Raw)
	okLine := fmt.Sprintf("200|TLSv1.2|%%s|v.example|.|SUCCESS|%s|%s|%X|%s|", good.Cert.Subject, ca.Cert.Subject,
		good.Cert.SerialNumber.Bytes(), hex.EncodeToString(fp[:]))
	tests := []struct {
		name, listen string
		client       *testutil.Cert
		ok           bool
		verify       string
		errLog       string
	}{
		{"on, good", "127.0.0.1:1", good, true, "SUCCESS", ""},
		{"on, none", "127.0.0.1:1", nil, false, "NONE", "client sent no required SSL certificate"},
		{"on, unknown CA", "127.0.0.1:1", stranger, false, "FAILED:unable to get local issuer certificate", "client SSL certificate verify error: (20:unable to get local issuer certificate)"},
		{"on, expired", "127.0.0.1:1", expired, false, "FAILED:certificate has expired", "(10:certificate has expired)"},
		{"optional, none", "127.0.0.1:2", nil, true, "NONE", ""},
		{"optional, self-signed", "127.0.0.1:2", self, false, "FAILED:self-signed certificate", "(18:self-signed certificate)"},
		{"optional_no_ca, self-signed", "127.0.0.1:3", self, true, "FAILED:self-signed certificate", ""},
		{"optional_no_ca, expired", "127.0.0.1:3", expired, false, "FAILED:certificate has expired", ""},
	}
	for _, tc := range tests {
		cfg := &tls.Config{ServerName: "v.example", RootCAs: testutil.CertPool(ca), MaxVersion: tls.VersionTLS12}
		if tc.client != nil {
			// Send the certificate even when its issuer is not among the
			// CAs the server names.
			c := tc.client.TLS
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
		}
		st, answer, err := tlsExchange(h, tc.listen, cfg)
		if tc.ok != (err == nil && answer == "echo hi\n") {
			t.Errorf("%s: answer %q, err %v", tc.name, answer, err)
		}
		h.waitSessions(1)
		lines := h.logLines()
		f := strings.Split(lines[len(lines)-1], "|")
		wantStatus := "500"
		if tc.ok {
			wantStatus = "200"
		}
		if f[0] != wantStatus || f[5] != tc.verify {
			t.Errorf("%s: log %q, want status %s and %q", tc.name, lines[len(lines)-1], wantStatus, tc.verify)
		}
		if tc.name == "on, good" {
			if want := fmt.Sprintf(okLine, tlsconf.CipherName(st.CipherSuite)); lines[len(lines)-1] != want {
				t.Errorf("log\n%s\nwant\n%s", lines[len(lines)-1], want)
			}
		}
		if tc.errLog != "" && !strings.Contains(h.errs.String(), tc.errLog) {
			t.Errorf("%s: error log lacks %q:\n%s", tc.name, tc.errLog, h.errs.String())
		}
	}
}

func TestTLSHandshakeTimeout(t *testing.T) {
	cert := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "s.example"})
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} tls;
    server {
        listen 127.0.0.1:1 ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_handshake_timeout 100ms;
        proxy_pass 127.0.0.1:9;
    }
}`, tlsFormat, cert.CertFile, cert.KeyFile), nil)
	c := h.dial("127.0.0.1:1")
	defer c.Close()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	h.waitSessions(1)
	if l := h.logLines(); len(l) != 1 || !strings.HasPrefix(l[0], "500|-|") {
		t.Errorf("log %q", l)
	}
	if !strings.Contains(h.errs.String(), "client timed out (110: Connection timed out) while SSL handshaking") {
		t.Errorf("error log %s", h.errs.String())
	}
}

func TestTLSOpenSSLClient(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is required in CI")
		}
		t.Skip("openssl not installed")
	}
	ca := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "Test CA", CA: true})
	cert := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "o.example", DNS: []string{"o.example"}, Issuer: ca})
	client := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "bob", Client: true, Issuer: ca})
	be := echoBackend(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} tls;
    server {
        listen 127.0.0.1:1 ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_verify_client on;
        ssl_client_certificate %s;
        proxy_pass %s;
    }
}`, tlsFormat, cert.CertFile, cert.KeyFile, ca.CertFile, be.addr()), nil)
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"with client certificate", []string{"-cert", client.CertFile, "-key", client.KeyFile}, true},
		{"without", nil, false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		args := append([]string{"s_client", "-connect", h.addr["127.0.0.1:1"], "-servername", "o.example", "-CAfile", ca.CertFile, "-quiet", "-verify_return_error"}, tc.args...)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdin = strings.NewReader("hello\n")
		out, _ := cmd.CombinedOutput()
		cancel()
		if got := strings.Contains(string(out), "echo hello"); got != tc.ok {
			t.Errorf("%s: output %s", tc.name, out)
		}
		h.waitSessions(1)
		l := h.logLines()
		want := "500|"
		if tc.ok {
			want = "200|"
		}
		if !strings.HasPrefix(l[len(l)-1], want) {
			t.Errorf("%s: log %q", tc.name, l[len(l)-1])
		}
	}
	if !regexp.MustCompile(`\|SUCCESS\|CN=bob,O=Sluice Test\|CN=Test CA,O=Sluice Test\|`).MatchString(strings.Join(h.logLines(), "\n")) {
		t.Errorf("log %q", h.logLines())
	}
}

func TestProxySSL(t *testing.T) {
	ca := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "Test CA", CA: true})
	beCert := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "backend.internal", DNS: []string{"backend.internal"}, Issuer: ca})
	clientCert := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "sluice", Client: true, Issuer: ca})
	sni := make(chan string, 10)
	be := startTLSBackend(t, "tls", &tls.Config{
		Certificates: []tls.Certificate{beCert.TLS},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    testutil.CertPool(ca),
		VerifyConnection: func(cs tls.ConnectionState) error {
			who := "-"
			if len(cs.PeerCertificates) > 0 {
				who = cs.PeerCertificates[0].Subject.CommonName
			}
			sni <- cs.ServerName + "/" + who
			return nil
		},
	})
	dead := testutil.FreeAddr(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    log_format up '$status|$upstream_addr';
    access_log {{LOG}} up;
    upstream verified { server %s; }
    upstream two { server %s; server %s; }
    proxy_ssl on;
    proxy_ssl_trusted_certificate %s;
    server {
        listen 127.0.0.1:1;
        proxy_pass verified;
        proxy_ssl_verify on;
        proxy_ssl_name backend.internal;
        proxy_ssl_server_name on;
        proxy_ssl_certificate %s;
        proxy_ssl_certificate_key %s;
    }
    server {
        listen 127.0.0.1:2;
        proxy_pass verified;
        proxy_ssl_verify on;
    }
    server {
        listen 127.0.0.1:3;
        proxy_pass two;
    }
}`, be.addr(), dead, be.addr(), ca.CertFile, clientCert.CertFile, clientCert.KeyFile), nil)
	tests := []struct {
		listen, want, sni, log string
	}{
		{"127.0.0.1:1", "backend tls\n", "backend.internal/sluice", "200|" + be.addr()},
		// The default name is the upstream's: the certificate does not
		// match, sluice ends the handshake before the backend's check.
		{"127.0.0.1:2", "", "", "502|" + be.addr()},
		// No verification, no SNI; the dead server is skipped.
		{"127.0.0.1:3", "backend tls\n", "/-", "200|" + dead + ", " + be.addr()},
	}
	for _, tc := range tests {
		c := h.dial(tc.listen)
		got, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.listen, got, tc.want)
		}
		h.waitSessions(1)
		select {
		case s := <-sni:
			if s != tc.sni {
				t.Errorf("%s: backend saw %q, want %q", tc.listen, s, tc.sni)
			}
		default:
			if tc.sni != "" {
				t.Errorf("%s: no handshake at the backend", tc.listen)
			}
		}
		l := h.logLines()
		if l[len(l)-1] != tc.log {
			t.Errorf("%s: log %q, want %q", tc.listen, l[len(l)-1], tc.log)
		}
	}
	if !strings.Contains(h.errs.String(), `upstream SSL certificate does not match "verified" while SSL handshaking to upstream`) {
		t.Errorf("error log:\n%s", h.errs.String())
	}
}

var _ = x509.ExtKeyUsageAny
