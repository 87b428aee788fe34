package httpproxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// cacheGet fetches path from addr over a new connection and returns the
// status, X-Cache-Status and body.
func cacheGet(t *testing.T, addr, path string) (int, string, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("X-Cache-Status"), string(b)
}

// slowHandler answers after release is closed (or at once when it is
// nil), counting requests.
type slowHandler struct {
	mu      sync.Mutex
	n       int
	started chan struct{}
	release chan struct{}
	body    string
}

func (s *slowHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.n++
	n := s.n
	release := s.release
	s.mu.Unlock()
	if s.started != nil {
		select {
		case s.started <- struct{}{}:
		default:
		}
	}
	if release != nil {
		<-release
	}
	fmt.Fprintf(w, "%s %d", s.body, n)
}

func (s *slowHandler) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// TestCacheLockConcurrentMisses sends concurrent requests for one key
// with proxy_cache_lock on: one reaches the backend, the others wait for
// its response and get it from the cache.
func TestCacheLockConcurrentMisses(t *testing.T) {
	sh := &slowHandler{started: make(chan struct{}, 1), release: make(chan struct{}), body: "slow"}
	be := startBackend(t, sh)
	dir := t.TempDir()
	h := startProxy(t, `events {} http { access_log off;
		proxy_cache_path `+dir+`/c keys_zone=z:1m;
		server { listen 127.0.0.1:18080;
			add_header X-Cache-Status $upstream_cache_status always;
			location / { proxy_pass http://`+be.addr+`; proxy_cache z; proxy_cache_valid 200 1m; proxy_cache_lock on; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	const n = 8
	type result struct{ status, body string }
	results := make(chan result, n)
	go func() {
		_, st, b := cacheGet(t, addr, "/k")
		results <- result{st, b}
	}()
	select {
	case <-sh.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the first request did not reach the backend")
	}
	for i := 1; i < n; i++ {
		go func() {
			_, st, b := cacheGet(t, addr, "/k")
			results <- result{st, b}
		}()
	}
	zone := h.built.Listeners[0].Handler.p.caches["z"]
	testutil.WaitFor(t, "requests waiting on the lock", func() bool { return zone.Waiting() == n-1 })
	close(sh.release)
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		select {
		case r := <-results:
			if r.body != "slow 1" {
				t.Errorf("body %q, want the first response", r.body)
			}
			counts[r.status]++
		case <-time.After(10 * time.Second):
			t.Fatal("a request did not finish")
		}
	}
	if sh.count() != 1 {
		t.Errorf("the backend got %d requests, want 1", sh.count())
	}
	if counts["MISS"] != 1 || counts["HIT"] != n-1 {
		t.Errorf("statuses %v, want one MISS and %d HIT", counts, n-1)
	}
}

// TestCacheEviction checks max_size (least recently used entries go
// first) and inactive (entries not used for that long go).
func TestCacheEviction(t *testing.T) {
	sh := &slowHandler{body: strings.Repeat("x", 3000)}
	be := startBackend(t, sh)
	dir := t.TempDir()
	h := startProxy(t, `events {} http { access_log off;
		proxy_cache_path `+dir+`/c levels=2 keys_zone=z:1m max_size=10k inactive=1s;
		server { listen 127.0.0.1:18080;
			add_header X-Cache-Status $upstream_cache_status always;
			location / { proxy_pass http://`+be.addr+`; proxy_cache z; proxy_cache_valid 200 1m; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	files := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "c", "??", "*"))
		return len(m)
	}
	for _, p := range []string{"/a", "/b", "/c"} {
		if _, st, _ := cacheGet(t, addr, p); st != "MISS" {
			t.Fatalf("%s: %s, want MISS", p, st)
		}
	}
	if _, st, _ := cacheGet(t, addr, "/a"); st != "HIT" { // /a is now the most recently used
		t.Fatalf("/a: %s, want HIT", st)
	}
	if _, st, _ := cacheGet(t, addr, "/d"); st != "MISS" { // over 10k: /b goes
		t.Fatalf("/d: %s, want MISS", st)
	}
	if n := files(); n != 3 {
		t.Errorf("%d files after max_size eviction, want 3", n)
	}
	for _, c := range []struct{ path, want string }{{"/a", "HIT"}, {"/c", "HIT"}, {"/d", "HIT"}, {"/b", "MISS"}} {
		if _, st, _ := cacheGet(t, addr, c.path); st != c.want {
			t.Errorf("%s: %s, want %s", c.path, st, c.want)
		}
	}
	// inactive=1s: the manager removes every entry once unused
	testutil.WaitFor(t, "inactive entries removed", func() bool { return files() == 0 })
	if _, st, _ := cacheGet(t, addr, "/a"); st != "MISS" {
		t.Errorf("/a after inactive: %s, want MISS", st)
	}
}

// TestCacheReload checks that entries survive a reload and a restart:
// a new build on the same directory finds them, and so does one that
// rebuilds the index from the files after every build was closed.
func TestCacheReload(t *testing.T) {
	sh := &slowHandler{body: "r"}
	be := startBackend(t, sh)
	dir := t.TempDir()
	conf := `events {} http { access_log off;
		proxy_cache_path ` + dir + `/c levels=1:2 keys_zone=z:1m;
		server { listen 127.0.0.1:18080;
			add_header X-Cache-Status $upstream_cache_status always;
			location / { proxy_pass http://` + be.addr + `; proxy_cache z; proxy_cache_valid 200 1m; }
		} }`
	h1 := startProxy(t, conf, Options{})
	if _, st, b := cacheGet(t, h1.addr["127.0.0.1:18080"], "/x"); st != "MISS" || b != "r 1" {
		t.Fatalf("first: %s %q", st, b)
	}
	h2 := startProxy(t, conf, Options{}) // a reload: both generations hold the zone
	if _, st, b := cacheGet(t, h2.addr["127.0.0.1:18080"], "/x"); st != "HIT" || b != "r 1" {
		t.Errorf("after reload: %s %q, want HIT from the first response", st, b)
	}
	h1.close()
	h2.close()
	// a leftover temporary file of an interrupted write is removed
	tmp := filepath.Join(dir, "c", "0", "00", "00000000000000000000000000000000.1.tmp")
	os.MkdirAll(filepath.Dir(tmp), 0o700)
	os.WriteFile(tmp, []byte("partial"), 0o600)
	h3 := startProxy(t, conf, Options{}) // a restart: the loader reads the files
	if _, st, b := cacheGet(t, h3.addr["127.0.0.1:18080"], "/x"); st != "HIT" || b != "r 1" {
		t.Errorf("after restart: %s %q, want HIT from the first response", st, b)
	}
	testutil.WaitFor(t, "temporary file removed", func() bool {
		_, err := os.Stat(tmp)
		return os.IsNotExist(err)
	})
	if sh.count() != 1 {
		t.Errorf("backend reached %d times, want 1", sh.count())
	}
}

// TestCacheHTTP2 serves a cached response over HTTP/2.
func TestCacheHTTP2(t *testing.T) {
	sh := &slowHandler{body: strings.Repeat("h2", 50000)}
	be := startBackend(t, sh)
	dir := t.TempDir()
	h := startProxy(t, `events {} http { access_log off;
		proxy_cache_path `+dir+`/c keys_zone=z:1m;
		server { listen 127.0.0.1:18206 http2;
			add_header X-Cache-Status $upstream_cache_status always;
			location / { proxy_pass http://`+be.addr+`; proxy_cache z; proxy_cache_valid 200 1m; }
		} }`, Options{})
	cl, _ := h2cClient(t)
	for i, want := range []string{"MISS", "HIT", "HIT"} {
		resp, err := cl.Get("http://" + h.addr["127.0.0.1:18206"] + "/big")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != "HTTP/2.0" || resp.Header.Get("X-Cache-Status") != want || string(b) != sh.body+" 1" {
			t.Errorf("request %d: %s %s, %d bytes", i, resp.Proto, resp.Header.Get("X-Cache-Status"), len(b))
		}
	}
}

// TestCacheUpstreamCut checks that a response the upstream cuts short
// is not stored: the next request misses.
func TestCacheUpstreamCut(t *testing.T) {
	be := testutil.Listen(t)
	testutil.Serve(t, be, func(c net.Conn) {
		buf := make([]byte, 4096)
		c.Read(buf)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
		c.Close()
	})
	dir := t.TempDir()
	h := startProxy(t, `events {} http { access_log off;
		proxy_cache_path `+dir+`/c keys_zone=z:1m;
		server { listen 127.0.0.1:18080;
			add_header X-Cache-Status $upstream_cache_status always;
			location / { proxy_pass http://`+be.Addr().String()+`; proxy_cache z; proxy_cache_valid 200 1m; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	for i := 0; i < 2; i++ {
		got := rawRequest(t, addr, "GET /cut HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !strings.Contains(got, "X-Cache-Status: MISS") {
			t.Errorf("request %d: %q, want a MISS", i, got)
		}
	}
	m, _ := filepath.Glob(filepath.Join(dir, "c", "*"))
	if len(m) != 0 {
		t.Errorf("files stored for a cut response: %v", m)
	}
}

// TestCacheUpdating checks proxy_cache_use_stale updating: while one
// request fetches an expired entry again, the others get the stale one.
// The clock is a fake one: the entry expires when it is moved on.
func TestCacheUpdating(t *testing.T) {
	sh := &slowHandler{started: make(chan struct{}, 1), body: "u"}
	be := startBackend(t, sh)
	dir := t.TempDir()
	clock := testutil.NewFakeClock(time.Now())
	h := startProxy(t, `events {} http { access_log off;
		proxy_cache_path `+dir+`/c keys_zone=z:1m;
		server { listen 127.0.0.1:18080;
			add_header X-Cache-Status $upstream_cache_status always;
			location / { proxy_pass http://`+be.addr+`; proxy_cache z; proxy_cache_valid 200 10s; proxy_cache_use_stale updating; }
		} }`, Options{Now: clock.Now})
	addr := h.addr["127.0.0.1:18080"]
	if _, st, b := cacheGet(t, addr, "/u"); st != "MISS" || b != "u 1" {
		t.Fatalf("first: %s %q", st, b)
	}
	<-sh.started
	clock.Advance(11 * time.Second)
	sh.mu.Lock()
	sh.release = make(chan struct{})
	sh.mu.Unlock()
	done := make(chan string, 1)
	go func() {
		_, st, b := cacheGet(t, addr, "/u")
		done <- st + " " + b
	}()
	select {
	case <-sh.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the expired entry was not fetched again")
	}
	if _, st, b := cacheGet(t, addr, "/u"); st != "UPDATING" || b != "u 1" {
		t.Errorf("during the update: %s %q, want UPDATING with the stale body", st, b)
	}
	close(sh.release)
	if got := <-done; got != "EXPIRED u 2" {
		t.Errorf("the updating request: %q", got)
	}
	if _, st, b := cacheGet(t, addr, "/u"); st != "HIT" || b != "u 2" {
		t.Errorf("after the update: %s %q", st, b)
	}
}

// TestCacheClientGone checks that an entry whose client went away while
// it streamed is completed from the upstream, as nginx completes it: the
// next request is a HIT with the whole body.
func TestCacheClientGone(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	hits := 0
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.Header().Set("Content-Length", "200000")
		w.WriteHeader(200)
		w.Write([]byte(strings.Repeat("a", 100000)))
		w.(http.Flusher).Flush()
		<-release
		w.Write([]byte(strings.Repeat("b", 100000)))
	}))
	dir := t.TempDir()
	h := startProxy(t, `events {} http { access_log off;
		proxy_cache_path `+dir+`/c keys_zone=z:1m;
		server { listen 127.0.0.1:18080;
			add_header X-Cache-Status $upstream_cache_status always;
			location / { proxy_pass http://`+be.addr+`; proxy_cache z; proxy_cache_valid 200 1m; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 1024)
	if _, err := io.ReadAtLeast(c, buf, 100); err != nil {
		t.Fatal(err)
	}
	c.Close()
	close(release)
	zone := h.built.Listeners[0].Handler.p.caches["z"]
	testutil.WaitFor(t, "the entry completed", func() bool {
		bytes, _ := zone.Size()
		return zone.Filling() == 0 && bytes > 200000
	})
	_, st, b := cacheGet(t, addr, "/gone")
	if st != "HIT" || b != strings.Repeat("a", 100000)+strings.Repeat("b", 100000) {
		t.Errorf("after the client went away: %s, %d bytes", st, len(b))
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 1 {
		t.Errorf("backend reached %d times, want 1", hits)
	}
}

// TestCachePostBodyHit checks that a cached POST (proxy_cache_methods
// POST) answered from the cache discards the request body, so that the
// connection carries the next request.
func TestCachePostBodyHit(t *testing.T) {
	sh := &slowHandler{body: "p"}
	be := startBackend(t, sh)
	dir := t.TempDir()
	h := startProxy(t, `events {} http { access_log off;
		proxy_cache_path `+dir+`/c keys_zone=z:1m;
		server { listen 127.0.0.1:18080;
			add_header X-Cache-Status $upstream_cache_status always;
			location / { proxy_pass http://`+be.addr+`; proxy_cache z; proxy_cache_valid 200 1m; proxy_cache_methods POST; }
		} }`, Options{})
	post := "POST /m HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
	got := rawRequest(t, h.addr["127.0.0.1:18080"], post+post+"GET /m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if n := strings.Count(got, "HTTP/1.1 200 OK"); n != 3 {
		t.Fatalf("%d responses, want 3:\n%s", n, got)
	}
	if strings.Count(got, "X-Cache-Status: HIT") != 2 || strings.Count(got, "X-Cache-Status: MISS") != 1 {
		t.Errorf("statuses:\n%s", got)
	}
	if sh.count() != 1 {
		t.Errorf("backend reached %d times, want 1", sh.count())
	}
}
