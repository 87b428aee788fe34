package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/sluicelb/sluice/internal/uring"
)

// TestPolledBatches makes many flows readable at once, so that a poller
// serves them as one batch: the clients' messages are written while the
// test holds the only processor, and the poller then finds them all
// ready together. The backend answers each piece it reads four times,
// and the clients' buffers are small, so that writes towards them fill
// up. Messages of every size the batch treats apart (a few bytes, a full
// read buffer and more) must come back whole, with the reads and writes
// batched (io_uring) and made one by one.
func TestPolledBatches(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			for range 4 {
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}
	})
	ringOK := false
	if r, err := uring.New(4); err == nil {
		r.Close()
		ringOK = true
	} else {
		t.Log("io_uring not available, the calls are made one by one:", err)
	}
	modes := []struct {
		name string
		ring bool
		fail int32 // a ring fails at the fail-th batch of calls made (1: reads, 2: writes)
	}{
		{"ring", true, 0},
		{"one_by_one", false, 0},
		{"ring_fails_reading", true, 1},
		{"ring_fails_writing", true, 2},
	}
	for _, m := range modes {
		ring := m.ring
		t.Run(m.name, func(t *testing.T) {
			waitPollers(t) // a new poller reads noRing when it starts
			noRing = !ring
			var calls atomic.Int32
			if m.fail > 0 {
				ringSubmit = func(r *uring.Ring, fn func(uint64, int32)) error {
					if calls.Add(1) == m.fail {
						return errors.New("injected failure")
					}
					return r.Submit(fn)
				}
			}
			defer func() { noRing, ringSubmit = false, (*uring.Ring).Submit }()
			q := serveSndbuf(t, fmt.Sprintf(`events {}
stream {
    server {
        listen 127.0.0.1:1;
        proxy_pass %s;
    }
}`, be.addr()), 8192)
			sizes := []int{1, 100, 3000, 5000, 16 << 10, 17000}
			const clients = 48
			d := net.Dialer{Timeout: waitLimit, Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
				})
			}}
			conns := make([]net.Conn, clients)
			fds := make([]uintptr, clients)
			msgs := make([][]byte, clients)
			for i := range conns {
				c, err := d.Dial("tcp", q.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(waitLimit))
				// one exchange first: the session is polled from then on
				if _, err := c.Write([]byte{'.'}); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
					t.Fatal(err)
				}
				rc, _ := c.(*net.TCPConn).SyscallConn()
				rc.Control(func(fd uintptr) { fds[i] = fd })
				conns[i] = c
				msgs[i] = randomBytes(uint64(i), sizes[i%len(sizes)])
			}
			before := ringBatches.Load()
			sent := writeHoldingProcessor(fds, msgs)
			for i, c := range conns {
				if sent[i] < len(msgs[i]) {
					if _, err := c.Write(msgs[i][sent[i]:]); err != nil {
						t.Fatal(err)
					}
				}
			}
			for i, c := range conns {
				// the backend answers each piece it reads four times
				got := make([]byte, 4*len(msgs[i]))
				if _, err := io.ReadFull(c, got); err != nil {
					t.Fatalf("client %d, %d bytes: %v", i, len(got), err)
				}
				checkRepeated(t, i, got, msgs[i])
			}
			batches := ringBatches.Load() - before
			t.Logf("%d batches", batches)
			switch {
			case ring && ringOK && batches == 0:
				t.Error("no batch served with the ring on")
			case m.fail > 0 && ringOK && calls.Load() < m.fail:
				t.Error("the ring was not made to fail")
			case !ring && batches != 0:
				t.Errorf("%d batches served with the ring off", batches)
			}
			for _, c := range conns {
				c.Close()
			}
			q.waitSessions(t, clients)
		})
	}
	waitPollers(t)
}

// writeHoldingProcessor writes each message to its socket while no other
// goroutine can run (one processor, held by raw system calls), so that
// the proxy's pollers find the sockets readable all at once. It returns
// how much of each message went out without waiting.
func writeHoldingProcessor(fds []uintptr, msgs [][]byte) []int {
	sent := make([]int, len(fds))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	for i, fd := range fds {
		b := msgs[i]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e == 0 {
			sent[i] = int(n)
		}
	}
	return sent
}

// checkRepeated checks that got is msg cut in pieces, each repeated four
// times in a row, as the backend of TestPolledBatches answers.
func checkRepeated(t *testing.T, client int, got, msg []byte) {
	t.Helper()
	off := 0
	for len(got) > 0 {
		// the piece is as long as the run of got that repeats
		n := len(got) / 4
		for k := 1; k <= len(got)/4; k++ {
			if bytes.Equal(got[:k], msg[off:off+k]) && bytes.Equal(got[k:2*k], msg[off:off+k]) &&
				bytes.Equal(got[2*k:3*k], msg[off:off+k]) && bytes.Equal(got[3*k:4*k], msg[off:off+k]) {
				n = k
				break
			}
		}
		for r := range 4 {
			if !bytes.Equal(got[r*n:(r+1)*n], msg[off:off+n]) {
				t.Fatalf("client %d: bytes %d-%d of its message do not come back four times", client, off, off+n)
			}
		}
		got, off = got[4*n:], off+n
	}
	if off != len(msg) {
		t.Fatalf("client %d: %d of %d bytes came back", client, off, len(msg))
	}
}
