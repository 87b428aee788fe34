package httpproxy

import (
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// staticMtime is the modification time of the files of staticTree.
var staticMtime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// staticTree makes a document root and a directory for alias under dir,
// with files of known sizes and modification times. It reports whether a
// file without read permission was made (only when not running as root).
func staticTree(t *testing.T, dir string) (unreadable bool) {
	t.Helper()
	files := map[string]string{
		"www/a.txt":             "hello world 0123456789\n" + strings.Repeat("abcdefghij", 8),
		"www/index.html":        "<html>root index</html>\n",
		"www/s.css":             "body { color: red }\n",
		"www/Photo.JPG":         "not really a jpeg",
		"www/noext":             "no extension",
		"www/data.json":         `{"k": "v"}`,
		"www/sub/index.html":    "<p>sub index</p>\n",
		"www/sub/page.htm":      "<p>page</p>\n",
		"www/noidx/f.txt":       "f",
		"www/dir.d/x.txt":       "x in dir.d",
		"www/empty.txt":         "",
		"www/big.bin":           strings.Repeat("0123456789abcdef", 20000),
		"www/x.foo":             "foo type",
		"www/sec/secret.txt":    "secret",
		"www/alt/index.htm":     "<p>alt htm</p>\n",
		"st/app.js":             "console.log(1);\n",
		"st/deep/style.css":     "p{}\n",
		"outside.txt":           "must never be served",
		"www/spaced name.txt":   "space",
		"www/percent%25.txt":    "percent",
		"www/re/inner.txt":      "inner",
		"www/sub/deeper/d.txt":  "deeper",
		"www/sub/vroot/v.txt":   "variable root",
		"www/noidx/.hidden":     "hidden",
		"www/noidx/q&<>\"x.txt": "escape me",
		"www/noidx/a very long file name that exceeds fifty characters in length.txt": strings.Repeat("x", 12000),
		"www/noidx/ünïcödé name that is also rather long, longer than fifty.txt":      strings.Repeat("y", 2<<20),
		"www/noidx/zz/inner.txt": "dir entry",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, staticMtime, staticMtime)
	}
	os.Chtimes(filepath.Join(dir, "www/noidx/zz"), staticMtime, staticMtime)
	// a symbolic link loop (403, as permission denied) and a FIFO (not a
	// regular file: 404)
	if err := os.Symlink("loop", filepath.Join(dir, "www/loop")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "www/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 {
		os.Chmod(filepath.Join(dir, "www/sec/secret.txt"), 0)
		t.Cleanup(func() { os.Chmod(filepath.Join(dir, "www/sec/secret.txt"), 0o644) })
		return true
	}
	return false
}

// staticDiffConf serves the tree of staticTree: WWW is its www
// directory, ST the alias directory.
const staticDiffConf = `
	include /etc/nginx/mime.types;
	server { listen LISTEN; server_name example.com; error_log ERRLOG error;
		root WWW;
		location / { }
		location /spa/ { try_files $uri $uri/ /index.html; }
		location /tf/ { try_files $uri =404; }
		location /tfd/ { try_files $uri/ @fallback; }
		location /tfq/ { try_files $uri /s.css?from=tf; }
		location /static/ { alias STDIR/; expires 30d; }
		location ~ ^/re/(.+\.txt)$ { alias WWW/$1; }
		location /idx/ { alias WWW/sub/; index nope.html index.html; }
		location /alt/ { index nope.html index.htm; }
		location /noetag/ { etag off; alias WWW/; }
		location /ims/ { if_modified_since before; alias WWW/; }
		location /imsoff/ { if_modified_since off; alias WWW/; }
		location /mr/ { max_ranges 1; alias WWW/; }
		location /mr0/ { max_ranges 0; alias WWW/; }
		location /dt/ { default_type application/x-test; types { text/x-foo foo; } alias WWW/; }
		location /ep/ { error_page 404 = /index.html; }
		location /ep2/ { error_page 404 /s.css; }
		location /atf/ { alias WWW/sub/; try_files $uri $uri/ =404; }
		location /e404/ { error_page 404 = /index.html; try_files $uri =404; }
		location /ad/ { add_header X-Static yes; expires max; alias WWW/; }
		location /aif/ { alias STDIR/; if ($arg_x) { expires 1h; } }
		location ~ ^/rif/(.+)$ { alias WWW/$1; if ($arg_x) { expires 1h; } }
		location /ai/ { alias WWW/; autoindex on; }
		location /aix/ { alias WWW/; autoindex on; autoindex_exact_size off; autoindex_format html; }
		location /aij/ { alias WWW/; autoindex on; autoindex_format json; }
		location /aip/ { alias WWW/; autoindex on; autoindex_format jsonp; }
		location /va/ { alias WWW/$arg_d/; }
		location /vroot/ { set $r WWW/sub; root $r; }
		location /em/ { alias WWW/; expires modified +1h; }
		location /vidx/ { alias WWW/sub/; index $arg_i index.html; }
		location /nr/ { alias WWW/; absolute_redirect off; }
		location /np/ { alias WWW/; port_in_redirect off; }
		location /sn/ { alias WWW/; server_name_in_redirect on; }
		location /tfa/ { try_files $uri /ret-args; }
		location /tfb/ { try_files $uri /ret-args?b=2&$args; }
		location = /ret-args { return 200 "uri=$uri args=$args\n"; }
		location /aiu/ { alias WWW/; autoindex on; charset utf-8; autoindex_localtime on; }
		location /aixml/ { alias WWW/; autoindex on; autoindex_format xml; }
		location @fallback { return 200 "fallback $uri\n"; }
	}`

