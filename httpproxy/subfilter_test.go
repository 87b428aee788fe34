package httpproxy

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// subRef is a plain statement of what the sub filter replaces: at each
// position the first string (in order) that matches, case folded, then the
// search goes on after it; with once, each string is replaced once.
func subRef(body string, pairs [][2]string, once bool) string {
	var out strings.Builder
	low := strings.ToLower(body)
	used := make([]bool, len(pairs))
	left := len(pairs)
	for i := 0; i < len(body); {
		if once && left == 0 {
			out.WriteString(body[i:])
			break
		}
		hit := -1
		for k, p := range pairs {
			if once && used[k] {
				continue
			}
			if strings.HasPrefix(low[i:], p[0]) {
				hit = k
				break
			}
		}
		if hit < 0 {
			out.WriteByte(body[i])
			i++
			continue
		}
		out.WriteString(pairs[hit][1])
		i += len(pairs[hit][0])
		if !used[hit] {
			used[hit] = true
			left--
		}
	}
	return out.String()
}

// newTestSub builds a filter for constant pairs.
func newTestSub(pairs [][2]string, once bool) *subFilter {
	sc := &subConf{once: once}
	ms := make([][]byte, len(pairs))
	idx := make([]int, len(pairs))
	for i, p := range pairs {
		sc.pairs = append(sc.pairs, subPair{match: []byte(p[0]), konst: []byte(p[1])})
		ms[i], idx[i] = []byte(p[0]), i
	}
	sc.tab = newSubTables(ms, idx)
	f := &subFilter{conf: sc, tab: sc.tab, offset: sc.tab.min - 1}
	f.subs = make([][]byte, len(sc.tab.matches))
	f.looked = make([]byte, 0, sc.tab.max)
	return f
}

// runSplit filters body cut into pieces at the given offsets.
func runSplit(f *subFilter, body string, cuts []int) string {
	var got []byte
	w := bodyWriter{collect: &got}
	prev := 0
	for _, c := range cuts {
		f.run(nil, []byte(body[prev:c]), false, &w)
		prev = c
	}
	f.run(nil, []byte(body[prev:]), true, &w)
	return string(got)
}

