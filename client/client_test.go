package client

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// backend is a test server that answers its name and counts what it got.
type backend struct {
	name  string
	srv   *httptest.Server
	hits  atomic.Int64
	posts atomic.Int64
	mu    sync.Mutex
	body  string // last request body
}

func newBackend(t *testing.T, name string, h http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if r.Method == "POST" {
			b.posts.Add(1)
		}
		data, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.body = string(data)
		b.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) addr() string { return strings.TrimPrefix(b.srv.URL, "http://") }

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func newClient(t *testing.T, servers []balance.Server, cfg balance.Config) (*Transport, *http.Client) {
	t.Helper()
	tr, err := New(servers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	tr.Base = base
	return tr, &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestWeightedRoundRobin(t *testing.T) {
	a, b, c := newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)
	_, hc := newClient(t, []balance.Server{{Addr: a.addr(), Weight: 5}, {Addr: b.addr()}, {Addr: c.addr()}}, balance.Config{})
	var seq []string
	for range 7 {
		seq = append(seq, get(t, hc, "http://backend/"))
	}
	// nginx's smooth weighted round robin
	if got := strings.Join(seq, " "); got != "a a b a c a a" {
		t.Errorf("sequence %q, want nginx's %q", got, "a a b a c a a")
	}
}

func TestHostAndPath(t *testing.T) {
	var host, path string
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) { host, path = r.Host, r.URL.RequestURI() })
	_, hc := newClient(t, []balance.Server{{Addr: a.addr()}}, balance.Config{})
	get(t, hc, "http://orders.internal/v1/items?page=2")
	if host != "orders.internal" || path != "/v1/items?page=2" {
		t.Errorf("server got Host %q path %q", host, path)
	}
}

func TestDeadServerSkipped(t *testing.T) {
	// a server that refuses connections: every request succeeds on the
	// other, and after max_fails the dead one is not tried for fail_timeout
	a := newBackend(t, "a", nil)
	dead := deadAddr(t)
	tr, hc := newClient(t, []balance.Server{{Addr: dead, MaxFails: 1, FailTimeout: time.Minute}, {Addr: a.addr()}}, balance.Config{})
	for i := range 20 {
		if got := get(t, hc, "http://backend/"); got != "a" {
			t.Fatalf("request %d answered by %q", i, got)
		}
	}
	st := tr.Group.Lookup(dead).Stats()
	if st.Requests != 1 || st.State != balance.StateUnavail {
		t.Errorf("dead server: %d attempts, state %s; want 1 attempt and unavail", st.Requests, st.State)
	}
}

