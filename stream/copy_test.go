package stream

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/internal/testutil"
)

// quiet serves the first listener of a stream configuration as the
// runtime does, with the error log off and a context the test cancels.
type quiet struct {
	addr   string
	cancel context.CancelFunc
	ended  chan struct{} // one value per finished session
}

func serveCtx(t testing.TB, conf string) *quiet { return serveSndbuf(t, conf, 0) }

// serveProxyTo is serveCtx for one server that proxies to addr with
// nginx's defaults.
func serveProxyTo(t testing.TB, addr string) *quiet {
	t.Helper()
	return serveCtx(t, fmt.Sprintf(`events {}
stream {
    server {
        listen 127.0.0.1:1;
        proxy_pass %s;
    }
}`, addr))
}

// serveSndbuf is serveCtx with the send buffer of the client sockets set
// to sndbuf bytes, when positive.
func serveSndbuf(t testing.TB, conf string, sndbuf int) *quiet {
	t.Helper()
	file := filepath.Join(t.TempDir(), "sluice.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{File: file})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	b, err := Build(cfg.Stream, Options{})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		if sndbuf > 0 {
			rc.Control(func(fd uintptr) {
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, sndbuf)
			})
		}
		return nil
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &quiet{addr: ln.Addr().String(), cancel: cancel, ended: make(chan struct{}, 10000)}
	// Cleanups run last first: the sessions are cancelled, then waited for
	// (Serve), then the closers run.
	t.Cleanup(func() {
		for _, c := range b.Closers {
			c()
		}
	})
	testutil.Serve(t, ln, func(c net.Conn) {
		b.Listeners[0].Handler.ServeConn(ctx, c)
		q.ended <- struct{}{}
	})
	t.Cleanup(cancel)
	return q
}

// serveQuiet is serveCtx for tests that only need the address.
func serveQuiet(t testing.TB, conf string) string { return serveCtx(t, conf).addr }

func (q *quiet) waitSessions(t testing.TB, n int) {
	t.Helper()
	timeout := time.After(waitLimit)
	for i := 0; i < n; i++ {
		select {
		case <-q.ended:
		case <-timeout:
			t.Fatalf("only %d of %d sessions ended", i, n)
		}
	}
}

// waitPollers waits until every poller has stopped, which they do once
// their shard has no session.
func waitPollers(t testing.TB) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		pollers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("pollers still running after every session ended")
	}
}

// checkGoroutines fails when more goroutines run than before the test,
// once they have had waitLimit to end.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitLimit)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // goroutines have no end event to wait on
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}

// TestPolledEchoConcurrent runs many short request/response sessions at
// once, each with several exchanges, so that readiness arrives while the
// flows are owned, parked, and handed over.
func TestPolledEchoConcurrent(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, func(c net.Conn) { io.Copy(c, c) })
	tests := []struct {
		name, extra string
	}{
		{"default", ""},
		{"half_close", "proxy_half_close on;"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := serveCtx(t, fmt.Sprintf(`events {}
stream {
    server {
        listen 127.0.0.1:1;
        proxy_pass %s;
        %s
    }
}`, be.addr(), tc.extra))
			const clients, rounds = 32, 20
			errc := make(chan error, clients)
			for i := 0; i < clients; i++ {
				go func() {
					errc <- echoRounds(q.addr, i, rounds)
				}()
			}
			for i := 0; i < clients; i++ {
				if err := <-errc; err != nil {
					t.Error(err)
				}
			}
			q.waitSessions(t, clients)
		})
	}
	waitPollers(t)
}

func echoRounds(addr string, id, rounds int) error {
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	r := bufio.NewReader(c)
	for j := 0; j < rounds; j++ {
		msg := fmt.Sprintf("client %d round %d %s\n", id, j, strings.Repeat("x", (id*j)%3000))
		if _, err := io.WriteString(c, msg); err != nil {
			return err
		}
		got, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("client %d round %d: %w", id, j, err)
		}
		if got != msg {
			return fmt.Errorf("client %d round %d: got %d bytes, want %d", id, j, len(got), len(msg))
		}
	}
	return nil
}

