package httpproxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// TestIdleConnectionMemory holds idle keep-alive connections that have
// made one proxied request each and checks what each costs the proxy on
// the heap: no buffer and no request state is held while a connection
// waits (2.3 KB with the test's client side; holding the request state
// would add 1.9 KB, the header buffer 1 KB). TestIdleStack checks the
// stacks.
func TestIdleConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1000 connections")
	}
	be := rawBackend(t)
	h := startProxy(t, `events {} http { access_log off;
		upstream u { server `+be+`; keepalive 8; }
		server { listen 127.0.0.1:18080; location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`, Options{Log: noLog})
	addr := h.addr["127.0.0.1:18080"]
	const n = 1000
	var stack, heap [2]uint64
	k := 0
	measure := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		stack[k], heap[k] = ms.StackInuse, ms.HeapInuse
		k++
		return ms.HeapInuse + ms.StackInuse
	}
	// warm the pools and the runtime with a first round
	before := measure()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(waitLimit))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	after := measure()
	per := float64(int64(after)-int64(before)) / n / 1024
	heapPer := float64(int64(heap[1])-int64(heap[0])) / n / 1024
	t.Logf("%.1f KB per idle keep-alive connection (client side included): stacks %.1f KB, heap %.1f KB", per,
		float64(int64(stack[1])-int64(stack[0]))/n/1024, heapPer)
	if heapPer > 3.2 {
		t.Errorf("heap per idle keep-alive connection: %.1f KB, want at most 3.2 KB", heapPer)
	}
}
