package httpproxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// recorder is a raw HTTP/1 backend that records every request it gets
// (head lines sorted, body) and answers as its role says: "auth" by the
// X-Token header (200 with X-User, 401 with WWW-Authenticate, 403, else
// 500), "main" with the request head as body, "mirror" with 200.
type recorder struct {
	addr string
	mu   sync.Mutex
	reqs []string
}

func startRecorder(t *testing.T, role string) *recorder {
	rec := &recorder{}
	ln := testutil.Listen(t)
	rec.addr = ln.Addr().String()
	testutil.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(waitLimit))
		br := bufio.NewReader(c)
		for {
			var head bytes.Buffer
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(line)
				if line == "\r\n" {
					break
				}
			}
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head.Bytes())))
			if err != nil {
				return
			}
			var body []byte
			if req.ContentLength > 0 {
				body = make([]byte, req.ContentLength)
				io.ReadFull(br, body)
			}
			lines := strings.Split(strings.TrimSuffix(head.String(), "\r\n\r\n"), "\r\n")
			sort.Strings(lines[1:])
			rec.mu.Lock()
			rec.reqs = append(rec.reqs, strings.Join(lines, "\n")+"\n\n"+string(body))
			rec.mu.Unlock()
			status, extra, out := "200 OK", "", "ok"
			switch role {
			case "auth":
				out = "auth body"
				switch req.Header.Get("X-Token") {
				case "good":
					extra = "X-User: alice\r\n"
				case "bad":
					status, extra = "401 Unauthorized", "WWW-Authenticate: Bearer realm=\"api\"\r\nX-User: mallory\r\n"
				case "forbid":
					status = "403 Forbidden"
				default:
					status = "500 Internal Server Error"
				}
			case "main":
				out = head.String() + string(body)
			}
			fmt.Fprintf(c, "HTTP/1.1 %s\r\n%sContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", status, extra, len(out), out)
			if req.Close {
				return
			}
		}
	})
	return rec
}

func (rec *recorder) take() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r := rec.reqs
	rec.reqs = nil
	return r
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

// subrequestDiffConf uses auth_request, auth_request_set, internal,
// satisfy and mirror as the documentation of nginx shows them.
const subrequestDiffConf = `
	log_format sub '$request_method $request_uri $status $upstream_status user=$user st=$auth_status';
	upstream main { server MAIN; }
	upstream auth { server AUTH; }
	upstream mirror { server MIRROR; }
	server { listen LISTEN;
		access_log ACCESS sub;
		error_log ERRLOG info;
		location /api/ {
			auth_request /_auth;
			auth_request_set $user $upstream_http_x_user;
			auth_request_set $auth_status $upstream_status;
			proxy_set_header X-User $user;
			proxy_pass http://main;
		}
		location /any/ { satisfy any; deny all; auth_request /_auth; proxy_pass http://main; }
		location /anyok/ { satisfy any; allow all; auth_request /_auth; proxy_pass http://main; }
		location /all/ { deny all; auth_request /_auth; proxy_pass http://main; }
		location /off/ { auth_request /_auth; location /off/in/ { auth_request off; proxy_pass http://main; } }
		location /ret/ { auth_request /_ret; return 200 "after auth $uri\n"; }
		location = /_ret { internal; return 204; }
		location /rw/ { rewrite ^/rw/(.*)$ /_internal/$1 last; }
		location /_internal/ { internal; return 200 "internal $uri\n"; }
		location /missing/ { auth_request /nowhere; proxy_pass http://main; }
		location /authdown/ { auth_request /_authdown; proxy_pass http://main; }
		location = /_authdown { internal; proxy_pass http://DEAD; }
		location /login/ { auth_request /_auth; error_page 401 = @login; error_page 403 =200 /_denied; proxy_pass http://main; }
		location @login { return 302 /signin?rd=$request_uri; }
		location = /_denied { internal; return 200 "denied page\n"; }
		location /both/ { auth_request /_auth; mirror /_mirror; proxy_pass http://main; }
		location /basic/ { satisfy any; auth_basic "realm"; auth_basic_user_file HTPASSWD; auth_request /_auth; proxy_pass http://main; }
		location /rd/ { auth_request /_redir; proxy_pass http://main; }
		location = /_redir { internal; return 302 /elsewhere; }
		location /q/ { auth_request /_auth?from=q; proxy_pass http://main; }
		location /intdir/ { internal; proxy_pass http://main; }
		location /ep/ { error_page 404 = /intdir/page; return 404; }
		location = /_auth {
			internal;
			proxy_pass http://auth/check;
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header X-Original-URI $request_uri;
			proxy_set_header X-Original-Method $request_method;
		}
		location /m/ { mirror /_mirror; mirror /_mirror2; proxy_pass http://main; }
		location /mnb/ { mirror /_mirror_nb; mirror_request_body off; proxy_pass http://main; }
		location = /_mirror { internal; proxy_pass http://mirror$request_uri; }
		location = /_mirror2 { internal; proxy_set_header X-Mirror 2; proxy_pass http://mirror; }
		location = /_mirror_nb { internal; proxy_pass http://mirror; proxy_pass_request_body off; proxy_set_header Content-Length ""; }
	}`

