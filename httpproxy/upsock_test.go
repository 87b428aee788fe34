//go:build linux

package httpproxy

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/splice"
	"github.com/sluicelb/sluice/internal/testutil"
)

// TestDialSockRefused: a port nobody listens on gives nginx's connect()
// error text.
func TestDialSockRefused(t *testing.T) {
	ap := netip.MustParseAddrPort(refusedAddr(t))
	_, err := dialSock(ap, time.Second, false, false)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a closed port: %v, want connection refused", err)
	}
	if got := errText(err); got != "(111: Connection refused)" {
		t.Errorf("error text %q", got)
	}
}

// fullListener listens with a backlog of 0 and lets one connection fill
// its queue, so that the kernel drops the next SYN: a connect to it stays
// in progress until the queue has room and the SYN is resent (after 1 s).
func fullListener(t *testing.T) (fd int, ap netip.AddrPort) {
	t.Helper()
	fd, port := testutil.BoundSocket(t)
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	ap = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))
	filler, err := net.DialTimeout("tcp", ap.String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	return fd, ap
}

// TestDialSockTimeout: a handshake that does not finish within the
// connect timeout fails as a timeout, in about that time.
func TestDialSockTimeout(t *testing.T) {
	_, ap := fullListener(t)
	start := time.Now()
	_, err := dialSock(ap, 150*time.Millisecond, false, false)
	el := time.Since(start)
	if err == nil || !isTimeout(err) {
		t.Fatalf("dial a full queue: %v, want a timeout", err)
	}
	if got := errText(err); got != "(110: Connection timed out)" {
		t.Errorf("error text %q", got)
	}
	if el < 100*time.Millisecond || el > 900*time.Millisecond {
		t.Errorf("timed out after %v, want about 150ms", el)
	}
}

// TestDialSockSlowHandshake: a handshake that finishes late (the SYN
// resent once the queue has room) gives a working connection.
func TestDialSockSlowHandshake(t *testing.T) {
	lfd, ap := fullListener(t)
	t.Cleanup(func() { syscall.Shutdown(lfd, syscall.SHUT_RDWR) }) // wakes the accept below
	accepted := make(chan int, 2)
	go func() {
		// Make room at once: the dial below is still waiting for its SYN
		// to be resent.
		for range 2 {
			nfd, _, err := syscall.Accept4(lfd, syscall.SOCK_CLOEXEC)
			if err != nil {
				close(accepted)
				return
			}
			accepted <- nfd
		}
	}()
	s, err := dialSock(ap, 5*time.Second, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	<-accepted // the filler
	nfd, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer syscall.Close(nfd)
	if _, err := s.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if n, err := syscall.Read(nfd, buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("server read %q, %v", buf[:n], err)
	}
	syscall.Write(nfd, []byte("pong"))
	s.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("client read %q, %v", buf, err)
	}
	if la, ok := s.LocalAddr().(*net.TCPAddr); !ok || la.Port == 0 {
		t.Errorf("LocalAddr %v", s.LocalAddr())
	}
	if s.RemoteAddr().String() != ap.String() {
		t.Errorf("RemoteAddr %v, want %v", s.RemoteAddr(), ap)
	}
}

