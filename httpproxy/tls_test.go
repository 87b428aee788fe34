package httpproxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// httpsGet sends GET path over a new TLS connection to addr and returns
// the certificate the server presented, the response and its body.
func httpsGet(addr, path string, cfg *tls.Config) (*x509.Certificate, *http.Response, string, error) {
	raw, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		return nil, nil, "", err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(waitLimit))
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return nil, nil, "", err
	}
	host := cfg.ServerName
	if host == "" {
		host = "default"
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
	resp, body, err := readResponse(bufio.NewReader(c), false)
	return c.ConnectionState().PeerCertificates[0], resp, body, err
}

const sslLogFormat = `log_format ssl '$status|$scheme|$https|$ssl_protocol|$ssl_cipher|$ssl_server_name|$ssl_session_reused|$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn|$ssl_alpn_protocol';`

func TestHTTPSTermination(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "Test CA", CA: true})
	aRSA := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "a rsa", DNS: []string{"a.example"}, Issuer: ca})
	aEC := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "a ecdsa", DNS: []string{"a.example"}, ECDSA: true, Issuer: ca})
	b := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "b", DNS: []string{"b.example"}, Issuer: ca})
	h := startProxy(t, fmt.Sprintf(`events {} http {
    %s
    access_log {{DIR}}/logs/ssl.log ssl;
    server {
        listen 127.0.0.1:8443 ssl default_server;
        server_name a.example;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { return 200 "a $scheme $https $ssl_server_name $server_port\n"; }
        location /redirect { return 302 /elsewhere; }
    }
    server {
        listen 127.0.0.1:8443 ssl;
        server_name b.example;
        ssl_certificate %s;
        ssl_certificate_key %s;
        location / { return 200 "b $scheme $https $ssl_server_name\n"; }
    }
    server {
        listen 127.0.0.1:8443 ssl;
        server_name nocert.example;
        location / { return 200 "nocert\n"; }
    }
    server {
        listen 127.0.0.1:8443 ssl;
        server_name rejected.example;
        ssl_reject_handshake on;
    }
}`, sslLogFormat, aRSA.CertFile, aRSA.KeyFile, aEC.CertFile, aEC.KeyFile, b.CertFile, b.KeyFile), Options{})
	addr := h.addr["127.0.0.1:8443"]
	roots := testutil.CertPool(ca)
	tests := []struct {
		name    string
		cfg     *tls.Config
		cert    *testutil.Cert
		body    string
		logLine string
	}{
		{"a, ECDSA for a modern client", &tls.Config{ServerName: "a.example", RootCAs: roots},
			aEC, "a https on a.example " + portOf(addr) + "\n", "200|https|on|TLSv1.3|TLS_AES_128_GCM_SHA256|a.example|.|NONE|||"},
		{"a, RSA for an RSA-only client", &tls.Config{ServerName: "a.example", RootCAs: roots, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},
			aRSA, "a https on a.example " + portOf(addr) + "\n", "200|https|on|TLSv1.2|ECDHE-RSA-AES128-GCM-SHA256|a.example|.|NONE|||"},
		{"b by SNI", &tls.Config{ServerName: "b.example", RootCAs: roots},
			b, "b https on b.example\n", "200|https|on|TLSv1.3|TLS_AES_128_GCM_SHA256|b.example|.|NONE|||"},
		{"unknown name: the default server's certificate", &tls.Config{ServerName: "unknown.example", RootCAs: roots, InsecureSkipVerify: true},
			aEC, "a https on unknown.example " + portOf(addr) + "\n", ""},
		{"a server without certificates: the default server's", &tls.Config{ServerName: "nocert.example", InsecureSkipVerify: true},
			aEC, "nocert\n", ""},
	}
	for _, tc := range tests {
		cert, resp, body, err := httpsGet(addr, "/", tc.cfg)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !cert.Equal(tc.cert.Cert) {
			t.Errorf("%s: certificate %q", tc.name, cert.Subject.CommonName)
		}
		if resp.StatusCode != 200 || body != tc.body {
			t.Errorf("%s: %d %q, want %q", tc.name, resp.StatusCode, body, tc.body)
		}
		if tc.logLine != "" {
			testutil.WaitFor(t, "access log line "+tc.logLine, func() bool {
				data, _ := os.ReadFile(filepath.Join(h.dir, "logs/ssl.log"))
				return strings.Contains(string(data), tc.logLine+"\n")
			})
		}
	}
	// ssl_reject_handshake: no certificate at all
	if _, _, _, err := httpsGet(addr, "/", &tls.Config{ServerName: "rejected.example", InsecureSkipVerify: true}); err == nil {
		t.Error("handshake for rejected.example succeeded")
	}
	// redirects are https, with the port unless 443
	_, resp, _, err := httpsGet(addr, "/redirect", &tls.Config{ServerName: "a.example", RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	if loc := resp.Header.Get("Location"); loc != "https://a.example:"+portOf(addr)+"/elsewhere" {
		t.Errorf("Location %q", loc)
	}

	// curl with --resolve for each name, checking the chain and the name
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	caFile := ca.CertFile
	for _, tc := range []struct{ name, subject, body string }{
		{"a.example", "CN=a ", "a https on a.example"},
		{"b.example", "CN=b", "b https on b.example"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		out, err := exec.CommandContext(ctx, curl, "-sS", "-v", "--cacert", caFile, "--resolve", tc.name+":"+portOf(addr)+":127.0.0.1",
			"https://"+tc.name+":"+portOf(addr)+"/").CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("curl %s: %v\n%s", tc.name, err, out)
			continue
		}
		if !strings.Contains(string(out), tc.body) || !strings.Contains(string(out), "subject: O=Sluice Test; "+tc.subject) {
			t.Errorf("curl %s:\n%s", tc.name, out)
		}
	}
}

func TestHTTPSPlainRequestAndTimeout(t *testing.T) {
	dir := t.TempDir()
	c := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "s", DNS: []string{"s.example"}, ECDSA: true})
	h := startProxy(t, fmt.Sprintf(`events {} http {
    server {
        listen 127.0.0.1:8443 ssl;
        client_header_timeout 300ms;
        ssl_certificate %s;
        ssl_certificate_key %s;
        return 200 ok;
    }
}`, c.CertFile, c.KeyFile), Options{})
	addr := h.addr["127.0.0.1:8443"]
	got := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: s.example\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request\r\n") || !strings.Contains(got, "<center>The plain HTTP request was sent to HTTPS port</center>") ||
		!strings.Contains(got, "Connection: close\r\n") {
		t.Errorf("plain request answered:\n%s", got)
	}
	// a client that never starts the handshake is dropped after
	// client_header_timeout
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(waitLimit))
	if n, err := raw.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Errorf("read %d, %v: want the connection closed", n, err)
	}
	testutil.WaitFor(t, "timeout log line", func() bool {
		return strings.Contains(h.errs.String(), "client timed out (110: Connection timed out) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443")
	})
	if !strings.Contains(h.errs.String(), "client sent plain HTTP request to HTTPS port while reading client request headers") {
		t.Errorf("error log:\n%s", h.errs.String())
	}
}

func TestHTTPSClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "Client CA", CA: true})
	otherCA := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "Other CA", CA: true})
	good := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "alice", Client: true, Issuer: ca})
	bad := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "mallory", Client: true, Issuer: otherCA})
	srv := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "server", DNS: []string{"on.example", "opt.example", "noca.example"}})
	h := startProxy(t, fmt.Sprintf(`events {} http {
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_client_certificate %s;
    server_tokens off;
    server { listen 127.0.0.1:8443 ssl; server_name on.example; ssl_verify_client on;
        return 200 "$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn\n"; }
    server { listen 127.0.0.1:8443 ssl; server_name opt.example; ssl_verify_client optional;
        return 200 "$ssl_client_verify|$ssl_client_s_dn\n"; }
    server { listen 127.0.0.1:8443 ssl; server_name noca.example; ssl_verify_client optional_no_ca;
        return 200 "$ssl_client_verify|$ssl_client_s_dn\n"; }
}`, srv.CertFile, srv.KeyFile, ca.CertFile), Options{})
	addr := h.addr["127.0.0.1:8443"]
	tests := []struct {
		name   string
		sni    string
		client *testutil.Cert
		status int
		body   string
		errLog string
	}{
		{"on, good", "on.example", good, 200, "SUCCESS|CN=alice,O=Sluice Test|CN=Client CA,O=Sluice Test\n", ""},
		{"on, other CA", "on.example", bad, 400, "<center>The SSL certificate error</center>", "client SSL certificate verify error: (20:unable to get local issuer certificate) while reading client request headers"},
		{"on, none", "on.example", nil, 400, "<center>No required SSL certificate was sent</center>", "client sent no required SSL certificate while reading client request headers"},
		{"optional, none", "opt.example", nil, 200, "NONE|\n", ""},
		{"optional, good", "opt.example", good, 200, "SUCCESS|CN=alice,O=Sluice Test\n", ""},
		{"optional, other CA", "opt.example", bad, 400, "<center>The SSL certificate error</center>", ""},
		{"optional_no_ca, other CA", "noca.example", bad, 200, "FAILED:unable to get local issuer certificate|CN=mallory,O=Sluice Test\n", ""},
	}
	for _, tc := range tests {
		cfg := &tls.Config{ServerName: tc.sni, RootCAs: testutil.CertPool(srv)}
		if tc.client != nil {
			// send the certificate even when its issuer is not among those
			// the server names
			kp := tc.client.TLS
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp, nil }
		}
		_, resp, body, err := httpsGet(addr, "/", cfg)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, body, tc.status, tc.body)
		}
		if tc.status == 400 && !resp.Close {
			t.Errorf("%s: connection kept after 400", tc.name)
		}
		if tc.errLog != "" && !strings.Contains(h.errs.String(), tc.errLog) {
			t.Errorf("%s: error log lacks %q:\n%s", tc.name, tc.errLog, h.errs.String())
		}
	}
	// a request for another server than the one the handshake named, which
	// verifies certificates: 421
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(waitLimit))
	kp := good.TLS
	c := tls.Client(raw, &tls.Config{ServerName: "on.example", RootCAs: testutil.CertPool(srv),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp, nil }})
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: opt.example\r\n\r\n")
	resp, _, err := readResponse(bufio.NewReader(c), false)
	if err != nil || resp.StatusCode != 421 {
		t.Errorf("misdirected request: %v %v", resp, err)
	}
}

