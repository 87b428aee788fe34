package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/sluicelb/sluice/internal/testutil"
)

// shutdownConf has a stream server in front of an echo backend and an
// http server in front of a backend that sends part of a response and
// then holds it open. %[1]s is the worker_shutdown_timeout line.
const shutdownConf = `%[1]s
error_log stderr notice;
events {}
stream {
    server { listen %[2]s; proxy_pass %[3]s; }
}
http {
    access_log off;
    server { listen %[4]s; location / { proxy_pass http://%[5]s; proxy_buffering off; } }
}
`

// hangingHTTP answers every request with the head of a chunked response
// and one chunk, then holds the connection until the client goes.
func hangingHTTP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if l == "\r\n" {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
		io.Copy(io.Discard, c)
	})
	return ln.Addr().String()
}

// dialTest connects to addr, closes the connection when the test ends,
// and bounds its reads and writes to 10s.
func dialTest(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// openSessions opens a stream session that echoes and an HTTP request
// whose response has begun, both through sluice.
func openSessions(t *testing.T, streamAddr, httpAddr string) (echo net.Conn, resp net.Conn) {
	t.Helper()
	echo = dialTest(t, streamAddr)
	if l, err := bufio.NewReader(echo).ReadString('\n'); err != nil || l != "echo\n" {
		t.Fatalf("stream session: %q %v", l, err)
	}
	resp = dialTest(t, httpAddr)
	io.WriteString(resp, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := readUntil(t, resp, "first\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Fatalf("response began with %q", got)
	}
	return echo, resp
}

// readUntil reads from c until what it has read ends with want.
func readUntil(t *testing.T, c net.Conn, want string) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 512)
	for !strings.HasSuffix(b.String(), want) {
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			t.Fatalf("read %q, then %v (waiting for %q)", b.String(), err, want)
		}
	}
	return b.String()
}

// closedWithin waits until sluice closes c, and returns how long that
// took from since; it fails the test after limit.
func closedWithin(t *testing.T, c net.Conn, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	c.SetReadDeadline(since.Add(limit))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open %v after the signal", limit)
		}
		return time.Since(since)
	}
}

// TestWorkerShutdownTimeout checks that worker_shutdown_timeout closes
// the sessions a reload left on the old configuration, and those a
// graceful stop waits for, once it has passed, and not before: the
// stream session keeps echoing meanwhile. On reload the old
// configuration's timeout applies, as to an old nginx worker.
func TestWorkerShutdownTimeout(t *testing.T) {
	echoBackend := nameServer(t, "echo")
	httpBackend := hangingHTTP(t)
	dir := t.TempDir()
	streamAddr, httpAddr := freeAddr(t), freeAddr(t)
	conf := filepath.Join(dir, "sluice.conf")
	write := func(timeout string) {
		writeFile(t, conf, fmt.Sprintf(shutdownConf, timeout, streamAddr, echoBackend, httpAddr, httpBackend))
	}
	const timeout = 700 * time.Millisecond
	write("worker_shutdown_timeout 700ms;")
	p := start(t, "-c", conf)
	p.expect(`sluice/.* started`)

	// Reload to a configuration without the directive: the sessions
	// opened before are closed after the old one's 700ms.
	echo, resp := openSessions(t, streamAddr, httpAddr)
	write("")
	reloaded := time.Now()
	p.signal(syscall.SIGHUP)
	p.expect(`configuration reloaded`)
	io.WriteString(echo, "still\n")
	if l, err := bufio.NewReader(echo).ReadString('\n'); err != nil || l != "still\n" {
		t.Fatalf("stream session after the reload: %q %v", l, err)
	}
	for name, c := range map[string]net.Conn{"stream": echo, "http": resp} {
		if d := closedWithin(t, c, reloaded, 5*time.Second); d < timeout-50*time.Millisecond {
			t.Errorf("%s session closed %v after the reload, before worker_shutdown_timeout", name, d)
		}
	}

	// The new configuration has no timeout: a graceful stop waits.
	echo, resp = openSessions(t, streamAddr, httpAddr)
	write("worker_shutdown_timeout 700ms;")
	p.signal(syscall.SIGHUP)
	p.expect(`configuration reloaded`)
	io.WriteString(echo, "old\n")
	if l, err := bufio.NewReader(echo).ReadString('\n'); err != nil || l != "old\n" {
		t.Fatalf("stream session after the second reload: %q %v", l, err)
	}
	time.Sleep(timeout + 300*time.Millisecond)
	io.WriteString(echo, "kept\n")
	if l, err := bufio.NewReader(echo).ReadString('\n'); err != nil || l != "kept\n" {
		t.Fatalf("a session of a configuration without worker_shutdown_timeout was closed: %q %v", l, err)
	}
	// (An old configuration without the timeout waits for its sessions
	// even through a stop, as an old nginx worker does.)
	echo.Close()
	resp.Close()

	// SIGQUIT with the timeout set: the stop closes what is left.
	echo, resp = openSessions(t, streamAddr, httpAddr)
	quit := time.Now()
	p.signal(syscall.SIGQUIT)
	for name, c := range map[string]net.Conn{"stream": echo, "http": resp} {
		if d := closedWithin(t, c, quit, 5*time.Second); d < timeout-50*time.Millisecond {
			t.Errorf("%s session closed %v after SIGQUIT, before worker_shutdown_timeout", name, d)
		}
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d after SIGQUIT", code)
	}
}