// TestPolledSlowReader makes the poller meet a full destination: the
// buffers towards the client are small and it reads in small pieces, so
// the rest of a write goes to a goroutine that waits. Every byte must
// arrive, in order, and be counted.
func TestPolledSlowReader(t *testing.T) {
	checkGoroutines(t)
	data := randomBytes(3, 4<<20)
	be := startBackend(t, func(c net.Conn) {
		// Small writes, so that most reach the poller one at a time.
		for off := 0; off < len(data); off += 3000 {
			if _, err := c.Write(data[off:min(off+3000, len(data))]); err != nil {
				return
			}
		}
	})
	logPath := filepath.Join(t.TempDir(), "access.log")
	q := serveSndbuf(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log %s t;
    server {
        listen 127.0.0.1:1;
        proxy_pass %s;
    }
}`, logFormat, logPath, be.addr()), 4096)
	d := net.Dialer{Timeout: waitLimit, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	c, err := d.Dial("tcp", q.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	var got bytes.Buffer
	buf := make([]byte, 1000)
	for got.Len() < len(data) {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("after %d bytes: %v", got.Len(), err)
		}
	}
	sameBytes(t, got.Bytes(), data)
	c.Close()
	q.waitSessions(t, 1)
	checkBytesLogged(t, logPath, len(data))
}

// checkBytesLogged checks that the one line of the access log at path,
// in logFormat, says n bytes were sent to the client and received from
// the upstream.
func checkBytesLogged(t *testing.T, path string, n int) {
	t.Helper()
	log, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l := strings.TrimSpace(string(log))
	if ns := fmt.Sprint(n); field(l, 2) != ns || field(l, 11) != ns {
		t.Errorf("log line %q: want %s bytes sent to the client and received from upstream", l, ns)
	}
}

// TestPolledUnixUpstream copies to an upstream on a unix socket, which
// cannot splice, through the pollers and the bulk path.
func TestPolledUnixUpstream(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "up.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, ln, func(c net.Conn) { io.Copy(c, c) })
	q := serveCtx(t, fmt.Sprintf(`events {}
stream {
    server {
        listen 127.0.0.1:1;
        proxy_pass unix:%s;
    }
}`, path))
	if err := echoRounds(q.addr, 2999, 5); err != nil {
		t.Fatal(err)
	}
	// A bulk round trip: 1 MB each way at once.
	c, err := net.DialTimeout("tcp", q.addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		errc <- err
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("echo differs")
	}
	c.Close()
	q.waitSessions(t, 2)
}

// TestPolledFastStop checks that cancelling the context ends idle polled
// sessions at once, and that nothing is left running.
func TestPolledFastStop(t *testing.T) {
	checkGoroutines(t)
	be := listenRaw(t)
	q := serveProxyTo(t, be.addr())
	const n = 20
	var clients []net.Conn
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", q.addr, waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitLimit))
		io.WriteString(c, "x")
		clients = append(clients, c)
		select {
		case up := <-be.conns:
			defer syscall.Close(up)
			// The byte is through: closing the client side now cannot
			// find it unread, which would reset the connection.
			if _, err := syscall.Read(up, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("session %d did not reach the backend", i)
		}
	}
	q.cancel()
	q.waitSessions(t, n)
	for i, c := range clients {
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("client %d: %v, want EOF", i, err)
		}
	}
	waitPollers(t)
}

// TestFlowStates walks the ownership protocol of a flow through its
// transitions.
func TestFlowStates(t *testing.T) {
	p := &pipe{ev: make(chan uint8, 3)}
	f := &p.flows[1]
	f.p, f.d = p, 1
	steps := []struct {
		name string
		do   func() bool
		want bool
	}{
		{"acquire parked", f.acquire, true},
		{"acquire owned", f.acquire, false},
		{"release with pending: read again", func() bool { return p.release(f) }, false},
		{"release drained", func() bool { return p.release(f) }, true},
		{"acquire again", f.acquire, true},
		{"kill owned: the owner reports", f.kill, false},
		{"acquire killed", f.acquire, false},
		{"release killed", func() bool { return p.release(f) }, true},
		{"kill again", f.kill, false},
	}
	for _, s := range steps {
		if got := s.do(); got != s.want {
			t.Fatalf("%s: got %v, want %v", s.name, got, s.want)
		}
	}
	select {
	case d := <-p.ev:
		if d != 1 || f.err != net.ErrClosed {
			t.Errorf("report %d, err %v", d, f.err)
		}
	default:
		t.Fatal("the owner of a killed flow did not report")
	}
	g := &p.flows[0]
	g.p = p
	if !g.kill() {
		t.Error("kill of a parked flow: got false, want true (no owner to report)")
	}
	if len(p.ev) != 0 {
		t.Error("a parked flow reported its end")
	}
}