// TestSpliceResponseBody: a 6 MB response reaches the client whole, its
// body moved with splice.
func TestSpliceResponseBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 6<<16)
	for i := range body {
		body[i] ^= byte(i >> 12)
	}
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	h := startProxy(t, `events {} http {
		access_log off;
		upstream b { server `+be.addr+`; }
		server { listen 127.0.0.1:18080; location / { proxy_pass http://b; } }
	}`, Options{})
	before := splice.Total()
	resp, err := http.Get(h.url("127.0.0.1:18080", "/big"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || sha256.Sum256(got) != sha256.Sum256(body) {
		t.Fatalf("got %d of %d bytes (%v), or they were corrupted", len(got), len(body), err)
	}
	if moved := splice.Total() - before; moved < int64(len(body))/2 {
		t.Errorf("splice moved %d of %d bytes", moved, len(body))
	}
}

// TestSpliceResponseUnpaced: on a host whose congestion control is bbr,
// the proxy's socket to a loopback client leaves it once a response body
// is spliced to it (internal/loopbulk).
func TestSpliceResponseUnpaced(t *testing.T) {
	testutil.NeedBBR(t)
	half := bytes.Repeat([]byte("x"), 2<<20)
	release := make(chan struct{})
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(2*len(half)))
		w.Write(half)
		w.(http.Flusher).Flush()
		<-release
		w.Write(half)
	}))
	h := startProxy(t, `events {} http {
		access_log off;
		upstream b { server `+be.addr+`; }
		server { listen 127.0.0.1:18080; location / { proxy_pass http://b; } }
	}`, Options{})
	c, err := net.DialTimeout("tcp", h.addr["127.0.0.1:18080"], waitLimit)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	first := make([]byte, 1<<20)
	_, err = io.ReadFull(c, first)
	if err == nil {
		_, port, _ := net.SplitHostPort(h.addr["127.0.0.1:18080"])
		testutil.CheckUnpaced(t, port)
	}
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := bytes.Cut(append(first, rest...), []byte("\r\n\r\n"))
	if len(body) != 2*len(half) {
		t.Errorf("got %d body bytes, want %d", len(body), 2*len(half))
	}
}

// TestSpliceResponseStall: an upstream that stops in the middle of a body
// is cut by proxy_read_timeout; the client gets what was sent and then the
// end of the connection.
func TestSpliceResponseStall(t *testing.T) {
	half := bytes.Repeat([]byte("x"), 1<<20)
	release := make(chan struct{})
	defer close(release)
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(2*len(half)))
		w.Write(half)
		w.(http.Flusher).Flush()
		<-release
	}))
	h := startProxy(t, `events {} http {
		access_log off;
		upstream b { server `+be.addr+`; }
		server { listen 127.0.0.1:18080; location / { proxy_pass http://b; proxy_read_timeout 300ms; } }
	}`, Options{})
	c, err := net.DialTimeout("tcp", h.addr["127.0.0.1:18080"], waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, "GET /stall HTTP/1.1\r\nHost: a\r\n\r\n")
	start := time.Now()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (a stalled upstream must end the client's connection)", err)
	}
	head, rest, _ := bytes.Cut(got, []byte("\r\n\r\n"))
	if !strings.Contains(string(head), "Content-Length: 2097152") || len(rest) != len(half) {
		t.Errorf("got head %q and %d body bytes, want %d", head, len(rest), len(half))
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("connection ended after %v, before proxy_read_timeout", el)
	}
	if !strings.Contains(h.errs.String(), "upstream timed out (110: Connection timed out) while reading upstream") {
		t.Errorf("error log:\n%s", h.errs.String())
	}
}

// TestDialSockIPv6 connects to an IPv6 loopback server.
func TestDialSockIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	s, err := dialSock(netip.MustParseAddrPort(ln.Addr().String()), time.Second, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(waitLimit))
	if _, err := s.Write([]byte("echo")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "echo" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after CloseWrite: %d, %v; want the echo server's end of stream", n, err)
	}
}