// TestFastStopEndsUpstreamWaits checks that TERM ends at once a request
// whose upstream holds its response open: the stop closes the upstream
// connection too, rather than waiting for proxy_read_timeout.
func TestFastStopEndsUpstreamWaits(t *testing.T) {
	echoBackend := nameServer(t, "echo")
	httpBackend := hangingHTTP(t)
	dir := t.TempDir()
	streamAddr, httpAddr := freeAddr(t), freeAddr(t)
	conf := writeFile(t, filepath.Join(dir, "sluice.conf"), fmt.Sprintf(shutdownConf, "", streamAddr, echoBackend, httpAddr, httpBackend))
	p := start(t, "-c", conf)
	p.expect(`sluice/.* started`)
	echo, resp := openSessions(t, streamAddr, httpAddr)
	stop := time.Now()
	p.signal(syscall.SIGTERM)
	for _, c := range []net.Conn{echo, resp} {
		closedWithin(t, c, stop, 5*time.Second)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if d := time.Since(stop); d > 5*time.Second {
		t.Errorf("TERM took %v", d)
	}
}

// TestIdleKeepAliveClosedOnRetire checks that the idle keep-alive
// connections of a configuration are closed as soon as a reload replaces
// it, as nginx's old workers close theirs, so that the client's next
// request reaches the new configuration; and that a graceful stop closes
// them at once rather than waiting for keepalive_timeout.
func TestIdleKeepAliveClosedOnRetire(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	conf := filepath.Join(dir, "sluice.conf")
	write := func(body string) {
		writeFile(t, conf, "error_log stderr notice;\nevents {}\nhttp {\n    access_log off;\n    server { listen "+addr+"; location / { return 200 \""+body+"\\n\"; } }\n}\n")
	}
	// get sends a request on c and returns the response's body.
	get := func(c net.Conn) string {
		t.Helper()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		var b strings.Builder
		buf := make([]byte, 512)
		for {
			head, body, ok := strings.Cut(b.String(), "\r\n\r\n")
			if ok && strings.HasSuffix(body, "\n") {
				if !strings.HasPrefix(head, "HTTP/1.1 200 OK") {
					t.Fatalf("response %q", b.String())
				}
				return strings.TrimSuffix(body, "\n")
			}
			n, err := c.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				t.Fatalf("read %q, then %v", b.String(), err)
			}
		}
	}
	dialKA := func() net.Conn { return dialTest(t, addr) }
	write("old")
	p := start(t, "-c", conf)
	p.expect(`sluice/.* started`)
	c := dialKA()
	if b := get(c); b != "old" {
		t.Fatalf("first response %q", b)
	}
	write("new")
	reloaded := time.Now()
	p.signal(syscall.SIGHUP)
	p.expect(`configuration reloaded`)
	// keepalive_timeout is 75s: only the reload can close it this soon.
	closedWithin(t, c, reloaded, 5*time.Second)
	if b := get(dialKA()); b != "new" {
		t.Fatalf("response after the reload %q", b)
	}

	c = dialKA()
	if b := get(c); b != "new" {
		t.Fatalf("response %q", b)
	}
	quit := time.Now()
	p.signal(syscall.SIGQUIT)
	closedWithin(t, c, quit, 5*time.Second)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d after SIGQUIT", code)
	}
}

// readWatch is a connection that reports when a read first fails: the
// peer closed it (or the client did, after the peer's GOAWAY).
type readWatch struct {
	net.Conn
	once   sync.Once
	failed chan struct{}
}

func (w *readWatch) Read(b []byte) (int, error) {
	n, err := w.Conn.Read(b)
	if err != nil {
		w.once.Do(func() { close(w.failed) })
	}
	return n, err
}

// TestHTTP2ClosedOnRetire checks that an idle HTTP/2 connection ends
// soon after a reload (GOAWAY, then close), as nginx's old workers end
// theirs, rather than at the end of its idle timeout.
func TestHTTP2ClosedOnRetire(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	conf := writeFile(t, filepath.Join(dir, "sluice.conf"), "error_log stderr notice;\nevents {}\nhttp {\n    access_log off;\n    server { listen "+addr+" http2; location / { return 200 \"v\\n\"; } }\n}\n")
	p := start(t, "-c", conf)
	p.expect(`sluice/.* started`)
	w := &readWatch{failed: make(chan struct{})}
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
		c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, a)
		if err != nil {
			return nil, err
		}
		w.Conn = c
		return w, nil
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "v\n" {
		t.Fatalf("HTTP/%d, %q", resp.ProtoMajor, body)
	}
	p.signal(syscall.SIGHUP)
	p.expect(`configuration reloaded`)
	select {
	case <-w.failed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle HTTP/2 connection is still open 5s after the reload")
	}
}
