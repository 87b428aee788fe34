package httpproxy

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// featureBackend answers by path, for the gzip, error_page and
// proxy_redirect tests: the body, type and status a path names, and
// what it was asked (method and URI) in X-Seen.
func featureBackend(t *testing.T) *backend {
	page := strings.Repeat("<p>hello, compressed world</p>\n", 40)
	return startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Seen", r.Method+" "+r.URL.RequestURI())
		h := w.Header()
		switch p := r.URL.Path; {
		case p == "/html":
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("ETag", `"v1"`)
			h.Set("Accept-Ranges", "bytes")
			io.WriteString(w, page)
		case p == "/json":
			h.Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"a":%q}`, page)
		case p == "/png":
			h.Set("Content-Type", "image/png")
			io.WriteString(w, page)
		case p == "/small":
			h.Set("Content-Type", "text/html")
			io.WriteString(w, "tiny")
		case p == "/encoded":
			h.Set("Content-Type", "text/html")
			h.Set("Content-Encoding", "br")
			io.WriteString(w, page)
		case p == "/chunked":
			h.Set("Content-Type", "text/html")
			io.WriteString(w, page)
			w.(http.Flusher).Flush()
			io.WriteString(w, page)
		case p == "/nf":
			h.Set("Content-Type", "text/html")
			w.WriteHeader(404)
			io.WriteString(w, "backend 404 page "+page)
		case p == "/e500":
			h.Set("Content-Type", "text/html")
			w.WriteHeader(500)
			io.WriteString(w, "backend secret 500 body")
		case p == "/e503":
			h.Set("Content-Type", "text/plain")
			w.WriteHeader(503)
			io.WriteString(w, "backend 503 body")
		case p == "/e401":
			h.Set("Content-Type", "text/plain")
			h.Set("WWW-Authenticate", `Basic realm="sluice"`)
			w.WriteHeader(401)
			io.WriteString(w, "backend 401 body")
		case p == "/created":
			h.Set("Content-Type", "text/plain")
			w.WriteHeader(201)
			io.WriteString(w, "created by "+r.Method)
		case p == "/cached":
			h.Set("Content-Type", "text/html")
			h.Set("Cache-Control", "public, no-cache")
			io.WriteString(w, page)
		case p == "/lm":
			h.Set("Content-Type", "text/html")
			h.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
			io.WriteString(w, page)
		case strings.HasPrefix(p, "/redir/"):
			h.Set("Location", r.URL.Query().Get("to"))
			if rf := r.URL.Query().Get("refresh"); rf != "" {
				h.Set("Refresh", rf)
			}
			w.WriteHeader(302)
		default:
			h.Set("Content-Type", "text/plain")
			io.WriteString(w, "ok "+r.Method+" "+r.URL.RequestURI())
		}
	}))
}

// featureView renders what a client sees of a response for comparison:
// the status line, the headers gzip, error_page and proxy_redirect set
// (sorted), whether the body is framed by length or chunks, and the body
// unless it is compressed or one of the proxy's own pages.
func featureView(resp, addr string) string {
	head, body, _ := strings.Cut(resp, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	var hs []string
	framing := "close"
	for _, l := range lines[1:] {
		name, val, _ := strings.Cut(l, ":")
		val = strings.TrimSpace(val)
		switch strings.ToLower(name) {
		case "content-encoding", "vary", "location", "refresh", "etag", "accept-ranges", "connection", "x-seen", "content-type", "www-authenticate":
			hs = append(hs, strings.ToLower(name)+": "+val)
		case "content-length":
			framing = "length"
		case "transfer-encoding":
			framing = "chunked"
		}
	}
	sort.Strings(hs)
	switch {
	case strings.Contains(head, "Content-Encoding: gzip"):
		body = "(gzip)"
	case strings.Contains(body, "<hr><center>"):
		body = body[:strings.Index(body, "<hr><center>")]
	case framing == "chunked":
		body = "(chunked)"
	}
	_, port, _ := net.SplitHostPort(addr)
	out := lines[0] + "\n" + strings.Join(hs, "\n") + "\nframing: " + framing + "\n\n" + body
	out = strings.ReplaceAll(out, addr, "PROXY")
	return strings.ReplaceAll(out, ":"+port, ":PORT")
}

// TestNginxDifferentialFeatures sends nginx and sluice the same requests
// on the same configuration of gzip, error_page, proxy_intercept_errors and
// proxy_redirect: statuses, the headers these set, framing and bodies
// must be the same.
func TestNginxDifferentialFeatures(t *testing.T) {
	be := featureBackend(t)
	body := `
	upstream b { server ` + be.addr + `; }
	upstream dead { server 127.0.0.1:1; }
	server { listen LISTEN; server_name example.com;
		gzip on; gzip_vary on; gzip_types application/json text/plain;
		location / { proxy_pass http://b; }
		location /any/ { gzip_types *; gzip_min_length 1000; gzip_comp_level 9; proxy_pass http://b/; }
		location /prox/ { gzip_proxied no-cache no_last_modified; proxy_pass http://b/; }
		location /v10/ { gzip_http_version 1.0; gzip_disable msie6 "curl/7\.0"; proxy_pass http://b/; }
		location /off/ { gzip off; proxy_pass http://b/; }
		location /down { proxy_pass http://dead; error_page 502 /sorry; }
		location /down2 { proxy_pass http://dead; error_page 502 =200 /sorry; }
		location /down3 { proxy_pass http://dead; error_page 502 = /up/created; }
		location /down4 { proxy_pass http://dead; error_page 502 @fallback; }
		location /down5 { proxy_pass http://dead; error_page 500 502 503 504 https://status.example.com/; }
		location /down6 { proxy_pass http://dead; error_page 502 =301 http://example.org/x?y; }
		location /down7 { proxy_pass http://dead; error_page 502 /alsodown; }
		location /alsodown { proxy_pass http://dead; error_page 502 /sorry; }
		location /down8 { proxy_pass http://dead; error_page 502 /rec; recursive_error_pages on; }
		location /rec { proxy_pass http://dead; error_page 502 /sorry; }
		location /cyc { error_page 404 /cyc2; recursive_error_pages on; return 404; }
		location /cyc2 { error_page 404 /cyc; recursive_error_pages on; return 404; }
		location /norec { error_page 404 /norec2; return 404; }
		location /norec2 { error_page 404 /sorry; recursive_error_pages on; return 404; }
		location /denied { deny all; error_page 403 /sorry; }
		location /denied2 { deny all; error_page 403 /denied; }
		location /gone { return 404; }
		location = /sorry { return 200 "sorry, $uri $request_uri $request_method\n"; }
		location /up/ { proxy_pass http://b/; }
		location @fallback { proxy_pass http://b; }
		location /icpt/ { proxy_pass http://b/; proxy_intercept_errors on; error_page 500 401 /sorry; error_page 404 =200 /sorry; }
		location /noicpt/ { proxy_pass http://b/; error_page 500 /sorry; }
		location /icpt2/ { proxy_pass http://b/; proxy_intercept_errors on; error_page 404 /sorry; }
		location /rd/ { proxy_pass http://b/redir/; }
		location /rd2/ { proxy_pass http://b/redir/; proxy_redirect http://up.example/a/ /b/; proxy_redirect ~*^HTTP://([^/]+)/re/(.*)$ http://$1:8080/x/$2?h=$host; proxy_redirect default; }
		location /rd3/ { proxy_pass http://b/redir/; proxy_redirect off; }
		location /rd4/ { proxy_pass http://b/redir/; proxy_redirect http://$host/ /local/; }
		location ~ ^/regex/ { proxy_pass http://b; }
	}
	server { listen LISTEN; server_name other.example;
		error_page 404 /nf;
		location = /nf { return 200 "server-level not found\n"; }
		location /a { return 404; }
		location /b { error_page 500 /nf; return 404; }
	}`
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]
	gz := "Accept-Encoding: gzip, deflate\r\n"
	req := func(method, target, extra string) string {
		return method + " " + target + " HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n" + extra + "\r\n"
	}
	requests := []string{
		req("GET", "/html", gz),
		req("GET", "/html", ""),
		req("GET", "/html", "Accept-Encoding: gzip;q=0\r\n"),
		req("GET", "/html", "Accept-Encoding: br, GZIP;q=0.5\r\n"),
		req("GET", "/html", "Accept-Encoding: xgzip\r\n"),
		req("HEAD", "/html", gz),
		req("GET", "/json", gz),
		req("GET", "/png", gz),
		req("GET", "/small", gz),
		req("GET", "/encoded", gz),
		req("GET", "/chunked", gz),
		req("GET", "/nf", gz),
		req("GET", "/e500", gz),
		req("GET", "/plain", gz),
		req("GET", "/html", gz+"Via: 1.1 cache\r\n"),
		req("GET", "/gone", gz),
		"GET /html HTTP/1.0\r\n" + gz + "\r\n",
		req("GET", "/any/png", gz),
		req("GET", "/any/small", gz),
		req("GET", "/prox/cached", gz+"Via: 1.1 cache\r\n"),
		req("GET", "/prox/lm", gz+"Via: 1.1 cache\r\n"),
		req("GET", "/prox/html", gz+"Via: 1.1 cache\r\n"),
		"GET /v10/html HTTP/1.0\r\n" + gz + "\r\n",
		req("GET", "/v10/html", gz+"User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)\r\n"),
		req("GET", "/v10/html", gz+"User-Agent: CURL/7.0\r\n"),
		req("GET", "/off/html", gz),
		req("GET", "/down?q=1", ""),
		req("POST", "/down", "Content-Length: 3\r\n\r\nabc"),
		req("HEAD", "/down", ""),
		req("GET", "/down2", ""),
		req("GET", "/down3", ""),
		req("POST", "/down4?k=v", "Content-Length: 0\r\n"),
		req("GET", "/down5", ""),
		req("GET", "/down6", ""),
		req("GET", "/down7", ""),
		req("GET", "/down8", ""),
		req("GET", "/denied", ""),
		req("GET", "/cyc", ""),
		req("GET", "/norec", ""),
		req("GET", "/denied2", ""),
		req("GET", "/icpt/e500", ""),
		req("GET", "/icpt/nf", gz),
		req("GET", "/icpt/e503", ""),
		req("GET", "/icpt/e401", ""),
		req("GET", "/noicpt/e401", ""),
		req("GET", "/icpt/html", ""),
		req("GET", "/noicpt/e500", ""),
		req("GET", "/icpt2/nf", ""),
		req("GET", "/rd/x?to=http://"+be.addr+"/redir/y", ""),
		req("GET", "/rd/x?to=http://b/redir/y", ""),
		req("GET", "/rd/x?to=http://b/redir/y&refresh=3%3B%20URL=http://b/redir/z", ""),
		req("GET", "/rd/x?to=/relative", ""),
		req("GET", "/rd2/x?to=http://up.example/a/c", ""),
		req("GET", "/rd2/x?to=http://UP.example/re/deep/er", ""),
		req("GET", "/rd2/x?to=http://b/redir/k", ""),
		req("GET", "/rd2/x?to=http://nomatch/k", ""),
		req("GET", "/rd3/x?to=http://b/redir/k", ""),
		req("GET", "/rd4/x?to=http://example.com/p", ""),
		req("GET", "/regex/redir/x?to=http://b/y", ""),
		"GET /a HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
		"GET /b HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
	}
	for _, r := range requests {
		want := featureView(rawRequest(t, nginxAddr, r), nginxAddr)
		got := featureView(rawRequest(t, sluiceAddr, r), sluiceAddr)
		if got != want {
			t.Errorf("request %q:\nsluice:\n%s\nnginx:\n%s", strings.SplitN(r, "\r\n", 4)[:3], got, want)
		}
	}
}

// get sends one request on a new connection and returns the response and
// its body, read as the client sees it.
func get(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, raw)
	resp, body, err := readResponse(bufio.NewReader(c), strings.HasPrefix(raw, "HEAD "))
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return resp, body
}

// TestErrorPage checks error_page as a client sees it: statuses, bodies,
// the method and URI the error page's upstream is asked for, inheritance,
// recursion and keep-alive after an intercepted response.
func TestErrorPage(t *testing.T) {
	be := featureBackend(t)
	conf := `events {} http { access_log off;
	upstream b { server ` + be.addr + `; }
	upstream dead { server 127.0.0.1:1; }
	server { listen 127.0.0.1:18080;
		error_page 404 /srv404;
		location = /srv404 { return 200 "server 404 page"; }
		location = /page { return 200 "page for $uri args=$args method=$request_method orig=$request_uri"; }
		location /nf { return 404; }
		location /own { error_page 500 /page; return 404; }
		location /down { proxy_pass http://dead; error_page 502 504 /page?from=down; }
		location /down-up { proxy_pass http://dead; error_page 502 = /up/created; }
		location /down-named { proxy_pass http://dead; error_page 502 =503 @named; }
		location @named { proxy_pass http://b; }
		location /up/ { proxy_pass http://b/; }
		location /big { client_max_body_size 10; error_page 413 /page; proxy_pass http://b; }
		location /cycle { error_page 404 /cycle2; recursive_error_pages on; return 404; }
		location /cycle2 { error_page 404 /cycle; recursive_error_pages on; return 404; }
		location /norec { error_page 404 /norec2; return 404; }
		location /norec2 { error_page 404 /page; recursive_error_pages on; return 404; }
		location /icpt/ { proxy_pass http://b/; proxy_intercept_errors on; error_page 500 503 /page; }
		location /ext { error_page 404 =307 /local-but-external-is-only-for-urls; return 404; }
		location /missing-named { error_page 404 @nowhere; return 404; }
	}}`
	h := startProxy(t, conf, Options{})
	addr := h.addr["127.0.0.1:18080"]
	cases := []struct {
		name, req  string
		status     int
		body       string
		bodyPrefix bool
	}{
		{"server level", "GET /nf HTTP/1.1\r\nHost: a\r\n\r\n", 404, "server 404 page", false},
		{"location replaces server list", "GET /own HTTP/1.1\r\nHost: a\r\n\r\n", 404, "<html>", true},
		{"upstream down", "POST /down?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", 502, "page for /page args=from=down method=GET orig=/down?x=1", false},
		{"= takes the page's status", "GET /down-up HTTP/1.1\r\nHost: a\r\n\r\n", 201, "created by GET", false},
		{"named keeps the method", "PUT /down-named HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 503, "ok PUT /down-named", false},
		{"413", "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n", 413, "page for /page args= method=GET orig=/big", false},
		{"cycle ends in 500", "GET /cycle HTTP/1.1\r\nHost: a\r\n\r\n", 500, "<html>", true},
		{"no recursion", "GET /norec HTTP/1.1\r\nHost: a\r\n\r\n", 404, "<html>", true},
		{"intercepted", "GET /icpt/e500 HTTP/1.1\r\nHost: a\r\n\r\n", 500, "page for /page args= method=GET orig=/icpt/e500", false},
		{"not intercepted without page", "GET /icpt/nf HTTP/1.1\r\nHost: a\r\n\r\n", 404, "backend 404 page", true},
		{"missing named location", "GET /missing-named HTTP/1.1\r\nHost: a\r\n\r\n", 500, "<html>", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, addr, tc.req)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			if tc.bodyPrefix && !strings.HasPrefix(body, tc.body) || !tc.bodyPrefix && body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
		})
	}
	// a large body that was never read (the upstream was down): the error
	// page is sent, then the connection closes rather than reading the
	// body as the next request
	big := strings.Repeat("b", 100<<10)
	resp, body := get(t, addr, "POST /down HTTP/1.1\r\nHost: a\r\nContent-Length: 102400\r\n\r\n"+big)
	if resp.StatusCode != 502 || !strings.HasPrefix(body, "page for /page") || !resp.Close {
		t.Errorf("unread body: %d close=%v %q", resp.StatusCode, resp.Close, body)
	}
	if !strings.Contains(h.errs.String(), "rewrite or internal redirection cycle") {
		t.Errorf("no cycle message in the error log:\n%s", h.errs.String())
	}
	if !strings.Contains(h.errs.String(), `could not find named location "@nowhere"`) {
		t.Errorf("no named location message in the error log:\n%s", h.errs.String())
	}

	// an intercepted 503 leaves the client connection open for the next
	// request, and the upstream body never reaches the client
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	br := bufio.NewReader(c)
	for i, path := range []string{"/icpt/e503", "/icpt/plain", "/icpt/e503"} {
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path)
		resp, body, err := readResponse(br, false)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if strings.Contains(body, "backend 503") {
			t.Errorf("request %d: upstream body reached the client: %q", i, body)
		}
		if path == "/icpt/e503" && (resp.StatusCode != 503 || !strings.HasPrefix(body, "page for /page")) {
			t.Errorf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if path == "/icpt/plain" && body != "ok GET /plain" {
			t.Errorf("request %d: %q", i, body)
		}
	}
}

// TestProxyRedirect checks proxy_redirect rules on Location and Refresh.
func TestProxyRedirect(t *testing.T) {
	be := featureBackend(t)
	conf := `events {} http { access_log off;
	upstream b { server ` + be.addr + `; }
	server { listen 127.0.0.1:18080; server_name s.example;
		location /d/ { proxy_pass http://b/redir/; }
		location /r/ { proxy_pass http://b/redir/;
			proxy_redirect http://one.example/ http://two.example/;
			proxy_redirect ~^http://([a-z]+)\.re\.example(/.*)$ https://$1.example$2;
			proxy_redirect ~*/CASE/(.*) /lower/$1;
			proxy_redirect http://$host/ /self/;
			proxy_redirect default; }
		location /off/ { proxy_pass http://b/redir/; proxy_redirect off; }
	}}`
	h := startProxy(t, conf, Options{})
	addr := h.addr["127.0.0.1:18080"]
	port := portOf(addr)
	cases := []struct{ path, location, refresh string }{
		{"/d/x?to=http://b/redir/y", "http://s.example:" + port + "/d/y", ""},
		{"/d/x?to=http://b/other", "http://b/other", ""},
		{"/r/x?to=http://one.example/p", "http://two.example/p", ""},
		{"/r/x?to=http://abc.re.example/p/q", "https://abc.example/p/q", ""},
		{"/r/x?to=http://a.example/case/z", "http://s.example:" + port + "/lower/z", ""},
		{"/r/x?to=http://s.example/me", "http://s.example:" + port + "/self/me", ""},
		{"/r/x?to=http://b/redir/k", "http://s.example:" + port + "/r/k", ""},
		{"/r/x?to=http://nomatch.example/k", "http://nomatch.example/k", ""},
		{"/r/x?to=/a&refresh=5%3B%20url=http://one.example/r", "/a", "5; url=http://two.example/r"},
		{"/off/x?to=http://b/redir/k", "http://b/redir/k", ""},
	}
	for _, tc := range cases {
		resp, _ := get(t, addr, "GET "+tc.path+" HTTP/1.1\r\nHost: s.example\r\nConnection: close\r\n\r\n")
		if got := resp.Header.Get("Location"); got != tc.location {
			t.Errorf("%s: Location %q, want %q", tc.path, got, tc.location)
		}
		if got := resp.Header.Get("Refresh"); got != tc.refresh {
			t.Errorf("%s: Refresh %q, want %q", tc.path, got, tc.refresh)
		}
	}
}

// TestErrorPageConcurrent serves compressed error pages from many
// connections at once (the race detector checks the shared state and the
// pooled compressors).
func TestErrorPageConcurrent(t *testing.T) {
	conf := `events {} http { access_log off;
	upstream dead { server 127.0.0.1:1; }
	server { listen 127.0.0.1:18080;
		location / { proxy_pass http://dead; error_page 502 =200 /p; }
		location = /p { gzip on; gzip_types text/plain; gzip_min_length 1; return 200 "sorry $uri $request_uri"; }
	}}`
	h := startProxy(t, conf, Options{})
	addr := h.addr["127.0.0.1:18080"]
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, waitLimit)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(waitLimit))
			br := bufio.NewReader(c)
			for j := range 20 {
				fmt.Fprintf(c, "GET /x%d-%d HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n", i, j)
				resp, body, err := readResponse(br, false)
				if err != nil {
					errs <- err.Error()
					return
				}
				if resp.Header.Get("Content-Encoding") != "gzip" {
					errs <- "the page was not compressed"
					return
				}
				zr, err := gzip.NewReader(strings.NewReader(body))
				if err != nil {
					errs <- err.Error()
					return
				}
				b, err := io.ReadAll(zr)
				if want := fmt.Sprintf("sorry /p /x%d-%d", i, j); err != nil || resp.StatusCode != 200 || string(b) != want {
					errs <- fmt.Sprintf("%d %q %v, want 200 %q", resp.StatusCode, b, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
