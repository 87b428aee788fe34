package httpproxy

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// TestStaticErrorLog: a missing file is answered 404 with nginx's
// error_log line, which log_not_found off leaves out; a directory without
// an index file is answered 403 with nginx's line.
func TestStaticErrorLog(t *testing.T) {
	dir := t.TempDir()
	staticTree(t, dir)
	www := filepath.Join(dir, "www")
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18080; root `+www+`;
			location /quiet/ { log_not_found off; alias `+www+`/; } } }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	for _, tc := range []struct{ target, status, log string }{
		{"/missing.txt", "404", `[error] ` + `%s open() "` + www + `/missing.txt" failed (2: No such file or directory), client: 127.0.0.1, server: , request: "GET /missing.txt HTTP/1.1", host: "x"`},
		{"/noidx/", "403", `directory index of "` + www + `/noidx/" is forbidden, client: 127.0.0.1`},
		{"/nodir/", "404", `"` + www + `/nodir/index.html" is not found (2: No such file or directory)`},
		{"/quiet/missing.txt", "404", ""},
	} {
		before := h.errs.String()
		resp := rawRequest(t, addr, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 "+tc.status+" ") {
			t.Errorf("%s: %q", tc.target, firstLine(resp))
		}
		logged := strings.TrimPrefix(h.errs.String(), before)
		switch {
		case tc.log == "" && strings.Contains(logged, "[error]"):
			t.Errorf("%s: logged %q", tc.target, logged)
		case tc.log != "":
			want := tc.log
			if i := strings.Index(want, "%s "); i >= 0 {
				want = want[i+3:] // the line's "*N" connection number varies
			}
			if !strings.Contains(logged, want) || !strings.Contains(logged, "[error]") {
				t.Errorf("%s: logged %q, want %q", tc.target, logged, want)
			}
		}
	}
}

