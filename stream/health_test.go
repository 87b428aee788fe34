package stream

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// waitLog waits until the error log holds text and returns when it saw
// it.
func (h *harness) waitLog(text string) time.Time {
	h.t.Helper()
	testutil.WaitFor(h.t, "error log line "+text, func() bool { return strings.Contains(h.errs.String(), text) })
	return time.Now()
}

// switchable is a TCP backend at a fixed address that the test can stop
// and start again; it counts the connections it accepted.
type switchable struct {
	t       *testing.T
	addr    string
	handle  func(net.Conn)
	accepts atomic.Int64
	mu      sync.Mutex
	ln      net.Listener
}

func startSwitchable(t *testing.T, handle func(net.Conn)) *switchable {
	t.Helper()
	s := &switchable{t: t, handle: handle}
	s.serve(testutil.Listen(t))
	s.addr = s.ln.Addr().String()
	return s
}

func (s *switchable) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	testutil.Serve(s.t, ln, func(c net.Conn) {
		s.accepts.Add(1)
		c.SetDeadline(time.Now().Add(waitLimit))
		s.handle(c)
	})
}

// stop closes the listener: connections are refused.
func (s *switchable) stop() {
	s.mu.Lock()
	s.ln.Close()
	s.mu.Unlock()
}

// start listens again at the same address.
func (s *switchable) start() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.serve(ln)
}

// upstreamAddrs returns the $upstream_addr field of the access log lines.
func upstreamAddrs(h *harness) []string {
	var out []string
	for _, l := range h.logLines() {
		out = append(out, field(l, 1))
	}
	return out
}

