package httpproxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// subPage is the HTML the sub filter tests rewrite: links to the backend
// in several letter cases, and strings that overlap one another.
const subPage = `<html><head><title>Sub</title></head><body>
<a href="http://backend/a">one</a> <A HREF="HTTP://BACKEND/b">two</A> <a href="Http://Backend/c">three</a>
abcd abc bcd ABCD abcabcd aabcdd zzzq zzz http://backend/d
</body></html>
`

// subBody is subPage repeated: long enough that the strings fall across
// the boundaries of reads.
var subBody = strings.Repeat(subPage, 300)

// subBackend serves the bodies of the sub filter tests: /fixed (with
// Content-Length), /chunked, /slow (chunked, in small pieces written one
// after another, so that strings span reads), /close (ended by closing),
// /gz (gzip-encoded by the backend), /css, /plain, /empty, /notype, /204
// and /304, each with Last-Modified and ETag.
func subBackend(t *testing.T) string {
	ln := testutil.Listen(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(subBody))
	zw.Close()
	testutil.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(waitLimit))
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		const common = "Last-Modified: Mon, 02 Jan 2006 15:04:05 GMT\r\nETag: \"abc\"\r\nAccept-Ranges: bytes\r\n"
		fixed := func(status, ctype, body string) {
			hdr := "HTTP/1.1 " + status + "\r\n" + common
			if ctype != "" {
				hdr += "Content-Type: " + ctype + "\r\n"
			}
			fmt.Fprintf(c, "%sContent-Length: %d\r\nConnection: close\r\n\r\n", hdr, len(body))
			if req.Method != "HEAD" {
				io.WriteString(c, body)
			}
		}
		name := strings.TrimPrefix(req.URL.Path, "/")
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		switch name {
		case "fixed", "":
			fixed("200 OK", "text/html", subBody)
		case "css":
			fixed("200 OK", "text/css", subBody)
		case "plain":
			fixed("200 OK", "text/plain; charset=utf-8", subBody)
		case "params":
			fixed("200 OK", "text/html; foo=bar", subBody)
		case "notype":
			fixed("200 OK", "", subPage)
		case "empty":
			fixed("200 OK", "text/html", "")
		case "404":
			fixed("404 Not Found", "text/html", subPage)
		case "gz":
			io.WriteString(c, "HTTP/1.1 200 OK\r\n"+common+"Content-Type: text/html\r\nContent-Encoding: gzip\r\nContent-Length: "+strconv.Itoa(gz.Len())+"\r\nConnection: close\r\n\r\n")
			c.Write(gz.Bytes())
		case "204":
			io.WriteString(c, "HTTP/1.1 204 No Content\r\n"+common+"Content-Type: text/html\r\nConnection: close\r\n\r\n")
		case "304":
			io.WriteString(c, "HTTP/1.1 304 Not Modified\r\n"+common+"Content-Type: text/html\r\nConnection: close\r\n\r\n")
		case "close":
			io.WriteString(c, "HTTP/1.1 200 OK\r\n"+common+"Content-Type: text/html\r\nConnection: close\r\n\r\n")
			io.WriteString(c, subBody)
		case "chunked", "slow":
			io.WriteString(c, "HTTP/1.1 200 OK\r\n"+common+"Content-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
			body := subBody
			piece := 7
			if name == "slow" {
				body, piece = subPage+subPage, 5
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetNoDelay(true)
				}
			}
			for i := 0; i < len(body); i += piece {
				p := body[i:min(i+piece, len(body))]
				fmt.Fprintf(c, "%x\r\n%s\r\n", len(p), p)
				if name == "slow" {
					time.Sleep(time.Millisecond) // pacing: each piece its own read
				}
			}
			io.WriteString(c, "0\r\n\r\n")
		}
	})
	return ln.Addr().String()
}

