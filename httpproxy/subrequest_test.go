package httpproxy

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// authBackend is the shape of oauth2-proxy, Authelia or an API-key
// service: it answers by the X-Token header, 200 with X-User for "good",
// 401 with WWW-Authenticate for "bad", 403 for "forbid", 500 otherwise.
// It records what it saw of each request.
type authBackend struct {
	*backend
	mu   sync.Mutex
	seen []string
	hits atomic.Int64
}

func startAuthBackend(t *testing.T) *authBackend {
	ab := &authBackend{}
	ab.backend = startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ab.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		ab.mu.Lock()
		ab.seen = append(ab.seen, fmt.Sprintf("%s %s uri=%s method=%s cl=%q body=%q", r.Method, r.URL.RequestURI(),
			r.Header.Get("X-Original-URI"), r.Header.Get("X-Original-Method"), r.Header.Get("Content-Length"), b))
		ab.mu.Unlock()
		switch r.Header.Get("X-Token") {
		case "good":
			w.Header().Set("X-User", "alice")
			io.WriteString(w, "auth body, never seen by the client")
		case "bad":
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			w.WriteHeader(401)
		case "forbid":
			w.WriteHeader(403)
		default:
			w.WriteHeader(500)
		}
	}))
	return ab
}

func (ab *authBackend) last() string {
	ab.mu.Lock()
	defer ab.mu.Unlock()
	if len(ab.seen) == 0 {
		return ""
	}
	return ab.seen[len(ab.seen)-1]
}

// echoMain answers with the method, URI, X-User header and body it got.
func echoMain(t *testing.T) *backend {
	return startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "main %s %s user=%q status=%q body=%q", r.Method, r.URL.RequestURI(), r.Header.Get("X-User"), r.Header.Get("X-Auth-Status"), b)
	}))
}

const authRequestTestConf = `events {} http {
	log_format l '$request_method $uri $status $upstream_addr user=$user';
	access_log {{DIR}}/logs/access.log l;
	server { listen 127.0.0.1:18301 http2;
		location /api/ {
			auth_request /_auth;
			auth_request_set $user $upstream_http_x_user;
			auth_request_set $auth_status $upstream_status;
			proxy_set_header X-User $user;
			proxy_set_header X-Auth-Status $auth_status;
			proxy_pass http://MAIN;
		}
		location /open/ { proxy_pass http://MAIN; }
		location /any/ { satisfy any; allow 127.0.0.1; deny all; auth_request /_auth; proxy_pass http://MAIN; }
		location /all/ { deny all; auth_request /_auth; proxy_pass http://MAIN; }
		location /nohandler/ { auth_request /missing; proxy_pass http://MAIN; }
		location /ret/ { auth_request /_ret; return 200 "after auth\n"; }
		location = /_ret { internal; return 204; }
		location = /_auth {
			internal;
			proxy_pass http://AUTH/check;
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header X-Original-URI $request_uri;
			proxy_set_header X-Original-Method $request_method;
		}
	}
}`

