package stream

import (
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// rawListener is a loopback TCP listener on a plain blocking socket, so
// that the connections it accepts cost the test process nothing but a
// file descriptor: the memory measured is the proxy's.
type rawListener struct {
	fd    int
	port  int
	conns chan int
}

func listenRaw(t testing.TB) *rawListener {
	t.Helper()
	fd, port := testutil.BoundSocket(t)
	if err := syscall.Listen(fd, 4096); err != nil {
		t.Fatal(err)
	}
	l := &rawListener{fd: fd, port: port, conns: make(chan int, 64)}
	go func() {
		defer close(l.conns)
		for {
			c, _, err := syscall.Accept4(fd, syscall.SOCK_CLOEXEC)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return
			}
			l.conns <- c
		}
	}()
	t.Cleanup(func() {
		syscall.Shutdown(fd, syscall.SHUT_RDWR) // wakes the blocked accept
		for c := range l.conns {
			syscall.Close(c)
		}
	})
	return l
}

func (l *rawListener) addr() string { return "127.0.0.1:" + strconv.Itoa(l.port) }

// dialRaw connects a plain blocking socket to addr ("127.0.0.1:port").
func dialRaw(t testing.TB, addr string) int {
	t.Helper()
	ap := netip.MustParseAddrPort(addr)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// idleFootprint opens n sessions through the proxy, each of which has
// carried one byte to the backend and is then idle, and returns the Go
// heap, stack and goroutines they hold, per session.
func idleFootprint(t testing.TB, n int) (heap, stack, goroutines float64) {
	be := listenRaw(t)
	addr := serveQuiet(t, fmt.Sprintf(`events {}
stream {
    server {
        listen 127.0.0.1:1;
        proxy_pass %s;
        proxy_timeout 1h;
    }
}`, be.addr()))
	measure := func() (uint64, uint64, int) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine()
	}
	h0, s0, g0 := measure()
	clients := make([]int, 0, n)
	t.Cleanup(func() {
		for _, c := range clients {
			syscall.Close(c)
		}
	})
	one := []byte("x")
	b := make([]byte, 1)
	timeout := time.After(waitLimit)
	for i := 0; i < n; i++ {
		c := dialRaw(t, addr)
		clients = append(clients, c)
		if _, err := syscall.Write(c, one); err != nil {
			t.Fatal(err)
		}
		var up int
		select {
		case up = <-be.conns:
		case <-timeout:
			t.Fatalf("%d of %d sessions reached the backend", i, n)
		}
		if _, err := syscall.Read(up, b); err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(up)
	}
	h1, s1, g1 := measure()
	fn := float64(n)
	return (float64(h1) - float64(h0)) / fn, (float64(s1) - float64(s0)) / fn, float64(g1-g0) / fn
}

// TestIdleFootprint checks that an idle session holds no copy buffer and
// at most one goroutine, whose stack is not the deep one of the phases
// before the copy.
func TestIdleFootprint(t *testing.T) {
	heap, stack, g := idleFootprint(t, 200)
	t.Logf("per idle session: heap %.0f B, stack %.0f B, goroutines %.2f", heap, stack, g)
	if g > 1.05 {
		t.Errorf("%.2f goroutines per idle session, want at most 1", g)
	}
	if heap > 8<<10 {
		t.Errorf("%.0f heap bytes per idle session: a copy buffer is held", heap)
	}
	// A parked session's stack shrinks to 2 KB (4 KB with the race
	// detector); one grown by the phases before the copy stays at 8 KB.
	maxStack := 4 << 10
	if raceEnabled {
		maxStack = 6 << 10
	}
	if stack > float64(maxStack) {
		t.Errorf("%.0f stack bytes per idle session: the serving goroutine keeps a deep stack", stack)
	}
}
