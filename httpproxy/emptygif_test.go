package httpproxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

// emptyGIFConf uses empty_gif alone, with the header filters, as an
// error page, and with proxy_pass before and after it.
const emptyGIFConf = `
	server { listen LISTEN;
		location = /gif { empty_gif; }
		location = /hdr { empty_gif; expires modified 1h; add_header X-A b; charset utf-8; charset_types *; }
		location = /before { proxy_pass http://127.0.0.1:1; empty_gif; }
		location = /after { empty_gif; proxy_pass http://127.0.0.1:1; }
		location = /stub { stub_status; empty_gif; }
		location /ep { root DIR/none; error_page 404 /gif; }
		location /ep200 { root DIR/none; error_page 404 =200 /gif; }
		location /ims { if_modified_since before; empty_gif; }
		location /if { empty_gif; if ($arg_x) { add_header X-If 1; } }
	}`

// TestEmptyGIFNginxDifferential compares nginx's and sluice's answers of
// empty_gif locations: the image and its headers for GET, the head alone
// for HEAD, 405 for other methods, conditional requests, error pages.
func TestEmptyGIFNginxDifferential(t *testing.T) {
	const ims = "If-Modified-Since: Mon, 28 Sep 1970 06:00:00 GMT\r\n"
	requests := []string{
		"GET /gif HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /gif?x=1 HTTP/1.0\r\n\r\n",
		"HEAD /gif HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"POST /gif HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
		"PUT /gif HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"DELETE /gif HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"OPTIONS /gif HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /gif HTTP/1.1\r\nHost: a\r\n" + ims + "Connection: close\r\n\r\n",
		"GET /gif HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Mon, 28 Sep 1970 06:00:01 GMT\r\nConnection: close\r\n\r\n",
		"GET /ims HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Mon, 28 Sep 1970 06:00:01 GMT\r\nConnection: close\r\n\r\n",
		"GET /gif HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: Mon, 28 Sep 1970 05:00:00 GMT\r\nConnection: close\r\n\r\n",
		"GET /gif HTTP/1.1\r\nHost: a\r\nIf-None-Match: *\r\nConnection: close\r\n\r\n",
		"GET /gif HTTP/1.1\r\nHost: a\r\nIf-Match: \"x\"\r\nConnection: close\r\n\r\n",
		"GET /gif HTTP/1.1\r\nHost: a\r\nRange: bytes=0-3\r\nConnection: close\r\n\r\n",
		"GET /hdr HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /before HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /stub HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /ep/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"POST /ep/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"GET /ep200/x HTTP/1.1\r\nHost: a\r\n" + ims + "Connection: close\r\n\r\n",
		"GET /ep200/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /if?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
	}
	moduleDiff(t, t.TempDir(), emptyGIFConf, requests)
}

// TestEmptyGIFKeepAlive sends requests for the image over one connection,
// a HEAD and a POST with a body among them, and checks each answer and
// that the connection stays open; and that gzip, when gzip_types names
// image/gif, compresses it.
func TestEmptyGIFKeepAlive(t *testing.T) {
	h := startProxy(t, `events {} http { access_log off; server { listen 127.0.0.1:18080;
		location /gif { empty_gif; }
		location /gz { empty_gif; gzip on; gzip_types image/gif; gzip_min_length 1; }
	} }`, Options{})
	reqs := "GET /gif HTTP/1.1\r\nHost: a\r\n\r\n" +
		"HEAD /gif HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /gif HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi" +
		"GET /gz HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
	out := rawRequest(t, h.addr["127.0.0.1:18080"], reqs)
	br := bufio.NewReader(strings.NewReader(out))
	for i, want := range []struct {
		status int
		head   bool
		body   string
	}{{200, false, string(emptyGIF)}, {200, true, ""}, {405, false, ""}, {200, false, string(emptyGIF)}} {
		resp, body, err := readResponse(br, want.head)
		if err != nil {
			t.Fatalf("response %d: %v in %q", i, err, out)
		}
		if resp.StatusCode != want.status {
			t.Fatalf("response %d: status %d, want %d", i, resp.StatusCode, want.status)
		}
		if i == 3 {
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("not compressed: %v", resp.Header)
			}
			zr, err := gzip.NewReader(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(zr)
			body = string(b)
		}
		if want.status == 200 && body != want.body {
			t.Errorf("response %d: body %q", i, body)
		}
		if want.status == 200 && !bytes.Equal([]byte(resp.Header.Get("Last-Modified")), emptyGIFLastMod) {
			t.Errorf("response %d: Last-Modified %q", i, resp.Header.Get("Last-Modified"))
		}
	}
}
