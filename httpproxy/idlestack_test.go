package httpproxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestIdleStack guards the memory of idle keep-alive connections: after
// a proxied request the goroutine of the client connection waits for the
// next one on the stack the request grew, which the runtime shrinks only
// at a garbage collection. The request path must fit in 4 KB of stack;
// one more frame on the way to proxyPass has made it 8 KB before, which
// every idle connection then kept.
//
// It checks proxy_pass with and without upstream keepalive, and
// fastcgi_pass. The test runs itself in a child process with the runtime's adaptive
// initial stack size off: goroutines then start at 2 KB whatever ran
// before, and the stacks freed by earlier tests are released, so what it
// counts is what the request path grew.
func TestIdleStack(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes stack frames larger")
	}
	if os.Getenv("SLUICE_IDLE_STACK") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleStack$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "SLUICE_IDLE_STACK=1", "GODEBUG=adaptivestackstart=0")
		out, err := cmd.CombinedOutput()
		t.Logf("%s", out)
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		return
	}
	const n = 200
	be := rawBackend(t)
	fcgi := startCGIBackend(t, "fastcgi")
	h := startProxy(t, fmt.Sprintf(`http {
    access_log off;
    upstream ka { server %s; keepalive 8; }
    upstream plain { server %s; }
    upstream php { server %s; keepalive 8; }
    server { listen 127.0.0.1:1;
        location / { proxy_pass http://ka; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /plain { proxy_pass http://plain; }
        location /php { fastcgi_param DOCUMENT_URI /x; fastcgi_keep_conn on; fastcgi_pass php; }
    }
}`, be, be, fcgi.addr), Options{})
	addr := h.addr["127.0.0.1:1"]
	request := func(path string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nUser-Agent: idle\r\n\r\n", path)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return c
	}
	for _, path := range []string{"/", "/plain", "/php"} {
		t.Run(path, func(t *testing.T) {
			// Warm up the pools, the upstream connections and the
			// runtime's stack sizes; then no collection until the end.
			for i := 0; i < 20; i++ {
				request(path).Close()
			}
			runtime.GC()
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			conns := make([]net.Conn, 0, n)
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for i := 0; i < n; i++ {
				conns = append(conns, request(path))
			}
			runtime.ReadMemStats(&after)
			per := float64(int64(after.StackInuse)-int64(before.StackInuse)) / n
			t.Logf("stack per idle connection: %.0f bytes", per)
			if per > 6<<10 {
				t.Errorf("stack per idle connection after GET %s: %.0f bytes, want at most 4 KB (with room for the accept and backend goroutines)", path, per)
			}
		})
	}
}
