package httpproxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// holdBackend answers "ok" once release is closed or hold has passed,
// counting the requests it holds at once.
type holdBackend struct {
	*backend
	now, peak atomic.Int32
	seen      atomic.Int32
	release   chan struct{}
}

func startHoldBackend(t *testing.T, hold time.Duration) *holdBackend {
	hb := &holdBackend{release: make(chan struct{})}
	hb.backend = startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hb.now.Add(1)
		defer hb.now.Add(-1)
		for {
			p := hb.peak.Load()
			if n <= p || hb.peak.CompareAndSwap(p, n) {
				break
			}
		}
		hb.seen.Add(1)
		select {
		case <-hb.release:
		case <-time.After(hold):
		}
		io.WriteString(w, "ok")
	}))
	return hb
}

// queueConf is a proxy to one server of max_conns=1 with the queue
// directive q ("" for none).
func queueConf(addr, q string) string {
	return fmt.Sprintf(`events {} http { access_log off;
	upstream gpu { server %s max_conns=1; %s }
	server { listen 127.0.0.1:18400;
		location / { proxy_pass http://gpu; add_header X-Queue-Time $upstream_queue_time; }
	} }`, addr, q)
}

// queueGet sends GET url on a connection of its own and returns the status
// (0 when the request failed) and the X-Queue-Time header.
func queueGet(url string) (int, string) {
	client := &http.Client{Timeout: waitLimit, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return 0, ""
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Queue-Time")
}

// queueOf returns the queue of upstream name.
func queueOf(h *harness, name string) *upQueue {
	return h.built.Listeners[0].Handler.p.groups[name].queue
}

// waitQueued waits until n requests are in q.
func waitQueued(t *testing.T, q *upQueue, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		q.mu.Lock()
		got := q.n
		q.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitHeld waits until the backend has seen n requests.
func waitHeld(t *testing.T, hb *holdBackend, n int32) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for hb.seen.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("backend saw %d requests, want %d", hb.seen.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestQueueWaitsForServer sends five requests at once to a server that
// takes one at a time: with a queue they all succeed, one after the other;
// without, the ones that find the server busy get 502 at once.
func TestQueueWaitsForServer(t *testing.T) {
	for _, tc := range []struct {
		queue  string
		all200 bool
	}{
		{"queue 10 timeout=5s;", true},
		{"", false},
	} {
		t.Run(fmt.Sprintf("%q", tc.queue), func(t *testing.T) {
			hb := startHoldBackend(t, 200*time.Millisecond)
			h := startProxy(t, queueConf(hb.addr, tc.queue), Options{})
			const n = 5
			statuses := make([]int, n)
			times := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i], times[i] = queueGet(h.url("127.0.0.1:18400", "/"))
				}()
			}
			wg.Wait()
			ok, bad := 0, 0
			for _, s := range statuses {
				switch s {
				case 200:
					ok++
				case 502:
					bad++
				default:
					t.Errorf("status %d", s)
				}
			}
			if p := hb.peak.Load(); p != 1 {
				t.Errorf("the backend held %d requests at once, want 1", p)
			}
			if tc.all200 {
				if ok != n {
					t.Fatalf("statuses %v, want all 200", statuses)
				}
				// the last served waited about 4 x 200ms
				var waited bool
				for _, qt := range times {
					if qt == "" {
						t.Errorf("$upstream_queue_time empty: %q", times)
					}
					waited = waited || qt >= "0.500"
				}
				if !waited {
					t.Errorf("$upstream_queue_time %q: no request waited", times)
				}
				if s := h.errs.String(); strings.Contains(s, "no live upstreams") {
					t.Errorf("error log:\n%s", s)
				}
				return
			}
			if bad == 0 || ok == 0 {
				t.Fatalf("statuses %v, want some 200 and some 502", statuses)
			}
			if s := h.errs.String(); !strings.Contains(s, "no live upstreams while connecting to upstream") {
				t.Errorf("error log lacks no live upstreams:\n%s", s)
			}
			if times[0] != "" {
				t.Errorf("$upstream_queue_time %q without queue", times[0])
			}
		})
	}
}

