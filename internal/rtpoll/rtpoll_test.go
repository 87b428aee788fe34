//go:build linux

package rtpoll

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// pair returns an FD on one end of a non-blocking socket pair and the
// other end's descriptor.
func pair(t *testing.T) (*FD, int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := new(FD)
	if err := f.Open(fds[0]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fds[1]) })
	return f, fds[1]
}

// read reads once from f, waiting until something can be read.
func read(f *FD, b []byte) (int, error) {
	var n int
	var rerr error
	err := f.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), b)
		return rerr != syscall.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

func TestReadWaits(t *testing.T) {
	f, peer := pair(t)
	defer f.Close()
	go func() {
		time.Sleep(20 * time.Millisecond)
		syscall.Write(peer, []byte("hello"))
	}()
	b := make([]byte, 16)
	n, err := read(f, b)
	if err != nil || string(b[:n]) != "hello" {
		t.Fatalf("read %q, %v", b[:n], err)
	}
}

func TestDeadline(t *testing.T) {
	f, _ := pair(t)
	defer f.Close()
	f.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	start := time.Now()
	_, err := read(f, make([]byte, 4))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
	if d := time.Since(start); d < 25*time.Millisecond || d > 5*time.Second {
		t.Fatalf("timed out after %v", d)
	}
	// an expired deadline fails at once; clearing it makes reads wait again
	if _, err := read(f, make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second read: %v", err)
	}
	f.SetReadDeadline(time.Time{})
	f.SetWriteDeadline(time.Now().Add(-time.Second))
	var wrote bool
	if err := f.Write(func(uintptr) bool { wrote = true; return true }); !errors.Is(err, os.ErrDeadlineExceeded) || wrote {
		t.Fatalf("write past its deadline: %v (called: %v)", err, wrote)
	}
}

// Close wakes a blocked reader, and the descriptor is closed once it has
// returned.
func TestCloseWakesReader(t *testing.T) {
	f, peer := pair(t)
	done := make(chan error)
	go func() {
		_, err := read(f, make([]byte, 4))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the reader")
	}
	if err := f.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if err := f.Control(func(uintptr) {}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Control after Close: %v", err)
	}
	// the peer sees the end of the stream: the descriptor was closed
	var b [1]byte
	for i := 0; ; i++ {
		n, err := syscall.Read(peer, b[:])
		if n == 0 && err == nil {
			break
		}
		if i > 500 {
			t.Fatalf("peer read %d, %v: socket not closed", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The descriptor stays open until a call running during Close returns.
func TestCloseWaitsForCall(t *testing.T) {
	f, _ := pair(t)
	in, out := make(chan uintptr), make(chan struct{})
	go f.Control(func(fd uintptr) {
		in <- fd
		<-out
	})
	fd := <-in
	f.Close()
	if !isOpen(fd) {
		t.Fatal("descriptor closed under a running call")
	}
	close(out)
	for i := 0; ; i++ {
		if !isOpen(fd) {
			break
		}
		if i > 500 {
			t.Fatal("descriptor not closed after the call returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A Hold keeps the descriptor open across Close until its Release, and
// none is given once Close was called.
func TestHold(t *testing.T) {
	f, _ := pair(t)
	fd, err := f.Hold()
	if err != nil || fd != f.fd {
		t.Fatalf("Hold = %d, %v; want %d", fd, err, f.fd)
	}
	f.Close()
	if !isOpen(uintptr(fd)) {
		t.Fatal("descriptor closed under a Hold")
	}
	if _, err := f.Hold(); err == nil {
		t.Fatal("Hold after Close succeeded")
	}
	f.Release()
	if isOpen(uintptr(fd)) {
		t.Fatal("descriptor still open after the Release")
	}
}

// isOpen says whether fd is an open descriptor.
func isOpen(fd uintptr) bool {
	_, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFD, 0)
	return e != syscall.EBADF
}

// Many connections opened, used by a reader and a writer at once, and
// closed from a third goroutine, under -race.
func TestConcurrent(t *testing.T) {
	for i := 0; i < 50; i++ {
		f, peer := pair(t)
		done := make(chan struct{}, 2)
		go func() {
			read(f, make([]byte, 8))
			done <- struct{}{}
		}()
		go func() {
			f.Write(func(fd uintptr) bool {
				_, err := syscall.Write(int(fd), []byte("x"))
				return err != syscall.EAGAIN
			})
			done <- struct{}{}
		}()
		if i%2 == 0 {
			syscall.Write(peer, []byte("y"))
		}
		f.Close()
		for j := 0; j < 2; j++ {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("a call did not return after Close")
			}
		}
	}
}

// ReadDrained waits before its first call when the last read marked the
// socket empty, and still sees bytes that came in between.
func TestReadDrained(t *testing.T) {
	f, peer := pair(t)
	defer f.Close()
	calls := 0
	buf := make([]byte, 64)
	var n int
	step := func(fd uintptr) bool {
		calls++
		var err error
		n, err = syscall.Read(int(fd), buf)
		if err == syscall.EAGAIN {
			return false
		}
		if n >= 0 && n < len(buf) {
			f.MarkDrained()
		}
		return true
	}
	syscall.Write(peer, []byte("one"))
	if err := f.Read(step); err != nil || string(buf[:n]) != "one" {
		t.Fatalf("first read %q, %v", buf[:n], err)
	}
	// bytes that arrive before the wait are not missed
	syscall.Write(peer, []byte("two"))
	calls = 0
	if err := f.ReadDrained(step); err != nil || string(buf[:n]) != "two" || calls != 1 {
		t.Fatalf("read %q, %v after %d calls; want \"two\" after 1", buf[:n], err, calls)
	}
	// an empty socket is waited for without a first call
	go func() {
		time.Sleep(20 * time.Millisecond)
		syscall.Write(peer, []byte("three"))
	}()
	calls = 0
	if err := f.ReadDrained(step); err != nil || string(buf[:n]) != "three" || calls != 1 {
		t.Fatalf("read %q, %v after %d calls; want \"three\" after 1", buf[:n], err, calls)
	}
	// a read by another way (Control) forgets that the socket was empty
	syscall.Write(peer, []byte("four"))
	f.Control(func(uintptr) {})
	calls = 0
	if err := f.ReadDrained(step); err != nil || string(buf[:n]) != "four" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	// a full read does not mark the socket empty
	syscall.Write(peer, make([]byte, 100))
	f.Read(step)
	calls = 0
	if err := f.ReadDrained(step); err != nil || n != 36 || calls != 1 {
		t.Fatalf("read %d bytes, %v after %d calls; want the 36 left after 1", n, err, calls)
	}
}