// TestStaticNginxDifferential serves one directory tree with nginx and
// sluice from the same configuration and compares status, the
// deterministic headers and the body of each response.
func TestStaticNginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	dir := t.TempDir()
	unreadable := staticTree(t, dir)
	body := strings.NewReplacer("WWW", filepath.Join(dir, "www"), "STDIR", filepath.Join(dir, "st")).Replace(staticDiffConf)
	nginxLog, sluiceLog := filepath.Join(dir, "nginx-error.log"), filepath.Join(dir, "sluice-error.log")
	nginxAddr := startNginx(t, strings.ReplaceAll(body, "ERRLOG", nginxLog))
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18080"), "ERRLOG", sluiceLog)+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]

	lm := staticMtime.Format("Mon, 02 Jan 2006 15:04:05 GMT")
	etag := fmt.Sprintf(`"%x-%x"`, staticMtime.Unix(), 103)
	get := func(target string, hdrs ...string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: example.com\r\n" + strings.Join(hdrs, "") + "Connection: close\r\n\r\n"
	}
	method := func(m, target string, hdrs ...string) string {
		return m + " " + target + " HTTP/1.1\r\nHost: example.com\r\n" + strings.Join(hdrs, "") + "Connection: close\r\n\r\n"
	}
	requests := []string{
		get("/a.txt"), get("/s.css"), get("/Photo.JPG"), get("/noext"), get("/data.json"),
		get("/empty.txt"), get("/big.bin"), get("/x.foo"), get("/"), get("/index.html"),
		get("/sub"), get("/sub?x=1"), get("/sub/"), get("/sub/page.htm"), get("/noidx/"),
		get("/noidx"), get("/missing"), get("/missing/"), get("/sub/missing.txt"), get("/a.txt/"),
		get("/a.txt/x"), get("/dir.d"), get("/dir.d/"), get("/dir.d/x.txt"), get("/spaced%20name.txt"),
		get("/percent%2525.txt"), get("/alt/"),
		method("HEAD", "/a.txt"), method("HEAD", "/big.bin"), method("HEAD", "/missing"),
		method("POST", "/a.txt"), method("POST", "/missing"), method("PUT", "/a.txt"), method("DELETE", "/a.txt"),
		method("POST", "/"), method("PUT", "/sub/"), method("POST", "/noidx/"), method("OPTIONS", "/a.txt"),
		// conditional requests
		get("/a.txt", "If-Modified-Since: "+lm+"\r\n"),
		get("/a.txt", "If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT\r\n"),
		get("/a.txt", "If-Modified-Since: Fri, 01 Jan 2030 00:00:00 GMT\r\n"),
		get("/a.txt", "If-Modified-Since: garbage\r\n"),
		get("/a.txt", "If-None-Match: "+etag+"\r\n"),
		get("/a.txt", "If-None-Match: W/"+etag+"\r\n"),
		get("/a.txt", "If-None-Match: \"x\", "+etag+"\r\n"),
		get("/a.txt", "If-None-Match: *\r\n"),
		get("/a.txt", "If-None-Match: \"other\"\r\n"),
		get("/a.txt", "If-None-Match: "+etag+"\r\nIf-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT\r\n"),
		get("/a.txt", "If-Match: "+etag+"\r\n"),
		get("/a.txt", "If-Match: \"nope\"\r\n"),
		get("/a.txt", "If-Match: *\r\n"),
		get("/a.txt", "If-Unmodified-Since: "+lm+"\r\n"),
		get("/a.txt", "If-Unmodified-Since: Mon, 01 Jan 2024 00:00:00 GMT\r\n"),
		get("/ims/a.txt", "If-Modified-Since: Fri, 01 Jan 2030 00:00:00 GMT\r\n"),
		get("/ims/a.txt", "If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT\r\n"),
		get("/imsoff/a.txt", "If-Modified-Since: "+lm+"\r\n"),
		get("/noetag/a.txt", "If-None-Match: "+etag+"\r\n"),
		get("/noetag/a.txt"),
		// ranges
		get("/a.txt", "Range: bytes=0-4\r\n"),
		get("/a.txt", "Range: bytes=5-\r\n"),
		get("/a.txt", "Range: bytes=-10\r\n"),
		get("/a.txt", "Range: bytes=-1000\r\n"),
		get("/a.txt", "Range: bytes=100-200\r\n"),
		get("/a.txt", "Range: bytes=500-\r\n"),
		get("/a.txt", "Range: bytes=0-1,5-6\r\n"),
		get("/a.txt", "Range: bytes=0-1, 3-4, 10-\r\n"),
		get("/a.txt", "Range: bytes=0-50,40-102\r\n"),
		get("/a.txt", "Range: bytes=x-y\r\n"),
		get("/a.txt", "Range: bytes=5-1\r\n"),
		get("/a.txt", "Range: items=0-1\r\n"),
		get("/a.txt", "Range: bytes=0-4\r\nIf-Range: "+etag+"\r\n"),
		get("/a.txt", "Range: bytes=0-4\r\nIf-Range: \"old\"\r\n"),
		get("/a.txt", "Range: bytes=0-4\r\nIf-Range: "+lm+"\r\n"),
		get("/a.txt", "Range: bytes=0-4\r\nIf-Range: Mon, 01 Jan 2024 00:00:00 GMT\r\n"),
		get("/big.bin", "Range: bytes=100000-100099\r\n"),
		get("/empty.txt", "Range: bytes=0-\r\n"),
		get("/mr/a.txt", "Range: bytes=0-1,5-6\r\n"),
		get("/mr/a.txt", "Range: bytes=0-1\r\n"),
		get("/mr0/a.txt", "Range: bytes=0-1\r\n"),
		method("HEAD", "/a.txt", "Range: bytes=0-4\r\n"),
		// try_files
		get("/spa/route/x"), get("/spa/"), get("/spa"), get("/tf/nothing"), get("/tfd/nothing"),
		get("/tfq/nothing?a=1"),
		// alias, regex alias, index
		get("/static/app.js"), get("/static/deep/style.css"), get("/static/deep"), get("/static/"),
		get("/static/missing.js"), get("/re/a.txt"), get("/re/sub/page.htm"), get("/re/missing.txt"),
		get("/idx/"), get("/idx/page.htm"), get("/dt/x.foo"), get("/dt/noext"), get("/dt/a.txt"),
		// error_page
		get("/ep/none"), get("/ep2/none"), get("/e404/none"), get("/e404/"),
		get("/atf/page.htm"), get("/atf/"), get("/atf/deeper"), get("/atf/deeper/"), get("/atf/none"),
		get("/ad/a.txt"), get("/ad/a.txt", "If-None-Match: "+etag+"\r\n"), get("/ad/none"),
		method("HEAD", "/sub/"), method("HEAD", "/spa/x"),
		get("/ai/"), get("/ai/sub/"), get("/ai/noidx/"), get("/aix/"), get("/aij/"), get("/aip/?callback=cb.x_1"),
		get("/aip/?callback=c-b"), get("/aip/"), get("/aixml/"), method("HEAD", "/ai/noidx/"), method("POST", "/ai/noidx/"),
		get("/va/page.htm?d=sub"), get("/va/page.htm?d=nosuch"), get("/vroot/v.txt"), get("/vroot/"),
		get("/em/a.txt"), get("/em/missing"), get("/vidx/?i=page.htm"), get("/vidx/"),
		get("/nr/sub"), get("/np/sub?q"), "GET /sn/sub HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
		"GET /sub HTTP/1.1\r\nHost: other.test:8080\r\nConnection: close\r\n\r\n",
		"GET /sn/sub HTTP/1.0\r\n\r\n", "GET /sub HTTP/1.0\r\n\r\n",
		get("/tfa/x?a=1"), get("/tfb/x?a=1"), get("/loop"), get("/loop/x"), get("/fifo"), get("/spa/../loop"),
		get("/ai/missing/"), get("/aiu/noidx/"), get("/aixml/noidx/"), get("/aij/noidx/"), get("/aix/noidx/"),
		get("/aif/app.js"), get("/aif/app.js?x=1"), get("/rif/a.txt"), get("/rif/a.txt?x=1"),
		// escapes
		get("/../outside.txt"), get("/%2e%2e/outside.txt"), get("/sub/../../outside.txt"),
		get("/sub/%2E%2E/%2e%2e/outside.txt"), get("/static/../outside.txt"), get("/static/..%2f..%2foutside.txt"),
		get("/a.txt%00.css"), get("/sub/./page.htm"), get("/sub//page.htm"),
		"GET /a.txt HTTP/1.0\r\n\r\n",
		"GET /a.txt HTTP/1.0\r\nRange: bytes=0-3\r\n\r\n",
	}
	if unreadable {
		requests = append(requests, get("/sec/secret.txt"))
	}
	if len(requests) < 60 {
		t.Fatalf("only %d requests", len(requests))
	}
	for _, req := range requests {
		want := staticNormalize(rawRequest(t, nginxAddr, req), nginxAddr)
		got := staticNormalize(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if got != want {
			t.Errorf("%q:\nsluice:\n%s\nnginx:\n%s", strings.ReplaceAll(req, "\r\n", " | "), got, want)
		}
		// the error log lines of the request, but the client's port
		wantLog := staticLogLines(t, nginxLog, nginxAddr)
		gotLog := staticLogLines(t, sluiceLog, sluiceAddr)
		if gotLog != wantLog {
			t.Errorf("%q: error log:\nsluice:\n%s\nnginx:\n%s", strings.ReplaceAll(req, "\r\n", " | "), gotLog, wantLog)
		}
	}
}

