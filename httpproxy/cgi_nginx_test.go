package httpproxy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// cgiDiffConf is a PHP-FPM style configuration, with Debian's
// fastcgi.conf, fastcgi_params, uwsgi_params and scgi_params included
// unchanged. FCGI, UWSGI and SCGI are the test application servers, DEAD
// an address that refuses connections, ERRLOG the error log file.
const cgiDiffConf = `
	upstream php { server FCGI; }
	error_log ERRLOG error;
	server { listen LISTEN; server_name example.com; root /srv/www; index index.php;
		location ~ [^/]\.php(/|$) {
			fastcgi_split_path_info ^(.+?\.php)(/.*)$;
			include /etc/nginx/fastcgi.conf;
			fastcgi_param PATH_INFO $fastcgi_path_info;
			fastcgi_param HTTP_PROXY "";
			fastcgi_index index.php;
			fastcgi_pass php;
			add_header X-Up "$upstream_status $fastcgi_script_name" always;
		}
		location / { try_files $uri $uri/ /index.php?$args; }
		location /ep/ { error_page 404 = /index.php; return 404; }
		location /dir/ {
			include /etc/nginx/fastcgi.conf;
			fastcgi_index index.php;
			fastcgi_pass FCGI;
		}
		location /intercept/ {
			include /etc/nginx/fastcgi_params;
			fastcgi_intercept_errors on;
			error_page 404 /nf.html;
			error_page 500 =503 /nf.html;
			fastcgi_pass FCGI;
		}
		location = /nf.html { return 200 "custom error page\n"; }
		location /dead/ { include /etc/nginx/fastcgi_params; fastcgi_pass DEAD; }
		location /slow/ { include /etc/nginx/fastcgi_params; fastcgi_read_timeout 500ms; fastcgi_pass FCGI; }
		location /noheaders/ { fastcgi_pass_request_headers off; fastcgi_param METHOD $request_method; fastcgi_param EMPTY $arg_none if_not_empty; fastcgi_param DOCUMENT_URI $document_uri; fastcgi_pass FCGI; }
		location /nobody/ { include /etc/nginx/fastcgi_params; fastcgi_pass_request_body off; fastcgi_pass FCGI; }
		location /hide/ { include /etc/nginx/fastcgi_params; fastcgi_hide_header X-Powered-By; fastcgi_pass FCGI; }
		location /var/ { include /etc/nginx/fastcgi_params; set $be FCGI; fastcgi_pass $be; }
		location /uwsgi/ { include /etc/nginx/uwsgi_params; uwsgi_modifier1 5; uwsgi_pass UWSGI; }
		location /scgi/ { include /etc/nginx/scgi_params; scgi_pass SCGI; }
	}`

var (
	cgiRemotePort = regexp.MustCompile(`(?m)^(REMOTE_PORT|SERVER_PORT)=\d+$`)
	cgiLogStrip   = regexp.MustCompile(`^\S+ \S+ \[(\w+)\] \d+#\d+: \*\d+ `)
	cgiPortRE     = regexp.MustCompile(`:\d+"`)
)

