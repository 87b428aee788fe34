package httpproxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// gzipText is the body gunzipBackend compresses.
var gzipText = strings.Repeat("hello gunzip world\n", 600)

// gzipBytes compresses s with gzip.
func gzipBytes(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

// gunzipBackend answers each request (one per connection) by its path
// with a gzip-encoded body, or a variation of it.
func gunzipBackend(t *testing.T) string {
	ln := testutil.Listen(t)
	gz := gzipBytes(gzipText)
	testutil.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(waitLimit))
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		path := req.URL.Path
		if strings.HasPrefix(path, "/b/") {
			path = path[2:]
		}
		body, ce, status := gz, "gzip", "200 OK"
		extra := "ETag: \"abc\"\r\nAccept-Ranges: bytes\r\n"
		switch path {
		case "/404":
			status = "404 Not Found"
		case "/upper":
			ce = "GZIP"
		case "/xgzip":
			ce = "x-gzip"
		case "/list":
			ce = "gzip, identity"
		case "/multi":
			body = append(append([]byte(nil), gz...), gzipBytes("second member\n")...)
		case "/weak":
			extra = "ETag: W/\"w\"\r\n"
		case "/bare":
			extra = "ETag: bare\r\n"
		case "/plain":
			body, ce = []byte("plain text\n"), ""
		case "/truncated":
			body = gz[:len(gz)/2]
		case "/trailing":
			body = append(append([]byte(nil), gz...), "garbage"...)
		case "/chunked":
			head := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
			half := len(gz) / 2
			fmt.Fprintf(c, "%s%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", head, half, gz[:half], len(gz)-half, gz[half:])
			return
		case "/close":
			fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n\r\n%s", gz)
			return
		}
		h := fmt.Sprintf("HTTP/1.1 %s\r\nContent-Type: text/plain\r\n", status)
		if ce != "" {
			h += "Content-Encoding: " + ce + "\r\n"
		}
		h += fmt.Sprintf("%sVary: Accept-Encoding\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", extra, len(body))
		if req.Method == "HEAD" {
			body = nil
		}
		c.Write(append([]byte(h), body...))
	})
	return ln.Addr().String()
}

// dechunk decodes the chunked body of a normalized response, so that
// responses whose chunks are cut differently compare equal; a body that
// ends early is marked.
func dechunk(s string) string {
	head, body, ok := strings.Cut(s, "\n\n")
	if !ok || !strings.Contains(head, "Transfer-Encoding: chunked") {
		return s
	}
	b, err := io.ReadAll(httputil.NewChunkedReader(strings.NewReader(body)))
	if err != nil {
		b = append(b, "<truncated>"...)
	}
	return head + "\n\n" + string(b)
}

