package httpproxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzH2Request sends an HTTP/2 request made of arbitrary pseudo-header
// and header fields (and a body) to an h2c listener whose location proxies
// to a backend. Whatever the fields, the stream must end (response,
// RST_STREAM or GOAWAY) and nothing may panic: the fields become the
// HTTP/1.1 request the engine parses, so a field value must never be able
// to smuggle a second request or header into it.
func FuzzH2Request(f *testing.F) {
	f.Add("GET", "/a?b", "example.com", "x-test", "v", []byte(nil))
	f.Add("POST", "/p", "h", "content-type", "text/plain", []byte("body"))
	f.Add("GET", "/a b", "", "x", "a\r\nx-injected: 1", []byte(nil))
	f.Add("GET", "/\r\nGET /smuggled HTTP/1.1", "h", "te", "trailers", []byte(nil))
	f.Add("CONNECT", "", "h:443", "", "", []byte(nil))
	f.Add("OPTIONS", "*", "h", "content-length", "5", []byte("abc"))
	var (
		once    sync.Once
		handler *Handler
		seen    chan string
	)
	setup := func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		seen = make(chan string, 64)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			select {
			case seen <- r.URL.Path + "|" + r.Header.Get("X-Injected"):
			default:
			}
			io.WriteString(w, "ok")
		})}
		go srv.Serve(ln)
		dir := t.TempDir()
		b, err := Build(loadHTTP(t, dir, `events {} http { access_log off;
			server { listen 127.0.0.1:18291 http2; location / { proxy_pass http://`+ln.Addr().String()+`; } } }`), Options{Log: noLog})
		if err != nil {
			t.Fatal(err)
		}
		handler = b.Listeners[0].Handler
	}
	f.Fuzz(func(t *testing.T, method, path, authority, name, value string, body []byte) {
		once.Do(func() { setup(t) })
		cc, sc := net.Pipe()
		done := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			defer close(done)
			handler.ServeConn(ctx, sc)
		}()
		defer func() {
			cc.Close()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the connection did not end")
			}
		}()
		cc.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			var hb bytes.Buffer
			enc := hpack.NewEncoder(&hb)
			enc.WriteField(hpack.HeaderField{Name: ":method", Value: method})
			enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "http"})
			if path != "" || method != "CONNECT" {
				enc.WriteField(hpack.HeaderField{Name: ":path", Value: path})
			}
			enc.WriteField(hpack.HeaderField{Name: ":authority", Value: authority})
			if name != "" {
				enc.WriteField(hpack.HeaderField{Name: name, Value: value})
			}
			io.WriteString(cc, h2Preface)
			fr := http2.NewFramer(cc, nil)
			fr.WriteSettings()
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: len(body) == 0})
			if len(body) > 0 {
				fr.WriteData(1, true, body)
			}
		}()
		fr := http2.NewFramer(io.Discard, cc)
		for {
			fm, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("no end of stream: %v", err)
			}
			switch fm := fm.(type) {
			case *http2.GoAwayFrame, *http2.RSTStreamFrame:
				return
			case *http2.HeadersFrame:
				if fm.StreamID == 1 && fm.StreamEnded() {
					return
				}
			case *http2.DataFrame:
				if fm.StreamID == 1 && fm.StreamEnded() {
					select {
					case s := <-seen:
						if strings.Contains(s, "smuggled") || strings.HasSuffix(s, "|1") {
							t.Fatalf("a field reached the backend as request syntax: %q", s)
						}
					default:
					}
					return
				}
			}
		}
	})
}
