package runtime

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/config"
)

// tagHandler writes its tag on each connection, then echoes lines until
// the client closes.
type tagHandler struct {
	tag      string
	accepted chan struct{}
}

func (h *tagHandler) ServeConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	if h.accepted != nil {
		h.accepted <- struct{}{}
	}
	io.WriteString(c, h.tag+"\n")
	io.Copy(c, c)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func gen(workerConns int, bindings ...Binding) *Generation {
	cfg := &config.Config{WorkerProcesses: 1, Events: config.Events{WorkerConnections: workerConns}}
	return &Generation{Config: cfg, Bindings: bindings}
}

func dialTag(t *testing.T, addr string) (net.Conn, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return nil, ""
	}
	return c, strings.TrimSpace(line)
}

func TestReloadKeepsListeners(t *testing.T) {
	srv := NewServer(slog.New(slog.DiscardHandler))
	a, b := freeAddr(t), freeAddr(t)
	if err := srv.Apply(gen(100, Binding{Network: "tcp", Address: a, Handler: &tagHandler{tag: "one"}},
		Binding{Network: "tcp", Address: b, Handler: &tagHandler{tag: "one-b"}})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background(), false)
	before := map[string]net.Listener{}
	for k, l := range srv.listeners {
		before[k] = l.Listener
	}

	old, tag := dialTag(t, a)
	if tag != "one" {
		t.Fatalf("first generation answered %q", tag)
	}
	// New generation: same address a, b dropped.
	if err := srv.Apply(gen(100, Binding{Network: "tcp", Address: a, Handler: &tagHandler{tag: "two"}})); err != nil {
		t.Fatal(err)
	}
	if got := srv.listeners["tcp "+a].Listener; got != before["tcp "+a] {
		t.Error("listener on an unchanged address was reopened")
	}
	if _, ok := srv.listeners["tcp "+b]; ok {
		t.Error("listener no longer configured is still open")
	}
	if c, err := net.DialTimeout("tcp", b, time.Second); err == nil {
		c.Close()
		t.Error("removed address still accepts")
	}
	c, tag := dialTag(t, a)
	if tag != "two" {
		t.Fatalf("new connection served by %q, want the new generation", tag)
	}
	c.Close()
	// The connection accepted before the reload still works on the old generation.
	io.WriteString(old, "ping\n")
	line, err := bufio.NewReader(old).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("old session broken by reload: %q %v", line, err)
	}
	old.Close()
}

func TestFailedApplyKeepsServing(t *testing.T) {
	srv := NewServer(slog.New(slog.DiscardHandler))
	a := freeAddr(t)
	if err := srv.Apply(gen(100, Binding{Network: "tcp", Address: a, Handler: &tagHandler{tag: "one"}})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background(), false)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	fresh := freeAddr(t)
	failed := gen(100, Binding{Network: "tcp", Address: a, Handler: &tagHandler{tag: "two"}},
		Binding{Network: "tcp", Address: fresh, Handler: &tagHandler{tag: "two"}},
		Binding{Network: "tcp", Address: busy.Addr().String(), Handler: &tagHandler{tag: "two"}})
	closed := false
	failed.Closers = []func(){func() { closed = true }}
	err = srv.Apply(failed)
	if !closed {
		t.Error("the failed generation's closers did not run")
	}
	if err == nil || !strings.Contains(err.Error(), "bind() to "+busy.Addr().String()+" failed (98: Address already in use)") {
		t.Fatalf("Apply error = %v", err)
	}
	c, tag := dialTag(t, a)
	if tag != "one" {
		t.Fatalf("after a failed reload served by %q", tag)
	}
	c.Close()
	if c, err := net.DialTimeout("tcp", fresh, time.Second); err == nil {
		c.Close()
		t.Error("socket opened by the failed generation was left open")
	}
}

