//go:build linux

package stream

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

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
// a bulk transfer starts (internal/loopcc), as ss(8) shows it, and that
// the transfer still arrives whole.
func TestSpliceBulkUnpaced(t *testing.T) {
	testutil.NeedBBR(t)
	checkGoroutines(t)
	data := randomBytes(9, 16<<20)
	be := startBackend(t, func(c net.Conn) { c.Write(data) })
	q := serveProxyTo(t, be.addr())
	c, err := net.DialTimeout("tcp", q.addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got[:4<<20]); err != nil {
		t.Fatal(err)
	}
	// The proxy's end of the client connection, while the rest is
	// still on its way.
	_, port, _ := net.SplitHostPort(q.addr)
	testutil.CheckUnpaced(t, port)
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