// A server that stops listening is unhealthy after a check, gets no
// client connection while so (not even a first try that fails over:
// max_fails=0 leaves only the health check to exclude it), and is
// healthy again after passes= checks in a row.
func TestHealthCheckTCPDownAndBack(t *testing.T) {
	a := startBackend(t, seedHandler("A"))
	b := startSwitchable(t, seedHandler("B"))
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    upstream u {
        zone u 64k;
        server %s;
        server %s max_fails=0;
    }
    server {
        listen 127.0.0.1:9000;
        proxy_pass u;
        health_check interval=200ms passes=2;
    }
}`, logFormat, a.addr(), b.addr), nil)
	// both healthy: round robin reaches B
	seen := map[string]bool{}
	for range 4 {
		seen[h.request("127.0.0.1:9000", "x")] = true
	}
	if !seen["[Server B] Received: x"] || !seen["[Server A] Received: x"] {
		t.Fatalf("answers before B stops: %v", seen)
	}
	h.waitSessions(4)

	stopped := time.Now()
	b.stop()
	down := fmt.Sprintf(`peer is unhealthy while connecting to upstream, health check "" of peer %s in upstream "u"`, b.addr)
	at := h.waitLog(down)
	if d := at.Sub(stopped); d > 2*time.Second {
		t.Errorf("B marked unhealthy %v after it stopped, with interval=200ms", d)
	}
	if !strings.Contains(h.errs.String(), fmt.Sprintf(`connect() failed (111: Connection refused) while connecting to upstream, health check "" of peer %s in upstream "u"`, b.addr)) {
		t.Errorf("no error line for the failed check:\n%s", h.errs.String())
	}
	before := len(h.logLines())
	for i := range 10 {
		if got := h.request("127.0.0.1:9000", "y"); got != "[Server A] Received: y" {
			t.Fatalf("request %d while B is down: %q", i, got)
		}
	}
	h.waitSessions(10)
	for _, ua := range upstreamAddrs(h)[before:] {
		if ua != a.addr() {
			t.Errorf("$upstream_addr %q while B is unhealthy: B was tried", ua)
		}
	}
	if strings.Contains(h.errs.String(), "while connecting to upstream, client:") {
		t.Errorf("a client connection tried B:\n%s", h.errs.String())
	}

	b.accepts.Store(0)
	b.start()
	h.waitLog(fmt.Sprintf(`peer is healthy while connecting to upstream, health check "" of peer %s in upstream "u"`, b.addr))
	// A check passes once the kernel completes the handshake, which
	// may be before B's accept loop counts it: give the loop up to half
	// an interval, too short for a third check to be counted.
	for end := time.Now().Add(100 * time.Millisecond); b.accepts.Load() < 2 && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond) // the counter has no event to wait on
	}
	if n := b.accepts.Load(); n < 2 {
		t.Errorf("B healthy again after %d check(s), want passes=2", n)
	}
	seen = map[string]bool{}
	for range 4 {
		seen[h.request("127.0.0.1:9000", "z")] = true
	}
	if !seen["[Server B] Received: z"] {
		t.Errorf("B gets no connections once healthy: %v", seen)
	}
}

// pingPong answers like a Redis server: "+PONG" to PING, the line back
// to anything else.
func pingPong(reply string) func(net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.TrimSpace(l) == "PING" {
				io.WriteString(c, reply)
			} else {
				io.WriteString(c, "echo "+l)
			}
		}
	}
}

// A match block's send and expect decide: a server whose port is open but
// that answers wrongly is unhealthy, for each form of expect.
func TestHealthCheckMatch(t *testing.T) {
	for _, expect := range []string{`"+PONG"`, `~ "^\+PONG\r\n$"`, `~* "\+pong"`, `"\x2bPONG"`} {
		t.Run(expect, func(t *testing.T) {
			good := startSwitchable(t, pingPong("+PONG\r\n"))
			bad := startSwitchable(t, pingPong("-ERR unknown command\r\n"))
			h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    upstream u {
        zone u 64k;
        server %s;
        server %s max_fails=0;
    }
    match redis {
        send "PING\r\n";
        expect %s;
    }
    server {
        listen 127.0.0.1:9000;
        proxy_pass u;
        health_check match=redis interval=100ms;
        health_check_timeout 300ms;
    }
}`, logFormat, good.addr, bad.addr, expect), nil)
			h.waitLog(fmt.Sprintf(`peer is unhealthy while checking response, health check "redis" of peer %s in upstream "u"`, bad.addr))
			for i := range 6 {
				c := h.dial("127.0.0.1:9000")
				io.WriteString(c, fmt.Sprintf("hello %d\n", i))
				l, err := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if err != nil || l != fmt.Sprintf("echo hello %d\n", i) {
					t.Fatalf("request %d: %q, %v", i, l, err)
				}
			}
			h.waitSessions(6)
			for _, ua := range upstreamAddrs(h) {
				if ua != good.addr {
					t.Errorf("$upstream_addr %s: a client went to the server that fails the check", ua)
				}
			}
			if strings.Contains(h.errs.String(), "of peer "+good.addr) {
				t.Errorf("the server that answers +PONG changed state:\n%s", h.errs.String())
			}
		})
	}
}

