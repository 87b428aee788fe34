//go:build linux

package httpproxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/rtpoll"
	"github.com/sluicelb/sluice/internal/uring"
)

// needRing skips a test of deferred writes where io_uring is not
// available (uring's TestProbe fails on a kernel that should have it).
func needRing(t *testing.T) {
	t.Helper()
	r, err := uring.New(4)
	if err != nil {
		t.Skip("io_uring not available:", err)
	}
	r.Close()
	if !wb.start() {
		t.Fatal("the batch of deferred writes did not start")
	}
}

// heldPair returns an rtpoll.FD on one end of a non-blocking socket pair
// and the other end's descriptor.
func heldPair(t *testing.T) (*rtpoll.FD, int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := new(rtpoll.FD)
	if err := f.Open(fds[0]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(); syscall.Close(fds[1]) })
	return f, fds[1]
}

// readPeer reads n bytes from the descriptor fd, for up to waitLimit.
func readPeer(t *testing.T, fd, n int) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(waitLimit)
	for len(out) < n {
		m, err := syscall.Read(fd, buf[:min(len(buf), n-len(out))])
		switch {
		case err == syscall.EAGAIN:
			if time.Now().After(deadline) {
				t.Fatalf("read %d of %d bytes", len(out), n)
			}
			time.Sleep(time.Millisecond)
		case err != nil || m == 0:
			t.Fatalf("read %d of %d bytes: %v", len(out), n, err)
		default:
			out = append(out, buf[:m]...)
		}
	}
	return out
}

// quiet reports whether fd has nothing more to read after a short wait.
func quiet(fd int) bool {
	time.Sleep(20 * time.Millisecond)
	_, err := syscall.Read(fd, make([]byte, 1))
	return err == syscall.EAGAIN
}