// subDiffConf exercises sub_filter: inheritance from the server, once on
// and off, several and overlapping strings, variables in the string and
// the replacement, letter case, sub_filter_types, sub_filter_last_modified,
// gzip, charset, static files, sluice's own pages and error pages.
const subDiffConf = `
	upstream b { server BACKEND; }
	server { listen LISTEN; server_name example.com;
		sub_filter 'http://backend/' 'https://$host/';
		location /p/ { proxy_pass http://b/; }
		location /off/ { sub_filter_once off; proxy_pass http://b/; }
		location /multi/ { sub_filter_once off; sub_filter 'ABC' '[1]'; sub_filter 'abcd' '[2]';
			sub_filter 'bcd' '[3]'; sub_filter 'HTTP://backend/' '<$request_uri>'; proxy_pass http://b/; }
		location /multionce/ { sub_filter 'abc' '[1]'; sub_filter 'abcd' '[2]'; sub_filter 'bcd' '[3]';
			sub_filter '</body>' '<p>end</p></body>'; proxy_pass http://b/; }
		location /long/ { sub_filter_once off; sub_filter 'a' '<a very long replacement of one letter>'; proxy_pass http://b/; }
		location /var/ { sub_filter_once off; sub_filter $arg_m $arg_r; sub_filter 'zzz$arg_n' '-'; proxy_pass http://b/; }
		location /varempty/ { sub_filter $arg_m $arg_r; proxy_pass http://b/; }
		location /types/ { sub_filter_types text/css; sub_filter_once off; proxy_pass http://b/; }
		location /any/ { sub_filter_types *; sub_filter_once off; proxy_pass http://b/; }
		location /lm/ { sub_filter_last_modified on; proxy_pass http://b/; }
		location /gz/ { gzip on; gzip_types text/css; gzip_min_length 1; sub_filter_once off; proxy_pass http://b/; }
		location /cs/ { charset utf-8; sub_filter_once off; proxy_pass http://b/; }
		location /nochunk/ { chunked_transfer_encoding off; sub_filter_once off; proxy_pass http://b/; }
		location /files/ { alias DIR/; sub_filter_once off; }
		location /fileslm/ { alias DIR/; sub_filter_last_modified on; }
		location /filesany/ { alias DIR/; sub_filter_types *; }
		location /filesgz/ { alias DIR/; gzip on; gzip_min_length 1; sub_filter_once off; }
		location /list/ { alias DIR/; autoindex on; sub_filter_once off; sub_filter '.html' '.HTM'; sub_filter '<h1>' '<h1>List of '; }
		location /err/ { sub_filter '<title>' '<title>E '; return 404; }
		location /ret/ { sub_filter 'hello' 'bye'; sub_filter_types text/plain; return 200 "hello world"; }
		location /redir/ { sub_filter 'Found' 'Gone'; return 302 /x; }
		location /dead/ { sub_filter 'Bad' 'Good'; proxy_pass http://DEAD/; }
		location /epfile/ { error_page 404 /files/small.html; return 404; }
		location /rate/ { limit_rate 100k; sub_filter_once off; proxy_pass http://b/; }
		location /intercept/ { proxy_intercept_errors on; error_page 404 /err/; proxy_pass http://b/; }
	}`

