package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// emergOf runs a program's -t on conf with prefix and returns its first
// "[emerg]" message without the program's name, or "" when it accepts the
// configuration.
func emergOf(t *testing.T, path, prefix, conf string) string {
	t.Helper()
	cmd := exec.Command(path, "-t", "-q", "-p", prefix, "-c", conf, "-e", filepath.Join(prefix, "err.log"))
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if _, msg, ok := strings.Cut(l, " [emerg] "); ok {
			return msg
		}
	}
	if err != nil {
		t.Fatalf("%s failed without [emerg]: %s", path, out)
	}
	return ""
}

// TestTLSFileChecksNginx runs nginx -t and sluice -t on configurations
// with ssl_dhparam files, good and bad, and access logs that cannot be
// opened: both must accept the same ones and refuse the others with the
// same message.
func TestTLSFileChecksNginx(t *testing.T) {
	testutil.NeedNginx(t)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "prefix")
	if err := os.MkdirAll(filepath.Join(prefix, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "dh"})
	dh := func(name string) string {
		p, err := filepath.Abs(filepath.Join("../../tlsconf/testdata/dh", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	junk := writeFile(t, filepath.Join(dir, "junk.pem"), "junk\n")
	badDER := writeFile(t, filepath.Join(dir, "bad.pem"), "-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n")
	certs := fmt.Sprintf("ssl_certificate %s; ssl_certificate_key %s;", c.CertFile, c.KeyFile)
	tlsServer := "server { listen 127.0.0.1:18443 ssl; " + certs + " %s }"
	http := func(body string) string { return "events {}\nhttp {\n" + body + "\n}\n" }
	stream := func(body string) string {
		return "load_module " + testutil.NginxStreamModule + ";\nevents {}\nstream {\n" + body + "\n}\n"
	}
	tests := []struct{ name, conf string }{
		{"ffdhe2048", http(fmt.Sprintf(tlsServer, "ssl_dhparam "+dh("ffdhe2048.pem")+";"))},
		{"x942_2048", http(fmt.Sprintf(tlsServer, "ssl_dhparam "+dh("x942-2048.pem")+";"))},
		{"pkcs3_1024", http(fmt.Sprintf(tlsServer, "ssl_dhparam "+dh("pkcs3-1024.pem")+";"))},
		{"x942_1024", http(fmt.Sprintf(tlsServer, "ssl_dhparam "+dh("x942-1024.pem")+";"))},
		{"1024_seclevel1", http(fmt.Sprintf(tlsServer, "ssl_ciphers DEFAULT:@SECLEVEL=1; ssl_dhparam "+dh("pkcs3-1024.pem")+";"))},
		{"missing", http(fmt.Sprintf(tlsServer, "ssl_dhparam "+filepath.Join(dir, "none.pem")+";"))},
		{"relative", http(fmt.Sprintf(tlsServer, "ssl_dhparam none.pem;"))},
		{"junk", http(fmt.Sprintf(tlsServer, "ssl_dhparam "+junk+";"))},
		{"certificate", http(fmt.Sprintf(tlsServer, "ssl_dhparam "+c.CertFile+";"))},
		{"directory", http(fmt.Sprintf(tlsServer, "ssl_dhparam "+dir+";"))},
		{"bad_der", http(fmt.Sprintf(tlsServer, "ssl_dhparam "+badDER+";"))},
		{"empty_path", http(fmt.Sprintf(tlsServer, `ssl_dhparam "";`))},
		{"http_level_no_tls", http("ssl_dhparam " + junk + "; server { listen 127.0.0.1:18080; }")},
		{"http_level_certificates", http(certs + " ssl_dhparam " + junk + "; server { listen 127.0.0.1:18080; }")},
		{"reject_handshake", http("server { listen 127.0.0.1:18443 ssl; ssl_reject_handshake on; ssl_dhparam " + junk + "; }")},
		{"stream_ssl", stream("server { listen 127.0.0.1:18443 ssl; proxy_pass 127.0.0.1:1; " + certs + " ssl_dhparam " + junk + "; }")},
		{"stream_level", stream("ssl_dhparam " + dh("pkcs3-1024.pem") + "; server { listen 127.0.0.1:18443 ssl; proxy_pass 127.0.0.1:1; " + certs + " }")},
		{"stream_no_ssl_listen", stream("server { listen 127.0.0.1:18443; proxy_pass 127.0.0.1:1; " + certs + " ssl_dhparam " + junk + "; }")},
		{"stream_good", stream("server { listen 127.0.0.1:18443 ssl; proxy_pass 127.0.0.1:1; " + certs + " ssl_dhparam " + dh("ffdhe2048.pem") + "; ssl_ecdh_curve X25519:secp384r1; }")},
		{"stream_curve", stream("server { listen 127.0.0.1:18443 ssl; proxy_pass 127.0.0.1:1; " + certs + " ssl_ecdh_curve foo; }")},
		{"access_log_no_directory", http("access_log " + filepath.Join(dir, "none", "access.log") + "; server { listen 127.0.0.1:18080; }")},
		{"stream_access_log_no_directory", stream("log_format l x; server { listen 127.0.0.1:18443; proxy_pass 127.0.0.1:1; access_log " + filepath.Join(dir, "none", "s.log") + " l; }")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf := writeFile(t, filepath.Join(prefix, "t.conf"), tc.conf)
			want := emergOf(t, testutil.NginxPath, prefix, conf)
			if got := emergOf(t, binary, prefix, conf); got != want {
				t.Errorf("sluice: %q\nnginx:  %q", got, want)
			}
		})
	}
}

// TestDefaultAccessLogError: the implicit access log, <prefix>/logs/
// access.log, that cannot be opened is refused in nginx's words, with no
// file and line (nginx's own default is another path, so it is not run).
func TestDefaultAccessLogError(t *testing.T) {
	dir := t.TempDir()
	conf := writeFile(t, filepath.Join(dir, "t.conf"), "events {}\nhttp { server { listen 127.0.0.1:18080; } }\n")
	code, _, stderr := sluice(t, "-t", "-p", dir, "-c", conf)
	want := `sluice: [emerg] open() "` + filepath.Join(dir, "logs", "access.log") + `" failed (2: No such file or directory)` + "\n"
	if code != 1 || !strings.HasPrefix(stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant first line:\n%s", code, stderr, want)
	}
}

// TestSSLOnNginx runs nginx and sluice on one configuration with the
// deprecated "ssl on" and with ssl_ecdh_curve, and checks from the
// outside that the same addresses speak TLS, with the same answers over
// TLS and plain HTTP, and that a client offering one curve gets through
// the same way.
func TestSSLOnNginx(t *testing.T) {
	testutil.NeedNginx(t)
	dir := t.TempDir()
	c := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "a", DNS: []string{"a"}})
	ports := testutil.FreePorts(t, 10)
	run := func(impl string, ports []int) []string {
		d := filepath.Join(dir, impl)
		os.MkdirAll(filepath.Join(d, "logs"), 0o755)
		addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
		conf := fmt.Sprintf(`daemon off; master_process off; pid %s/run.pid; error_log %s/error.log;
events {}
http {
  access_log off;
  server { listen %s; return 200 "plain-default\n"; }
  server { listen %s; server_name a; ssl on; ssl_certificate %s; ssl_certificate_key %s;
      listen %s; listen %s; return 200 "a $scheme $https\n"; }
  server { listen %s ssl; ssl_certificate %s; ssl_certificate_key %s; ssl_ecdh_curve secp384r1; return 200 "p384\n"; }
}
`, d, d, addr(2), addr(0), c.CertFile, c.KeyFile, addr(1), addr(2), addr(3), c.CertFile, c.KeyFile)
		var dm testutil.Daemon
		if impl == "nginx" {
			dm = testutil.Nginx(t, d, conf)
		} else {
			path := writeFile(t, filepath.Join(d, "sluice.conf"), conf)
			dm = testutil.Daemon{Path: binary, Args: []string{"-p", d, "-c", path, "-e", filepath.Join(d, "error.log")}}
		}
		dm.Ready = []string{addr(0), addr(1), addr(2), addr(3)}
		dm.Start(t)
		var out []string
		for i := range 4 {
			out = append(out, fmt.Sprintf("port %d: plain %s", i, plainStatus(t, addr(i))))
			for _, curve := range []tls.CurveID{tls.X25519, tls.CurveP384} {
				out = append(out, fmt.Sprintf("port %d: TLS with %v: %s", i, curve, tlsAnswer(addr(i), curve)))
			}
		}
		return out
	}
	want := run("nginx", ports[:5])
	got := run("sluice", ports[5:])
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sluice %q\nnginx  %q", got[i], want[i])
		}
	}
}

// plainStatus sends a plain GET and returns the status line and the body's
// first line.
func plainStatus(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	return firstAndBody(bufio.NewReader(conn))
}

// tlsAnswer sends a GET over TLS offering only curve, and returns the
// answer, or "handshake failed".
func tlsAnswer(addr string, curve tls.CurveID) string {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err.Error()
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	conn := tls.Client(raw, &tls.Config{ServerName: "a", InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{curve}})
	if err := conn.Handshake(); err != nil {
		return "handshake failed"
	}
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	return firstAndBody(bufio.NewReader(conn))
}

// firstAndBody reads a response: its status line, and the first line of
// its body (the <title> of an error page).
func firstAndBody(r *bufio.Reader) string {
	status, _ := r.ReadString('\n')
	for {
		l, err := r.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
	}
	body, _ := r.ReadString('\n')
	if strings.HasPrefix(body, "<html>") {
		body, _ = r.ReadString('\n')
	}
	return strings.TrimSpace(status) + " " + strings.TrimSpace(body)
}
