package httpproxy

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// cacheBackend answers by path with the caching headers each case needs;
// its body says how many requests for that path it has had, so a cached
// response shows in the body. It counts requests per path.
type cacheBackend struct {
	mu   sync.Mutex
	hits map[string]int
	fail map[string]int // path -> status to answer from now on
}

func newCacheBackend(t *testing.T) (*cacheBackend, string) {
	cb := newCacheHandler()
	be := startBackend(t, cb)
	return cb, be.addr
}

func newCacheHandler() *cacheBackend {
	return &cacheBackend{hits: map[string]int{}, fail: map[string]int{}}
}

func (cb *cacheBackend) count(path string) int {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return cb.hits[path]
}

func (cb *cacheBackend) setFail(path string, status int) {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	cb.fail[path] = status
}

func (cb *cacheBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cb.mu.Lock()
	cb.hits[r.URL.Path]++
	n := cb.hits[r.URL.Path]
	fail := cb.fail[r.URL.Path]
	cb.mu.Unlock()
	h := w.Header()
	h.Set("X-Method", r.Method)
	if fail != 0 {
		w.WriteHeader(fail)
		fmt.Fprintf(w, "failed %d", n)
		return
	}
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	name := seg[len(seg)-1]
	status := 200
	switch name {
	case "maxage":
		h.Set("Cache-Control", "public, max-age=1")
	case "smaxage":
		h.Set("Cache-Control", "max-age=0, s-maxage=100")
	case "nocache":
		h.Set("Cache-Control", "no-cache")
	case "nostore":
		h.Set("Cache-Control", "no-store")
	case "private":
		h.Set("Cache-Control", "private, max-age=100")
	case "maxage0":
		h.Set("Cache-Control", "max-age=0")
	case "expirespast":
		h.Set("Expires", "Thu, 01 Jan 1970 00:00:01 GMT")
	case "expiresfuture":
		h.Set("Expires", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	case "xaccel":
		h.Set("X-Accel-Expires", "100")
		h.Set("Cache-Control", "no-cache")
	case "xaccel0":
		h.Set("X-Accel-Expires", "0")
		h.Set("Cache-Control", "max-age=100")
	case "cookie":
		h.Set("Set-Cookie", "a=b")
	case "varystar":
		h.Set("Vary", "*")
	case "vary":
		h.Set("Vary", "Accept-Language")
	case "ranges", "rangesmulti":
		h.Set("Accept-Ranges", "bytes")
		h.Set("ETag", `"r"`)
		h.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
	case "notfound":
		status = 404
	case "etag":
		h.Set("ETag", `"v1"`)
		h.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(304)
			return
		}
	case "chunked":
		w.WriteHeader(200)
		fmt.Fprintf(w, "part one %d;", n)
		w.(http.Flusher).Flush()
		fmt.Fprintf(w, "part two")
		return
	}
	h.Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s %s %d lang=%s", r.Method, r.URL.Path, n, r.Header.Get("Accept-Language"))
}

// boundaryNum matches a multipart boundary of nginx's range filter.
var boundaryNum = regexp.MustCompile(`\b[0-9]{20}\b`)

