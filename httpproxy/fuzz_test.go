package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzServeConn feeds arbitrary client bytes to a connection of a proxy
// in front of a counting backend. The connection must end by itself once
// the client has sent everything and closed, and the backend must never
// see more requests than the proxy answered with a proxied response.
func FuzzServeConn(f *testing.F) {
	seeds := []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /r HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /b HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	var (
		once    sync.Once
		handler *Handler
		reqs    func(id string) int64
		closers []func()
		front   net.Listener
	)
	setup := func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		n := map[string]int64{} // by the proxy's connection number ($connection)
		reqs = func(id string) int64 { mu.Lock(); defer mu.Unlock(); return n[id] }
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					br := bufio.NewReader(c)
					for {
						c.SetReadDeadline(time.Now().Add(5 * time.Second))
						req, err := http.ReadRequest(br)
						if err != nil {
							return
						}
						mu.Lock()
						n[req.Header.Get("X-Conn")]++
						mu.Unlock()
						if _, err := io.Copy(io.Discard, req.Body); err != nil {
							return
						}
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					}
				}()
			}
		}()
		dir := t.TempDir()
		hc := loadHTTP(t, dir, `events {} http { access_log off; client_header_timeout 2s; client_body_timeout 2s;
			proxy_read_timeout 2s; send_timeout 2s; proxy_set_header X-Conn $connection;
			upstream u { server `+ln.Addr().String()+`; keepalive 4; }
			server { listen 127.0.0.1:18080;
				location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_request_buffering off; }
				location /b { proxy_pass http://u; }
				location = /r { return 302 /x; } } }`)
		b, err := Build(hc, Options{Log: noLog})
		if err != nil {
			t.Fatal(err)
		}
		handler = b.Listeners[0].Handler
		if front, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		closers = append(b.Closers, func() { ln.Close(); front.Close() })
	}
	f.Cleanup(func() {
		for _, c := range closers {
			c()
		}
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		once.Do(func() { setup(t) })
		client, err := net.Dial("tcp", front.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err := front.Accept()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			handler.ServeConn(context.Background(), server)
		}()
		var out bytes.Buffer
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			io.Copy(&out, client)
		}()
		client.SetDeadline(time.Now().Add(20 * time.Second))
		client.Write(in)
		client.(*net.TCPConn).CloseWrite() // the client is done sending
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatalf("ServeConn did not return for input %q", in)
		}
		<-readDone
		client.Close()
		proxied := int64(strings.Count(out.String(), "\r\n\r\nok"))
		// one fuzz worker serves one connection at a time: it was the last
		// one numbered
		id := strconv.FormatUint(connSeq.Load(), 10)
		if got := reqs(id); got > proxied+1 {
			// one request may be in flight when the client went away
			t.Fatalf("backend saw %d requests, client got %d proxied answers, for input %q", got, proxied, in)
		}
	})
}
