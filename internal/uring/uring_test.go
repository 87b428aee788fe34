//go:build linux

package uring

import (
	"bytes"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

func fdOf(t *testing.T, c *net.TCPConn) int32 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int32
	rc.Control(func(f uintptr) { fd = int32(f) })
	return fd
}

// testRing returns a ring for n operations, closed when the test ends;
// the test skips where io_uring is not available (TestProbe tells
// whether it should be).
func testRing(t *testing.T, n uint32) *Ring {
	t.Helper()
	r, err := New(n)
	if err != nil {
		t.Skip("io_uring not available:", err)
	}
	t.Cleanup(r.Close)
	return r
}

// A batch of reads and writes on real sockets: a read of an empty socket
// reports EAGAIN at once, a write reaches the peer, a read gets what the
// peer sent, and a write to a closed peer fails.
func TestBatch(t *testing.T) {
	r := testRing(t, 8)
	a, b := testutil.TCPPair(t)
	c, d := testutil.TCPPair(t)
	fa, fb, fc := fdOf(t, a), fdOf(t, b), fdOf(t, c)

	res := map[uint64]int32{}
	collect := func(tag uint64, n int32) { res[tag] = n }

	empty := make([]byte, 64)
	if err := r.Recv(fb, empty, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.Send(fa, []byte("hello"), 2); err != nil {
		t.Fatal(err)
	}
	if err := r.Submit(collect); err != nil {
		t.Fatal(err)
	}
	if res[1] != -int32(syscall.EAGAIN) || res[2] != 5 {
		t.Fatalf("results %v, want EAGAIN for the read and 5 for the write", res)
	}

	clear(res)
	got := make([]byte, 64)
	if err := r.Recv(fb, got, 3); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if err := r.Submit(collect); err != nil {
		t.Fatal(err)
	}
	if res[3] != 5 || !bytes.Equal(got[:5], []byte("hello")) {
		t.Fatalf("read %d %q, want 5 \"hello\"", res[3], got[:max(res[3], 0)])
	}

	// the peer of c is closed: a read reports the end of the stream, and
	// writes fail once the reset comes back
	clear(res)
	r.Recv(fc, got, 4)
	r.Submit(collect)
	if res[4] != 0 {
		t.Fatalf("read of a closed peer: %d, want 0", res[4])
	}
	failed := false
	for i := 0; i < 10 && !failed; i++ {
		clear(res)
		r.Send(fc, []byte("x"), 5)
		r.Submit(collect)
		failed = res[5] < 0
	}
	if !failed || res[5] != -int32(syscall.EPIPE) && res[5] != -int32(syscall.ECONNRESET) {
		t.Fatalf("write to a closed peer: %d, want EPIPE or ECONNRESET", res[5])
	}
}

// A batch holds Cap operations; one more is refused until Submit.
func TestFull(t *testing.T) {
	r := testRing(t, 4)
	a, _ := testutil.TCPPair(t)
	fa := fdOf(t, a)
	buf := make([]byte, 8)
	for i := 0; i < r.Cap(); i++ {
		if err := r.Recv(fa, buf, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Recv(fa, buf, 99); err != ErrFull {
		t.Fatalf("one more than Cap: %v, want ErrFull", err)
	}
	n := 0
	if err := r.Submit(func(tag uint64, res int32) {
		if res != -int32(syscall.EAGAIN) {
			t.Errorf("tag %d: %d, want EAGAIN", tag, res)
		}
		n++
	}); err != nil {
		t.Fatal(err)
	}
	if n != r.Cap() {
		t.Fatalf("%d completions, want %d", n, r.Cap())
	}
}

// TestProbe checks that the probe New runs accepts this kernel when its
// io_uring can be set up and it is recent enough to answer EAGAIN (every
// kernel from 6.1 does): a probe that wrongly failed would turn batching
// off everywhere without a word, and every other test would skip.
func TestProbe(t *testing.T) {
	r, err := setup(2)
	if err != nil {
		t.Skip("io_uring not available:", err)
	}
	r.Close()
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var rel []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	var major, minor int
	fmt.Sscanf(string(rel), "%d.%d", &major, &minor)
	err = probe()
	t.Logf("kernel %s: probe %v", rel, err)
	if (major > 6 || major == 6 && minor >= 1) && err != nil {
		t.Fatalf("kernel %s: the probe refused io_uring: %v", rel, err)
	}
}