// TestProxySocketKeepalive: proxy_socket_keepalive on turns SO_KEEPALIVE
// on for upstream sockets, whether opened by the socket dialer or, with
// proxy_bind, by net.Dialer; it stays off by default, as in nginx.
func TestProxySocketKeepalive(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	h := startProxy(t, `events {} http {
		access_log off;
		upstream on   { server `+be.addr+`; keepalive 4; }
		upstream off  { server `+be.addr+`; keepalive 4; }
		upstream bind { server `+be.addr+`; keepalive 4; }
		server { listen 127.0.0.1:18080;
			proxy_http_version 1.1; proxy_set_header Connection "";
			location /on { proxy_pass http://on; proxy_socket_keepalive on; }
			location /off { proxy_pass http://off; }
			location /bind { proxy_pass http://bind; proxy_socket_keepalive on; proxy_bind 127.0.0.1; }
		}
	}`, Options{})
	for _, path := range []string{"/on", "/off", "/bind"} {
		resp, err := http.Get(h.url("127.0.0.1:18080", path))
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	p := h.built.Listeners[0].Handler.p
	for name, want := range map[string]int{"on": 1, "off": 0, "bind": 1} {
		up := p.groups[name]
		// The client has the whole response before the proxy parks the
		// upstream connection, so the pool is polled until it shows up.
		var ucs []*upConn
		for deadline := time.Now().Add(waitLimit); ; {
			ucs = ucs[:0]
			up.pool.mu.Lock()
			for _, list := range up.pool.idle {
				ucs = append(ucs, list...)
			}
			up.pool.mu.Unlock()
			if len(ucs) == 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if len(ucs) != 1 {
			t.Fatalf("upstream %s: %d idle connections, want 1", name, len(ucs))
		}
		var got int
		var gerr error
		ucs[0].rc.Control(func(fd uintptr) {
			got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		})
		if gerr != nil || got != want {
			t.Errorf("upstream %s: SO_KEEPALIVE %d (%v), want %d", name, got, gerr, want)
		}
	}
}

// noDelayOn reads TCP_NODELAY from s.
func noDelayOn(t *testing.T, s *upSock) bool {
	t.Helper()
	var v int
	var err error
	s.rc.Control(func(fd uintptr) { v, err = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY) })
	if err != nil {
		t.Fatal(err)
	}
	return v != 0
}

// rawFirstWrite makes the first write to a lazy socket as exchange does
// and returns what firstWrite makes of it.
func rawFirstWrite(s *upSock, b []byte) (underWay bool, err error) {
	var m int
	var werr error
	s.rc.Control(func(fd uintptr) { m, werr = writeAll(int(fd), b) })
	return s.firstWrite(m, werr)
}

// TestDialSockLazy: a lazy dial leaves the handshake to the first write,
// which carries the bytes once it has ended, fails with connect's error
// if it failed, and says it is under way otherwise; finishConnect then
// waits for it within the connect timeout. TCP_NODELAY is left for
// setNoDelay.
func TestDialSockLazy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitLimit))
		b := make([]byte, 8)
		n, _ := io.ReadFull(c, b)
		got <- string(b[:n])
	}()
	ap := netip.MustParseAddrPort(ln.Addr().String())
	s, err := dialSock(ap, time.Second, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if underWay, err := rawFirstWrite(s, []byte("GET / HT")); underWay || err != nil || s.connecting {
		t.Fatalf("first write over loopback: under way %v, %v", underWay, err)
	}
	if noDelayOn(t, s) {
		t.Error("TCP_NODELAY set on a lazy socket")
	}
	s.setNoDelay()
	if !noDelayOn(t, s) {
		t.Error("setNoDelay did not set TCP_NODELAY")
	}
	s.Close()
	if g := <-got; g != "GET / HT" {
		t.Errorf("server read %q", g)
	}
	ln.Close()

	s, err = dialSock(ap, time.Second, false, true)
	if err != nil {
		t.Fatalf("a lazy dial to a closed port fails at the first write, not at once: %v", err)
	}
	_, err = rawFirstWrite(s, []byte("GET"))
	s.Close()
	if !isDialError(err) || !errors.Is(err, syscall.ECONNREFUSED) || errText(err) != "(111: Connection refused)" {
		t.Fatalf("first write to a closed port: %v, want connect's connection refused", err)
	}

	_, ap = fullListener(t)
	s, err = dialSock(ap, time.Second, false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if underWay, err := rawFirstWrite(s, []byte("x")); !underWay || err != nil {
		t.Fatalf("first write to a full queue: under way %v, %v", underWay, err)
	}
	start := time.Now()
	err = s.finishConnect(150 * time.Millisecond)
	if !isDialError(err) || !isTimeout(err) {
		t.Fatalf("finishConnect on a full queue: %v, want a dial timeout", err)
	}
	if el := time.Since(start); el > 900*time.Millisecond {
		t.Errorf("timed out after %v, want about 150ms", el)
	}
}

// TestLazyConnectProxy drives lazy connections through the proxy: a
// refused server is a connect failure (logged as nginx logs it, with no
// connect time) and the next server answers; a handshake that does not
// end within proxy_connect_timeout is a 504; one that ends late still
// carries the request, and its connect time counts the wait.
func TestLazyConnectProxy(t *testing.T) {
	good := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "good") }))
	closed := refusedAddr(t)
	lfd, full := fullListener(t)
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp")
	}
	_, blackhole := fullListener(t)
	t.Cleanup(func() { syscall.Shutdown(lfd, syscall.SHUT_RDWR) })
	go func() {
		// Make room once the proxy's first SYN has been dropped: it is
		// resent after a second.
		waitSynSent(t, full.Port())
		for {
			nfd, _, err := syscall.Accept4(lfd, syscall.SOCK_CLOEXEC)
			if err != nil {
				return
			}
			go func() {
				defer syscall.Close(nfd)
				tv := syscall.NsecToTimeval(int64(waitLimit))
				syscall.SetsockoptTimeval(nfd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
				b := make([]byte, 1024)
				if n, _ := syscall.Read(nfd, b); n > 0 {
					syscall.Write(nfd, []byte("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlate"))
				}
			}()
		}
	}()
	h := startProxy(t, `events {} http {
		log_format up "$uri|$status|$upstream_addr|$upstream_status|$upstream_connect_time";
		access_log {{DIR}}/logs/up.log up;
		upstream refused { server `+closed+`; server `+good.addr+`; }
		server { listen 127.0.0.1:18080;
			location /refused { proxy_pass http://refused; }
			location /late { proxy_pass http://`+full.String()+`; proxy_connect_timeout 5s; }
			location /timeout { proxy_pass http://`+blackhole.String()+`; proxy_connect_timeout 300ms; }
		}
	}`, Options{})
	for _, c := range []struct{ path, status, body string }{
		{"/refused", "200", "good"},
		{"/late", "200", "late"},
		{"/timeout", "504", ""},
	} {
		resp, err := http.Get(h.url("127.0.0.1:18080", c.path))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strconv.Itoa(resp.StatusCode) != c.status || c.body != "" && string(b) != c.body {
			t.Errorf("%s: %d %q, want %s %q", c.path, resp.StatusCode, b, c.status, c.body)
		}
	}
	var lines []string
	testutil.WaitFor(t, "three log lines", func() bool {
		b, _ := os.ReadFile(filepath.Join(h.dir, "logs/up.log"))
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) == 3
	})
	f := strings.Split(lines[0], "|")
	if f[1] != "200" || f[2] != closed+", "+good.addr || f[3] != "502, 200" || !strings.HasPrefix(f[4], "-, 0.0") {
		t.Errorf("refused then good: %q", lines[0])
	}
	f = strings.Split(lines[1], "|")
	if ct, err := strconv.ParseFloat(f[4], 64); f[1] != "200" || err != nil || ct < 0.5 {
		t.Errorf("late handshake: %q, want a connect time of about a second", lines[1])
	}
	f = strings.Split(lines[2], "|")
	if f[1] != "504" || f[3] != "504" || f[4] != "-" {
		t.Errorf("timeout: %q", lines[2])
	}
	for _, want := range []string{
		"connect() failed (111: Connection refused) while connecting to upstream",
		"upstream timed out (110: Connection timed out) while connecting to upstream",
	} {
		if !strings.Contains(h.errs.String(), want) {
			t.Errorf("error log lacks %q:\n%s", want, h.errs.String())
		}
	}
}

// waitSynSent waits until a loopback socket is in SYN-SENT towards port,
// as /proc/net/tcp shows it.
func waitSynSent(t *testing.T, port uint16) {
	want := fmt.Sprintf(":%04X", port)
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile("/proc/net/tcp")
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 3 && strings.HasSuffix(f[2], want) && f[3] == "02" {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Errorf("no connection in SYN-SENT to port %d", port)
}