// TestSubrequestNginxDifferential runs nginx and sluice on one
// configuration with auth_request and mirror, sends both the same
// requests and compares what the client gets, what each backend (auth,
// main, mirror) receives, and the access log lines.
func TestSubrequestNginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	dead := testutil.FreeAddr(t)
	type side struct {
		auth, main, mirror *recorder
		addr, access       string
		errlog             string
	}
	mk := func() *side {
		dir := t.TempDir()
		return &side{auth: startRecorder(t, "auth"), main: startRecorder(t, "main"), mirror: startRecorder(t, "mirror"),
			access: filepath.Join(dir, "access.log"), errlog: filepath.Join(dir, "error.log")}
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(htpasswd, []byte("alice:{PLAIN}pw\n"), 0o644)
	conf := func(s *side) string {
		return strings.NewReplacer("DEAD", dead, "MAIN", s.main.addr, "AUTH", s.auth.addr, "MIRROR", s.mirror.addr, "ACCESS", s.access, "ERRLOG", s.errlog, "HTPASSWD", htpasswd).Replace(subrequestDiffConf)
	}
	ng, sl := mk(), mk()
	ng.addr = startNginx(t, conf(ng))
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(conf(sl), "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sl.addr = h.addr["127.0.0.1:18080"]

	requests := []string{
		"POST /api/items?x=1 HTTP/1.1\r\nHost: a\r\nX-Token: good\r\nContent-Length: 7\r\nConnection: close\r\n\r\npayload",
		"GET /api/items HTTP/1.1\r\nHost: a\r\nX-Token: bad\r\nConnection: close\r\n\r\n",
		"GET /api/items HTTP/1.1\r\nHost: a\r\nX-Token: forbid\r\nConnection: close\r\n\r\n",
		"GET /api/items HTTP/1.1\r\nHost: a\r\nX-Token: boom\r\nConnection: close\r\n\r\n",
		"HEAD /api/items HTTP/1.1\r\nHost: a\r\nX-Token: good\r\nConnection: close\r\n\r\n",
		"GET /api/items HTTP/1.1\r\nHost: a\r\nX-Token: good\r\nX-User: forged\r\nAuthorization: Bearer t\r\nCookie: s=1\r\nConnection: close\r\n\r\n",
		"GET /any/ HTTP/1.1\r\nHost: a\r\nX-Token: good\r\nConnection: close\r\n\r\n",
		"GET /any/ HTTP/1.1\r\nHost: a\r\nX-Token: bad\r\nConnection: close\r\n\r\n",
		"GET /any/ HTTP/1.1\r\nHost: a\r\nX-Token: forbid\r\nConnection: close\r\n\r\n",
		"GET /anyok/ HTTP/1.1\r\nHost: a\r\nX-Token: bad\r\nConnection: close\r\n\r\n",
		"GET /all/ HTTP/1.1\r\nHost: a\r\nX-Token: good\r\nConnection: close\r\n\r\n",
		"GET /off/in/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /off/ HTTP/1.1\r\nHost: a\r\nX-Token: bad\r\nConnection: close\r\n\r\n",
		"GET /ret/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /_ret HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /_auth HTTP/1.1\r\nHost: a\r\nX-Token: good\r\nConnection: close\r\n\r\n",
		"GET /_internal/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /rw/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /missing/ HTTP/1.1\r\nHost: a\r\nX-Token: good\r\nConnection: close\r\n\r\n",
		"POST /m/a?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nX-Extra: e\r\nConnection: close\r\n\r\ndata",
		"POST /m/c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /m/g HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"POST /m/e HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"POST /mnb/e HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"POST /api/e HTTP/1.1\r\nHost: a\r\nX-Token: good\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"POST /mnb/ HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecret",
		"GET /authdown/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /login/x?y=1 HTTP/1.1\r\nHost: a\r\nX-Token: bad\r\nConnection: close\r\n\r\n",
		"GET /login/x HTTP/1.1\r\nHost: a\r\nX-Token: forbid\r\nConnection: close\r\n\r\n",
		"GET /login/x HTTP/1.1\r\nHost: a\r\nX-Token: good\r\nConnection: close\r\n\r\n",
		"PUT /both/ HTTP/1.1\r\nHost: a\r\nX-Token: bad\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno",
		"PUT /both/ HTTP/1.1\r\nHost: a\r\nX-Token: good\r\nContent-Length: 3\r\nConnection: close\r\n\r\nyes",
		"HEAD /m/h HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /basic/ HTTP/1.1\r\nHost: a\r\nX-Token: bad\r\nConnection: close\r\n\r\n",
		"GET /basic/ HTTP/1.1\r\nHost: a\r\nX-Token: good\r\nConnection: close\r\n\r\n",
		"GET /basic/ HTTP/1.1\r\nHost: a\r\nX-Token: bad\r\nAuthorization: Basic YWxpY2U6cHc=\r\nConnection: close\r\n\r\n",
		"GET /basic/ HTTP/1.1\r\nHost: a\r\nX-Token: forbid\r\nConnection: close\r\n\r\n",
		"GET /rd/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /q/?a=1 HTTP/1.1\r\nHost: a\r\nX-Token: good\r\nConnection: close\r\n\r\n",
		"GET /intdir HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /intdir/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /ep/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		// keep-alive: a 401 keeps the connection, a 500 closes it
		"GET /api/1 HTTP/1.1\r\nHost: a\r\nX-Token: bad\r\n\r\nGET /api/2 HTTP/1.1\r\nHost: a\r\nX-Token: boom\r\n\r\n",
	}
	for _, req := range requests {
		want := normalizeResponse(rawRequest(t, ng.addr, req), ng.addr)
		got := normalizeResponse(rawRequest(t, sl.addr, req), sl.addr)
		if got != want {
			t.Errorf("request %q:\nsluice:\n%s\nnginx:\n%s", firstLine(req), got, want)
		}
		// what the auth service saw for this request
		if a, b := ng.auth.take(), sl.auth.take(); strings.Join(a, "|") != strings.Join(b, "|") {
			t.Errorf("request %q: the auth service saw\nsluice: %q\nnginx:  %q", firstLine(req), b, a)
		}
	}
	// the mirrors run in the background
	testutil.WaitFor(t, "the mirror requests", func() bool {
		return ng.mirror.count() == 13 && sl.mirror.count() == 13
	})
	a, b := ng.mirror.take(), sl.mirror.take()
	sort.Strings(a)
	sort.Strings(b)
	if strings.Join(a, "|") != strings.Join(b, "|") {
		t.Errorf("the mirror saw\nsluice: %q\nnginx:  %q", b, a)
	}
	var ngLog, slLog []byte
	testutil.WaitFor(t, "the access logs", func() bool {
		ngLog, _ = os.ReadFile(ng.access)
		slLog, _ = os.ReadFile(sl.access)
		n := len(requests) + 1 // one of them holds two requests
		return bytes.Count(ngLog, []byte("\n")) == n && bytes.Count(slLog, []byte("\n")) == n
	})
	if string(ngLog) != string(slLog) {
		t.Errorf("access log:\nsluice:\n%s\nnginx:\n%s", slLog, ngLog)
	}
	// the error log lines of the subrequests, without time, pid and
	// connection number, and with the backends' addresses replaced
	errLines := func(s *side) string {
		b, _ := os.ReadFile(s.errlog)
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, "subrequest") && !strings.Contains(l, "auth request") ||
				strings.Contains(l, `open() "`) { // nginx looks for a file: sluice serves none
				continue
			}
			if i := strings.Index(l, "] "); i >= 0 {
				lvl := l[strings.Index(l, "[") : i+1]
				l = l[i+2:]
				if j := strings.Index(l, ": *"); j >= 0 {
					l = l[j+3:]
				}
				if j := strings.IndexByte(l, ' '); j >= 0 {
					l = lvl + l[j:]
				}
			}
			out = append(out, strings.NewReplacer(dead, "DEAD", s.auth.addr, "AUTH").Replace(l))
		}
		return strings.Join(out, "\n")
	}
	if a, b := errLines(ng), errLines(sl); a != b {
		t.Errorf("error log:\nsluice:\n%s\nnginx:\n%s", b, a)
	}
}