// TestGunzipNginxDifferential compares nginx's and sluice's answers to
// gzip-encoded responses for clients that accept gzip and clients that
// do not: headers, framing and the decompressed body.
func TestGunzipNginxDifferential(t *testing.T) {
	be := gunzipBackend(t)
	body := `
	server { listen LISTEN;
		location / { gunzip on; proxy_pass http://` + be + `; }
		location /v/ { gunzip on; gzip_vary on; proxy_pass http://` + be + `/b/; }
		location /off/ { proxy_pass http://` + be + `/b/; }
		location /g/ { gunzip on; gzip on; gzip_types text/plain; gzip_vary on; proxy_pass http://` + be + `/b/; }
		location /p/ { gunzip on; gzip_proxied any; gzip_http_version 1.0; proxy_pass http://` + be + `/b/; }
		location /u/ { gunzip on; gzip_disable "curl"; proxy_pass http://` + be + `/b/; }
		location /nc/ { gunzip on; chunked_transfer_encoding off; proxy_pass http://` + be + `/b/; }
		location /s/ { gunzip on; sub_filter_types *; sub_filter_once off; sub_filter e E; sub_filter member MEMBER; proxy_pass http://` + be + `/b/; }
	}`
	get := func(target, hdrs string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: a\r\n" + hdrs + "Connection: close\r\n\r\n"
	}
	const ae = "Accept-Encoding: gzip, deflate\r\n"
	requests := []string{
		get("/", ""), get("/", ae), get("/", "Accept-Encoding: deflate\r\n"), get("/v/", ""), get("/v/", ae),
		get("/404", ""), get("/upper", ""), get("/xgzip", ""), get("/list", ""), get("/multi", ""),
		get("/weak", ""), get("/bare", ""), get("/plain", ""), get("/plain", ae), get("/chunked", ""),
		get("/close", ""), get("/off/", ""), get("/g/", ""), get("/g/", ae), get("/g/plain", ""),
		get("/", ae+"Via: 1.1 proxy\r\n"), get("/p/", ae+"Via: 1.1 proxy\r\n"),
		"GET / HTTP/1.0\r\n" + ae + "\r\n", "GET /p/ HTTP/1.0\r\n" + ae + "\r\n", "GET / HTTP/1.0\r\n\r\n",
		get("/u/", ae+"User-Agent: curl/8\r\n"), get("/u/", ae+"User-Agent: other\r\n"), get("/nc/", ""),
		"HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", get("/truncated", ""),
		// sub_filter after gunzip: it sees the decompressed body
		get("/s/", ""), get("/s/", ae), get("/s/multi", ""), get("/s/chunked", ""), get("/s/plain", ""),
		"GET /s/ HTTP/1.0\r\n\r\n",
	}
	moduleDiffNorm(t, t.TempDir(), body, requests, dechunk)
}

// TestGunzipErrors checks that a body that is not gzip ends the response
// early, with nginx's log line, and that the connection is closed.
func TestGunzipErrors(t *testing.T) {
	be := gunzipBackend(t)
	h := startProxy(t, `events {} http { access_log off; server { listen 127.0.0.1:18080;
		location / { gunzip on; proxy_pass http://`+be+`; } } }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	for _, tc := range []struct{ path, log string }{
		{"/truncated", "inflate() returned -5 on response end while sending to client"},
		{"/trailing", "inflate() failed: 0, -3 while sending to client"},
	} {
		out := rawRequest(t, addr, "GET "+tc.path+" HTTP/1.1\r\nHost: a\r\n\r\n")
		if strings.HasSuffix(out, "0\r\n\r\n") {
			t.Errorf("%s: response complete: %q", tc.path, out)
		}
		if !strings.Contains(h.errs.String(), tc.log) {
			t.Errorf("%s: error log lacks %q:\n%s", tc.path, tc.log, h.errs.String())
		}
	}
}

// TestGunzipStream checks that a gzip stream is decompressed as it
// arrives: the client reads the first flushed part before the upstream
// sends the rest.
func TestGunzipStream(t *testing.T) {
	ln := testutil.Listen(t)
	next := make(chan struct{})
	testutil.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(waitLimit))
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")
		zw := gzip.NewWriter(chunkWriter{c})
		io.WriteString(zw, "data: first\n\n")
		zw.Flush()
		select {
		case <-next:
		case <-time.After(waitLimit):
			return
		}
		io.WriteString(zw, "data: second\n\n")
		zw.Close()
		io.WriteString(c, "0\r\n\r\n")
	})
	h := startProxy(t, `events {} http { access_log off; server { listen 127.0.0.1:18080;
		location / { gunzip on; proxy_pass http://`+ln.Addr().String()+`; proxy_http_version 1.1; } } }`, Options{})
	c, err := net.Dial("tcp", h.addr["127.0.0.1:18080"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("still encoded: %v", resp.Header)
	}
	first := make([]byte, len("data: first\n\n"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "data: first\n\n" {
		t.Fatalf("first part %q: %v", first, err)
	}
	close(next)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "data: second\n\n" {
		t.Fatalf("rest %q: %v", rest, err)
	}
}

// chunkWriter writes each Write as one HTTP chunk.
type chunkWriter struct{ w io.Writer }

func (cw chunkWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	_, err := fmt.Fprintf(cw.w, "%x\r\n%s\r\n", len(p), p)
	return len(p), err
}