// TestSubFilterSplits checks that what the filter replaces does not depend
// on how the body is cut into reads, and is what subRef says when the body
// does not end inside a possible match (where nginx sends the held bytes
// unchanged).
func TestSubFilterSplits(t *testing.T) {
	sets := []struct {
		pairs [][2]string
		once  bool
	}{
		{[][2]string{{"http://backend/", "https://example.com/"}}, false},
		{[][2]string{{"http://backend/", "https://example.com/"}}, true},
		{[][2]string{{"abc", "1"}, {"abcd", "2"}, {"bcd", "3"}, {"b", "4"}}, false},
		{[][2]string{{"abcd", "2"}, {"abc", "1"}, {"cd", ""}, {"da", "5"}}, false},
		{[][2]string{{"abcd", "2"}, {"abc", "1"}, {"cd", ""}, {"da", "5"}}, true},
		{[][2]string{{"aa", "b"}, {"aaa", "c"}}, false},
		{[][2]string{{"<a href=\"/", "<a href=\"/app/"}, {"</body>", "<script></script></body>"}}, false},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "abcdABCD/:<>\" xhtpkendbody"
	for si, s := range sets {
		for n := 0; n < 300; n++ {
			var sb strings.Builder
			for k := rng.IntN(60); k > 0; k-- {
				if rng.IntN(5) == 0 {
					p := s.pairs[rng.IntN(len(s.pairs))][0]
					if rng.IntN(2) == 0 {
						p = strings.ToUpper(p)
					}
					sb.WriteString(p)
				} else {
					sb.WriteByte(alphabet[rng.IntN(len(alphabet))])
				}
			}
			sb.WriteString(".") // the body ends outside any match
			body := sb.String()
			want := subRef(body, s.pairs, s.once)
			whole := runSplit(newTestSub(s.pairs, s.once), body, nil)
			if whole != want {
				t.Fatalf("set %d: %q:\n got %q\nwant %q", si, body, whole, want)
			}
			var cuts []int
			for c := 1; c < len(body); c++ {
				if rng.IntN(3) == 0 {
					cuts = append(cuts, c)
				}
			}
			if got := runSplit(newTestSub(s.pairs, s.once), body, cuts); got != want {
				t.Fatalf("set %d: %q cut at %v:\n got %q\nwant %q", si, body, cuts, got, want)
			}
			bytewise := make([]int, 0, len(body))
			for c := 1; c < len(body); c++ {
				bytewise = append(bytewise, c)
			}
			if got := runSplit(newTestSub(s.pairs, s.once), body, bytewise); got != want {
				t.Fatalf("set %d: %q byte by byte:\n got %q\nwant %q", si, body, got, want)
			}
		}
	}
}

// TestSubFilterEndHeld checks nginx's behaviour at the end of a body that
// ends inside a possible longer match: the held bytes go out unchanged,
// a shorter string in them included.
func TestSubFilterEndHeld(t *testing.T) {
	f := newTestSub([][2]string{{"abcdef", "1"}, {"ab", "2"}}, false)
	if got := runSplit(f, "xabcd", nil); got != "xabcd" {
		t.Errorf("got %q, want %q", got, "xabcd")
	}
	f = newTestSub([][2]string{{"abcdef", "1"}, {"ab", "2"}}, false)
	if got := runSplit(f, "xabcdx", []int{3}); got != "x2cdx" {
		t.Errorf("got %q, want %q", got, "x2cdx")
	}
}

// TestSubFilterKeepAliveAndCache drives sub_filter with a keep-alive
// client: filtered responses go out chunked and the connection carries
// the next request, which a location without sub_filter answers
// unchanged, with its Content-Length; a cached response is filtered when
// it is stored (MISS) and when it is served from the cache (HIT).
func TestSubFilterKeepAliveAndCache(t *testing.T) {
	be := subBackend(t)
	dir := t.TempDir()
	h := startProxy(t, `events {} http { access_log off;
		proxy_cache_path `+dir+` keys_zone=z:1m;
		server { listen 127.0.0.1:18080;
			location /p/ { sub_filter 'http://backend/' 'https://$host/'; sub_filter_once off; proxy_pass http://`+be+`/; }
			location /c/ { proxy_cache z; proxy_cache_valid 200 1m; add_header X-Cache $upstream_cache_status;
				sub_filter 'http://backend/' 'https://$host/'; sub_filter_once off; proxy_pass http://`+be+`/; }
			location /plain/ { proxy_pass http://`+be+`/; } } }`, Options{Log: noLog})
	dials := 0
	tr := &http.Transport{DisableCompression: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials++
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: waitLimit}
	link := regexp.MustCompile(`(?i)http://backend/`) // matched without regard to case
	want := link.ReplaceAllString(subBody, "https://127.0.0.1/")
	for i, tc := range []struct{ path, body, cache string }{
		{"/p/fixed", want, ""}, {"/plain/fixed", subBody, ""}, {"/p/slow", link.ReplaceAllString(subPage+subPage, "https://127.0.0.1/"), ""},
		{"/c/fixed", want, "MISS"}, {"/c/fixed", want, "HIT"}, {"/plain/fixed", subBody, ""},
	} {
		resp, err := cl.Get(h.url("127.0.0.1:18080", tc.path))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		filtered := tc.path != "/plain/fixed"
		switch {
		case string(b) != tc.body:
			t.Errorf("%d %s: body differs (%d bytes, want %d)", i, tc.path, len(b), len(tc.body))
		case resp.Header.Get("X-Cache") != tc.cache:
			t.Errorf("%d %s: X-Cache %q, want %q", i, tc.path, resp.Header.Get("X-Cache"), tc.cache)
		case filtered && (resp.ContentLength != -1 || resp.Header.Get("Last-Modified") != "" || resp.Header.Get("ETag") != ""):
			t.Errorf("%d %s: Content-Length %d, Last-Modified %q, ETag %q: want none", i, tc.path, resp.ContentLength,
				resp.Header.Get("Last-Modified"), resp.Header.Get("ETag"))
		case !filtered && resp.ContentLength != int64(len(subBody)):
			t.Errorf("%d %s: Content-Length %d, want %d", i, tc.path, resp.ContentLength, len(subBody))
		}
	}
	if dials != 1 {
		t.Errorf("%d connections, want 1 (keep-alive)", dials)
	}
}

// TestSubFilterUnknownVariable checks that an unknown variable in either
// argument of sub_filter is refused with nginx's words.
func TestSubFilterUnknownVariable(t *testing.T) {
	for _, d := range []string{"sub_filter $nosuch x;", "sub_filter x y$nosuch;"} {
		hc := loadHTTP(t, t.TempDir(), `events {} http { access_log off; server { listen 127.0.0.1:18080;
			location / { `+d+` } } }`)
		_, err := Build(hc, Options{})
		if err == nil || !strings.Contains(err.Error(), `unknown "nosuch" variable`) {
			t.Errorf("%s: %v", d, err)
		}
	}
}
