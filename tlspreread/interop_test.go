package tlspreread

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// opensslClientHello runs `openssl s_client` against a loopback listener
// and returns the bytes it sends first.
func opensslClientHello(t *testing.T, args ...string) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-connect", ln.Addr().String()}, args...)...)
	cmd.Stdin = strings.NewReader("")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cancel()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var p Parser
	buf, st, err := Preread(c, &p, nil)
	if err != nil || st != Done {
		t.Fatalf("openssl ClientHello: %v %v", st, err)
	}
	return buf
}

func TestOpenSSLClients(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	tests := []struct {
		name string
		args []string
		want result
	}{
		{"default", []string{"-servername", "openssl.example", "-alpn", "h2,http/1.1"},
			result{Done, "openssl.example", "h2,http/1.1", "TLSv1.3"}},
		{"tls1_2", []string{"-tls1_2", "-servername", "v12.example"}, result{Done, "v12.example", "", "TLSv1.2"}},
		{"noservername", []string{"-noservername", "-alpn", "redis"}, result{Done, "", "redis", "TLSv1.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hello := opensslClientHello(t, tt.args...)
			if got := parseAll(hello, 0); got != tt.want {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
			checkIncremental(t, refragment(t, hello, 9), tt.want)
		})
	}
}

// TestNginxDifferential sends the same bytes to nginx's ssl_preread and to
// Parser and compares the three variables.
func TestNginxDifferential(t *testing.T) {
	testutil.SkipUnless(t, testutil.NginxPath, testutil.NginxStreamModule)
	port := testutil.FreePort(t)
	smallPort := testutil.FreePort(t)
	dir := t.TempDir()
	cfg := testutil.NginxStreamConf(dir, fmt.Sprintf(`    preread_timeout 5s;
    server {
        listen 127.0.0.1:%d;
        ssl_preread on;
        return "[$ssl_preread_server_name|$ssl_preread_alpn_protocols|$ssl_preread_protocol]\n";
    }
    server {
        listen 127.0.0.1:%d;
        ssl_preread on;
        preread_buffer_size 64;
        return "[$ssl_preread_server_name|$ssl_preread_alpn_protocols|$ssl_preread_protocol]\n";
    }
`, port, smallPort))
	addr, small := fmt.Sprint("127.0.0.1:", port), fmt.Sprint("127.0.0.1:", smallPort)
	nginx := testutil.Nginx(t, dir, cfg)
	nginx.Ready = []string{addr, small}
	nginx.Probe = "x" // a non-TLS byte, so that each readiness probe ends at once
	nginx.Start(t)

	inputs := map[string][]byte{
		"go tls13":      goClientHello(t, &tls.Config{ServerName: "api.example.com", NextProtos: []string{"h2", "http/1.1"}}),
		"go tls12 only": goClientHello(t, &tls.Config{ServerName: "old.example", MaxVersion: tls.VersionTLS12}),
		"go no sni":     goClientHello(t, &tls.Config{ServerName: "127.0.0.1", InsecureSkipVerify: true}),
		"tls12":         records(clientHello(0x0303, []ext{sniExt("a.example"), alpnExt("h2", "x")}), 1<<14),
		"tls11":         records(clientHello(0x0302, []ext{sniExt("b.example")}), 1<<14),
		"sslv3":         records(clientHello(0x0300, nil), 1<<14),
		"unknown ver":   records(clientHello(0x0305, nil), 1<<14),
		"fragmented":    records(clientHello(0x0303, []ext{{0xff01, []byte{0}}, sniExt("frag.example"), alpnExt("a", "bb"), supVerExt(0x0304)}), 5),
		"two names":     records(clientHello(0x0303, []ext{sniExt("one.example"), sniExt("two.example")}), 1<<14),
		"mixed case":    records(clientHello(0x0303, []ext{sniExt("API.Example.COM")}), 1<<14),
		"sslv2":         []byte("\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10"),
		"http":          []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"app data":      {0x17, 3, 3, 0, 1, 0},
		"server hello":  records(append([]byte{2}, clientHello(0x0303, nil)[1:]...), 1<<14),
		"sni type 1":    records(clientHello(0x0303, []ext{{0, []byte{0, 4, 1, 0, 1, 'a'}}}), 1<<14),
		"empty alpn":    records(clientHello(0x0303, []ext{sniExt("x.example"), {16, []byte{0, 3, 2, 'h', '2', 0}}}), 1<<14),
		"ext overflow":  records(shorten(clientHello(0x0303, []ext{{0x1234, make([]byte, 10)}}), 5), 1<<14),
	}
	for name, in := range edgeHellos() {
		inputs[name] = in
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		inputs["openssl"] = opensslClientHello(t, "-servername", "openssl.example", "-alpn", "h2,http/1.1")
		inputs["openssl tls1_2"] = opensslClientHello(t, "-tls1_2", "-servername", "v12.example")
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			got := parseAll(in, 0)
			if got.status != Done && got.status != NotTLS {
				t.Fatalf("input is not complete: %v", got.status)
			}
			line, err := nginxAnswer(addr, in)
			want := fmt.Sprintf("[%s|%s|%s]\n", got.serverName, got.alpn, got.version)
			if err != nil || line != want {
				t.Errorf("nginx: %q (%v); Parser: %q (%v)", line, err, want, got.status)
			}
		})
	}
	// With a 64-byte buffer nginx closes the session without running
	// return; the Parser reports BufferFull.
	hello := inputs["go tls13"]
	if got := parseAll(hello, 64); got.status != BufferFull {
		t.Errorf("64-byte buffer: %v", got.status)
	}
	if line, err := nginxAnswer(small, hello); err == nil || line != "" {
		t.Errorf("nginx with a 64-byte buffer answered %q, %v", line, err)
	}
}