// cacheDiffConf is the configuration both servers run; CACHEDIR is a
// directory of each server's own.
const cacheDiffConf = `
	proxy_cache_path CACHEDIR/one levels=1:2 keys_zone=one:1m inactive=10m;
	upstream b { server BACKEND; }
	upstream d { server DOWN; }
	server { listen LISTEN;
		proxy_cache one;
		proxy_cache_valid 200 10m;
		add_header X-Cache-Status $upstream_cache_status always;
		location / { proxy_pass http://b; }
		location /short/ { proxy_pass http://b; proxy_cache_valid 200 1s; proxy_cache_use_stale http_500 http_503; }
		location /reval/ { proxy_pass http://b; proxy_cache_valid 200 1s; proxy_cache_revalidate on; }
		location /bypass/ { proxy_pass http://b; proxy_cache_bypass $http_x_bypass; proxy_no_cache $http_x_nostore; }
		location /min/ { proxy_pass http://b; proxy_cache_min_uses 2; }
		location /methods/ { proxy_pass http://b; proxy_cache_methods POST; }
		location /any/ { proxy_pass http://b; proxy_cache_valid any 10m; }
		location /ignore/ { proxy_pass http://b; proxy_ignore_headers Set-Cookie Cache-Control; }
		location /off/ { proxy_pass http://b; proxy_cache off; }
		location /key/ { proxy_pass http://b; proxy_cache_key $uri; }
		location /down/ { proxy_pass http://d; proxy_cache_valid 200 1s; proxy_cache_use_stale error timeout; }
		location /bg/ { proxy_pass http://b; proxy_cache_valid 200 1s; proxy_cache_use_stale updating; proxy_cache_background_update on; }
		location /var/ { proxy_pass http://b; proxy_cache $arg_zone; }
		location /downno/ { proxy_pass http://d; proxy_cache_valid 200 1s; }
	}`

// cacheStep is one request of a sequence; wait, when set, lets the
// short validity of earlier entries run out first; fail makes the
// backend answer that status for the path from then on.
type cacheStep struct {
	method, path string
	header       []string
	wait         bool
	fail         int
	kill         bool // the backend of /down/ stops first
}