// TestSubFilterNginxDifferential runs nginx and sluice on one sub_filter
// configuration and compares status, headers and bodies (decoded from
// chunked and gzip, whose framing may differ).
func TestSubFilterNginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	be := subBackend(t)
	dir := t.TempDir()
	for name, body := range map[string]string{"page.html": subBody, "style.css": subBody, "empty.html": "", "small.html": subPage} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, n := range []string{"page.html", "style.css", "empty.html", "small.html"} {
		os.Chtimes(filepath.Join(dir, n), mtime, mtime)
	}
	body := strings.NewReplacer("BACKEND", be, "DIR", dir, "DEAD", refusedAddr(t)).Replace(subDiffConf)
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]

	const ims = "If-Modified-Since: Thu, 02 Jan 2020 03:04:05 GMT\r\n"
	type tc struct{ path, extra, proto, method string }
	var cases []tc
	for _, p := range []string{"/p/fixed", "/p/chunked", "/p/slow", "/p/close", "/p/gz", "/p/css", "/p/plain", "/p/params",
		"/p/notype", "/p/empty", "/p/204", "/p/304", "/p/404",
		"/off/fixed", "/off/slow", "/multi/fixed", "/multi/slow", "/multionce/fixed", "/multionce/chunked", "/long/slow",
		"/var/fixed?m=ABC&r=x$y", "/var/slow?m=bcd&r=&n=q", "/var/fixed", "/varempty/fixed", "/varempty/fixed?m=abc",
		"/types/css", "/types/fixed", "/types/plain", "/any/plain", "/any/notype", "/any/204", "/any/304", "/any/gz",
		"/lm/fixed", "/lm/chunked", "/gz/fixed", "/gz/css", "/gz/gz", "/gz/slow", "/cs/fixed", "/cs/plain",
		"/nochunk/fixed", "/files/page.html", "/files/style.css", "/files/empty.html", "/files/small.html",
		"/fileslm/page.html", "/filesany/style.css", "/filesgz/page.html", "/files/none",
		"/err/", "/ret/", "/redir/", "/dead/", "/intercept/404", "/list/", "/epfile/", "/rate/fixed",
	} {
		cases = append(cases, tc{path: p})
	}
	cases = append(cases,
		tc{path: "/gz/fixed", extra: "Accept-Encoding: gzip\r\n"},
		tc{path: "/gz/slow", extra: "Accept-Encoding: gzip\r\n"},
		tc{path: "/gz/gz", extra: "Accept-Encoding: gzip\r\n"},
		tc{path: "/filesgz/page.html", extra: "Accept-Encoding: gzip\r\n"},
		tc{path: "/files/page.html", extra: "Range: bytes=0-9\r\n"},
		tc{path: "/files/page.html", extra: ims},
		tc{path: "/filesany/style.css", extra: ims},
		tc{path: "/fileslm/page.html", extra: ims},
		tc{path: "/p/fixed", proto: "HTTP/1.0"},
		tc{path: "/p/chunked", proto: "HTTP/1.0"},
		tc{path: "/files/page.html", proto: "HTTP/1.0"},
		tc{path: "/err/", proto: "HTTP/1.0"},
		tc{path: "/p/fixed", method: "HEAD"},
		tc{path: "/p/empty", method: "HEAD"},
		tc{path: "/files/page.html", method: "HEAD"},
		tc{path: "/err/", method: "HEAD"},
	)
	for _, c := range cases {
		proto, method := c.proto, c.method
		if proto == "" {
			proto = "HTTP/1.1"
		}
		if method == "" {
			method = "GET"
		}
		req := method + " " + c.path + " " + proto + "\r\nHost: example.com\r\n" + c.extra + "Connection: close\r\n\r\n"
		want := subNormalize(t, rawRequest(t, nginxAddr, req), nginxAddr, method == "HEAD")
		got := subNormalize(t, rawRequest(t, sluiceAddr, req), sluiceAddr, method == "HEAD")
		if testing.Verbose() {
			t.Logf("%s %s %s %q:\n%.1500s", method, c.path, proto, c.extra, got)
		}
		if got != want {
			t.Errorf("%s %s %s %q:\nsluice:\n%s\nnginx:\n%s", method, c.path, proto, c.extra, got, want)
		}
	}
}

// subNormalize renders a raw response for comparison: the status line,
// the headers but Date and Server, sorted, and the body decoded from
// chunked and from gzip, the footer of error pages (which names the
// server) cut, the proxy's port replaced.
func subNormalize(t *testing.T, raw, addr string, head bool) string {
	t.Helper()
	h, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		return "incomplete: " + raw
	}
	lines := strings.Split(h, "\r\n")
	var hs []string
	chunked, gz := false, false
	for _, l := range lines[1:] {
		name, v, _ := strings.Cut(strings.ToLower(l), ":")
		v = strings.TrimSpace(v)
		switch name {
		case "date", "server":
			continue
		case "transfer-encoding":
			chunked = v == "chunked"
		case "content-encoding":
			gz = v == "gzip"
		}
		hs = append(hs, l)
	}
	sort.Strings(hs)
	if chunked && !head {
		var out bytes.Buffer
		br := bufio.NewReader(strings.NewReader(body))
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return "bad chunked body: " + raw
			}
			n, err := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
			if err != nil {
				return "bad chunk size: " + raw
			}
			if n == 0 {
				break
			}
			io.CopyN(&out, br, n)
			br.Discard(2)
		}
		body = out.String()
	}
	if gz && len(body) > 0 {
		if zr, err := gzip.NewReader(strings.NewReader(body)); err == nil {
			if b, err := io.ReadAll(zr); err == nil {
				body = "(gunzipped) " + string(b)
			}
		}
	}
	if i := strings.Index(body, "<hr><center>"); i >= 0 && strings.Contains(body, "</h1></center>") {
		body = body[:i]
		// the footer's length differs: so does a Content-Length
		for i, l := range hs {
			if strings.HasPrefix(strings.ToLower(l), "content-length:") {
				hs[i] = "Content-Length: (page)"
			}
		}
	}
	out := lines[0] + "\n" + strings.Join(hs, "\n") + "\n\n" + body
	return strings.ReplaceAll(out, ":"+portOf(addr)+"/", ":PORT/")
}