// logPrefix is the date, pid and connection number of an error log line.
var logPrefix = regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: (\*\d+ )?`)

// staticLogLines returns the error log lines written since the last call
// for path (which it empties), without their date, process and connection
// numbers.
func staticLogLines(t *testing.T, path, addr string) string {
	b, _ := os.ReadFile(path)
	os.Truncate(path, 0)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		l = logPrefix.ReplaceAllString(l, "$1 ")
		out = append(out, strings.ReplaceAll(l, addr, "ADDR"))
	}
	return strings.Join(out, "\n")
}

// staticCompared are the response headers the differential test
// compares: the ones that do not depend on the clock or the server.
var staticCompared = map[string]bool{
	"content-type": true, "content-length": true, "last-modified": true, "etag": true,
	"content-range": true, "location": true, "accept-ranges": true, "cache-control": true,
	"transfer-encoding": true, "content-encoding": true, "x-static": true, "expires": true,
}

var boundaryRe = regexp.MustCompile(`\b[0-9]{20}\b`)

// staticNormalize keeps the status line, the compared headers (sorted;
// the Content-Length of built-in error pages, whose footers differ, is
// left out) and the body (an error page up to its footer); the address
// and multipart boundaries are replaced.
func staticNormalize(resp, addr string) string {
	head, body, _ := strings.Cut(resp, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	isPage := strings.Contains(body, "<hr><center>")
	var hs []string
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(strings.ToLower(l), ":")
		if !staticCompared[name] || name == "content-length" && isPage {
			continue
		}
		hs = append(hs, l)
	}
	sort.Strings(hs)
	if isPage {
		body = body[:strings.Index(body, "<hr><center>")]
	}
	body = boundaryRe.ReplaceAllString(body, "BOUNDARY")
	if len(body) > 300 {
		body = fmt.Sprintf("%s... (%d bytes, crc %08x)", body[:300], len(body), crc32.ChecksumIEEE([]byte(body)))
	}
	out := lines[0] + "\n" + strings.Join(hs, "\n") + "\n\n" + body
	out = boundaryRe.ReplaceAllString(out, "BOUNDARY")
	out = strings.ReplaceAll(out, addr, "ADDR")
	_, port, _ := net.SplitHostPort(addr)
	return strings.ReplaceAll(out, ":"+port+"/", ":PORT/")
}
