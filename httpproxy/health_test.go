package httpproxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// hcBackend is a backend whose health check answers can be changed while
// a test runs: it records the health check requests (those for hcPath)
// apart from the client requests it answers with its name.
type hcBackend struct {
	*backend
	name    string
	hcPath  string
	status  atomic.Int32 // the status of every answer; 200 at first
	clients atomic.Int64 // client requests answered
	checks  atomic.Int64 // health check requests answered
	mu      sync.Mutex
	last    *http.Request // the last health check request
}

func startHCBackend(t *testing.T, name, hcPath string) *hcBackend {
	b := &hcBackend{name: name, hcPath: hcPath}
	b.status.Store(200)
	b.backend = startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == b.hcPath {
			b.mu.Lock()
			b.last = r
			b.mu.Unlock()
			b.checks.Add(1)
		} else {
			b.clients.Add(1)
		}
		w.WriteHeader(int(b.status.Load()))
		io.WriteString(w, b.name)
	}))
	return b
}

func (b *hcBackend) lastCheck() *http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// startChecks runs the build's Starters, and its Stoppers when the test
// ends (before the proxy and the backends stop), as the runtime does.
func startChecks(t *testing.T, h *harness) {
	for _, f := range h.built.Starters {
		f()
	}
	t.Cleanup(func() {
		for _, f := range h.built.Stoppers {
			f()
		}
	})
}

// waitFor waits until cond holds, failing the test after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // the checks run on their own timers
	}
}

// waitLog waits for a line of the error log that holds s; with level
// ("warn", "notice"), at that level.
func waitLog(t *testing.T, h *harness, level, s string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("[%s] %q in the error log:\n%s", level, s, h.errs.String()), func() bool {
		for _, line := range strings.Split(h.errs.String(), "\n") {
			if strings.Contains(line, s) && (level == "" || strings.Contains(line, " ["+level+"] ")) {
				return true
			}
		}
		return false
	})
}

// getN sends n requests to url and returns the bodies of their answers,
// failing the test on an error or a status other than 200.
func getN(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	client := &http.Client{Timeout: waitLimit}
	for range n {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %q", resp.StatusCode, b)
		}
		got[string(b)]++
	}
	return got
}

// TestHealthCheckUnhealthyAndBack drives a check the way a user sees it:
// a server that starts answering 500 is found unhealthy within about an
// interval, with NGINX Plus's log line, and gets no client request while
// every client request succeeds on the other server; it comes back after
// passes= good checks in a row. The checks ask for uri= with the Host
// $proxy_host gives, over proxy_http_version.
func TestHealthCheckUnhealthyAndBack(t *testing.T) {
	a, b := startHCBackend(t, "a", "/hc"), startHCBackend(t, "b", "/hc")
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
		upstream u { zone u 64k; server %s; server %s max_fails=0; }
		server { listen 127.0.0.1:18080;
			location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header X-Check "on $proxy_host:$proxy_port $remote_addr";
				health_check interval=100ms passes=3 uri=/hc; } } }`, a.addr, b.addr), Options{})
	startChecks(t, h)
	url := h.url("127.0.0.1:18080", "/x")
	waitFor(t, "checks of both servers", func() bool { return a.checks.Load() > 0 && b.checks.Load() > 0 })
	r := b.lastCheck()
	if r.Method != "GET" || r.URL.String() != "/hc" || r.Host != "u" || r.Proto != "HTTP/1.1" ||
		r.Header.Get("X-Check") != "on u:80" || r.Header.Get("Connection") != "close" || r.UserAgent() != "" {
		t.Errorf("health check request: %s %s %s Host %q headers %v", r.Method, r.URL, r.Proto, r.Host, r.Header)
	}
	if got := getN(t, url, 10); got["a"] == 0 || got["b"] == 0 {
		t.Fatalf("both servers healthy: %v", got)
	}

	b.status.Store(500)
	changed := time.Now()
	waitLog(t, h, "warn", fmt.Sprintf(`peer is unhealthy while checking status code, health check "" of peer %s in upstream "u"`, b.addr))
	if d := time.Since(changed); d > 2*time.Second {
		t.Errorf("found unhealthy after %v", d)
	}
	b.clients.Store(0)
	if got := getN(t, url, 20); got["a"] != 20 {
		t.Errorf("answers with b unhealthy: %v", got)
	}
	if n := b.clients.Load(); n != 0 {
		t.Errorf("%d client requests reached the unhealthy server", n)
	}

	checks := b.checks.Load()
	b.status.Store(200)
	waitLog(t, h, "notice", fmt.Sprintf(`peer is healthy, health check "" of peer %s in upstream "u"`, b.addr))
	if n := b.checks.Load() - checks; n < 3 {
		t.Errorf("healthy again after %d good checks, want passes=3", n)
	}
	waitFor(t, "client requests on b again", func() bool { return getN(t, url, 4)["b"] > 0 })
}

// TestHealthCheckConnectRefused: a server that stops listening is found
// unhealthy (connect() failed, as nginx logs it) and every client request
// goes to the other server.
func TestHealthCheckConnectRefused(t *testing.T) {
	a, b := startHCBackend(t, "a", "/"), startHCBackend(t, "b", "/")
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
		upstream u { zone u 64k; server %s; server %s max_fails=0; }
		server { listen 127.0.0.1:18080; location /x { proxy_pass http://u; health_check interval=100ms fails=2; } } }`, a.addr, b.addr), Options{})
	startChecks(t, h)
	waitFor(t, "a check of b", func() bool { return b.checks.Load() > 0 })
	b.kill()
	waitLog(t, h, "error", fmt.Sprintf(`connect() failed (111: Connection refused) while connecting to upstream, health check "" of peer %s in upstream "u"`, b.addr))
	waitLog(t, h, "warn", fmt.Sprintf(`peer is unhealthy while connecting to upstream, health check "" of peer %s in upstream "u"`, b.addr))
	if got := getN(t, h.url("127.0.0.1:18080", "/x"), 20); got["a"] != 20 {
		t.Errorf("answers: %v", got)
	}
	if n := strings.Count(h.errs.String(), "connect() failed"); n < 2 {
		t.Errorf("unhealthy after %d failed checks, want fails=2", n)
	}
}