// Writes deferred on many sockets while the test holds the only
// processor go out in one batch, each whole, once.
func TestDeferredWritesBatch(t *testing.T) {
	needRing(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const n = 48
	fds := make([]*rtpoll.FD, n)
	peers := make([]int, n)
	slots := make([]wslot, n)
	msgs := make([][]byte, n)
	for i := range fds {
		fds[i], peers[i] = heldPair(t)
		msgs[i] = bytes.Repeat([]byte{byte('a' + i%26)}, 1+i*170) // 1 B to 8 KB
	}
	b0, w0 := wbBatches.Load(), wbWrites.Load()
	scratch := make([]byte, wbMax)
	for i := range slots {
		b := scratch[:copy(scratch, msgs[i])]
		if !slots[i].deferWrite(fds[i], b) {
			t.Fatalf("write %d not deferred", i)
		}
		clear(scratch) // the caller's buffer is free at once
	}
	for i := range slots {
		if got := readPeer(t, peers[i], len(msgs[i])); !bytes.Equal(got, msgs[i]) {
			t.Fatalf("socket %d: got %d bytes, want %d", i, len(got), len(msgs[i]))
		}
		rest, sent, err := slots[i].settle()
		if len(rest) != 0 || sent != len(msgs[i]) || err != nil {
			t.Fatalf("settle %d: rest %d, sent %d, err %v", i, len(rest), sent, err)
		}
		if slots[i].pending() {
			t.Fatalf("slot %d still pending", i)
		}
		if !quiet(peers[i]) {
			t.Fatalf("socket %d: more bytes than written", i)
		}
	}
	b, w := wbBatches.Load()-b0, wbWrites.Load()-w0
	if w < n || b > 3 {
		t.Fatalf("%d writes in %d batches; want the %d writes in at most 3", w, b, n)
	}
}

// A write its owner settles before the batch ran is taken back, whole,
// and the batch does not make it again.
func TestDeferredWriteTakenBack(t *testing.T) {
	needRing(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f, peer := heldPair(t)
	var s wslot
	msg := []byte("taken back")
	if !s.deferWrite(f, msg) {
		t.Fatal("not deferred")
	}
	rest, sent, err := s.settle() // the batch has not run: this goroutine holds the processor
	if string(rest) != string(msg) || sent != 0 || err != nil {
		t.Fatalf("settle: rest %q, sent %d, err %v", rest, sent, err)
	}
	if _, err := syscall.Write(fdOf(t, f), rest); err != nil {
		t.Fatal(err)
	}
	s.recycle()
	time.Sleep(20 * time.Millisecond) // the batch runs, and skips the slot
	if got := readPeer(t, peer, len(msg)); string(got) != string(msg) || !quiet(peer) {
		t.Fatalf("peer read %q (and more: %v)", got, !quiet(peer))
	}
}

// fdOf returns f's descriptor number.
func fdOf(t *testing.T, f *rtpoll.FD) int {
	fd, err := f.Hold()
	if err != nil {
		t.Fatal(err)
	}
	f.Release()
	return fd
}

// fill writes to fd until its socket buffer is full.
func fill(t *testing.T, fd int) int {
	t.Helper()
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
	buf := bytes.Repeat([]byte("f"), 4096)
	n := 0
	for {
		m, err := syscall.Write(fd, buf)
		if err == syscall.EAGAIN {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n += m
	}
}

// A write the socket does not take whole is finished once the peer reads,
// after the bytes before it and under the write deadline.
func TestDeferredWriteFinished(t *testing.T) {
	needRing(t)
	f, peer := heldPair(t)
	filled := fill(t, fdOf(t, f))
	f.SetWriteDeadline(time.Now().Add(waitLimit))
	var s wslot
	msg := bytes.Repeat([]byte("m"), wbMax)
	if !s.deferWrite(f, msg) {
		t.Fatal("not deferred")
	}
	for s.state.Load() != slotFinishing {
		if s.state.Load() == slotDone {
			t.Fatal("the write ended at once into a full socket")
		}
		time.Sleep(time.Millisecond)
	}
	got := readPeer(t, peer, filled+len(msg))
	if !bytes.Equal(got[:filled], bytes.Repeat([]byte("f"), filled)) || !bytes.Equal(got[filled:], msg) {
		t.Fatal("bytes out of order")
	}
	rest, sent, err := s.settle()
	if len(rest) != 0 || sent != len(msg) || err != nil {
		t.Fatalf("settle: rest %d, sent %d, err %v", len(rest), sent, err)
	}
}

// A write the peer never takes ends at the write deadline; the socket is
// shut down, so an owner waiting to read wakes.
func TestDeferredWriteTimeout(t *testing.T) {
	needRing(t)
	f, _ := heldPair(t)
	fill(t, fdOf(t, f))
	f.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	f.SetReadDeadline(time.Now().Add(waitLimit))
	var s wslot
	if !s.deferWrite(f, []byte("never read")) {
		t.Fatal("not deferred")
	}
	woke := make(chan error, 1)
	go func() {
		var n int
		err := f.Read(func(fd uintptr) bool {
			m, err := syscall.Read(int(fd), make([]byte, 16))
			n = m
			return err != syscall.EAGAIN
		})
		if err == nil && n != 0 {
			err = fmt.Errorf("read %d bytes", n)
		}
		woke <- err
	}()
	select {
	case err := <-woke:
		if err != nil {
			t.Fatalf("reader woke with %v, want the end of the stream", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the reader was not woken")
	}
	_, _, err := s.settle()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("settle: %v, want a timeout", err)
	}
}

// A write to a closed peer fails, and settle reports it.
func TestDeferredWriteFails(t *testing.T) {
	needRing(t)
	f, peer := heldPair(t)
	syscall.Close(peer)
	var s wslot
	if !s.deferWrite(f, []byte("to nobody")) {
		t.Fatal("not deferred")
	}
	waitMade(t, &s)
	_, _, err := s.settle()
	if !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("settle: %v, want EPIPE", err)
	}
}

// waitMade waits until the batch has made the write of s (settle would
// otherwise take it back).
func waitMade(t *testing.T, s *wslot) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for st := s.state.Load(); st == slotQueued || st == slotBusy; st = s.state.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the batch did not run")
		}
		time.Sleep(time.Millisecond)
	}
}