// TestAuthRequest puts an auth service in front of an API: the answer of
// the auth subrequest decides, and the user it names reaches the API
// through auth_request_set and proxy_set_header, over HTTP/1.1 and HTTP/2.
func TestAuthRequest(t *testing.T) {
	ab := startAuthBackend(t)
	main := echoMain(t)
	conf := strings.NewReplacer("MAIN", main.addr, "AUTH", ab.addr).Replace(authRequestTestConf)
	h := startProxy(t, conf, Options{})
	base := h.url("127.0.0.1:18301", "")
	h2c, _ := h2cClient(t)
	clients := map[string]*http.Client{"HTTP/1.1": {Timeout: waitLimit}, "HTTP/2": h2c}
	for proto, client := range clients {
		do := func(method, path, token, body string) (*http.Response, string) {
			t.Helper()
			req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
			if token != "" {
				req.Header.Set("X-Token", token)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s %s: %v", proto, method, path, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp, string(b)
		}
		resp, body := do("POST", "/api/items?x=1", "good", "payload")
		if resp.StatusCode != 200 || body != `main POST /api/items?x=1 user="alice" status="200" body="payload"` {
			t.Errorf("%s good token: %d %q", proto, resp.StatusCode, body)
		}
		if got, want := ab.last(), `GET /check uri=/api/items?x=1 method=POST cl="" body=""`; got != want {
			t.Errorf("%s auth service saw %q, want %q", proto, got, want)
		}
		resp, body = do("GET", "/api/items", "bad", "")
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="api"` || !strings.Contains(body, "401 Authorization Required") {
			t.Errorf("%s bad token: %d %q %q", proto, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
		if resp, _ = do("GET", "/api/items", "forbid", ""); resp.StatusCode != 403 || resp.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s forbidden: %d %v", proto, resp.StatusCode, resp.Header)
		}
		if resp, _ = do("GET", "/api/items", "boom", ""); resp.StatusCode != 500 {
			t.Errorf("%s auth error: %d", proto, resp.StatusCode)
		}
		if resp, _ = do("GET", "/_auth", "good", ""); resp.StatusCode != 404 {
			t.Errorf("%s internal location asked directly: %d, want 404", proto, resp.StatusCode)
		}
		if resp, _ = do("GET", "/nohandler/", "good", ""); resp.StatusCode != 500 {
			t.Errorf("%s auth URI without location: %d, want 500", proto, resp.StatusCode)
		}
		if resp, body = do("GET", "/ret/", "", ""); resp.StatusCode != 200 || body != "after auth\n" {
			t.Errorf("%s auth by return 204: %d %q", proto, resp.StatusCode, body)
		}
		hits := ab.hits.Load()
		if resp, _ = do("GET", "/any/", "bad", ""); resp.StatusCode != 200 {
			t.Errorf("%s satisfy any with an allowed address: %d", proto, resp.StatusCode)
		}
		if resp, _ = do("GET", "/all/", "good", ""); resp.StatusCode != 403 {
			t.Errorf("%s deny before auth_request: %d", proto, resp.StatusCode)
		}
		if n := ab.hits.Load(); n != hits {
			t.Errorf("%s the auth service was asked %d times when allow/deny decided", proto, n-hits)
		}
		if _, body = do("GET", "/open/", "good", ""); body != `main GET /open/ user="" status="" body=""` {
			t.Errorf("%s location without auth_request: %q", proto, body)
		}
	}
	logFile := filepath.Join(h.dir, "logs/access.log")
	var text string
	testutil.WaitFor(t, "access log", func() bool {
		b, _ := os.ReadFile(logFile)
		text = string(b)
		return strings.Count(text, "\n") >= 2*10
	})
	for _, want := range []string{
		"POST /api/items 200 " + main.addr + " user=alice\n",
		"GET /api/items 401 - user=\n",
		"GET /api/items 403 - user=\n",
		"GET /api/items 500 - user=\n",
		"GET /_auth 404 - user=-\n",
		"GET /open/ 200 " + main.addr + " user=-\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("access log lacks %q:\n%s", want, text)
		}
	}
	if errs := h.errs.String(); !strings.Contains(errs, `auth request unexpected status: 500 while sending to client, client: 127.0.0.1, server: , request: "GET /api/items HTTP/1.1"`) ||
		!strings.Contains(errs, `auth request unexpected status: 404`) {
		t.Errorf("error log:\n%s", errs)
	}
}

// TestMirror copies requests to a mirror backend in the background: the
// mirror sees each request with its method, URI and body, and the client
// sees only the main backend's answer, also when the mirror is down or
// hangs.
func TestMirror(t *testing.T) {
	main := echoMain(t)
	seen := make(chan string, 64)
	mirror := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- fmt.Sprintf("%s %s %s body=%q", r.Proto[:6], r.Method, r.URL.RequestURI(), b)
		io.WriteString(w, "mirror answer, never seen")
	}))
	release := make(chan struct{})
	arrived := make(chan struct{}, 8)
	slow := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer close(release)
	dead := testutil.FreeAddr(t)
	conf := strings.NewReplacer("MAIN", main.addr, "MIRROR", mirror.addr, "SLOW", slow.addr, "DEAD", dead).Replace(`events {} http {
		log_format l '$request_method $uri $status $upstream_addr';
		access_log {{DIR}}/logs/access.log l;
		server { listen 127.0.0.1:18302 http2;
			location /m/ { mirror /_mirror; proxy_pass http://MAIN; }
			location /twice/ { mirror /_mirror; mirror /_mirror; proxy_pass http://MAIN; }
			location /nobody/ { mirror /_mirror_nobody; mirror_request_body off; proxy_pass http://MAIN; }
			location /down/ { mirror /_down; proxy_pass http://MAIN; }
			location /slow/ { mirror /_slow; proxy_pass http://MAIN; }
			location = /_mirror { internal; proxy_pass http://MIRROR$request_uri; }
			location = /_mirror_nobody { internal; proxy_pass http://MIRROR$request_uri; proxy_pass_request_body off; proxy_set_header Content-Length ""; }
			location = /_down { internal; proxy_pass http://DEAD; }
			location = /_slow { internal; proxy_pass http://SLOW; proxy_read_timeout 5s; }
		}
	}`)
	h := startProxy(t, conf, Options{})
	base := h.url("127.0.0.1:18302", "")
	h2c, _ := h2cClient(t)
	next := func(what string) string {
		t.Helper()
		select {
		case s := <-seen:
			return s
		case <-time.After(waitLimit):
			t.Fatalf("%s: the mirror saw nothing", what)
		}
		return ""
	}
	for proto, client := range map[string]*http.Client{"HTTP/1": {Timeout: waitLimit}, "HTTP/2": h2c} {
		post := func(path, body string) string {
			t.Helper()
			resp, err := client.Post(base+path, "text/plain", strings.NewReader(body))
			if err != nil {
				t.Fatalf("%s %s: %v", proto, path, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s %s: status %d", proto, path, resp.StatusCode)
			}
			return string(b)
		}
		if got := post("/m/x?a=1", "data"); got != `main POST /m/x?a=1 user="" status="" body="data"` {
			t.Errorf("%s client got %q", proto, got)
		}
		if got := next(proto); got != `HTTP/1 POST /m/x?a=1 body="data"` {
			t.Errorf("%s mirror saw %q", proto, got)
		}
		post("/twice/", "2")
		for range 2 {
			if got := next(proto); got != `HTTP/1 POST /twice/ body="2"` {
				t.Errorf("%s second mirror saw %q", proto, got)
			}
		}
		if got := post("/nobody/", "secret"); got != `main POST /nobody/ user="" status="" body="secret"` {
			t.Errorf("%s mirror_request_body off: client got %q", proto, got)
		}
		if got := next(proto); got != `HTTP/1 POST /nobody/ body=""` {
			t.Errorf("%s mirror_request_body off: mirror saw %q", proto, got)
		}
		if got := post("/down/", "x"); got != `main POST /down/ user="" status="" body="x"` {
			t.Errorf("%s mirror down: client got %q", proto, got)
		}
		// a mirror that hangs delays nothing: the response comes while
		// it waits, and so does the next request on the connection
		for range 2 {
			if got := post("/slow/", "y"); got != `main POST /slow/ user="" status="" body="y"` {
				t.Errorf("%s slow mirror: client got %q", proto, got)
			}
			select {
			case <-arrived:
			case <-time.After(waitLimit):
				t.Fatalf("%s: the slow mirror was not asked", proto)
			}
		}
	}
	// a chunked body is mirrored with a Content-Length, as nginx does
	resp := rawRequest(t, h.addr["127.0.0.1:18302"], "POST /m/c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	if !strings.Contains(resp, `body="abc"`) {
		t.Errorf("chunked request: %q", resp)
	}
	if got := next("chunked"); got != `HTTP/1 POST /m/c body="abc"` {
		t.Errorf("chunked: mirror saw %q", got)
	}
	testutil.WaitFor(t, "connect error of the mirror", func() bool {
		return strings.Contains(h.errs.String(), `(111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: , request: "POST /down/ HTTP/1.1", subrequest: "/_down"`)
	})
	b, _ := os.ReadFile(filepath.Join(h.dir, "logs/access.log"))
	if text := string(b); !strings.Contains(text, "POST /down/ 200 "+main.addr+"\n") || strings.Contains(text, "_mirror") {
		t.Errorf("access log:\n%s", text)
	}
}

// TestAuthRequestSetErrors checks that auth_request_set is refused, with
// nginx's words, for a built-in variable or an unknown variable in its
// value, even without auth_request.
func TestAuthRequestSetErrors(t *testing.T) {
	for d, want := range map[string]string{
		"auth_request_set $uri x;":                       `the duplicate "uri" variable`,
		"auth_request_set $remote_user x;":               `the duplicate "remote_user" variable`,
		"auth_request_set $u $nosuch;":                   `unknown "nosuch" variable`,
		"auth_request off; auth_request_set $u $nosuch;": `unknown "nosuch" variable`,
	} {
		hc := loadHTTP(t, t.TempDir(), `events {} http { access_log off; server { listen 127.0.0.1:18080;
			location / { `+d+` proxy_pass http://127.0.0.1:1; } } }`)
		if _, err := Build(hc, Options{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", d, err, want)
		}
	}
}

// TestMirrorStop checks that a mirror waiting for a silent backend ends
// when the connections' context is done (a fast stop), not at its
// proxy_read_timeout.
func TestMirrorStop(t *testing.T) {
	main := echoMain(t)
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	slow := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer close(release)
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18303;
			location / { mirror /_slow; proxy_pass http://`+main.addr+`; }
			location = /_slow { internal; proxy_pass http://`+slow.addr+`; proxy_read_timeout 600s; }
		}
	}`, Options{})
	resp, err := (&http.Client{Timeout: waitLimit}).Get(h.url("127.0.0.1:18303", "/x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-arrived:
	case <-time.After(waitLimit):
		t.Fatal("the mirror was not asked")
	}
	h.stop()
	done := make(chan struct{})
	go func() {
		h.built.Listeners[0].Handler.p.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("the mirror did not end with its context")
	}
}

// TestMirrorLargeBody mirrors a body larger than the buffers, read whole
// first, and checks that the mirror and the main backend get all of it,
// over HTTP/1.1 and HTTP/2, and that a body over client_max_body_size is
// refused with 413 before any mirror is made.
func TestMirrorLargeBody(t *testing.T) {
	sizes := make(chan int, 8)
	sum := func(name string, ch chan int) *backend {
		return startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if ch != nil {
				ch <- len(b)
			}
			fmt.Fprintf(w, "%s %d", name, len(b))
		}))
	}
	main, mirror := sum("main", nil), sum("mirror", sizes)
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18304 http2;
			location / { mirror /_m; client_max_body_size 300k; proxy_pass http://`+main.addr+`; }
			location = /_m { internal; proxy_pass http://`+mirror.addr+`; }
		}
	}`, Options{})
	h2c, _ := h2cClient(t)
	body := strings.Repeat("0123456789abcdef", 200<<10/16)
	for proto, client := range map[string]*http.Client{"HTTP/1": {Timeout: waitLimit}, "HTTP/2": h2c} {
		resp, err := client.Post(h.url("127.0.0.1:18304", "/up"), "application/octet-stream", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("main %d", len(body)); string(b) != want {
			t.Errorf("%s: client got %q, want %q", proto, b, want)
		}
		select {
		case n := <-sizes:
			if n != len(body) {
				t.Errorf("%s: the mirror got %d bytes, want %d", proto, n, len(body))
			}
		case <-time.After(waitLimit):
			t.Fatalf("%s: the mirror got nothing", proto)
		}
	}
	resp := rawRequest(t, h.addr["127.0.0.1:18304"], "POST /big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+
		fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", 400<<10, strings.Repeat("x", 400<<10)))
	if !strings.HasPrefix(resp, "HTTP/1.1 413 ") {
		t.Errorf("chunked body over client_max_body_size: %q", firstLine(resp))
	}
	select {
	case n := <-sizes:
		t.Errorf("a refused request was mirrored (%d bytes)", n)
	default:
	}
}