// TestCacheNginxDifferential runs nginx and sluice on one proxy_cache
// configuration, each with its own counting backend, and compares the
// status, body and X-Cache-Status of every response and how many
// requests reached the backend.
func TestCacheNginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	nb, nbe := newCacheBackend(t)
	sb, sbe := newCacheBackend(t)
	nd, sd := startBackend(t, newCacheHandler()), startBackend(t, newCacheHandler())
	ndir, sdir := t.TempDir(), t.TempDir()
	nconf := strings.NewReplacer("BACKEND", nbe, "DOWN", nd.addr, "CACHEDIR", ndir).Replace(cacheDiffConf)
	sconf := strings.NewReplacer("BACKEND", sbe, "DOWN", sd.addr, "CACHEDIR", sdir).Replace(cacheDiffConf)
	nginxAddr := startNginx(t, nconf)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(sconf, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]

	get := func(p string, hd ...string) cacheStep { return cacheStep{method: "GET", path: p, header: hd} }
	steps := []cacheStep{
		get("/plain"), get("/plain"), get("/plain?a=1"), get("/plain"),
		{method: "HEAD", path: "/head"}, get("/head"), {method: "HEAD", path: "/head"},
		get("/x/nocache"), get("/x/nocache"), get("/x/nostore"), get("/x/nostore"),
		get("/x/private"), get("/x/private"), get("/x/maxage0"), get("/x/maxage0"),
		get("/x/smaxage"), get("/x/smaxage"),
		get("/x/expirespast"), get("/x/expirespast"), get("/x/expiresfuture"), get("/x/expiresfuture"),
		get("/x/xaccel"), get("/x/xaccel"), get("/x/xaccel0"), get("/x/xaccel0"),
		get("/x/cookie"), get("/x/cookie"), get("/x/varystar"), get("/x/varystar"),
		get("/x/vary", "Accept-Language: en"), get("/x/vary", "Accept-Language: en"),
		get("/x/vary", "Accept-Language: fr"), get("/x/vary", "Accept-Language: fr"), get("/x/vary", "Accept-Language: en"),
		get("/x/notfound"), get("/x/notfound"), get("/any/notfound"), get("/any/notfound"),
		get("/ignore/cookie"), get("/ignore/cookie"), get("/ignore/nocache"), get("/ignore/nocache"),
		get("/x/chunked"), get("/x/chunked"),
		get("/off/plain"), get("/off/plain"),
		get("/key/k?a=1"), get("/key/k?a=2"),
		get("/bypass/p"), get("/bypass/p", "X-Bypass: 1"), get("/bypass/p"), get("/bypass/p", "X-Bypass: 0"),
		get("/bypass/q", "X-Nostore: 1"), get("/bypass/q"), get("/bypass/q"),
		get("/min/p"), get("/min/p"), get("/min/p"), get("/min/p"),
		{method: "POST", path: "/plainpost"}, {method: "POST", path: "/plainpost"},
		{method: "POST", path: "/methods/p"}, {method: "POST", path: "/methods/p"}, get("/methods/p"),
		{method: "DELETE", path: "/methods/d"}, {method: "DELETE", path: "/methods/d"},
		get("/x/etag"), get("/x/etag", `If-None-Match: "v1"`), get("/x/etag", "If-Modified-Since: Mon, 02 Jan 2006 15:04:05 GMT"),
		get("/x/etag", `If-None-Match: "v2"`), get("/plain", `If-None-Match: "v1"`),
		get("/short/maxage"), get("/short/p"), get("/short/e"), get("/short/e503"), get("/reval/etag"), get("/reval/etag"),
		get("/down/a"), get("/down/a"), get("/downno/b"), get("/bg/p"), {method: "HEAD", path: "/bg/h"},
		get("/short/maxage"),
		{method: "GET", path: "/short/maxage", wait: true}, get("/short/maxage"),
		get("/short/p"), get("/short/p"),
		{method: "GET", path: "/short/e", fail: 500}, get("/short/e"),
		{method: "GET", path: "/short/e503", fail: 503}, {method: "GET", path: "/short/e503", fail: 502},
		get("/reval/etag"), get("/reval/etag"),
		get("/bg/p"), get("/bg/p"), {method: "HEAD", path: "/bg/h"}, {method: "HEAD", path: "/bg/h"}, get("/bg/h"),
		get("/range/r"), get("/range/r", "Range: bytes=2-5"), get("/range/r2", "Range: bytes=2-5"), get("/range/r2", "Range: bytes=-3"),
		get("/range/r2", "Range: bytes=1-2,4-5"), get("/range/r2", "Range: bytes=100-"),
		get("/range/ranges", "Range: bytes=2-5"), get("/range/ranges", "Range: bytes=2-5"), get("/off/ranges", "Range: bytes=2-5"),
		get("/range/ranges"), get("/range/ranges", "Range: bytes=-3"), get("/range/ranges", "Range: bytes=20-"), get("/range/ranges", "Range: bytes=20-100"),
		get("/range/ranges", "Range: bytes=100-"), get("/range/ranges", "Range: bytes=1-2,4-5"), get("/range/ranges", "Range: bytes=5-2"),
		get("/range/ranges", "Range: items=1-2"), get("/range/ranges", "Range: bytes=1-2", "If-Range: \"x\""),
		get("/range/ranges", "Range: bytes=1-2", "If-Range: Mon, 02 Jan 2006 15:04:05 GMT"),
		get("/range/ranges", "Range: bytes=1-2", `If-Range: "r"`), get("/range/ranges", "Range: bytes=-0"), get("/range/ranges", "Range: bytes=0-3,2-30"),
		get("/range/ranges", "Range: bytes=1-2", `If-None-Match: "r"`), get("/range/ranges", "Range: bytes=1-2, 5-6"), get("/range/newmiss", "Range: bytes=1-2, 5-6"),
		get("/range/rangesmulti", "Range: bytes=1-2,4-5"), get("/range/rangesmulti", "Range: bytes=0-0,-1"),
		{method: "HEAD", path: "/range/ranges", header: []string{"Range: bytes=1-2"}},
		get("/range/ranges", `If-Match: "r"`), get("/range/ranges", `If-Match: "x"`), get("/range/ranges", `If-Match: *`),
		get("/range/ranges", `If-Match: "x", "r"`), get("/plain", `If-Match: "x"`), get("/plain", `If-Match: *`),
		get("/range/ranges", "If-Unmodified-Since: Mon, 02 Jan 2006 15:04:05 GMT"), get("/range/ranges", "If-Unmodified-Since: Mon, 02 Jan 2006 15:04:04 GMT"),
		get("/range/ranges", "If-Unmodified-Since: junk"), get("/plain", "If-Unmodified-Since: Mon, 02 Jan 2006 15:04:05 GMT"),
		get("/range/pre1", `If-Match: "x"`), get("/range/pre1"), {method: "HEAD", path: "/range/ranges", header: []string{`If-Match: "x"`}},
		get("/var/a?zone=one"), get("/var/a?zone=one"), get("/var/b?zone=off"), get("/var/b?zone=off"), get("/var/c"), get("/var/c"),
		get("/var/d?zone=nosuch"),
		{method: "GET", path: "/down/a", kill: true}, get("/down/a"), get("/downno/b"), get("/down/new"),
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	do := func(addr string, s cacheStep) string {
		req, _ := http.NewRequest(s.method, "http://"+addr+s.path, nil)
		for _, hd := range s.header {
			k, v, _ := strings.Cut(hd, ": ")
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		body = serverToken.ReplaceAll(body, []byte("SERVER"))
		body = boundaryNum.ReplaceAll(body, []byte("BOUNDARY"))
		return fmt.Sprintf("%d [%s] method=%s etag=%s cl=%d cr=%s ct=%s ar=%s %q", resp.StatusCode, resp.Header.Get("X-Cache-Status"),
			resp.Header.Get("X-Method"), resp.Header.Get("ETag"), resp.ContentLength, resp.Header.Get("Content-Range"),
			boundaryNum.ReplaceAllString(resp.Header.Get("Content-Type"), "BOUNDARY"), resp.Header.Get("Accept-Ranges"), body)
	}
	for i, s := range steps {
		if s.wait {
			time.Sleep(2100 * time.Millisecond) // the 1s validity runs out: no event to wait for
		}
		p, _, _ := strings.Cut(s.path, "?")
		if s.kill {
			nd.kill()
			sd.kill()
		}
		if s.fail != 0 {
			nb.setFail(p, s.fail)
			sb.setFail(p, s.fail)
		}
		want := do(nginxAddr, s)
		got := do(sluiceAddr, s)
		if got != want {
			t.Errorf("step %d %s %s %v:\nsluice: %s\nnginx:  %s", i, s.method, s.path, s.header, got, want)
		}
		// a background update may still be under way: the counts
		// are compared once they agree or after a bound
		zone := h.built.Listeners[0].Handler.p.caches["one"]
		for end := time.Now().Add(2 * time.Second); (nb.count(p) != sb.count(p) || zone.Filling() != 0) && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if nc, sc := nb.count(p), sb.count(p); nc != sc {
			t.Errorf("step %d %s %s: backend reached %d times through sluice, %d through nginx", i, s.method, s.path, sc, nc)
		}
	}
	// both store an entry in levels=1:2 directories, in a file named by
	// the MD5 of its key (the files of other Vary variants are named
	// each in its own way)
	nm, _ := filepath.Glob(filepath.Join(ndir, "one", "?", "??", "*"))
	if len(nm) == 0 {
		t.Fatal("nginx stored no cache files")
	}
	for _, f := range nm {
		b, _ := os.ReadFile(f)
		_, key, _ := bytes.Cut(b, []byte("\nKEY: "))
		key, _, _ = bytes.Cut(key, []byte("\n"))
		if fmt.Sprintf("%x", md5.Sum(key)) != filepath.Base(f) {
			continue // a variant
		}
		rel, _ := filepath.Rel(ndir, f)
		if _, err := os.Stat(filepath.Join(sdir, rel)); err != nil {
			t.Errorf("nginx has cache file %s for key %q, sluice does not", rel, key)
		}
	}
}