// TestQueueFull: with one request served and one queued, a third finds
// the queue of one full and gets 502 at once.
func TestQueueFull(t *testing.T) {
	hb := startHoldBackend(t, waitLimit)
	h := startProxy(t, queueConf(hb.addr, "queue 1 timeout=5s;"), Options{})
	url := h.url("127.0.0.1:18400", "/")
	q := queueOf(h, "gpu")
	res := make(chan int, 2)
	go func() { s, _ := queueGet(url); res <- s }()
	waitHeld(t, hb, 1)
	go func() { s, _ := queueGet(url); res <- s }()
	waitQueued(t, q, 1)
	start := time.Now()
	if s, _ := queueGet(url); s != 502 {
		t.Errorf("third request: status %d, want 502", s)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the 502 took %v", d)
	}
	if s := h.errs.String(); !strings.Contains(s, "upstream queue is full while connecting to upstream") {
		t.Errorf("error log:\n%s", s)
	}
	close(hb.release)
	want200(t, res, 2)
	if p := hb.peak.Load(); p != 1 {
		t.Errorf("the backend held %d requests at once, want 1", p)
	}
}

// TestQueueTimeout: a request queued behind one the server holds for 2s
// gets 502 once timeout=300ms has passed.
func TestQueueTimeout(t *testing.T) {
	hb := startHoldBackend(t, 2*time.Second)
	defer close(hb.release)
	h := startProxy(t, queueConf(hb.addr, "queue 5 timeout=300ms;"), Options{})
	url := h.url("127.0.0.1:18400", "/")
	go queueGet(url)
	waitHeld(t, hb, 1)
	start := time.Now()
	s, qt := queueGet(url)
	d := time.Since(start)
	if s != 502 {
		t.Fatalf("status %d, want 502", s)
	}
	if d < 250*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("502 after %v, want about 300ms", d)
	}
	if qt != "" {
		t.Logf("X-Queue-Time on the 502: %q", qt)
	}
	if s := h.errs.String(); !strings.Contains(s, "upstream queue timed out while connecting to upstream") {
		t.Errorf("error log:\n%s", s)
	}
	waitQueued(t, queueOf(h, "gpu"), 0)
}

// TestQueueClientGone: a queued client that closes its connection leaves
// the queue, so the place is free for the next request.
func TestQueueClientGone(t *testing.T) {
	hb := startHoldBackend(t, waitLimit)
	h := startProxy(t, queueConf(hb.addr, "queue 1 timeout=5s;"), Options{})
	addr := h.addr["127.0.0.1:18400"]
	url := "http://" + addr + "/"
	q := queueOf(h, "gpu")
	res := make(chan int, 2)
	go func() { s, _ := queueGet(url); res <- s }()
	waitHeld(t, hb, 1)
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	waitQueued(t, q, 1)
	c.Close()
	waitQueued(t, q, 0)
	if s := h.errs.String(); !strings.Contains(s, "client prematurely closed connection while waiting in upstream queue") {
		t.Errorf("error log:\n%s", s)
	}
	go func() { s, _ := queueGet(url); res <- s }()
	waitQueued(t, q, 1)
	close(hb.release)
	want200(t, res, 2)
	if got := hb.seen.Load(); got != 2 {
		t.Errorf("the backend saw %d requests, want 2 (not the abandoned one)", got)
	}
}

// want200 waits for n statuses on res, each 200.
func want200(t *testing.T, res <-chan int, n int) {
	t.Helper()
	for range n {
		select {
		case s := <-res:
			if s != 200 {
				t.Errorf("status %d, want 200", s)
			}
		case <-time.After(waitLimit):
			t.Fatal("no answer")
		}
	}
}