func nginxAnswer(addr string, in []byte) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(in); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// rawHello builds a ClientHello whose extensions block is exts as given,
// preceded by extLen as the extensions length (-1: the true length; -2: no
// length field at all).
func rawHello(exts []byte, extLen int) []byte {
	m := clientHello(0x0303, nil)[4:]
	switch extLen {
	case -2:
	case -1:
		m = append(m, byte(len(exts)>>8), byte(len(exts)))
	default:
		m = append(m, byte(extLen>>8), byte(extLen))
	}
	m = append(m, exts...)
	return records(append([]byte{1, byte(len(m) >> 16), byte(len(m) >> 8), byte(len(m))}, m...), 1<<14)
}

// rawExt encodes one extension with the given data length field.
func rawExt(typ uint16, dataLen int, data ...byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ), byte(dataLen >> 8), byte(dataLen)}, data...)
}

// edgeHellos are malformed or unusual ClientHellos whose handling must
// match nginx's.
func edgeHellos() map[string][]byte {
	sni := func(name string) []byte { // server_name extension data
		l := len(name) + 3
		return append([]byte{byte(l >> 8), byte(l), 0, byte(len(name) >> 8), byte(len(name))}, name...)
	}
	good := rawExt(0, 14, sni("a.example")...)
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	return map[string][]byte{
		"edge ext len short":          rawHello(good, len(good)-1),
		"edge ext len long":           rawHello(good, len(good)+1),
		"edge ext len zero":           rawHello(good, 0),
		"edge ext len only":           rawHello(nil, -1),
		"edge one byte after cm":      records(shorten(append(clientHello(0x0303, nil), 0, 0), -1)[:len(clientHello(0x0303, nil))+1], 1<<14),
		"edge sni data longer":        rawHello(rawExt(0, 15, append(sni("a.example"), 0)...), -1),
		"edge sni list longer":        rawHello(cat(rawExt(0, 14, append([]byte{0, 13}, sni("a.example")[2:]...)...), rawExt(0x1234, 0)), -1),
		"edge sni list shorter":       rawHello(cat(rawExt(0, 14, append([]byte{0, 11}, sni("a.example")[2:]...)...), rawExt(0x1234, 0)), -1),
		"edge sni two entries":        rawHello(rawExt(0, 2+12+12, append(append([]byte{0, 24}, sni("a.example")[2:]...), 0, 0, 9, 'b', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e')...), -1),
		"edge sni empty list":         rawHello(rawExt(0, 2, 0, 0), -1),
		"edge sni empty data":         rawHello(cat(rawExt(0, 0), rawExt(0x1234, 0)), -1),
		"edge sni empty host":         rawHello(rawExt(0, 5, 0, 3, 0, 0, 0), -1),
		"edge alpn data longer":       rawHello(rawExt(16, 6, 0, 3, 2, 'h', '2', 0), -1),
		"edge alpn list longer":       rawHello(cat(rawExt(16, 5, 0, 4, 2, 'h', '2'), rawExt(0x1234, 0)), -1),
		"edge alpn empty list":        rawHello(rawExt(16, 2, 0, 0), -1),
		"edge alpn empty data":        rawHello(cat(rawExt(16, 0), rawExt(0x1234, 0)), -1),
		"edge duplicate alpn":         rawHello(cat(rawExt(16, 5, 0, 3, 2, 'h', '2'), rawExt(16, 5, 0, 3, 2, 'h', '3')), -1),
		"edge supver odd":             rawHello(rawExt(43, 4, 3, 3, 4, 3), -1),
		"edge supver list longer":     rawHello(cat(rawExt(43, 3, 4, 3, 4), rawExt(0x1234, 0)), -1),
		"edge supver trailing":        rawHello(rawExt(43, 4, 2, 3, 4, 0), -1),
		"edge supver empty list":      rawHello(rawExt(43, 1, 0), -1),
		"edge supver list of 1":       rawHello(rawExt(43, 2, 1, 3), -1),
		"edge supver list of 1 alone": rawHello(rawExt(43, 1, 1), -1),
		"edge sni after alpn dup":     rawHello(cat(good, rawExt(16, 5, 0, 3, 2, 'h', '2'), good), -1),
		"edge supver list of 2":       rawHello(rawExt(43, 3, 2, 0x7f, 0x1c), -1),
		"edge supver list longer ok":  rawHello(cat(rawExt(43, 3, 4, 3, 4), []byte{0, 0x12, 0x34}), -1),
		"edge sni data shorter":       rawHello(cat(rawExt(0, 13, sni("a.example")...), []byte{0x12, 0x34, 0}), -1),
		"edge alpn data shorter":      rawHello(cat(rawExt(16, 4, 0, 3, 2, 'h', '2'), []byte{0x12, 0x34, 0}), -1),
		"edge ext after done":         rawHello(cat(good, rawExt(0x1234, 2, 0, 0)), -1),
		"edge supver empty data":      rawHello(cat(rawExt(43, 0), rawExt(0x1234, 0)), -1),
		"edge supver tls12 only":      rawHello(rawExt(43, 3, 2, 3, 3), -1),
		"edge duplicate supver":       rawHello(cat(rawExt(43, 3, 2, 3, 4), rawExt(43, 3, 2, 3, 3)), -1),
		"edge truncated ext header":   rawHello([]byte{0, 1}, -1),
		"edge ext data beyond block":  rawHello(rawExt(0x1234, 3, 1, 2), -1),
	}
}
