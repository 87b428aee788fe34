package httpproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/internal/testutil"
)

// waitLimit bounds every wait of these tests.
const waitLimit = testutil.WaitLimit

// harness serves the handlers of an http configuration on loopback
// listeners of its own: each configured listen address is mapped to a free
// port.
type harness struct {
	t     *testing.T
	dir   string
	addr  map[string]string // configured listen address -> real address
	errs  *testutil.SyncBuffer
	built *Built
	wg    sync.WaitGroup
	lns   []net.Listener
	ctx   context.Context
	stop  context.CancelFunc
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// loadHTTP compiles a whole configuration text; {{DIR}} is replaced by
// dir.
func loadHTTP(t testing.TB, dir, conf string) *config.HTTP {
	t.Helper()
	conf = strings.ReplaceAll(conf, "{{DIR}}", dir)
	name := filepath.Join(dir, "sluice.conf")
	cfg, err := config.Load(config.Options{File: name, Prefix: dir + "/", ReadFile: func(f string) ([]byte, error) {
		if f == name {
			return []byte(conf), nil
		}
		return os.ReadFile(f)
	}})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg.HTTP
}

// startProxy compiles and serves conf. opts.Log is set to capture the
// error log when nil.
func startProxy(t *testing.T, conf string, opts Options) *harness {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	h := &harness{t: t, dir: dir, addr: map[string]string{}, errs: &testutil.SyncBuffer{}, conns: map[net.Conn]bool{}}
	h.ctx, h.stop = context.WithCancel(context.Background())
	if opts.Log == nil {
		el, err := errlog.New([]errlog.Target{{Path: "stderr", Level: errlog.LevelDebug}}, errlog.Options{Stderr: h.errs})
		if err != nil {
			t.Fatal(err)
		}
		opts.Log = el.Logger()
	}
	if opts.Registry == nil {
		opts.Registry = balance.NewRegistry(nil)
	}
	b, err := Build(loadHTTP(t, dir, conf), opts)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	h.built = b
	for _, l := range b.Listeners {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln = runtimeListener(ln)
		h.addr[l.Address] = ln.Addr().String()
		h.lns = append(h.lns, ln)
		handler := l.Handler
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				h.mu.Lock()
				h.conns[c] = true
				h.mu.Unlock()
				h.wg.Add(1)
				go func() {
					defer h.wg.Done()
					handler.ServeConn(h.ctx, c)
					h.mu.Lock()
					delete(h.conns, c)
					h.mu.Unlock()
				}()
			}
		}()
	}
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	for _, ln := range h.lns {
		ln.Close()
	}
	h.stop()
	h.mu.Lock()
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		h.t.Errorf("proxy connections did not end")
	}
	for _, c := range h.built.Closers {
		c()
	}
}

// url returns "http://REAL/path" for a configured listen address.
func (h *harness) url(listen, path string) string {
	return "http://" + h.addr[listen] + path
}

// backend is a Go HTTP server on loopback for tests.
type backend struct {
	srv  *http.Server
	ln   *trackingListener
	addr string
}

// trackingListener remembers every connection it accepted, so that a
// backend can die as a process dies: every socket closed at once.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead {
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns = append(l.conns, c)
	return c, nil
}

// kill closes the listener and every connection accepted.
func (b *backend) kill() {
	b.ln.mu.Lock()
	b.ln.dead = true
	conns := b.ln.conns
	b.ln.mu.Unlock()
	b.ln.Listener.Close()
	for _, c := range conns {
		c.Close()
	}
	b.srv.Close()
}

// startBackend serves handler on a free loopback port.
func startBackend(t *testing.T, handler http.Handler) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := &trackingListener{Listener: ln}
	b := &backend{ln: tl, addr: ln.Addr().String(), srv: &http.Server{Handler: handler}}
	go b.srv.Serve(tl)
	t.Cleanup(b.kill)
	return b
}

// portOf returns the port of an address.
func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// rawRequest sends raw on a new connection and returns what the proxy
// answers until it closes the connection or the deadline passes.
func rawRequest(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// readResponse reads one response (head and Content-Length or chunked
// body) from br.
func readResponse(br *bufio.Reader, head bool) (*http.Response, string, error) {
	req := &http.Request{Method: "GET"}
	if head {
		req.Method = "HEAD"
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

// noLog is an error log that drops everything.
var noLog = slog.New(slog.DiscardHandler)

// refusedAddr is a loopback address that refuses connections for the whole
// test: its port is bound and never listened on, so nothing else can take
// it meanwhile (a listener closed at once could be replaced by another).
func refusedAddr(t *testing.T) string {
	_, port := testutil.BoundSocket(t)
	return fmt.Sprintf("127.0.0.1:%d", port)
}