// TestHealthCheckMatch runs match blocks against a server's answer: each
// test passes or fails as its block says, and a failing one makes the
// server unhealthy with the phase that failed in the log.
func TestHealthCheckMatch(t *testing.T) {
	big := strings.Repeat("x", 300<<10)
	serve := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("X-State", "ready")
		switch r.URL.Path {
		case "/chunked":
			io.WriteString(w, "Welcome ")
			w.(http.Flusher).Flush()
			io.WriteString(w, "to sluice")
		case "/big":
			io.WriteString(w, big+"late marker")
		case "/teapot":
			w.WriteHeader(418)
			io.WriteString(w, "short and stout")
		default:
			io.WriteString(w, "Welcome to sluice")
		}
	}
	cases := []struct {
		name, uri, match string
		fail             string // the phase that fails, "" for a pass
	}{
		{"status", "/", "status 200;", ""},
		{"status_list", "/", "status 204 200;", ""},
		{"status_range", "/", "status 200-399;", ""},
		{"status_not", "/", "status ! 500-599;", ""},
		{"status_fail", "/", "status 204;", "checking status code"},
		{"status_not_fail", "/", "status ! 200;", "checking status code"},
		{"status_other", "/teapot", "status 418;", ""},
		{"header", "/", "header X-State;", ""},
		{"header_missing", "/", "header X-Other;", "checking headers"},
		{"header_absent", "/", "header ! X-Other;", ""},
		{"header_absent_fail", "/", "header ! X-State;", "checking headers"},
		{"header_eq", "/", "header Content-Type = text/html;", ""},
		{"header_eq_fail", "/", "header X-State = busy;", "checking headers"},
		{"header_ne", "/", "header X-State != busy;", ""},
		{"header_ne_fail", "/", "header X-State != ready;", "checking headers"},
		{"header_re", "/", "header X-State ~ ^rea;", ""},
		{"header_re_fail", "/", "header X-State ~ ^busy;", "checking headers"},
		{"header_nre", "/", "header X-State !~ busy;", ""},
		{"header_nre_fail", "/", "header x-state !~ ready;", "checking headers"},
		{"body", "/", `body ~ "Welcome to s";`, ""},
		{"body_fail", "/", `body ~ "maintenance";`, "checking body"},
		{"body_not", "/", `body !~ "maintenance";`, ""},
		{"body_not_fail", "/", `body !~ "sluice$";`, "checking body"},
		{"body_chunked", "/chunked", `body ~ "^Welcome to sluice$";`, ""},
		{"body_256k", "/big", `body !~ "marker";`, ""},
		{"all", "/", `status 200; header Content-Type = text/html; body ~ "Welcome";`, ""},
		{"all_fail", "/", `status 200; header Content-Type = text/html; body ~ "Goodbye";`, "checking body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var checks atomic.Int64
			srv := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				checks.Add(1)
				serve(w, r)
			}))
			h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
				match m { %s }
				upstream u { zone u 64k; server %s; }
				server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check interval=50ms match=m uri=%s; } } }`,
				tc.match, srv.addr, tc.uri), Options{})
			startChecks(t, h)
			if tc.fail != "" {
				waitLog(t, h, "warn", fmt.Sprintf(`peer is unhealthy while %s, health check "m" of peer %s in upstream "u"`, tc.fail, srv.addr))
				return
			}
			waitFor(t, "three checks", func() bool { return checks.Load() >= 3 })
			if strings.Contains(h.errs.String(), "unhealthy") {
				t.Errorf("unhealthy: %s", h.errs.String())
			}
		})
	}
}

// TestHealthCheckMandatory: under "mandatory" a server gets no client
// request before its first check passes.
func TestHealthCheckMandatory(t *testing.T) {
	a := startHCBackend(t, "a", "/hc")
	release := make(chan struct{})
	var bClients, bChecks atomic.Int64
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hc" {
			if bChecks.Add(1) == 1 {
				<-release // the first check of b waits
			}
		} else {
			bClients.Add(1)
		}
		io.WriteString(w, "b")
	}))
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open)
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
		upstream u { zone u 64k; server %s; server %s; }
		server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check interval=100ms uri=/hc mandatory; } } }`, a.addr, b.addr), Options{})
	startChecks(t, h)
	url := h.url("127.0.0.1:18080", "/x")
	waitLog(t, h, "notice", fmt.Sprintf(`peer is healthy, health check "" of peer %s in upstream "u"`, a.addr))
	waitFor(t, "b's first check", func() bool { return bChecks.Load() == 1 })
	if got := getN(t, url, 10); got["a"] != 10 || bClients.Load() != 0 {
		t.Fatalf("before b's first check passed: %v, %d requests on b", got, bClients.Load())
	}
	open()
	waitLog(t, h, "notice", fmt.Sprintf(`peer is healthy, health check "" of peer %s in upstream "u"`, b.addr))
	waitFor(t, "client requests on b", func() bool { return getN(t, url, 4)["b"] > 0 })
}