// TestSubFilterH2NginxDifferential sends HTTP/2 requests (h2c) to nginx
// and sluice on the sub_filter configuration: the filter applies to
// HTTP/2 streams as to HTTP/1.1, with the same headers and bodies.
func TestSubFilterH2NginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	be := subBackend(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "page.html"), []byte(subBody), 0o644); err != nil {
		t.Fatal(err)
	}
	body := strings.NewReplacer("BACKEND", be, "DIR", dir, "DEAD", refusedAddr(t), "listen LISTEN;", "listen LISTEN http2;").Replace(subDiffConf)
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18225")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18225"]
	cl, _ := h2cClient(t)
	do := func(addr, method, path, ae string) string {
		hr, _ := http.NewRequest(method, "http://"+addr+path, nil)
		hr.Host = "example.com"
		if ae != "" {
			hr.Header.Set("Accept-Encoding", ae)
		}
		resp, err := cl.Do(hr)
		if err != nil {
			return "error: " + err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var hs []string
		for k, vv := range resp.Header {
			switch k {
			case "Date", "Server":
				continue
			}
			hs = append(hs, k+": "+strings.Join(vv, ","))
		}
		sort.Strings(hs)
		text := string(b)
		if resp.Header.Get("Content-Encoding") == "gzip" {
			if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
				if u, err := io.ReadAll(zr); err == nil {
					text = "(gunzipped) " + string(u)
				}
			}
		}
		return fmt.Sprintf("%d\n%s\n\n%s", resp.StatusCode, strings.Join(hs, "\n"), text)
	}
	for _, r := range []struct{ method, path, ae string }{
		{"GET", "/p/fixed", ""}, {"GET", "/multi/slow", ""}, {"GET", "/off/chunked", ""}, {"GET", "/lm/fixed", ""},
		{"GET", "/gz/fixed", "gzip"}, {"GET", "/files/page.html", ""}, {"HEAD", "/p/fixed", ""}, {"GET", "/ret/", ""},
	} {
		want, got := do(nginxAddr, r.method, r.path, r.ae), do(sluiceAddr, r.method, r.path, r.ae)
		if testing.Verbose() {
			t.Logf("%s %s:\n%.300s", r.method, r.path, got)
		}
		if got != want {
			t.Errorf("%s %s:\nsluice:\n%.3000s\nnginx:\n%.3000s", r.method, r.path, got, want)
		}
	}
}

// TestSubFilterCacheNginxDifferential compares sub_filter on a cached
// location: the response stored (MISS), served from the cache (HIT), and
// a Range request, which gets the whole filtered response, as the length
// of a filtered response is not known.
func TestSubFilterCacheNginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	be := subBackend(t)
	conf := `
	proxy_cache_path CACHE keys_zone=z:1m;
	server { listen LISTEN; server_name example.com;
		location / { proxy_cache z; proxy_cache_valid 200 1m; add_header X-Cache $upstream_cache_status;
			sub_filter 'http://backend/' 'https://$host/'; sub_filter_once off; proxy_pass http://` + be + `/; }
		location /lm/ { proxy_cache z; proxy_cache_valid 200 1m; sub_filter_last_modified on;
			sub_filter 'http://backend/' 'https://$host/'; proxy_pass http://` + be + `/; }
	}`
	nginxAddr := startNginx(t, strings.ReplaceAll(conf, "CACHE", t.TempDir()))
	h := startProxy(t, "events {} http { access_log off;\n"+strings.NewReplacer("LISTEN", "127.0.0.1:18080", "CACHE", t.TempDir()).Replace(conf)+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]
	for _, c := range []struct{ path, extra string }{
		{"/fixed", ""}, {"/fixed", ""}, {"/fixed", "Range: bytes=0-9\r\n"}, {"/css", ""},
		{"/lm/fixed", "Range: bytes=0-9\r\n"}, {"/lm/fixed", ""}, {"/lm/fixed", "Range: bytes=0-9\r\n"},
	} {
		req := "GET " + c.path + " HTTP/1.1\r\nHost: example.com\r\n" + c.extra + "Connection: close\r\n\r\n"
		want := subNormalize(t, rawRequest(t, nginxAddr, req), nginxAddr, false)
		got := subNormalize(t, rawRequest(t, sluiceAddr, req), sluiceAddr, false)
		if got != want {
			t.Errorf("GET %s %q:\nsluice:\n%.1500s\nnginx:\n%.1500s", c.path, c.extra, got, want)
		}
	}
}