// TestSubrequestNginxDifferentialH2 sends HTTP/2 requests (prior
// knowledge) to nginx and sluice on one configuration with auth_request
// and mirror, and compares the answers and what the backends receive.
func TestSubrequestNginxDifferentialH2(t *testing.T) {
	testutil.NeedNginx(t)
	type side struct {
		auth, main, mirror *recorder
		base               string
	}
	mk := func() *side {
		return &side{auth: startRecorder(t, "auth"), main: startRecorder(t, "main"), mirror: startRecorder(t, "mirror")}
	}
	conf := func(s *side) string {
		return strings.NewReplacer("MAIN", s.main.addr, "AUTH", s.auth.addr, "MIRROR", s.mirror.addr).Replace(`
	upstream main { server MAIN; }
	upstream auth { server AUTH; }
	upstream mirror { server MIRROR; }
	server { listen LISTEN http2;
		location /api/ {
			auth_request /_auth;
			auth_request_set $user $upstream_http_x_user;
			proxy_set_header X-User $user;
			mirror /_mirror;
			proxy_pass http://main;
		}
		location = /_auth {
			internal;
			proxy_pass http://auth/check;
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header X-Original-URI $request_uri;
			proxy_set_header X-Original-Method $request_method;
		}
		location = /_mirror { internal; proxy_pass http://mirror$request_uri; }
	}`)
	}
	ng, sl := mk(), mk()
	ng.base = "http://" + startNginx(t, conf(ng))
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(conf(sl), "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sl.base = h.url("127.0.0.1:18080", "")
	client, _ := h2cClient(t)
	type call struct{ method, path, token, body string }
	calls := []call{
		{"POST", "/api/a?x=1", "good", "payload"},
		{"GET", "/api/b", "bad", ""},
		{"PUT", "/api/c", "forbid", "x"},
		{"GET", "/api/d", "boom", ""},
		{"GET", "/_auth", "good", ""},
	}
	answer := func(s *side, c call) string {
		req, _ := http.NewRequest(c.method, s.base+c.path, strings.NewReader(c.body))
		req.Header.Set("X-Token", c.token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if i := strings.Index(body, "<hr><center>"); i >= 0 {
			body = body[:i] // the footer names the server
		}
		if head, rest, ok := strings.Cut(body, "\r\n\r\n"); ok {
			lines := strings.Split(head, "\r\n")
			sort.Strings(lines[1:])
			body = strings.Join(lines, "\n") + "\n\n" + rest
		}
		return fmt.Sprintf("%s %d www-authenticate=%q\n%s", resp.Proto, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	for _, c := range calls {
		if want, got := answer(ng, c), answer(sl, c); got != want {
			t.Errorf("%s %s:\nsluice: %s\nnginx:  %s", c.method, c.path, got, want)
		}
		if a, b := ng.auth.take(), sl.auth.take(); strings.Join(a, "|") != strings.Join(b, "|") {
			t.Errorf("%s %s: the auth service saw\nsluice: %q\nnginx:  %q", c.method, c.path, b, a)
		}
	}
	testutil.WaitFor(t, "the mirror requests", func() bool {
		return ng.mirror.count() == 1 && sl.mirror.count() == 1
	})
	if a, b := ng.mirror.take(), sl.mirror.take(); strings.Join(a, "|") != strings.Join(b, "|") {
		t.Errorf("the mirror saw\nsluice: %q\nnginx:  %q", b, a)
	}
}