// TestHealthCheckPort: port= checks another port of the server: a server
// whose own port answers well but whose check port answers 503 is
// unhealthy, and its own port sees no check.
func TestHealthCheckPort(t *testing.T) {
	a, b := startHCBackend(t, "a", "/"), startHCBackend(t, "b", "/")
	checkPort := startHCBackend(t, "status", "/")
	checkPort.status.Store(503)
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
		upstream u { zone u 64k; server %s; server %s; }
		server { listen 127.0.0.1:18080; location / { proxy_pass http://u; health_check interval=100ms port=%s; } } }`,
		a.addr, b.addr, portOf(checkPort.addr)), Options{})
	startChecks(t, h)
	// both servers are checked on the check port, which fails them all
	waitLog(t, h, "warn", fmt.Sprintf(`peer is unhealthy while checking status code, health check "" of peer %s in upstream "u"`, b.addr))
	waitLog(t, h, "warn", fmt.Sprintf(`peer is unhealthy while checking status code, health check "" of peer %s in upstream "u"`, a.addr))
	if a.checks.Load() != 0 || b.checks.Load() != 0 {
		t.Errorf("checks on the servers' own ports: %d %d", a.checks.Load(), b.checks.Load())
	}
	checkPort.status.Store(200)
	waitLog(t, h, "notice", fmt.Sprintf(`peer is healthy, health check "" of peer %s in upstream "u"`, b.addr))
	waitLog(t, h, "notice", fmt.Sprintf(`peer is healthy, health check "" of peer %s in upstream "u"`, a.addr))
	if got := getN(t, h.url("127.0.0.1:18080", "/x"), 10); got["a"]+got["b"] != 10 {
		t.Errorf("answers: %v", got)
	}
}