func TestPostRetriedOnlyWhenNotSent(t *testing.T) {
	// refused connection: the POST goes to the other server, whole
	a := newBackend(t, "a", nil)
	_, hc := newClient(t, []balance.Server{{Addr: deadAddr(t)}, {Addr: a.addr()}}, balance.Config{})
	for range 2 {
		resp, err := hc.Post("http://backend/chat", "application/json", strings.NewReader(`{"q":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	a.mu.Lock()
	if a.body != `{"q":"hi"}` {
		t.Errorf("server got body %q", a.body)
	}
	a.mu.Unlock()

	// a server that takes the request and closes without answering: the
	// POST fails (it may have been acted on), a GET is retried
	var sent atomic.Int64
	drop := newBackend(t, "drop", func(w http.ResponseWriter, r *http.Request) {
		sent.Add(1)
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
	})
	b := newBackend(t, "b", nil)
	_, hc2 := newClient(t, []balance.Server{{Addr: drop.addr()}, {Addr: b.addr()}}, balance.Config{})
	if _, err := hc2.Post("http://backend/chat", "text/plain", strings.NewReader("x")); err == nil {
		t.Error("a POST the server dropped after reading it succeeded")
	}
	if n := b.posts.Load(); n != 0 {
		t.Errorf("the POST was sent again to the other server (%d)", n)
	}
	// a fresh client, so that the dropping server is tried first again
	_, hc3 := newClient(t, []balance.Server{{Addr: drop.addr()}, {Addr: b.addr()}}, balance.Config{})
	if got := get(t, hc3, "http://backend/"); got != "b" {
		t.Errorf("GET answered by %q, want b", got)
	}
	if sent.Load() != 2 {
		t.Errorf("the dropping server got %d requests, want 2 (the POST and the first try of the GET)", sent.Load())
	}
}

func TestRetryStatus(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	good := newBackend(t, "good", nil)
	// max_fails=0: the bad server stays in the rotation
	tr, hc := newClient(t, []balance.Server{{Addr: bad.addr(), MaxFails: balance.MaxFailsOff}, {Addr: good.addr()}}, balance.Config{})
	tr.RetryStatus = func(code int) bool { return code == 502 || code == 503 || code == 504 }
	for i := range 4 {
		if got := get(t, hc, "http://backend/"); got != "good" {
			t.Fatalf("GET %d answered %q", i, got)
		}
	}
	// a POST is not sent twice: it gets the 503 when it meets the bad server
	codes := map[int]int{}
	for range 4 {
		resp, err := hc.Post("http://backend/", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[503] == 0 || bad.posts.Load() != int64(codes[503]) {
		t.Errorf("POST statuses %v, bad server got %d POSTs", codes, bad.posts.Load())
	}
}

func TestLeastConnCountsOpenResponses(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	tr, hc := newClient(t, []balance.Server{{Addr: a.addr()}, {Addr: b.addr()}}, balance.Config{Method: balance.LeastConn})
	// hold a response from one server open: the next requests go to the other
	resp, err := hc.Get("http://backend/")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := io.ReadAll(resp.Body)
	other := map[string]string{"a": "b", "b": "a"}[string(first)]
	for range 3 {
		if got := get(t, hc, "http://backend/"); got != other {
			t.Fatalf("with %s's response open, a request went to %s", first, got)
		}
	}
	resp.Body.Close()
	for _, p := range tr.Group.Peers() {
		if n := p.Active(); n != 0 {
			t.Errorf("%s: %d active after every body was closed", p.Addr(), n)
		}
	}
}

func TestHashKeySticks(t *testing.T) {
	var bs []*backend
	var servers []balance.Server
	for _, n := range []string{"a", "b", "c", "d"} {
		b := newBackend(t, n, nil)
		bs = append(bs, b)
		servers = append(servers, balance.Server{Addr: b.addr()})
	}
	tr, hc := newClient(t, servers, balance.Config{Method: balance.Hash, Consistent: true})
	tr.Key = func(r *http.Request) []byte { return []byte(r.URL.Query().Get("user")) }
	seen := map[string]bool{}
	for _, user := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"} {
		first := get(t, hc, "http://backend/?user="+user)
		seen[first] = true
		for range 3 {
			if got := get(t, hc, "http://backend/?user="+user); got != first {
				t.Fatalf("user %s went to %s then %s", user, first, got)
			}
		}
	}
	if len(seen) < 2 {
		t.Errorf("8 keys all on one server (%v)", seen)
	}
}

func TestDiscover(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	tr, hc := newClient(t, []balance.Server{{Addr: a.addr()}}, balance.Config{})
	var which atomic.Value
	which.Store(a.addr())
	found := make(chan struct{}, 16)
	find := func(context.Context) ([]balance.Server, error) {
		defer func() { found <- struct{}{} }()
		return []balance.Server{{Addr: which.Load().(string)}}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Discover(ctx, tr, 5*time.Millisecond, find, nil); close(done) }()
	defer func() { cancel(); <-done }()
	<-found
	which.Store(b.addr())
	<-found
	<-found // the update after b was found has been made
	for range 3 {
		if got := get(t, hc, "http://backend/"); got != "b" {
			t.Fatalf("after discovery moved to b, answered by %s", got)
		}
	}
}

func TestDNS(t *testing.T) {
	a := newBackend(t, "a", nil)
	_, port, _ := net.SplitHostPort(a.addr())
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	servers, err := DNS(nil, "localhost", p, balance.Server{Weight: 2})(context.Background())
	if err != nil {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	ok := false
	for _, s := range servers {
		if s.Addr == a.addr() && s.Weight == 2 {
			ok = true
		}
	}
	if !ok {
		t.Fatalf("servers %+v do not include %s with weight 2", servers, a.addr())
	}
	tr, err := New(servers, balance.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	// an address of localhost nothing listens on (::1) is skipped
	for range 3 {
		if got := get(t, hc, "http://localhost/"); got != "a" {
			t.Fatalf("answered %q", got)
		}
	}
}

func TestNoServer(t *testing.T) {
	_, hc := newClient(t, []balance.Server{{Addr: deadAddr(t)}, {Addr: deadAddr(t)}}, balance.Config{})
	_, err := hc.Get("http://backend/")
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("error %v, want the last connection error", err)
	}
	// both are now unavailable: the pick itself fails
	_, err = hc.Get("http://backend/")
	if err == nil || !strings.Contains(err.Error(), "no live upstreams") {
		t.Fatalf("error %v, want no live upstreams", err)
	}
}

func TestHealthChecks(t *testing.T) {
	// a server whose health endpoint fails gets no requests, although it
	// answers the others; it comes back when the endpoint passes again
	var sick atomic.Bool
	sick.Store(true)
	var checks atomic.Int64
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			checks.Add(1)
			if sick.Load() {
				w.WriteHeader(503)
			}
			return
		}
		io.WriteString(w, "a")
	})
	b := newBackend(t, "b", nil)
	tr, hc := newClient(t, []balance.Server{{Addr: a.addr()}, {Addr: b.addr()}}, balance.Config{})
	changes := make(chan bool, 4)
	stop := tr.StartHealthChecks(HealthCheck{Path: "/healthz", Interval: 10 * time.Millisecond,
		Report: func(server string, healthy bool, err error) { changes <- healthy }})
	defer stop()
	select {
	case h := <-changes:
		if h {
			t.Fatal("first change reported healthy")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the sick server was not found unhealthy")
	}
	for i := range 6 {
		if got := get(t, hc, "http://backend/"); got != "b" {
			t.Fatalf("request %d went to %s, an unhealthy server", i, got)
		}
	}
	sick.Store(false)
	select {
	case h := <-changes:
		if !h {
			t.Fatal("second change reported unhealthy")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not come back")
	}
	seen := map[string]bool{}
	for range 4 {
		seen[get(t, hc, "http://backend/")] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("after recovery, requests went to %v", seen)
	}
	if checks.Load() < 2 {
		t.Errorf("%d checks reached the server", checks.Load())
	}
}