// TestStaticSPAWithAPI: the usual single-page application next to a
// proxied API loads unchanged: files are served, unknown routes get
// index.html, /api/ goes to the backend, and assets get expires and
// add_header.
func TestStaticSPAWithAPI(t *testing.T) {
	dir := t.TempDir()
	staticTree(t, dir)
	be, _ := echoBackend(t)
	h := startProxy(t, `events {} http { access_log off; include /etc/nginx/mime.types;
		upstream api { server `+be.addr+`; }
		server { listen 127.0.0.1:18080; root `+dir+`/www;
			location / { try_files $uri $uri/ /index.html; }
			location /api/ { proxy_pass http://api; }
			location /assets/ { alias `+dir+`/st/; expires 30d; add_header X-Asset yes; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	for _, tc := range []struct{ target, status, ctype, body, extra string }{
		{"/", "200", "text/html", "<html>root index</html>\n", ""},
		{"/app/route/42", "200", "text/html", "<html>root index</html>\n", ""},
		{"/s.css", "200", "text/css", "body { color: red }\n", ""},
		{"/data.json", "200", "application/json", `{"k": "v"}`, ""},
		{"/assets/app.js", "200", "application/javascript", "console.log(1);\n", "Cache-Control: max-age=2592000"},
		{"/assets/app.js", "200", "application/javascript", "console.log(1);\n", "X-Asset: yes"},
		{"/api/users", "200", "", "", ""},
	} {
		resp, err := http.Get("http://" + addr + tc.target)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if fmt.Sprint(resp.StatusCode) != tc.status {
			t.Errorf("%s: status %d", tc.target, resp.StatusCode)
		}
		if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("%s: Content-Type %q, want %q", tc.target, resp.Header.Get("Content-Type"), tc.ctype)
		}
		if tc.body != "" && string(b) != tc.body {
			t.Errorf("%s: body %q", tc.target, b)
		}
		if tc.target == "/api/users" && !strings.Contains(string(b), "/api/users") {
			t.Errorf("%s: not proxied: %q", tc.target, b)
		}
		if name, val, ok := strings.Cut(tc.extra, ": "); ok && resp.Header.Get(name) != val {
			t.Errorf("%s: %s %q, want %q", tc.target, name, resp.Header.Get(name), val)
		}
	}
}

// TestStaticFilters: gzip (by gzip_types, with a weak ETag and no
// Accept-Ranges), charset and the access log variables apply to files.
func TestStaticFilters(t *testing.T) {
	dir := t.TempDir()
	staticTree(t, dir)
	h := startProxy(t, `events {} http { include /etc/nginx/mime.types;
		log_format f '$status|$body_bytes_sent|$request_filename|$document_root|$realpath_root|$uri';
		access_log {{DIR}}/logs/f.log f;
		server { listen 127.0.0.1:18080; root `+dir+`/www;
			gzip on; gzip_types text/css; gzip_min_length 1;
			location /cs/ { alias `+dir+`/www/; charset utf-8; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	resp := rawRequest(t, addr, "GET /s.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
	head, body, _ := strings.Cut(resp, "\r\n\r\n")
	if !strings.Contains(head, "Content-Encoding: gzip") || !strings.Contains(head, `ETag: W/"`) ||
		strings.Contains(head, "Accept-Ranges") || strings.Contains(head, "Content-Length") {
		t.Errorf("gzip head:\n%s", head)
	}
	if plain := gunzipChunked(t, body); plain != "body { color: red }\n" {
		t.Errorf("gzip body %q", plain)
	}
	resp = rawRequest(t, addr, "GET /cs/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.Contains(resp, "Content-Type: text/plain; charset=utf-8\r\n") {
		t.Errorf("charset: %s", resp)
	}
	real, _ := filepath.EvalSymlinks(dir + "/www")
	want := []string{
		fmt.Sprintf("%s/www/s.css|%s/www|%s|/s.css", dir, dir, real),
		fmt.Sprintf("200|103|%s/www/a.txt|%s/www/|%s|/cs/a.txt", dir, dir, real),
	}
	var lines []string
	testutil.WaitFor(t, "the log lines", func() bool {
		b, _ := os.ReadFile(h.dir + "/logs/f.log")
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) == 2
	})
	// $body_bytes_sent of the compressed response counts what was sent
	first := strings.SplitN(lines[0], "|", 3)
	if len(first) != 3 || first[0] != "200" || first[1] == "0" || first[2] != want[0] {
		t.Errorf("log line %q, want 200|N|%s", lines[0], want[0])
	}
	if lines[1] != want[1] {
		t.Errorf("log line %q, want %q", lines[1], want[1])
	}
}

// gunzipChunked decodes a chunked, gzip-compressed body.
func gunzipChunked(t *testing.T, body string) string {
	t.Helper()
	r := bufio.NewReader(strings.NewReader(body))
	var raw strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("chunked body: %v", err)
		}
		var n int
		fmt.Sscanf(strings.TrimSpace(line), "%x", &n)
		if n == 0 {
			break
		}
		buf := make([]byte, n+2)
		io.ReadFull(r, buf)
		raw.Write(buf[:n])
	}
	zr, err := gzip.NewReader(strings.NewReader(raw.String()))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	return string(b)
}

// TestStaticKeepAliveLarge: a large file goes out whole (sendfile on a
// plain connection) and the connection serves the next request.
func TestStaticKeepAliveLarge(t *testing.T) {
	dir := t.TempDir()
	staticTree(t, dir)
	h := startProxy(t, `events {} http { access_log off; sendfile on; tcp_nopush on;
		server { listen 127.0.0.1:18080; root `+dir+`/www; } }`, Options{})
	c, err := net.DialTimeout("tcp", h.addr["127.0.0.1:18080"], waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	br := bufio.NewReader(c)
	want, _ := os.ReadFile(dir + "/www/big.bin")
	for i := 0; i < 3; i++ {
		fmt.Fprintf(c, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body, err := readResponse(br, false)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || body != string(want) {
			t.Fatalf("request %d: %d, %d bytes", i, resp.StatusCode, len(body))
		}
	}
	fmt.Fprintf(c, "GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4\r\n\r\n")
	resp, body, err := readResponse(br, false)
	if err != nil || resp.StatusCode != 206 || body != "hello" {
		t.Fatalf("range after keep-alive: %v %v %q", err, resp, body)
	}
}

// TestStaticHTTPSAndH2: files are served over HTTPS, HTTP/2 over TLS and
// h2c, ranges too.
func TestStaticHTTPSAndH2(t *testing.T) {
	curl := testutil.Need(t, "curl")
	dir := t.TempDir()
	staticTree(t, dir)
	c := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "st", DNS: []string{"st.example"}})
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
		server { listen 127.0.0.1:18207 ssl http2; ssl_certificate %s; ssl_certificate_key %s; root %s/www; }
		server { listen 127.0.0.1:18208 http2; root %s/www; }
	}`, c.CertFile, c.KeyFile, dir, dir), Options{})
	big, _ := os.ReadFile(dir + "/www/big.bin")
	for _, tc := range []struct{ url, flag, rng, want string }{
		{"https://" + h.addr["127.0.0.1:18207"] + "/big.bin", "--http1.1", "", string(big) + "\n1.1 200"},
		{"https://" + h.addr["127.0.0.1:18207"] + "/big.bin", "--http2", "", string(big) + "\n2 200"},
		{"https://" + h.addr["127.0.0.1:18207"] + "/a.txt", "--http2", "0-4", "hello\n2 206"},
		{"http://" + h.addr["127.0.0.1:18208"] + "/a.txt", "--http2-prior-knowledge", "6-10", "world\n2 206"},
		{"http://" + h.addr["127.0.0.1:18208"] + "/sub", "--http2-prior-knowledge", "", "\n2 301"},
		{"http://" + h.addr["127.0.0.1:18208"] + "/sub/", "--http2-prior-knowledge", "", "<p>sub index</p>\n\n2 200"},
	} {
		args := []string{"-sS", "-k", "--max-time", "10", tc.flag, "-o", "-", "-w", "\n%{http_version} %{response_code}"}
		if tc.rng != "" {
			args = append(args, "-r", tc.rng)
		}
		out, err := exec.Command(curl, append(args, tc.url)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v: %s", err, out)
		}
		got := string(out)
		if strings.HasSuffix(tc.want, " 301") {
			got = got[strings.LastIndex(got, "\n"):]
		}
		if got != tc.want {
			g, w := got, tc.want
			if len(g) > 80 {
				g = fmt.Sprintf("%d bytes ...%q", len(g), g[len(g)-12:])
			}
			if len(w) > 80 {
				w = fmt.Sprintf("%d bytes ...%q", len(w), w[len(w)-12:])
			}
			t.Errorf("%s %s %s: got %s, want %s", tc.flag, tc.url, tc.rng, g, w)
		}
	}
}

// TestStaticIndexRedirect: the index file is reached by an internal
// redirect that matches locations again, as in nginx: the location of
// the index file's URI applies.
func TestStaticIndexRedirect(t *testing.T) {
	dir := t.TempDir()
	staticTree(t, dir)
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18080; root `+dir+`/www;
			location = /sub/index.html { add_header X-Index exact; }
			location /sub/ { index index.html; }
			location /abs/ { index /s.css; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	resp := rawRequest(t, addr, "GET /sub/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.Contains(resp, "X-Index: exact\r\n") || !strings.HasSuffix(resp, "<p>sub index</p>\n") {
		t.Errorf("index redirect: %s", resp)
	}
	resp = rawRequest(t, addr, "GET /abs/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasSuffix(resp, "body { color: red }\n") {
		t.Errorf("absolute index: %s", resp)
	}
}

// TestStaticPathEscapes: no request reaches a file outside the root,
// whatever the encoding; a URI made by rewrite is checked too.
func TestStaticPathEscapes(t *testing.T) {
	dir := t.TempDir()
	staticTree(t, dir)
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18080; root `+dir+`/www;
			location /rw/ { rewrite ^/rw/(.*)$ /$1 break; }
			location /st/ { alias `+dir+`/www/sub/; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	for _, target := range []string{
		"/../outside.txt", "/%2e%2e/outside.txt", "/%2E%2E%2Foutside.txt", "/sub/..%2f..%2foutside.txt",
		"/a.txt%00", "/rw/..%2F..%2Foutside.txt", "/rw/%2e%2e/%2e%2e/outside.txt", "/st/../../outside.txt",
		"/st/..%2F..%2F..%2Foutside.txt", "/%2e%2e%2f%2e%2e%2foutside.txt", "/sub/%2e%2e/%2e%2e/%2e%2e/outside.txt",
		"/..\\outside.txt",
	} {
		resp := rawRequest(t, addr, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if strings.Contains(resp, "must never be served") || strings.HasPrefix(resp, "HTTP/1.1 200") {
			t.Errorf("%s: %s", target, firstLine(resp))
		}
	}
}

// TestEscapes checks the path check applied to URIs that were not
// normalised.
func TestEscapes(t *testing.T) {
	for p, want := range map[string]bool{
		"/a/b": false, "/a/../b": true, "/..": true, "../a": true, "/a..b/": false, "/a/..b": false,
		"/a\x00": true, "/.../": false, "/a/./b": false,
	} {
		if got := escapes([]byte(p)); got != want {
			t.Errorf("escapes(%q) = %v", p, got)
		}
	}
}

// TestParseRangeSpec checks nginx's range parser on edge cases.
func TestParseRangeSpec(t *testing.T) {
	for _, tc := range []struct {
		spec string
		size int64
		max  int
		want []byteRange
		res  int
	}{
		{"0-4", 10, 100, []byteRange{{0, 5}}, rangeOK},
		{"-3", 10, 100, []byteRange{{7, 10}}, rangeOK},
		{"8-", 10, 100, []byteRange{{8, 10}}, rangeOK},
		{"0-99", 10, 100, []byteRange{{0, 10}}, rangeOK},
		{"10-", 10, 100, nil, rangeUnsatisfiable},
		{"0-1,2-3", 10, 1, nil, rangeDeclined},
		{"0-9,0-9", 10, 100, nil, rangeDeclined},
		{"a", 10, 100, nil, rangeUnsatisfiable},
		{"99999999999999999999-", 10, 100, nil, rangeUnsatisfiable},
		{" 1 - 2 ", 10, 100, []byteRange{{1, 3}}, rangeOK},
		{"0-0", 0, 100, nil, rangeDeclined},
	} {
		got, res := parseRangeSpec([]byte(tc.spec), tc.size, tc.max)
		if res != tc.res || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q size %d: %v %d, want %v %d", tc.spec, tc.size, got, res, tc.want, tc.res)
		}
	}
}

// TestStaticRedirectKeepsBody: a request that try_files or index sends to
// a proxied location keeps its body, as in nginx; a static error page
// sends none; the next request on the connection is read correctly.
func TestStaticRedirectKeepsBody(t *testing.T) {
	dir := t.TempDir()
	staticTree(t, dir)
	be, _ := echoBackend(t)
	h := startProxy(t, `events {} http { access_log off;
		upstream app { server `+be.addr+`; }
		server { listen 127.0.0.1:18080; root `+dir+`/www;
			location /form/ { try_files $uri @app; }
			location /idx/ { alias `+dir+`/www/sub/; index /app/index; }
			location /app/ { proxy_pass http://app; }
			location /ep/ { error_page 404 /app/ep; }
			location @app { proxy_pass http://app; }
		} }`, Options{})
	c, err := net.DialTimeout("tcp", h.addr["127.0.0.1:18080"], waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	br := bufio.NewReader(c)
	for _, tc := range []struct{ target, want string }{
		{"/form/send", "POST /form/send 5"},
		{"/idx/", "POST /app/index 5"},
		{"/ep/none", "GET /app/ep 0"},
		{"/s.css", ""},
		{"/form/send", "POST /form/send 5"},
	} {
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", tc.target)
		resp, body, err := readResponse(br, false)
		if err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		switch {
		case tc.want == "" && resp.StatusCode != 405:
			t.Errorf("%s: %d %q", tc.target, resp.StatusCode, body)
		case tc.want != "" && body != tc.want:
			t.Errorf("%s: %d %q, want %q", tc.target, resp.StatusCode, body, tc.want)
		}
	}
}

// TestStaticLimitRate: limit_rate paces a file (read through a buffer
// instead of sendfile): 320000 bytes at 640k a second take about half a
// second, against no time at all without a limit.
func TestStaticLimitRate(t *testing.T) {
	dir := t.TempDir()
	staticTree(t, dir)
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18080; root `+dir+`/www;
			location /slow/ { alias `+dir+`/www/; limit_rate 640k; } } }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	for _, tc := range []struct {
		target   string
		min, max time.Duration
	}{
		{"/big.bin", 0, 400 * time.Millisecond},
		{"/slow/big.bin", 350 * time.Millisecond, 5 * time.Second},
	} {
		start := time.Now()
		resp := rawRequest(t, addr, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		took := time.Since(start)
		if !strings.HasSuffix(resp, strings.Repeat("0123456789abcdef", 20000)) {
			t.Fatalf("%s: incomplete response (%d bytes)", tc.target, len(resp))
		}
		if took < tc.min || took > tc.max {
			t.Errorf("%s took %v, want %v to %v", tc.target, took, tc.min, tc.max)
		}
	}
}

// TestStaticSendTimeout: a client that stops reading a large file is
// disconnected after send_timeout, on the sendfile path too.
func TestStaticSendTimeout(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/huge.bin", make([]byte, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	h := startProxy(t, `events {} http { access_log off; send_timeout 1s;
		server { listen 127.0.0.1:18080; root `+dir+`; } }`, Options{})
	c, err := net.DialTimeout("tcp", h.addr["127.0.0.1:18080"], waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(64 << 10)
	fmt.Fprintf(c, "GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
	// read nothing for longer than send_timeout, then all there is
	time.Sleep(2500 * time.Millisecond)
	c.SetDeadline(time.Now().Add(waitLimit))
	n, _ := io.Copy(io.Discard, c)
	if n >= 64<<20 {
		t.Errorf("read %d bytes: the connection was not closed after send_timeout", n)
	}
}
