package httpproxy

import (
	"bytes"
	"net"
	"sync"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// rawBackend answers every request head it reads with a fixed keep-alive
// response of a 64-byte body; it allocates nothing per request.
func rawBackend(tb testing.TB) string {
	ln := testutil.Listen(tb)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 64\r\n\r\n" + string(bytes.Repeat([]byte("x"), 64)))
	testutil.Serve(tb, ln, func(c net.Conn) {
		buf := make([]byte, 8192)
		have := 0
		for {
			n, err := c.Read(buf[have:])
			if err != nil {
				return
			}
			have += n
			for {
				i := bytes.Index(buf[:have], []byte("\r\n\r\n"))
				if i < 0 {
					break
				}
				if _, err := c.Write(resp); err != nil {
					return
				}
				have = copy(buf, buf[i+4:have])
			}
		}
	})
	return ln.Addr().String()
}

func benchProxy(b *testing.B, conf string) {
	be := rawBackend(b)
	h := startProxyB(b, conf, be)
	c, err := net.Dial("tcp", h)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n")
	buf := make([]byte, 4096)
	one := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		have := 0
		for {
			n, err := c.Read(buf[have:])
			if err != nil {
				b.Fatal(err)
			}
			have += n
			if i := bytes.Index(buf[:have], []byte("\r\n\r\n")); i >= 0 && have >= i+4+64 {
				return
			}
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

// startProxyB serves conf ({{BACKEND}} replaced) and returns the address.
func startProxyB(b *testing.B, conf, backend string) string {
	conf = string(bytes.ReplaceAll([]byte(conf), []byte("{{BACKEND}}"), []byte(backend)))
	dir := b.TempDir()
	hc := loadHTTP(b, dir, conf)
	built, err := Build(hc, Options{Log: noLog})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	handler := built.Listeners[0].Handler
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
		for _, f := range built.Closers {
			f()
		}
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handler.ServeConn(b.Context(), c)
			}()
		}
	}()
	return ln.Addr().String()
}

func BenchmarkProxyKeepalive(b *testing.B) {
	benchProxy(b, `events {} http { keepalive_requests 100000000; access_log off;
		upstream u { server {{BACKEND}}; keepalive 8; }
		server { listen 127.0.0.1:18080; location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`)
}

func BenchmarkProxyKeepaliveLogged(b *testing.B) {
	benchProxy(b, `events {} http { keepalive_requests 100000000; access_log {{DIR}}/access.log;
		upstream u { server {{BACKEND}}; keepalive 8; }
		server { listen 127.0.0.1:18080; location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`)
}

func BenchmarkProxyNoKeepalive(b *testing.B) {
	benchProxy(b, `events {} http { keepalive_requests 100000000; access_log off;
		server { listen 127.0.0.1:18080; location / { proxy_pass http://{{BACKEND}}; } } }`)
}