// TestHTTPSNginxPages compares the 400 pages of a client without the
// required certificate and of a plain request with nginx's.
func TestHTTPSNginxPages(t *testing.T) {
	testutil.NeedNginx(t)
	dir := t.TempDir()
	ca := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "CA", CA: true})
	srv := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "server", DNS: []string{"s.example"}})
	body := fmt.Sprintf(`server { listen LISTEN ssl; server_tokens off;
		ssl_certificate %s; ssl_certificate_key %s;
		ssl_client_certificate %s; ssl_verify_client on;
		return 200 ok; }`, srv.CertFile, srv.KeyFile, ca.CertFile)
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:8443")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:8443"]
	page := func(addr string) string {
		_, resp, body, err := httpsGet(addr, "/", &tls.Config{ServerName: "s.example", RootCAs: testutil.CertPool(srv)})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d %s %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Connection"), body)
	}
	norm := func(s string) string {
		return strings.ReplaceAll(s, "<center>nginx</center>", "<center>sluice</center>")
	}
	if want, got := norm(page(nginxAddr)), page(sluiceAddr); got != want {
		t.Errorf("no client certificate:\nsluice: %s\nnginx:  %s", got, want)
	}
	plain := func(addr string) string {
		return normalizeResponse(rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: s.example\r\n\r\n"), addr)
	}
	if want, got := norm(plain(nginxAddr)), plain(sluiceAddr); got != want {
		t.Errorf("plain request:\nsluice: %s\nnginx:  %s", got, want)
	}
}