// A check with a match block against a real redis-server passes, under
// mandatory: clients reach it only once the check has passed.
func TestHealthCheckRedis(t *testing.T) {
	server := testutil.Need(t, "redis-server")
	addr := testutil.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	testutil.Daemon{Path: server, Args: []string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no"},
		Ready: []string{addr}}.Start(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    upstream redis {
        zone redis 64k;
        server %s;
    }
    match redis {
        send "PING\r\n";
        expect "+PONG";
    }
    server {
        listen 127.0.0.1:9000;
        proxy_pass redis;
        health_check match=redis mandatory interval=100ms;
    }
}`, addr), nil)
	h.waitLog(fmt.Sprintf(`peer is healthy while checking response, health check "redis" of peer %s in upstream "redis"`, addr))
	c := h.dial("127.0.0.1:9000")
	defer c.Close()
	io.WriteString(c, "ECHO checked\r\n")
	r := bufio.NewReader(c)
	if l := readLine(t, r); l != "$7\r\n" {
		t.Fatalf("answer %q", l)
	}
	if l := readLine(t, r); l != "checked\r\n" {
		t.Fatalf("answer %q", l)
	}
}

// Under mandatory, a server gets no client connection before its first
// check passes, however slow that check is.
func TestHealthCheckMandatory(t *testing.T) {
	const delay = 1500 * time.Millisecond
	var slowPassed atomic.Int64 // unix nanoseconds of the first passed check
	var clientBefore atomic.Bool
	check := func(name string, slow bool) func(net.Conn) {
		return func(c net.Conn) {
			l, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return
			}
			if l == "HC\n" {
				if slow {
					time.Sleep(delay)
					slowPassed.CompareAndSwap(0, time.Now().UnixNano())
				}
				io.WriteString(c, "OK\n")
				return
			}
			if slow && slowPassed.Load() == 0 {
				clientBefore.Store(true)
			}
			io.WriteString(c, name+"\n")
		}
	}
	fast := startBackend(t, check("fast", false))
	slow := startBackend(t, check("slow", true))
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    upstream u {
        zone u 64k;
        server %s;
        server %s;
    }
    match hc {
        send "HC\n";
        expect "OK";
    }
    server {
        listen 127.0.0.1:9000;
        proxy_pass u;
        health_check match=hc mandatory interval=100ms;
    }
}`, fast.addr(), slow.addr()), nil)
	h.waitLog(fmt.Sprintf(`peer is healthy while checking response, health check "hc" of peer %s`, fast.addr()))
	ask := func() string {
		c := h.dial("127.0.0.1:9000")
		defer c.Close()
		io.WriteString(c, "hi\n")
		l, _ := bufio.NewReader(c).ReadString('\n')
		return l
	}
	n := 0
	for slowPassed.Load() == 0 && n < 20 {
		if got := ask(); got != "fast\n" {
			t.Fatalf("request %d during the first check of the slow server: %q", n, got)
		}
		n++
	}
	if n == 0 {
		t.Fatal("the slow check passed before any request")
	}
	h.waitLog(fmt.Sprintf(`peer is healthy while checking response, health check "hc" of peer %s`, slow.addr()))
	seen := map[string]bool{}
	for range 4 {
		seen[ask()] = true
	}
	if !seen["slow\n"] {
		t.Errorf("the slow server gets no connections once its check passed: %v", seen)
	}
	if clientBefore.Load() {
		t.Error("a client connection reached the slow server before its first check passed")
	}
}

