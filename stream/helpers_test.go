package stream

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/internal/testutil"
)

// waitLimit bounds every wait of these tests.
const waitLimit = testutil.WaitLimit

// harness runs the handlers of a stream configuration on loopback
// listeners of its own: the listen addresses of the configuration are
// mapped to free ports.
type harness struct {
	t       *testing.T
	addr    map[string]string // configured listen address -> real address
	logPath string
	errs    *testutil.SyncBuffer
	ended   chan struct{} // one value per finished session
	wg      sync.WaitGroup
	built   *Built
}

// startProxy compiles conf (a whole configuration; {{LOG}} is replaced by
// the access log path) and serves it. reg may be nil.
func startProxy(t *testing.T, conf string, reg *balance.Registry) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, addr: map[string]string{}, logPath: filepath.Join(dir, "access.log"),
		errs: &testutil.SyncBuffer{}, ended: make(chan struct{}, 1000)}
	conf = strings.ReplaceAll(conf, "{{LOG}}", h.logPath)
	file := filepath.Join(dir, "sluice.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{File: file})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	elog, err := errlog.New([]errlog.Target{{Path: "stderr", Level: errlog.LevelInfo}}, errlog.Options{Stderr: h.errs})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(cfg.Stream, Options{Log: elog.Logger(), Registry: reg})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	h.built = b
	for _, f := range b.Starters {
		f()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var lns []net.Listener
	for _, l := range b.Listeners {
		if l.Network == "udp" {
			ln := listenUDPSessions(t, "127.0.0.1:0")
			lns = append(lns, ln)
			h.addr[l.Address] = ln.Addr().String()
			h.serve(ctx, ln, l.Handler)
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		h.addr[l.Address] = ln.Addr().String()
		h.wg.Add(1)
		go func(hd *Handler) {
			defer h.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				h.wg.Add(1)
				go func() {
					defer h.wg.Done()
					hd.ServeConn(ctx, c)
					h.ended <- struct{}{}
				}()
			}
		}(l.Handler)
	}
	t.Cleanup(func() {
		for _, ln := range lns {
			ln.Close()
		}
		for _, f := range b.Stoppers {
			f()
		}
		cancel()
		h.wg.Wait()
		for _, c := range b.Closers {
			c()
		}
	})
	return h
}

// serve runs hd for each connection ln accepts until ln is closed.
func (h *harness) serve(ctx context.Context, ln net.Listener, hd *Handler) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				hd.ServeConn(ctx, c)
				h.ended <- struct{}{}
			}()
		}
	}()
}

// dial connects to the proxy's listen address as configured.
func (h *harness) dial(listen string) net.Conn {
	h.t.Helper()
	c, err := net.DialTimeout("tcp", h.addr[listen], waitLimit)
	if err != nil {
		h.t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(waitLimit))
	return c
}

// waitSessions waits until n more sessions have ended.
func (h *harness) waitSessions(n int) {
	h.t.Helper()
	timeout := time.After(waitLimit)
	for i := 0; i < n; i++ {
		select {
		case <-h.ended:
		case <-timeout:
			h.t.Fatalf("only %d of %d sessions ended", i, n)
		}
	}
}

// logLines returns the access log lines written so far.
func (h *harness) logLines() []string {
	h.t.Helper()
	data, err := os.ReadFile(h.logPath)
	if err != nil && !os.IsNotExist(err) {
		h.t.Fatal(err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// request sends msg on a new connection to listen and returns everything
// the proxy sends back until it closes.
func (h *harness) request(listen, msg string) string {
	h.t.Helper()
	c := h.dial(listen)
	defer c.Close()
	if _, err := io.WriteString(c, msg); err != nil {
		h.t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		// A proxy that closes a connection without reading what the
		// client sent resets it, as nginx does.
		h.t.Fatalf("read: %v", err)
	}
	return string(b)
}

// backend is a TCP server for tests. handle runs for each connection,
// which is closed when it returns.
type backend struct {
	ln    net.Listener
	conns chan net.Conn // accepted connections, when observed
}

func startBackend(t *testing.T, handle func(net.Conn)) *backend {
	t.Helper()
	ln := testutil.Listen(t)
	testutil.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(waitLimit))
		handle(c)
	})
	return &backend{ln: ln, conns: make(chan net.Conn, 100)}
}

func (b *backend) addr() string { return b.ln.Addr().String() }

// seedHandler answers like the Python servers of the seed article: read
// once, reply "[Server NAME] Received: DATA", close.
func seedHandler(name string) func(net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, 1024)
		n, _ := c.Read(buf)
		fmt.Fprintf(c, "[Server %s] Received: %s", name, strings.TrimSpace(string(buf[:n])))
	}
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	l, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read line: %v", err)
	}
	return l
}

// randomBytes returns n bytes of a pseudo-random sequence given by seed,
// for transfers whose corruption or reordering a checksum would show.
func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// sameBytes fails the test unless got is exactly want.
func sameBytes(t testing.TB, got, want []byte) {
	t.Helper()
	if len(got) != len(want) || sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("got %d bytes, want %d: short, corrupted or reordered", len(got), len(want))
	}
}

// readAllFrom dials addr, reads until the proxy closes the connection,
// and returns what arrived.
func readAllFrom(t testing.TB, addr string) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %d bytes: %v", len(got), err)
	}
	return got
}