func TestWorkerConnectionsCap(t *testing.T) {
	srv := NewServer(slog.New(slog.DiscardHandler))
	a := freeAddr(t)
	h := &tagHandler{tag: "x"}
	if err := srv.Apply(gen(2, Binding{Network: "tcp", Address: a, Handler: h})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background(), false)
	c1, t1 := dialTag(t, a)
	c2, t2 := dialTag(t, a)
	if t1 != "x" || t2 != "x" {
		t.Fatal("first two connections not served")
	}
	c3, t3 := dialTag(t, a)
	if c3 != nil || t3 != "" {
		t.Fatal("third connection served beyond worker_connections 2")
	}
	c1.Close()
	// Once a slot frees, new connections are served again.
	deadline := time.Now().Add(5 * time.Second)
	for srv.Active() >= 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	c4, t4 := dialTag(t, a)
	if t4 != "x" {
		t.Fatal("connection not served after a slot freed")
	}
	c4.Close()
	c2.Close()
}

func TestGracefulAndFastStop(t *testing.T) {
	for _, graceful := range []bool{true, false} {
		srv := NewServer(slog.New(slog.DiscardHandler))
		a := freeAddr(t)
		if err := srv.Apply(gen(100, Binding{Network: "tcp", Address: a, Handler: &tagHandler{tag: "x"}})); err != nil {
			t.Fatal(err)
		}
		c, _ := dialTag(t, a)
		stopped := make(chan struct{})
		go func() {
			srv.Shutdown(context.Background(), graceful)
			close(stopped)
		}()
		if graceful {
			select {
			case <-stopped:
				t.Fatal("graceful stop did not wait for the open session")
			case <-time.After(100 * time.Millisecond):
			}
			// The session still works while stopping.
			io.WriteString(c, "hi\n")
			if l, err := bufio.NewReader(c).ReadString('\n'); err != nil || l != "hi\n" {
				t.Fatalf("session during graceful stop: %q %v", l, err)
			}
			c.Close()
		}
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			t.Fatalf("stop (graceful=%v) did not finish", graceful)
		}
		if !graceful {
			// The server closed the session.
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := make([]byte, 1)
				if _, err := c.Read(b); err == nil {
					t.Error("fast stop left the session open")
				}
			}()
			wg.Wait()
			c.Close()
		}
		if cc, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			cc.Close()
			t.Error("listener open after stop")
		}
	}
}

// TestAcceptedKeepAliveOff checks that accepted TCP connections have
// SO_KEEPALIVE off, as nginx leaves it unless so_keepalive asks.
func TestAcceptedKeepAliveOff(t *testing.T) {
	ln, err := openListener(Binding{Network: "tcp", Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ac, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	rc, err := ac.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	v, gerr := -1, error(nil)
	rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	if v != 0 {
		t.Errorf("SO_KEEPALIVE is %d on an accepted connection, want 0", v)
	}
}

// TestListenDeferred: listen ... deferred sets TCP_DEFER_ACCEPT on the
// listening socket, which is unset otherwise, and fastopen= sets
// TCP_FASTOPEN.
func TestListenDeferred(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("TCP_DEFER_ACCEPT is Linux's")
	}
	ln, err := openListener(Binding{Network: "tcp", Address: "127.0.0.1:0", Options: ListenOptions{FastOpen: 64}})
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := ln.(*net.TCPListener).SyscallConn()
	fo := -1
	rc.Control(func(fd uintptr) { fo, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, 23 /* TCP_FASTOPEN */) })
	ln.Close()
	if fo != 64 {
		t.Errorf("fastopen=64: TCP_FASTOPEN is %d", fo)
	}
	for _, deferred := range []bool{false, true} {
		ln, err := openListener(Binding{Network: "tcp", Address: "127.0.0.1:0", Options: ListenOptions{Deferred: deferred}})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := ln.(*net.TCPListener).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		v := -1
		rc.Control(func(fd uintptr) { v, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, 9 /* TCP_DEFER_ACCEPT */) })
		ln.Close()
		if (v > 0) != deferred {
			t.Errorf("deferred %v: TCP_DEFER_ACCEPT is %d", deferred, v)
		}
	}
}