// port= checks another port than the one clients are proxied to.
func TestHealthCheckPort(t *testing.T) {
	data := startBackend(t, seedHandler("data"))
	checkPort := startSwitchable(t, func(net.Conn) {})
	_, cport, _ := net.SplitHostPort(checkPort.addr)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    upstream u {
        zone u 64k;
        server %s max_fails=0;
    }
    server {
        listen 127.0.0.1:9000;
        proxy_pass u;
        health_check port=%s interval=100ms;
    }
}`, data.addr(), cport), nil)
	testutil.WaitFor(t, "a check on the port= port", func() bool { return checkPort.accepts.Load() > 0 })
	if got := h.request("127.0.0.1:9000", "a"); got != "[Server data] Received: a" {
		t.Fatalf("answer %q", got)
	}
	checkPort.stop()
	h.waitLog(fmt.Sprintf(`peer is unhealthy while connecting to upstream, health check "" of peer %s in upstream "u"`, data.addr()))
	// the data port still listens, but the server failed its check
	if got := h.request("127.0.0.1:9000", "b"); got != "" {
		t.Fatalf("answer %q from a server whose check port is closed", got)
	}
	h.waitLog("no live upstreams while connecting to upstream")
}

// A UDP check sends "nginx health check": a server that answers, or one
// that keeps quiet, is healthy; a closed port (ICMP port unreachable) is
// not. With a match block, the answer must match.
func TestHealthCheckUDP(t *testing.T) {
	echo := startUDPBackend(t, func(b []byte) []byte { return b })
	quiet := startUDPBackend(t, func([]byte) []byte { return nil })
	dead := deadUDPAddr(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    upstream u {
        zone u 64k;
        server %s max_fails=0;
        server %s max_fails=0;
    }
    server {
        listen 127.0.0.1:9000 udp;
        proxy_pass u;
        proxy_responses 1;
        health_check udp interval=100ms;
        health_check_timeout 200ms;
    }
}`, echo.addr(), dead), nil)
	select {
	case d := <-echo.got:
		if string(d) != "nginx health check" {
			t.Fatalf("check datagram %q", d)
		}
	case <-time.After(waitLimit):
		t.Fatal("no check datagram")
	}
	h.waitLog(fmt.Sprintf(`peer is unhealthy while reading from upstream, health check "" of peer %s in upstream "u"`, dead))
	if !strings.Contains(h.errs.String(), "recv() failed (111: Connection refused) while reading from upstream") {
		t.Errorf("no error line for the refused datagram:\n%s", h.errs.String())
	}
	for i := range 6 {
		msg := fmt.Sprintf("q%d", i)
		if got := udpAsk(t, h.addr["127.0.0.1:9000"], msg); got != msg {
			t.Fatalf("answer %q to %q", got, msg)
		}
	}
	if strings.Contains(h.errs.String(), "of peer "+echo.addr()) {
		t.Errorf("the echo server changed state:\n%s", h.errs.String())
	}

	t.Run("match", func(t *testing.T) {
		h := startProxy(t, fmt.Sprintf(`events {}
stream {
    upstream u {
        zone u 64k;
        server %s;
        server %s;
    }
    match echo {
        send "ping\x00";
        expect "ping";
    }
    server {
        listen 127.0.0.1:9000 udp;
        proxy_pass u;
        health_check udp match=echo interval=100ms;
        health_check_timeout 200ms;
    }
}`, echo.addr(), quiet.addr()), nil)
		h.waitLog(fmt.Sprintf(`peer is unhealthy while reading from upstream, health check "echo" of peer %s in upstream "u"`, quiet.addr()))
		if strings.Contains(h.errs.String(), "of peer "+echo.addr()) {
			t.Errorf("the echo server changed state:\n%s", h.errs.String())
		}
	})
}

// health_check_timeout bounds a check of a server that accepts the
// connection and never answers.
func TestHealthCheckTimeout(t *testing.T) {
	var first atomic.Int64
	silent := startBackend(t, func(c net.Conn) {
		first.CompareAndSwap(0, time.Now().UnixNano())
		io.Copy(io.Discard, c) // until the check gives up
	})
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    upstream u {
        zone u 64k;
        server %s;
    }
    match m {
        send "hello\n";
        expect "welcome";
    }
    server {
        listen 127.0.0.1:9000;
        proxy_pass u;
        proxy_timeout 1h;
        health_check match=m interval=100ms;
        health_check_timeout 300ms;
    }
}`, silent.addr()), nil)
	at := h.waitLog(fmt.Sprintf(`upstream timed out (110: Connection timed out) while reading from upstream, health check "m" of peer %s in upstream "u"`, silent.addr()))
	d := at.Sub(time.Unix(0, first.Load()))
	if d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("the check gave up %v after connecting, want about health_check_timeout 300ms", d)
	}
	h.waitLog(fmt.Sprintf(`peer is unhealthy while reading from upstream, health check "m" of peer %s`, silent.addr()))
}

// Stopping a configuration ends the checks under way at once, even one
// waiting for a long health_check_timeout.
func TestHealthCheckStop(t *testing.T) {
	accepted := make(chan struct{}, 10)
	silent := startBackend(t, func(c net.Conn) {
		accepted <- struct{}{}
		io.Copy(io.Discard, c)
	})
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    upstream u {
        zone u 64k;
        server %s;
    }
    match m {
        expect "never";
    }
    server {
        listen 127.0.0.1:9000;
        proxy_pass u;
        health_check match=m;
        health_check_timeout 1h;
    }
}`, silent.addr()), nil)
	select {
	case <-accepted:
	case <-time.After(waitLimit):
		t.Fatal("no check")
	}
	done := make(chan struct{})
	go func() {
		for _, f := range h.built.Stoppers {
			f()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("stopping waited for a check's health_check_timeout")
	}
}