// tlsBackend is an HTTPS server for upstream tests: it answers with its
// name and records the server names, resumptions and connections it saw.
type tlsBackend struct {
	addr    string
	mu      sync.Mutex
	snis    []string
	resumed int
	conns   atomic.Int64
}

func startTLSBackend(t *testing.T, name string, cert *testutil.Cert) *tlsBackend {
	t.Helper()
	b := &tlsBackend{}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.TLS}, GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		b.mu.Lock()
		b.snis = append(b.snis, hello.ServerName)
		b.mu.Unlock()
		return nil, nil
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS.DidResume {
				b.mu.Lock()
				b.resumed++
				b.mu.Unlock()
			}
			io.WriteString(w, name)
		}),
		TLSConfig: cfg,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				b.conns.Add(1)
			}
		},
	}
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { srv.Close() })
	return b
}

func (b *tlsBackend) seen() ([]string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.snis...), b.resumed
}

func TestHTTPSUpstream(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "Backend CA", CA: true})
	otherCA := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "Other CA", CA: true})
	selfSigned := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "self", DNS: []string{"backend.internal"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	signed := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "signed", DNS: []string{"backend.internal"}, Issuer: ca})
	self := startTLSBackend(t, "self", selfSigned)
	good := startTLSBackend(t, "good", signed)
	pooled := startTLSBackend(t, "pooled", signed)
	h := startProxy(t, fmt.Sprintf(`events {} http {
    access_log off;
    upstream mixed { server %s; server %s; }
    upstream pooled { server %s; keepalive 4; }
    upstream single { server %s; }
    map $uri $u { default %s; }
    server {
        listen 127.0.0.1:8080;
        location /off/ { proxy_pass https://%s; }
        location /verify-other-ca/ {
            proxy_pass https://single;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %s;
        }
        location /next/ {
            proxy_pass https://mixed;
            proxy_ssl_verify on;
            proxy_ssl_name backend.internal;
            proxy_ssl_trusted_certificate %s;
        }
        location /sni/ {
            proxy_pass https://single;
            proxy_ssl_server_name on;
            proxy_ssl_name backend.internal;
        }
        location /nosni/ { proxy_pass https://single; }
        location /pooled/ {
            proxy_pass https://pooled;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_verify on;
            proxy_ssl_name backend.internal;
            proxy_ssl_trusted_certificate %s;
        }
        location /var/ { proxy_pass https://$u; }
    }
}`, self.addr, good.addr, pooled.addr, self.addr, self.addr, self.addr, otherCA.CertFile, ca.CertFile, ca.CertFile), Options{})
	addr := h.addr["127.0.0.1:8080"]
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/off/", 200, "self"},
		{"/verify-other-ca/", 502, ""},
		{"/next/", 200, "good"},
		{"/var/", 200, "self"},
	}
	for _, tc := range tests {
		status, body := get(tc.path)
		if status != tc.status || tc.body != "" && body != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.path, status, body, tc.status, tc.body)
		}
	}
	for _, want := range []string{
		"upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream",
	} {
		if !strings.Contains(h.errs.String(), want) {
			t.Errorf("error log lacks %q:\n%s", want, h.errs.String())
		}
	}
	// SNI only with proxy_ssl_server_name on
	before, _ := self.seen()
	get("/nosni/")
	get("/sni/")
	snis, _ := self.seen()
	if got := snis[len(before):]; len(got) != 2 || got[0] != "" || got[1] != "backend.internal" {
		t.Errorf("server names sent: %q", got)
	}
	// keep-alive: one TLS connection for several requests
	for i := 0; i < 5; i++ {
		if status, body := get("/pooled/"); status != 200 || body != "pooled" {
			t.Fatalf("pooled: %d %q", status, body)
		}
	}
	if n := pooled.conns.Load(); n != 1 {
		t.Errorf("%d connections to the keep-alive upstream, want 1", n)
	}
	// without keep-alive, later connections resume the TLS session
	_, resumedBefore := self.seen()
	for i := 0; i < 3; i++ {
		get("/off/")
	}
	if _, resumed := self.seen(); resumed-resumedBefore < 2 {
		t.Errorf("%d of 3 connections resumed, want at least 2", resumed-resumedBefore)
	}
}

