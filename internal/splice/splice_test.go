//go:build linux

package splice

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/sluicelb/sluice/internal/testutil"
)

func raw(t *testing.T, c *net.TCPConn) syscall.RawConn {
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// setup returns the writer feeding src, src and dst (the two ends Move
// works on), and the reader of dst.
func setup(t *testing.T) (in *net.TCPConn, src, dst syscall.RawConn, out *net.TCPConn) {
	in, s := testutil.TCPPair(t)
	d, out := testutil.TCPPair(t)
	return in, raw(t, s), raw(t, d), out
}

// queued waits until n bytes are queued at the socket of rc.
func queued(t *testing.T, rc syscall.RawConn, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var q int
		rc.Control(func(fd uintptr) {
			var v int32
			syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&v)))
			q = int(v)
		})
		if q >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d bytes queued", q, n)
		}
		time.Sleep(time.Millisecond) // the kernel gives no event for a queue length
	}
}

func TestMoveStopsWhenDrained(t *testing.T) {
	in, src, dst, out := setup(t)
	data := bytes.Repeat([]byte("abcdefgh"), 100<<7)
	in.Write(data)
	queued(t, src, len(data))
	n, rerr, werr, ok := Move(dst, src, 8<<20, false)
	if !ok || rerr != nil || werr != nil || n != int64(len(data)) {
		t.Fatalf("Move = %d, %v, %v, %v; want %d bytes", n, rerr, werr, ok, len(data))
	}
	got := make([]byte, len(data))
	if _, err := io.ReadFull(out, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %v, or the bytes differ", err)
	}
}

func TestMoveWaitsForMax(t *testing.T) {
	in, src, dst, out := setup(t)
	const chunk, chunks = 300 << 10, 5
	go func() {
		for i := range chunks {
			in.Write(bytes.Repeat([]byte{byte('a' + i)}, chunk))
		}
	}()
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(out, chunk*chunks))
		done <- b
	}()
	n, rerr, werr, ok := Move(dst, src, chunk*chunks, true)
	if !ok || rerr != nil || werr != nil || n != chunk*chunks {
		t.Fatalf("Move = %d, %v, %v, %v", n, rerr, werr, ok)
	}
	got := <-done
	for i := range chunks {
		if !bytes.Equal(got[i*chunk:(i+1)*chunk], bytes.Repeat([]byte{byte('a' + i)}, chunk)) {
			t.Fatalf("chunk %d differs", i)
		}
	}
}

func TestMoveEndOfStream(t *testing.T) {
	in, src, dst, out := setup(t)
	in.Write([]byte("0123456789"))
	in.CloseWrite()
	n, rerr, werr, ok := Move(dst, src, 100, true)
	if !ok || rerr != nil || werr != nil || n != 10 {
		t.Fatalf("Move = %d, %v, %v, %v; want 10 bytes and no error", n, rerr, werr, ok)
	}
	got := make([]byte, 10)
	if _, err := io.ReadFull(out, got); err != nil || string(got) != "0123456789" {
		t.Fatalf("read %q, %v", got, err)
	}
}

func TestMoveReadTimeout(t *testing.T) {
	_, s := testutil.TCPPair(t)
	_, d := testutil.TCPPair(t)
	s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	start := time.Now()
	n, rerr, werr, ok := Move(raw(t, d), raw(t, s), 100, true)
	if !ok || n != 0 || werr != nil || rerr == nil {
		t.Fatalf("Move = %d, %v, %v, %v; want a read error", n, rerr, werr, ok)
	}
	if ne, isNet := rerr.(interface{ Timeout() bool }); !isNet || !ne.Timeout() {
		t.Errorf("read error %v is not a timeout", rerr)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("returned after %v", el)
	}
}

func TestMoveDestinationGone(t *testing.T) {
	in, src, dst, out := setup(t)
	out.SetLinger(0)
	out.Close() // the destination's peer resets
	go func() {
		for {
			if _, err := in.Write(make([]byte, 256<<10)); err != nil {
				return
			}
		}
	}()
	var werr error
	for range 100 {
		var rerr error
		_, rerr, werr, _ = Move(dst, src, 1<<20, true)
		if rerr != nil {
			t.Fatalf("read error %v", rerr)
		}
		if werr != nil {
			break
		}
	}
	if werr == nil {
		t.Fatal("writing to a reset connection never failed")
	}
	in.Close()
}