// When the ring fails, the writes it did not make are made one by one,
// and nothing more is deferred.
func TestDeferredWriteRingFails(t *testing.T) {
	needRing(t)
	f, peer := heldPair(t)
	wb.mu.Lock()
	wbSubmit = func(*uring.Ring, func(uint64, int32)) error { return errors.New("ring failed") }
	wb.mu.Unlock()
	defer func() {
		wb.mu.Lock()
		wbSubmit = (*uring.Ring).Submit
		wb.mu.Unlock()
		wb.off.Store(false)
	}()
	var s wslot
	msg := []byte("one by one")
	if !s.deferWrite(f, msg) {
		t.Fatal("not deferred")
	}
	if got := readPeer(t, peer, len(msg)); string(got) != string(msg) {
		t.Fatalf("peer read %q", got)
	}
	if _, sent, err := s.settle(); sent != len(msg) || err != nil {
		t.Fatalf("settle: sent %d, err %v", sent, err)
	}
	if s.deferWrite(f, msg) {
		t.Fatal("a write was deferred after the ring failed")
	}
}

// Keep-alive clients through the proxy, with an upstream keepalive pool:
// their responses and the proxied requests go out as deferred writes, and
// every client gets every answer, as without deferral. Pipelined requests
// (the next one read before the last answer was flushed) keep their order.
func TestDeferredWritesProxied(t *testing.T) {
	needRing(t)
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.Write([]byte("chunked " + r.URL.RawQuery))
			w.(http.Flusher).Flush()
			return
		}
		fmt.Fprintf(w, "answer %s", r.URL.RawQuery)
	}))
	h := startProxy(t, `events {} http { access_log off;
		upstream b { server `+be.addr+`; keepalive 8; }
		server { listen 127.0.0.1:18090;
			location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; }
			location = /local { return 200 "local $arg_i"; } } }`, Options{Log: noLog})
	addr := h.addr["127.0.0.1:18090"]
	for _, off := range []bool{false, true} {
		wbDisabled.Store(off)
		w0 := wbWrites.Load()
		const clients, each = 8, 30
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.DialTimeout("tcp", addr, waitLimit)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(waitLimit))
				br := bufio.NewReader(c)
				for j := range each {
					path := [...]string{"/", "/chunked", "/local"}[j%3]
					q := fmt.Sprintf("%d-%d", i, j)
					want := map[string]string{"/": "answer " + q, "/chunked": "chunked " + q, "/local": "local " + q}[path]
					if path == "/local" {
						q = "i=" + q
					}
					// every fifth request goes with the next one, pipelined
					req := "GET " + path + "?" + q + " HTTP/1.1\r\nHost: a\r\n\r\n"
					if j%5 == 0 && j+1 < each {
						continue
					}
					if j%5 == 1 {
						pq := fmt.Sprintf("%d-%d", i, j-1)
						req = "GET /?" + pq + " HTTP/1.1\r\nHost: a\r\n\r\n" + req
						if _, body, err := roundTrip(c, br, req, 2); err != nil || body[0] != "answer "+pq || body[1] != want {
							errs <- fmt.Errorf("pipelined %s: %q, %v", q, body, err)
							return
						}
						continue
					}
					if _, body, err := roundTrip(c, br, req, 1); err != nil || body[0] != want {
						errs <- fmt.Errorf("%s %s: %q, %v", path, q, body, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("deferral off %v: %v", off, err)
		}
		w := wbWrites.Load() - w0
		t.Logf("deferral off %v: %d writes deferred", off, w)
		if off && w != 0 {
			t.Errorf("%d writes deferred with deferral off", w)
		}
		if !off && w < clients*each {
			t.Errorf("%d writes deferred for %d requests; want at least one per request", w, clients*each)
		}
	}
	wbDisabled.Store(false)
}

// roundTrip writes req on c and reads n responses.
func roundTrip(c net.Conn, br *bufio.Reader, req string, n int) ([]int, []string, error) {
	if _, err := io.WriteString(c, req); err != nil {
		return nil, nil, err
	}
	var codes []int
	var bodies []string
	for range n {
		resp, body, err := readResponse(br, false)
		if err != nil {
			return codes, append(bodies, ""), err
		}
		codes, bodies = append(codes, resp.StatusCode), append(bodies, strings.TrimSpace(body))
	}
	return codes, bodies, nil
}