// TestHTTPSReloadReadsCertificates swaps the certificate files and builds
// again: the new build serves the new certificate, the old one the old.
func TestHTTPSReloadReadsCertificates(t *testing.T) {
	dir := t.TempDir()
	first := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "first", DNS: []string{"r.example"}, ECDSA: true})
	second := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "second", DNS: []string{"r.example"}, ECDSA: true})
	certFile, keyFile := filepath.Join(dir, "live.crt"), filepath.Join(dir, "live.key")
	install := func(c *testutil.Cert) {
		for _, f := range [][2]string{{c.CertFile, certFile}, {c.KeyFile, keyFile}} {
			data, err := os.ReadFile(f[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f[1], data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	conf := fmt.Sprintf(`events {} http { access_log off; server { listen 127.0.0.1:8443 ssl;
        ssl_certificate %s; ssl_certificate_key %s; return 200 ok; } }`, certFile, keyFile)
	cfg := &tls.Config{ServerName: "r.example", InsecureSkipVerify: true}
	install(first)
	old := startProxy(t, conf, Options{})
	install(second)
	reloaded := startProxy(t, conf, Options{})
	for _, tc := range []struct {
		h    *harness
		want *testutil.Cert
	}{{old, first}, {reloaded, second}} {
		cert, _, _, err := httpsGet(tc.h.addr["127.0.0.1:8443"], "/", cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !cert.Equal(tc.want.Cert) {
			t.Errorf("served %q, want %q", cert.Subject.CommonName, tc.want.Cert.Subject.CommonName)
		}
	}
	// a certificate file that went missing fails the build, as nginx's reload
	os.Remove(certFile)
	if _, err := Build(loadHTTP(t, dir, conf), Options{}); err == nil || !strings.Contains(err.Error(), "cannot load certificate") {
		t.Errorf("build without the certificate file: %v", err)
	}
}

func TestHTTPSPasswordFile(t *testing.T) {
	dir := t.TempDir()
	c := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "p", DNS: []string{"p.example"}})
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(c.Key.(*rsa.PrivateKey))}
	//lint:ignore SA1019 the legacy format is what ssl_password_file decrypts
	enc, err := x509.EncryptPEMBlock(rand.Reader, block.Type, block.Bytes, []byte("second"), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "enc.key")
	os.WriteFile(keyFile, pem.EncodeToMemory(enc), 0o600)
	pwFile := filepath.Join(dir, "passwords")
	os.WriteFile(pwFile, []byte("first\nsecond\n"), 0o600)
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off; server { listen 127.0.0.1:8443 ssl;
        ssl_certificate %s; ssl_certificate_key %s; ssl_password_file %s; return 200 ok; } }`, c.CertFile, keyFile, pwFile), Options{})
	cert, resp, body, err := httpsGet(h.addr["127.0.0.1:8443"], "/", &tls.Config{ServerName: "p.example", RootCAs: testutil.CertPool(c)})
	if err != nil || resp.StatusCode != 200 || body != "ok" || !cert.Equal(c.Cert) {
		t.Errorf("%v %v %q", err, resp, body)
	}
	_, err = Build(loadHTTP(t, dir, fmt.Sprintf(`events {} http { access_log off; server { listen 127.0.0.1:8443 ssl;
        ssl_certificate %s; ssl_certificate_key %s; return 200 ok; } }`, c.CertFile, keyFile)), Options{})
	if err == nil || !strings.Contains(err.Error(), "no ssl_password_file") {
		t.Errorf("encrypted key without a password file: %v", err)
	}
}

// TestHTTPSALPN checks what ALPN offers: h2 first on listen ... http2,
// HTTP/1 only otherwise.
func TestHTTPSALPN(t *testing.T) {
	dir := t.TempDir()
	c := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "alpn", DNS: []string{"alpn.example"}, ECDSA: true})
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
    ssl_certificate %s; ssl_certificate_key %s;
    server { listen 127.0.0.1:8443 ssl http2; return 200 ok; }
    server { listen 127.0.0.1:8444 ssl; return 200 ok; }
}`, c.CertFile, c.KeyFile), Options{})
	tests := []struct {
		listen string
		offer  []string
		want   string
		fails  bool
	}{
		{"127.0.0.1:8443", []string{"h2", "http/1.1"}, "h2", false},
		{"127.0.0.1:8443", []string{"http/1.1"}, "http/1.1", false},
		{"127.0.0.1:8444", []string{"h2", "http/1.1"}, "http/1.1", false},
		{"127.0.0.1:8444", []string{"http/1.0"}, "http/1.0", false},
		{"127.0.0.1:8444", []string{"h2"}, "", true},
		{"127.0.0.1:8444", nil, "", false},
	}
	for _, tc := range tests {
		raw, err := net.DialTimeout("tcp", h.addr[tc.listen], waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		raw.SetDeadline(time.Now().Add(waitLimit))
		conn := tls.Client(raw, &tls.Config{ServerName: "alpn.example", RootCAs: testutil.CertPool(c), NextProtos: tc.offer})
		err = conn.Handshake()
		if (err != nil) != tc.fails || err == nil && conn.ConnectionState().NegotiatedProtocol != tc.want {
			t.Errorf("%s offering %q: %q, %v", tc.listen, tc.offer, conn.ConnectionState().NegotiatedProtocol, err)
		}
		raw.Close()
	}
}

