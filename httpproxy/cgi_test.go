package httpproxy

import (
	"bufio"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// TestCGIUnixNextUpstream sends requests to an upstream of a server that
// refuses connections and one on a unix socket: the request goes on to
// the second (fastcgi_next_upstream error), the $upstream_* variables
// list both, and the error log names the servers as nginx does.
func TestCGIUnixNextUpstream(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "php.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	be := &cgiBackend{addr: "unix:" + sock}
	testutil.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(waitLimit))
		be.conns.Add(1)
		be.serveFCGI(bufio.NewReader(c), c)
	})
	dead := refusedAddr(t)
	h := startProxy(t, `events {} http { access_log off;
		upstream php { server `+dead+`; server unix:`+sock+`; }
		server { listen 127.0.0.1:18080; server_name ex;
			location / { fastcgi_param DOCUMENT_URI $uri; fastcgi_pass php;
				add_header X-Addr $upstream_addr always; add_header X-Status $upstream_status always; }
			location /gone/ { fastcgi_pass unix:`+dir+`/none.sock; }
			location /gz/ { fastcgi_param DOCUMENT_URI $uri; fastcgi_pass unix:`+sock+`;
				gzip on; gzip_types text/plain; gzip_min_length 1; } } }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	got := rawRequest(t, addr, "GET /a HTTP/1.1\r\nHost: ex\r\nConnection: close\r\n\r\n")
	for _, want := range []string{"HTTP/1.1 200 OK", "X-Addr: " + dead + ", unix:" + sock + "\r\n", "X-Status: 502, 200\r\n", "DOCUMENT_URI=/a\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	got = rawRequest(t, addr, "GET /gone/x HTTP/1.1\r\nHost: ex\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 502 ") {
		t.Errorf("dead socket: %q", firstLine(got))
	}
	for _, want := range []string{
		`[error] `,
		`connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: ex, request: "GET /a HTTP/1.1", upstream: "fastcgi://` + dead + `", host: "ex"`,
		`[crit] `,
		`connect() to unix:` + dir + `/none.sock failed (2: No such file or directory) while connecting to upstream, client: 127.0.0.1, server: ex, request: "GET /gone/x HTTP/1.1", upstream: "fastcgi://unix:` + dir + `/none.sock:", host: "ex"`,
	} {
		if !strings.Contains(h.errs.String(), want) {
			t.Errorf("error log lacks %q:\n%s", want, h.errs.String())
		}
	}
	// the response filters apply: gzip
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, "GET /gz/x HTTP/1.1\r\nHost: ex\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("not compressed: %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	if !strings.Contains(string(b), "DOCUMENT_URI=/gz/x\n") {
		t.Errorf("body %q", b)
	}
}

// TestCGIHTTP2 sends requests over HTTP/2 (h2c) to a FastCGI location:
// SERVER_PROTOCOL is HTTP/2.0, a body of unknown length arrives whole
// with its CONTENT_LENGTH, and the status comes from Status:.
func TestCGIHTTP2(t *testing.T) {
	be := startCGIBackend(t, "fastcgi")
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18201 http2;
			location / { fastcgi_param DOCUMENT_URI $uri; fastcgi_param SERVER_PROTOCOL $server_protocol;
				fastcgi_param CONTENT_LENGTH $content_length; fastcgi_pass `+be.addr+`; } } }`, Options{})
	cl, _ := h2cClient(t)
	base := h.url("127.0.0.1:18201", "")
	resp, err := cl.Post(base+"/a", "text/plain", io.MultiReader(strings.NewReader("abc"), strings.NewReader("def")))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"SERVER_PROTOCOL=HTTP/2.0\n", "body=abcdef\n", "CONTENT_LENGTH=6\n", "HTTP_CONTENT_TYPE=text/plain\n"} {
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%d, lacks %q:\n%s", resp.StatusCode, want, b)
		}
	}
	resp, err = cl.Get(base + "/missing.php")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || string(b) != "no such script\n" {
		t.Errorf("%d %q", resp.StatusCode, b)
	}
}

// TestCGILargeBodies sends responses of 320000 bytes, with and without
// Content-Length, over one kept FastCGI connection, and a large request
// body: every byte arrives, in order.
func TestCGILargeBodies(t *testing.T) {
	be := startCGIBackend(t, "fastcgi")
	h := startProxy(t, `events {} http { access_log off;
		upstream php { server `+be.addr+`; keepalive 2; }
		server { listen 127.0.0.1:18080; client_max_body_size 10m; location / {
			fastcgi_param DOCUMENT_URI $uri; fastcgi_keep_conn on; fastcgi_pass php; } } }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	want := strings.Repeat("0123456789abcdef", 20000)
	for _, p := range []string{"/big.php", "/bigcl.php", "/big.php", "/bigcl.php"} {
		got := rawRequest(t, addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, body, err := readResponse(bufio.NewReader(strings.NewReader(got)), false)
		if err != nil || resp.StatusCode != 200 || body != want {
			t.Fatalf("%s: %v %v, %d bytes", p, err, resp, len(body))
		}
	}
	big := strings.Repeat("z", 200000)
	got := rawRequest(t, addr, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\nConnection: close\r\n\r\n"+big)
	_, body, err := readResponse(bufio.NewReader(strings.NewReader(got)), false)
	if err != nil || !strings.Contains(body, "body="+big+"\n") {
		t.Errorf("request body lost: %v, %d bytes back", err, len(body))
	}
	if n := be.conns.Load(); n != 1 {
		t.Errorf("%d connections to the application, want 1", n)
	}
}