// TestCGINginxDifferential runs nginx and sluice on one configuration
// in front of the same FastCGI, uwsgi and SCGI application servers and
// compares what the servers receive (every parameter, the body) and what
// the clients get (status, headers, body), error pages and error log
// lines included.
func TestCGINginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	testutil.SkipUnless(t, "/etc/nginx/fastcgi.conf", "/etc/nginx/uwsgi_params", "/etc/nginx/scgi_params")
	fcgi := startCGIBackend(t, "fastcgi")
	uwsgi := startCGIBackend(t, "uwsgi")
	scgi := startCGIBackend(t, "scgi")
	dir := t.TempDir()
	nginxLog, sluiceLog := filepath.Join(dir, "nginx.log"), filepath.Join(dir, "sluice.log")
	body := strings.NewReplacer("FCGI", fcgi.addr, "UWSGI", uwsgi.addr, "SCGI", scgi.addr, "DEAD", refusedAddr(t)).Replace(cgiDiffConf)
	nginxAddr := startNginx(t, strings.ReplaceAll(body, "ERRLOG", nginxLog))
	h := startProxy(t, "events {} http { access_log off;\n"+strings.NewReplacer("LISTEN", "127.0.0.1:18080", "ERRLOG", sluiceLog).Replace(body)+"}", Options{Version: "1.22.1"})
	sluiceAddr := h.addr["127.0.0.1:18080"]

	reqs := []string{
		"GET /index.php?a=1&b=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test/1.0\r\nAccept: */*\r\nX-Custom-Header: v\r\nConnection: close\r\n\r\n",
		"GET /app.php/some/path?q HTTP/1.1\r\nHost: Example.com:8080\r\nConnection: close\r\n\r\n",
		"GET /a%20b.php HTTP/1.1\r\nHost: example.com\r\nCookie: s=1\r\nConnection: close\r\n\r\n",
		"POST /form.php HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\nConnection: close\r\n\r\nx=1&y=2",
		"POST /chunk.php HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
		"PUT /length.php HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
		"HEAD /index.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /index.php HTTP/1.0\r\n\r\n",
		"GET /missing.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /fail.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /created.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /redirect.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /plain.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /stderr.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /empty.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /bad.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /dir/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /blog/a-post?p=2 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"POST /blog/comment HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnice",
		"GET /ep/x?y=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /intercept/missing.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /intercept/fail.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /intercept/ok HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /dead/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /slow/slow.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /noheaders/x?none= HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nConnection: close\r\n\r\n",
		"POST /nobody/x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
		"GET /hide/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /var/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"POST /uwsgi/app?x=1 HTTP/1.1\r\nHost: example.com\r\nX-B: 2\r\nContent-Length: 4\r\nConnection: close\r\n\r\nwsgi",
		"GET /uwsgi/redirect.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"POST /scgi/app?y=2 HTTP/1.1\r\nHost: example.com\r\nX-C: 3\r\nContent-Length: 4\r\nConnection: close\r\n\r\nscgi",
		"GET /scgi/missing.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
	}
	norm := func(resp, addr string) string {
		resp = cgiRemotePort.ReplaceAllString(resp, "$1=X")
		return normalizeResponse(resp, addr)
	}
	for _, req := range reqs {
		want := norm(rawRequest(t, nginxAddr, req), nginxAddr)
		got := norm(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if got != want {
			t.Errorf("%s:\nsluice:\n%s\nnginx:\n%s", firstLine(req), got, want)
		}
	}
	// the error log lines, without dates, ids and ports
	logLines := func(path string) []string {
		b, _ := os.ReadFile(path)
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			l = cgiLogStrip.ReplaceAllString(l, "[$1] ")
			out = append(out, cgiPortRE.ReplaceAllString(l, `:PORT"`))
		}
		return out
	}
	testutil.WaitFor(t, "sluice's error log", func() bool { return len(logLines(sluiceLog)) >= len(logLines(nginxLog)) })
	want, got := logLines(nginxLog), logLines(sluiceLog)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("error log:\nsluice:\n%s\nnginx:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCGIKeepConn checks fastcgi_keep_conn with an upstream keepalive
// pool: several requests, bodies of either framing among them, go over
// one connection to the application server; without keep_conn each has
// its own.
func TestCGIKeepConn(t *testing.T) {
	for _, keep := range []bool{true, false} {
		be := startCGIBackend(t, "fastcgi")
		kc := "off"
		if keep {
			kc = "on"
		}
		h := startProxy(t, `events {} http { access_log off;
			upstream php { server `+be.addr+`; keepalive 2; }
			server { listen 127.0.0.1:18080; location / {
				fastcgi_param DOCUMENT_URI $document_uri; fastcgi_param CONTENT_LENGTH $content_length;
				fastcgi_keep_conn `+kc+`; fastcgi_pass php; } } }`, Options{})
		addr := h.addr["127.0.0.1:18080"]
		paths := []string{"/a", "/length.php", "/b", "/redirect.php", "/missing.php", "/c"}
		for _, p := range paths {
			got := rawRequest(t, addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if !strings.Contains(got, "HTTP/1.1 ") || strings.Contains(got, " 50") {
				t.Fatalf("%s: %q", p, got)
			}
			if strings.HasSuffix(p, "/a") && !strings.Contains(got, "DOCUMENT_URI=/a\n") {
				t.Errorf("%s: %q", p, got)
			}
		}
		got := rawRequest(t, addr, "POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz")
		if !strings.Contains(got, "body=xyz\n") {
			t.Errorf("POST: %q", got)
		}
		want := int64(1)
		if !keep {
			want = int64(len(paths) + 1)
		}
		if n := be.conns.Load(); n != want {
			t.Errorf("keep_conn %s: %d connections for %d requests, want %d", kc, n, be.reqs.Load(), want)
		}
	}
}