// TestHealthCheckTimeout: a server that does not answer a check within
// proxy_read_timeout is unhealthy, with nginx's timeout message.
func TestHealthCheckTimeout(t *testing.T) {
	a := startHCBackend(t, "a", "/hc")
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
		upstream u { zone u 64k; server %s; server %s; }
		server { listen 127.0.0.1:18080; location / { proxy_pass http://u; proxy_read_timeout 100ms; health_check interval=100ms uri=/hc; } } }`,
		a.addr, b.addr), Options{})
	startChecks(t, h)
	waitLog(t, h, "error", fmt.Sprintf(`upstream timed out (110: Connection timed out) while reading response header from upstream, health check "" of peer %s in upstream "u"`, b.addr))
	waitLog(t, h, "warn", fmt.Sprintf(`peer is unhealthy while reading response header from upstream, health check "" of peer %s in upstream "u"`, b.addr))
	if got := getN(t, h.url("127.0.0.1:18080", "/x"), 10); got["a"] != 10 {
		t.Errorf("answers: %v", got)
	}
}

// TestHealthCheckHTTPS: the checks of an https:// upstream run over TLS
// with the location's proxy_ssl_* settings: the server name is sent and
// verified, and a server whose certificate does not verify is unhealthy.
func TestHealthCheckHTTPS(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "Backend CA", CA: true})
	signed := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "signed", DNS: []string{"backend.internal"}, Issuer: ca})
	selfSigned := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "self", DNS: []string{"backend.internal"}})
	good := startTLSBackend(t, "good", signed)
	bad := startTLSBackend(t, "bad", selfSigned)
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
		upstream u { zone u 64k; server %s; server %s; }
		server { listen 127.0.0.1:18080; location / { proxy_pass https://u;
			proxy_ssl_verify on; proxy_ssl_trusted_certificate %s; proxy_ssl_server_name on; proxy_ssl_name backend.internal;
			health_check interval=100ms; } } }`, good.addr, bad.addr, ca.CertFile), Options{})
	startChecks(t, h)
	waitLog(t, h, "error", fmt.Sprintf(`upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream, health check "" of peer %s in upstream "u"`, bad.addr))
	waitLog(t, h, "warn", fmt.Sprintf(`peer is unhealthy while SSL handshaking to upstream, health check "" of peer %s in upstream "u"`, bad.addr))
	waitFor(t, "a check of the good server", func() bool { return good.conns.Load() > 0 })
	if got := getN(t, h.url("127.0.0.1:18080", "/x"), 10); got["good"] != 10 {
		t.Errorf("answers: %v", got)
	}
	if snis, _ := good.seen(); len(snis) == 0 || snis[0] != "backend.internal" {
		t.Errorf("server names: %q", snis)
	}
	if strings.Contains(h.errs.String(), good.addr) {
		t.Errorf("the good server failed a check:\n%s", h.errs.String())
	}
}

// TestHealthCheckKeepalive: with keepalive_time= the checks of a server
// reuse one connection; without it each check opens its own.
func TestHealthCheckKeepalive(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			a := startHCBackend(t, "a", "/")
			param := ""
			if keep {
				param = "keepalive_time=10s"
			}
			h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
				upstream u { zone u 64k; server %s; }
				server { listen 127.0.0.1:18080; location / { proxy_pass http://u; proxy_http_version 1.1; health_check interval=50ms %s; } } }`, a.addr, param), Options{})
			startChecks(t, h)
			waitFor(t, "four checks", func() bool { return a.checks.Load() >= 4 })
			a.ln.mu.Lock()
			conns := len(a.ln.conns)
			a.ln.mu.Unlock()
			conn := a.lastCheck().Header.Get("Connection")
			if keep && (conns != 1 || conn != "") || !keep && (conns < 4 || conn != "close") {
				t.Errorf("%d connections for %d checks, Connection %q", conns, a.checks.Load(), conn)
			}
			if !keep {
				return
			}
			// the server closes the kept connection: the next check
			// opens another one and passes
			a.ln.mu.Lock()
			for _, c := range a.ln.conns {
				c.Close()
			}
			a.ln.mu.Unlock()
			checks := a.checks.Load()
			waitFor(t, "two more checks", func() bool { return a.checks.Load() >= checks+2 })
			if strings.Contains(h.errs.String(), "unhealthy") {
				t.Errorf("a closed kept connection failed a check:\n%s", h.errs.String())
			}
		})
	}
}
