package httpproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lingerConf has one location per lingering_close behaviour under test.
const lingerConf = `events {} http { access_log off;
	server { listen 127.0.0.1:18080;
		location / { client_max_body_size 1k; return 200 "ok\n"; }
		location /short { lingering_timeout 150ms; return 200 "ok\n"; }
		location /time { lingering_time 300ms; lingering_timeout 2s; return 200 "ok\n"; }
		location /always { lingering_close always; lingering_timeout 150ms; return 200 "ok\n"; }
	}
}`

// TestLingeringClose413: a client that sends a body far beyond
// client_max_body_size without waiting for 100-continue reads the whole
// 413 response and a clean end of the connection, every time: the proxy
// shuts its side down and drains what the client still sends instead of
// closing with unread bytes (which resets the connection and can destroy
// the response before the client reads it). nginx 1.22 answers the same
// requests with 413 every time.
func TestLingeringClose413(t *testing.T) {
	h := startProxy(t, lingerConf, Options{})
	body := make([]byte, 4<<20)
	for i := range 10 {
		c, err := net.DialTimeout("tcp", h.addr["127.0.0.1:18080"], waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(waitLimit))
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n")
		go c.Write(body) // fails once the proxy has closed
		resp, err := io.ReadAll(c)
		c.Close()
		if err != nil || !strings.HasPrefix(string(resp), "HTTP/1.1 413 ") {
			t.Fatalf("upload %d: read %q, %v; want the whole 413 response and a clean end", i, firstLine(string(resp)), err)
		}
	}
}

// lingerClient sends a request head with a part of its body, reads the
// response and the end of the proxy's side.
func lingerClient(t *testing.T, addr, head string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, head)
	br := bufio.NewReader(c)
	resp, _, err := readResponse(br, false)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("response: %v %v", resp, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the response: %v, want the end of the proxy's side", err)
	}
	return c
}

// serverClosed writes to the proxy for a while and reports whether its
// socket answered with a reset, which says it was closed (a write after
// the reset fails); a lingering socket reads the bytes silently.
func serverClosed(t *testing.T, c net.Conn) bool {
	t.Helper()
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := c.Write([]byte("x")); err != nil {
			if !isReset(err) {
				t.Fatalf("write: %v", err)
			}
			return true
		}
	}
	return false
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// TestLingeringTimeout: after a response that left a body unread, the
// proxy keeps reading (the client's bytes get no reset) until the client
// has been silent for lingering_timeout, then closes.
func TestLingeringTimeout(t *testing.T) {
	h := startProxy(t, lingerConf, Options{})
	c := lingerClient(t, h.addr["127.0.0.1:18080"], "POST /short HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
	if serverClosed(t, c) {
		t.Fatal("closed at once; want a lingering close")
	}
	time.Sleep(400 * time.Millisecond) // a client silent for longer than lingering_timeout
	if !serverClosed(t, c) {
		t.Fatal("still open after lingering_timeout")
	}
}

// TestLingeringTime: a client that keeps sending is cut after
// lingering_time, although it never pauses for lingering_timeout.
func TestLingeringTime(t *testing.T) {
	h := startProxy(t, lingerConf, Options{})
	c := lingerClient(t, h.addr["127.0.0.1:18080"], "POST /time HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
	start := time.Now()
	for !serverClosed(t, c) {
		if time.Since(start) > waitLimit {
			t.Fatal("never closed")
		}
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("closed after %v; want about lingering_time (300ms)", d)
	}
}

// TestLingeringAlways: with "always" a response that ends the connection
// lingers even when nothing was left unread; with the default "on" it
// closes at once.
func TestLingeringAlways(t *testing.T) {
	h := startProxy(t, lingerConf, Options{})
	addr := h.addr["127.0.0.1:18080"]
	c := lingerClient(t, addr, "GET /always HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if serverClosed(t, c) {
		t.Error("always: closed at once; want a lingering close")
	}
	c = lingerClient(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !serverClosed(t, c) {
		t.Error("on, nothing unread: the connection lingers; want it closed at once")
	}
}
