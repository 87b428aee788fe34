package httpproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestChunkedTransferEncodingOff: with chunked_transfer_encoding off, a
// response of unknown length (chunked or close-delimited upstream, or
// compressed by gzip) goes to an HTTP/1.1 client unframed, with
// "Connection: close", and the connection closes at its end, as nginx
// 1.22 does; with it on, the body is chunked and the connection kept.
func TestChunkedTransferEncodingOff(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello")
		w.(http.Flusher).Flush()
		io.WriteString(w, " world")
	}))
	h := startProxy(t, `events {} http { access_log off;
	server { listen 127.0.0.1:18080;
		chunked_transfer_encoding off;
		location /close { proxy_pass http://`+be.addr+`; }
		location /chunked { proxy_pass http://`+be.addr+`; proxy_http_version 1.1; }
		location /gzip { proxy_pass http://`+be.addr+`; gzip on; gzip_min_length 1; gzip_types text/plain; }
		location /on { proxy_pass http://`+be.addr+`; proxy_http_version 1.1; chunked_transfer_encoding on; }
	}}`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	for _, path := range []string{"/close", "/chunked", "/gzip"} {
		c, err := net.DialTimeout("tcp", addr, waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(waitLimit))
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
		b, err := io.ReadAll(c)
		c.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: the connection was not closed after the response: %q", path, b)
		}
		head, body, _ := strings.Cut(string(b), "\r\n\r\n")
		if strings.Contains(strings.ToLower(head), "transfer-encoding") || !strings.Contains(head, "\r\nConnection: close") {
			t.Errorf("%s: head %q, want no Transfer-Encoding and Connection: close", path, head)
		}
		if path == "/gzip" {
			if !strings.Contains(head, "Content-Encoding: gzip") || !strings.HasPrefix(body, "\x1f\x8b") {
				t.Errorf("%s: head %q body %q, want a gzip body", path, head, body)
			}
		} else if body != "hello world" {
			t.Errorf("%s: body %q, want %q", path, body, "hello world")
		}
	}
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		io.WriteString(c, "GET /on HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body, err := readResponse(br, false)
		if err != nil {
			t.Fatalf("on, request %d: %v", i, err)
		}
		if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || resp.Close || body != "hello world" {
			t.Errorf("on, request %d: Transfer-Encoding %v, close %v, body %q; want chunked on a kept connection", i, resp.TransferEncoding, resp.Close, body)
		}
	}
}
