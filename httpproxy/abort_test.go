package httpproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// heldConn is a backend connection whose request head was read, held
// until the test answers or checks it.
type heldConn struct {
	path string
	c    net.Conn
}

// startHoldingBackend accepts connections, reads each request head and
// hands the connection to the test without answering.
func startHoldingBackend(t *testing.T) (string, <-chan heldConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan heldConn, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(waitLimit))
			br := bufio.NewReader(c)
			line, _ := br.ReadString('\n')
			for {
				l, err := br.ReadString('\n')
				if err != nil || l == "\r\n" {
					break
				}
			}
			f := strings.Fields(line)
			if len(f) < 2 {
				c.Close()
				continue
			}
			ch <- heldConn{f[1], c}
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), ch
}

// TestProxyIgnoreClientAbort: a client closes its connection while the
// response head is awaited. With proxy_ignore_client_abort off (the
// default) the upstream connection is closed at once and 499 logged; with
// it on the request goes on, the upstream answers and its status is
// logged, as nginx 1.22 does ("/off 499 -", "/on 200 200").
func TestProxyIgnoreClientAbort(t *testing.T) {
	be, held := startHoldingBackend(t)
	h := startProxy(t, `events {} http {
		log_format st '$request_uri $status $upstream_status';
		access_log {{DIR}}/logs/st.log st;
		server { listen 127.0.0.1:18080;
			location /off { proxy_pass http://`+be+`; }
			location /on { proxy_pass http://`+be+`; proxy_ignore_client_abort on; }
		}
	}`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	conns := map[string]net.Conn{}
	var clients []net.Conn
	for _, path := range []string{"/on", "/off"} {
		c, err := net.DialTimeout("tcp", addr, waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		select {
		case hc := <-held:
			conns[hc.path] = hc.c
			defer hc.c.Close()
		case <-time.After(waitLimit):
			t.Fatalf("%s: the request did not reach the backend", path)
		}
	}
	for _, c := range clients {
		c.Close()
	}
	// off: the proxy closes the upstream connection
	var b [1]byte
	conns["/off"].SetReadDeadline(time.Now().Add(waitLimit))
	if n, err := conns["/off"].Read(b[:]); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("off: backend read %d, %v; want the proxy to close the connection", n, err)
	}
	// on: the upstream connection stays open (the watch of "off" has
	// already acted) and the response is read
	conns["/on"].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := conns["/on"].Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("on: backend read %d, %v; want the connection kept open", n, err)
	}
	conns["/on"].SetWriteDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(conns["/on"], "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"); err != nil {
		t.Fatal(err)
	}
	conns["/on"].SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := conns["/on"].Read(b[:]); !errors.Is(err, io.EOF) {
		t.Fatalf("on: after the response the backend read %v, want the proxy's close", err)
	}
	var lines []string
	testutil.WaitFor(t, "the log lines", func() bool {
		data, _ := os.ReadFile(h.dir + "/logs/st.log")
		lines = strings.Split(strings.TrimSpace(string(data)), "\n")
		return len(lines) >= 2
	})
	sort.Strings(lines)
	if want := []string{"/off 499 -", "/on 200 200"}; strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("access log %q, want %q", lines, want)
	}
}
