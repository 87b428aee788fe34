//go:build linux

package stream

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/loopbulk"
	"github.com/sluicelb/sluice/internal/splice"
	"github.com/sluicelb/sluice/internal/testutil"
)

// TestSpliceBulk sends 16 MB in large writes, so that the bytes queue up
// and move with splice, and checks that every byte arrives in order and
// is counted in the access log.
func TestSpliceBulk(t *testing.T) {
	checkGoroutines(t)
	data := randomBytes(5, 16<<20)
	be := startBackend(t, func(c net.Conn) { c.Write(data) })
	logPath := filepath.Join(t.TempDir(), "access.log")
	q := serveCtx(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log %s t;
    server {
        listen 127.0.0.1:1;
        proxy_pass %s;
    }
}`, logFormat, logPath, be.addr()))
	before := splice.Total()
	sameBytes(t, readAllFrom(t, q.addr), data)
	q.waitSessions(t, 1)
	if moved := splice.Total() - before; moved < int64(len(data))/4 {
		t.Errorf("splice moved %d of %d bytes: the bulk path was not taken", moved, len(data))
	}
	checkBytesLogged(t, logPath, len(data))
}

// TestSpliceBulkUnpaced checks, on a host whose congestion control is
// bbr, that the proxy's socket to a loopback client is taken off bbr once
// a bulk transfer starts (internal/loopbulk), as ss(8) shows it, and that
// the transfer still arrives whole.
func TestSpliceBulkUnpaced(t *testing.T) {
	testutil.NeedBBR(t)
	checkGoroutines(t)
	duringBulk(t, randomBytes(9, 16<<20), func(_, proxy string) {
		// The proxy's end of the client connection.
		_, port, _ := net.SplitHostPort(proxy)
		testutil.CheckUnpaced(t, port)
	})
}

// dialDeadline connects to addr with waitLimit as the connection's
// deadline, and closes the connection when the test ends.
func dialDeadline(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	return c
}

// duringBulk sends data from a backend through a proxy to a client that
// reads the first 4 MB, calls check with the backend's and the proxy's
// addresses while the rest is on its way, then reads the rest and checks
// that every byte arrived in order.
func duringBulk(t *testing.T, data []byte, check func(backend, proxy string)) {
	t.Helper()
	be := startBackend(t, func(c net.Conn) { c.Write(data) })
	q := serveProxyTo(t, be.addr())
	c := dialDeadline(t, q.addr)
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got[:4<<20]); err != nil {
		t.Fatal(err)
	}
	check(be.addr(), q.addr)
	if _, err := io.ReadFull(c, got[4<<20:]); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, got, data)
}

// TestSpliceDestinationGone resets the client in the middle of a bulk
// transfer: the session ends, the upstream connection is closed, and the
// next transfer gets exactly its own bytes (a pipe left holding bytes is
// never reused).
func TestSpliceDestinationGone(t *testing.T) {
	checkGoroutines(t)
	chunk := bytes.Repeat([]byte{'a'}, 1<<20)
	data := randomBytes(7, 8<<20)
	upEnded := make(chan error, 1)
	var calls atomic.Int32
	be := startBackend(t, func(c net.Conn) {
		if calls.Add(1) > 1 {
			c.Write(data)
			return
		}
		// Write until the proxy closes this connection.
		var err error
		for err == nil {
			_, err = c.Write(chunk)
		}
		upEnded <- err
	})
	q := serveProxyTo(t, be.addr())

	c, err := net.DialTimeout("tcp", q.addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.ReadFull(c, make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close() // a reset while the proxy is moving bytes towards it
	select {
	case err := <-upEnded:
		if err == nil {
			t.Fatal("backend write ended without an error")
		}
	case <-time.After(waitLimit):
		t.Fatal("the upstream connection was not closed after the client reset")
	}
	q.waitSessions(t, 1)

	sameBytes(t, readAllFrom(t, q.addr), data)
	q.waitSessions(t, 1)
}

// needReceiveCap skips the test where loopbulk.CapReceive does nothing.
func needReceiveCap(t *testing.T) {
	t.Helper()
	if !loopbulk.CanCapReceive() {
		t.Skip("net.core.rmem_max is below loopbulk.ReceiveCap")
	}
}

// TestSpliceBulkCapsReceiveBuffer checks that once a bulk transfer from
// a backend on this host starts, the proxy's socket to the backend has
// loopbulk.ReceiveCap as its receive buffer (which the kernel doubles),
// as ss(8) shows it, and that the transfer still arrives whole.
func TestSpliceBulkCapsReceiveBuffer(t *testing.T) {
	needReceiveCap(t)
	checkGoroutines(t)
	duringBulk(t, randomBytes(11, 32<<20), func(backend, _ string) {
		// The proxy's end of the backend connection: the backend's own
		// end has the port as its source.
		_, port, _ := net.SplitHostPort(backend)
		if rbs := testutil.ReceiveBuffers(t, "dport", "= :"+port); len(rbs) != 1 || rbs[0] != 2*loopbulk.ReceiveCap {
			t.Errorf("receive buffers of the proxy's sockets to the backend: %v, want [%d]", rbs, 2*loopbulk.ReceiveCap)
		}
	})
}

// TestSpliceUploadReceiveBuffer checks the other direction: a client on
// this host uploads in bulk to a backend that reads slowly, and the
// proxy's socket to the client gets loopbulk.ReceiveCap, unless the
// server's listen directive sets rcvbuf=, which it then keeps.
func TestSpliceUploadReceiveBuffer(t *testing.T) {
	needReceiveCap(t)
	for _, tc := range []struct {
		listen string
		capped bool
	}{{"", true}, {" rcvbuf=256k", false}} {
		t.Run(fmt.Sprintf("listen%s", tc.listen), func(t *testing.T) {
			checkGoroutines(t)
			data := randomBytes(12, 32<<20)
			started := make(chan struct{})
			release := make(chan struct{})
			free := sync.OnceFunc(func() { close(release) })
			defer free()
			got := make(chan []byte, 1)
			be := startBackend(t, func(c net.Conn) {
				buf := make([]byte, len(data))
				c.SetReadDeadline(time.Now().Add(waitLimit))
				n, _ := io.ReadFull(c, buf[:4<<20])
				close(started)
				<-release
				m, _ := io.ReadFull(c, buf[n:])
				got <- buf[:n+m]
			})
			q := serveCtx(t, fmt.Sprintf(`events {}
stream {
    server {
        listen 127.0.0.1:1%s;
        proxy_pass %s;
    }
}`, tc.listen, be.addr()))
			c := dialDeadline(t, q.addr)
			wrote := make(chan error, 1)
			go func() {
				_, err := c.Write(data)
				wrote <- err
			}()
			select {
			case <-started:
			case <-time.After(waitLimit):
				t.Fatal("the backend did not receive the first 4 MB")
			}
			_, port, _ := net.SplitHostPort(q.addr)
			rbs := testutil.ReceiveBuffers(t, "sport", "= :"+port)
			free()
			if len(rbs) != 1 || (rbs[0] == 2*loopbulk.ReceiveCap) != tc.capped {
				t.Errorf("receive buffers of the proxy's sockets to the client: %v; want one, capped at %d: %v", rbs, 2*loopbulk.ReceiveCap, tc.capped)
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			sameBytes(t, <-got, data)
		})
	}
}

// TestUpstreamUnpaced checks, on a host whose congestion control is bbr,
// that the proxy's connection to a backend on a loopback address is on
// cubic (or reno) from its start, before any bulk transfer, as ss(8)
// shows it.
func TestUpstreamUnpaced(t *testing.T) {
	testutil.NeedBBR(t)
	checkGoroutines(t)
	be := echoBackend(t)
	q := serveProxyTo(t, be.addr())
	c := dialDeadline(t, q.addr)
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	// The proxy's end of the backend connection: the backend's own end
	// has the port as its source.
	_, port, _ := net.SplitHostPort(be.addr())
	testutil.CheckUnpacedWhere(t, "dport", "= :"+port)
}