// TestHTTPSClientAbortClosesUpstream: a TLS client that leaves a stream
// while the upstream is silent (after sending close_notify, so its socket
// still holds unread bytes) makes the proxy close the upstream at once.
func TestHTTPSClientAbortClosesUpstream(t *testing.T) {
	if !canWatchTLS {
		t.Skip("TLS clients are not watched on this system")
	}
	dir := t.TempDir()
	c := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "s", DNS: []string{"s.example"}, ECDSA: true})
	cancelled := make(chan struct{})
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(waitLimit):
		}
	}))
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
		server { listen 127.0.0.1:8443 ssl; ssl_certificate %s; ssl_certificate_key %s;
			location / { proxy_pass http://%s; proxy_http_version 1.1; } } }`, c.CertFile, c.KeyFile, be.addr), Options{})
	raw, err := net.Dial("tcp", h.addr["127.0.0.1:8443"])
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(time.Now().Add(waitLimit))
	tc := tls.Client(raw, &tls.Config{ServerName: "s.example", RootCAs: testutil.CertPool(c)})
	fmt.Fprintf(tc, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if line, err := readLine(resp.Body); err != nil || line != "data: first" {
		t.Fatalf("first event %q %v", line, err)
	}
	tc.Close() // close_notify, then FIN
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend's request was not cancelled after the client left")
	}
}

// benchHTTPS serves a keep-alive proxy over TLS and returns its address
// and the client's TLS settings.
func benchHTTPS(b *testing.B) (string, *tls.Config) {
	dir := b.TempDir()
	c := testutil.NewCert(b, testutil.CertOptions{Dir: dir, CN: "bench", DNS: []string{"bench.example"}, ECDSA: true})
	addr := startProxyB(b, fmt.Sprintf(`events {} http { keepalive_requests 100000000; access_log off;
		upstream u { server {{BACKEND}}; keepalive 8; }
		server { listen 127.0.0.1:18443 ssl; ssl_certificate %s; ssl_certificate_key %s; ssl_protocols TLSv1.2 TLSv1.3;
			location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`, c.CertFile, c.KeyFile), rawBackend(b))
	return addr, &tls.Config{ServerName: "bench.example", RootCAs: testutil.CertPool(c)}
}

// BenchmarkHTTPSKeepalive is BenchmarkProxyKeepalive over TLS.
func BenchmarkHTTPSKeepalive(b *testing.B) {
	addr, cfg := benchHTTPS(b)
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	one := func() {
		if _, err := io.WriteString(c, "GET /bench HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
			b.Fatal(err)
		}
		if _, _, err := readResponse(br, false); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		one()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		one()
	}
}

// BenchmarkHTTPSHandshake measures a new TLS connection with one request
// (client and server sides both run here).
func BenchmarkHTTPSHandshake(b *testing.B) {
	addr, cfg := benchHTTPS(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, resp, _, err := httpsGet(addr, "/bench", cfg); err != nil || resp.StatusCode != 200 {
			b.Fatal(resp, err)
		}
	}
}

// TestHTTPSSessionResumption: tickets (the default), a shared session
// cache without tickets, and neither.
func TestHTTPSSessionResumption(t *testing.T) {
	dir := t.TempDir()
	c := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "r", DNS: []string{"r.example"}, ECDSA: true})
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
    ssl_certificate %s; ssl_certificate_key %s; ssl_protocols TLSv1.2 TLSv1.3;
    server { listen 127.0.0.1:8443 ssl; return 200 "$ssl_session_reused"; }
    server { listen 127.0.0.1:8444 ssl; ssl_session_tickets off; ssl_session_cache shared:T:1m; return 200 "$ssl_session_reused"; }
    server { listen 127.0.0.1:8445 ssl; ssl_session_tickets off; return 200 "$ssl_session_reused"; }
    server { listen 127.0.0.1:8446 ssl; ssl_session_timeout 0; return 200 "$ssl_session_reused"; }
}`, c.CertFile, c.KeyFile), Options{})
	tests := []struct {
		listen  string
		version uint16
		want    string
	}{
		{"127.0.0.1:8443", tls.VersionTLS13, "r"},
		{"127.0.0.1:8443", tls.VersionTLS12, "r"},
		{"127.0.0.1:8444", tls.VersionTLS13, "r"},
		{"127.0.0.1:8444", tls.VersionTLS12, "r"},
		{"127.0.0.1:8445", tls.VersionTLS13, "."},
		{"127.0.0.1:8446", tls.VersionTLS13, "."},
	}
	for _, tc := range tests {
		cfg := &tls.Config{ServerName: "r.example", RootCAs: testutil.CertPool(c), MaxVersion: tc.version,
			ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		var bodies []string
		for i := 0; i < 2; i++ {
			_, _, body, err := httpsGet(h.addr[tc.listen], "/", cfg)
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, body)
		}
		if bodies[0] != "." || bodies[1] != tc.want {
			t.Errorf("%s %s: $ssl_session_reused %q, want \".\" then %q", tc.listen, tlsVersionName(tc.version), bodies, tc.want)
		}
	}
}

func tlsVersionName(v uint16) string { return tls.VersionName(v) }

// TestHTTPSUpstreamPoolPerName sends requests through two locations that
// reach the same keep-alive upstream with different proxy_ssl_name values,
// alternating: each location gets its own pooled TLS connection, so every
// response comes from a connection made for the location's server name.
func TestHTTPSUpstreamPoolPerName(t *testing.T) {
	dir := t.TempDir()
	cert := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "backend", DNS: []string{"a.internal", "b.internal"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.TLS.ServerName)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}))
	t.Cleanup(func() { srv.Close() })
	h := startProxy(t, fmt.Sprintf(`events {} http {
    access_log off;
    upstream u { server %s; keepalive 4; }
    server {
        listen 127.0.0.1:8080;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_ssl_server_name on;
        location /a/ { proxy_pass https://u; proxy_ssl_name a.internal; }
        location /b/ { proxy_pass https://u; proxy_ssl_name b.internal; }
    }
}`, ln.Addr()), Options{})
	addr := h.addr["127.0.0.1:8080"]
	for i := range 6 {
		name := []string{"a", "b"}[i%2]
		resp, err := http.Get("http://" + addr + "/" + name + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := name + ".internal"; resp.StatusCode != 200 || string(b) != want {
			t.Fatalf("request %d to /%s/: %d %q, want 200 %q", i, name, resp.StatusCode, b, want)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d TLS connections to the upstream, want 2 (one per server name)", n)
	}
}
