package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/config"
)

// apiBackend starts an HTTP server on loopback that answers every request
// with its tag.
func apiBackend(t *testing.T, tag string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, tag)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// tcpBackend starts a TCP server on loopback that writes its tag on each
// connection and closes it.
func tcpBackend(t *testing.T, tag string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, tag+"\n")
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// apiClient talks to the API and the proxies of a running configuration.
type apiClient struct {
	t      *testing.T
	http   *http.Client
	base   string // http://addr
	stream string // the stream listener
}

// do sends a request and returns the status and the body decoded as JSON
// into out (when not nil); it fails the test on a transport error.
func (c *apiClient) do(method, path, body string, out any) int {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); path != "/" && resp.StatusCode != 413 && ct != "application/json" {
		c.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	if out != nil {
		if sv, ok := out.(*apiServer); ok {
			*sv = apiServer{} // "drain" is there only when true
		}
		if s, ok := out.(*string); ok {
			*s = string(b)
		} else if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %q", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// apiErr is an NGINX Plus error object.
type apiErr struct {
	Error struct {
		Status int
		Text   string
		Code   string
	}
	RequestID string `json:"request_id"`
	Href      string
}

// wantErr checks that a request is answered with an NGINX Plus error.
func (c *apiClient) wantErr(method, path, body string, status int, code string) {
	c.t.Helper()
	var e apiErr
	got := c.do(method, path, body, &e)
	if got != status || e.Error.Status != status || e.Error.Code != code || e.Error.Text == "" ||
		e.Href != "https://nginx.org/en/docs/http/ngx_http_api_module.html" || e.RequestID == "" {
		c.t.Errorf("%s %s %s: %d %+v, want %d %s", method, path, body, got, e, status, code)
	}
}

// hits sends n proxied requests and counts the answers by backend tag.
func (c *apiClient) hits(n int) map[string]int {
	c.t.Helper()
	got := map[string]int{}
	for range n {
		var s string
		if st := c.do("GET", "/", "", &s); st != 200 {
			c.t.Fatalf("proxied request: status %d %q", st, s)
		}
		got[s]++
	}
	return got
}

// sessions opens n stream sessions and counts them by backend tag.
func (c *apiClient) sessions(n int) map[string]int {
	c.t.Helper()
	got := map[string]int{}
	for range n {
		conn, err := net.DialTimeout("tcp", c.stream, 2*time.Second)
		if err != nil {
			c.t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil {
			c.t.Fatalf("stream session: %v", err)
		}
		got[strings.TrimSpace(line)]++
	}
	return got
}

type apiPeer struct {
	ID          int
	Server      string
	Name        string
	Backup      bool
	Weight      int
	State       string
	Active      int
	Requests    uint64
	Connections uint64
	Fails       uint64
	Unavail     uint64
}

type apiUpstream struct {
	Peers     []apiPeer
	Zombies   int
	Zone      string
	Keepalive *int
}

type apiServer struct {
	ID          int
	Server      string
	Weight      int
	MaxConns    int    `json:"max_conns"`
	MaxFails    int    `json:"max_fails"`
	FailTimeout string `json:"fail_timeout"`
	SlowStart   string `json:"slow_start"`
	Backup      bool
	Down        bool
	Drain       bool
}

func (c *apiClient) upstream(kind, name string) apiUpstream {
	c.t.Helper()
	var u apiUpstream
	if st := c.do("GET", "/api/9/"+kind+"/upstreams/"+name, "", &u); st != 200 {
		c.t.Fatalf("GET upstream %s: %d", name, st)
	}
	return u
}

// loadAPIConf compiles conf in a directory of its own.
func loadAPIConf(t *testing.T, conf string) *Generation {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "sluice.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{File: file, Prefix: dir + "/"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := Build(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const apiConf = `events {}
error_log stderr crit;
stream {
    upstream api_tcp {
        zone api_tcp 64k;
        server %s;
        server %s;
    }
    server {
        listen %s;
        proxy_pass api_tcp;
    }
}
http {
    access_log off;
    upstream api_back {
        zone api_back 64k;
        server %s;
        server %s;
    }
    server {
        listen %s;
        location / {
            proxy_pass http://api_back;
        }
        location /api {
            api write=on;
        }
        location /ro/ {
            api;
            if ($arg_x) {
                add_header X-If 1;
            }
        }
    }
}
`

// TestAPI drives the NGINX Plus API the way a user does: it reads the
// status of http and stream upstreams, drains, downs, adds and removes
// servers, and checks with real clients that the proxies follow.
func TestAPI(t *testing.T) {
	h1, h2, h3 := apiBackend(t, "h1"), apiBackend(t, "h2"), apiBackend(t, "h3")
	s1, s2 := tcpBackend(t, "s1"), tcpBackend(t, "s2")
	httpAddr, streamAddr := freeAddr(t), freeAddr(t)
	conf := fmt.Sprintf(apiConf, s1, s2, streamAddr, h1, h2, httpAddr)

	srv := NewServer(slog.New(slog.DiscardHandler))
	if err := srv.Apply(loadAPIConf(t, conf)); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background(), false)
	c := &apiClient{t: t, base: "http://" + httpAddr, stream: streamAddr,
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}

	// the versions, the endpoints, nginx
	var versions []int
	if st := c.do("GET", "/api", "", &versions); st != 200 || fmt.Sprint(versions) != "[1 2 3 4 5 6 7 8 9]" {
		t.Errorf("GET /api: %d %v", st, versions)
	}
	var list []string
	if st := c.do("GET", "/api/9/", "", &list); st != 200 || fmt.Sprint(list) != "[nginx connections http stream]" {
		t.Errorf("GET /api/9/: %d %v", st, list)
	}
	var ngx struct {
		Version, Build, Address string
		Generation              int
		LoadTimestamp           string `json:"load_timestamp"`
		Timestamp               string
		PID, PPID               int
	}
	c.do("GET", "/api/9/nginx", "", &ngx)
	if ngx.Address != "127.0.0.1" || ngx.Generation < 1 || ngx.PID != os.Getpid() || ngx.Build != "sluice" ||
		!strings.HasSuffix(ngx.Timestamp, "Z") || len(ngx.LoadTimestamp) != len("2006-01-02T15:04:05.000Z") {
		t.Errorf("GET /api/9/nginx: %+v", ngx)
	}
	var fields map[string]any
	c.do("GET", "/api/9/nginx?fields=version,pid", "", &fields)
	if len(fields) != 2 || fields["version"] == nil || fields["pid"] == nil {
		t.Errorf("fields=version,pid: %v", fields)
	}

	// http upstream: servers, states, requests that grow
	u := c.upstream("http", "api_back")
	if len(u.Peers) != 2 || u.Peers[0].Server != h1 || u.Peers[1].Server != h2 || u.Peers[0].ID != 0 || u.Peers[1].ID != 1 ||
		u.Peers[0].State != "up" || u.Peers[1].State != "up" || u.Zone != "api_back" || u.Keepalive == nil {
		t.Fatalf("http upstream: %+v", u)
	}
	if got := c.hits(4); got["h1"] != 2 || got["h2"] != 2 {
		t.Errorf("round robin over h1, h2: %v", got)
	}
	u = c.upstream("http", "api_back")
	if u.Peers[0].Requests != 2 || u.Peers[1].Requests != 2 {
		t.Errorf("requests after 4 proxied requests: %+v", u.Peers)
	}
	var all map[string]apiUpstream
	c.do("GET", "/api/9/http/upstreams", "", &all)
	if len(all) != 1 || len(all["api_back"].Peers) != 2 {
		t.Errorf("GET /http/upstreams: %+v", all)
	}
	var names map[string]map[string]any
	c.do("GET", "/api/9/http/upstreams?fields=", "", &names)
	if len(names) != 1 || names["api_back"] == nil || len(names["api_back"]) != 0 {
		t.Errorf("GET /http/upstreams?fields=: %v", names)
	}
	var conns, reqs map[string]int
	c.do("GET", "/api/9/connections", "", &conns)
	if conns["accepted"] < 1 || conns["active"] < 1 {
		t.Errorf("connections: %v", conns)
	}
	c.do("GET", "/api/9/http/requests", "", &reqs)
	if reqs["total"] < 4 || reqs["current"] < 1 {
		t.Errorf("http/requests: %v", reqs)
	}

	// drain h1: requests go to h2 only
	var sv apiServer
	if st := c.do("PATCH", "/api/9/http/upstreams/api_back/servers/0", `{"drain":true}`, &sv); st != 200 || !sv.Drain || sv.Server != h1 {
		t.Fatalf("PATCH drain: %d %+v", st, sv)
	}
	if u := c.upstream("http", "api_back"); u.Peers[0].State != "draining" {
		t.Errorf("state after drain: %+v", u.Peers[0])
	}
	if got := c.hits(4); got["h2"] != 4 {
		t.Errorf("with h1 draining: %v", got)
	}
	// down instead of draining: still h2 only
	if st := c.do("PATCH", "/api/9/http/upstreams/api_back/servers/0", `{"drain":false,"down":true}`, &sv); st != 200 || sv.Drain || !sv.Down {
		t.Fatalf("PATCH down: %d %+v", st, sv)
	}
	if u := c.upstream("http", "api_back"); u.Peers[0].State != "down" {
		t.Errorf("state after down: %+v", u.Peers[0])
	}
	if got := c.hits(4); got["h2"] != 4 {
		t.Errorf("with h1 down: %v", got)
	}
	if st := c.do("PATCH", "/api/9/http/upstreams/api_back/servers/0", `{"down":false,"weight":3}`, &sv); st != 200 || sv.Down || sv.Weight != 3 {
		t.Fatalf("PATCH up: %d %+v", st, sv)
	}
	if got := c.hits(8); got["h1"] != 6 || got["h2"] != 2 {
		t.Errorf("h1 back with weight 3: %v", got)
	}

	// add h3, which then gets requests; remove it, and it gets none
	if st := c.do("POST", "/api/9/http/upstreams/api_back/servers", `{"server":"`+h3+`","max_fails":0,"fail_timeout":"5s"}`, &sv); st != 201 ||
		sv.ID != 2 || sv.Server != h3 || sv.MaxFails != 0 || sv.FailTimeout != "5s" || sv.SlowStart != "0s" {
		t.Fatalf("POST: %d %+v", st, sv)
	}
	if got := c.hits(10); got["h3"] != 2 || got["h1"] != 6 || got["h2"] != 2 {
		t.Errorf("after adding h3: %v", got)
	}
	var servers []apiServer
	if st := c.do("GET", "/api/9/http/upstreams/api_back/servers", "", &servers); st != 200 || len(servers) != 3 || servers[2].Server != h3 {
		t.Errorf("GET servers: %d %+v", st, servers)
	}
	c.wantErr("POST", "/api/9/http/upstreams/api_back/servers", `{"server":"`+h3+`"}`, 409, "EntryExists")
	if st := c.do("DELETE", "/api/9/http/upstreams/api_back/servers/2", "", &servers); st != 200 || len(servers) != 2 {
		t.Fatalf("DELETE: %d %+v", st, servers)
	}
	if got := c.hits(8); got["h3"] != 0 {
		t.Errorf("after removing h3: %v", got)
	}
	c.wantErr("GET", "/api/9/http/upstreams/api_back/servers/2", "", 404, "UpstreamServerNotFound")

	// stream upstream
	su := c.upstream("stream", "api_tcp")
	if len(su.Peers) != 2 || su.Peers[0].Server != s1 || su.Peers[1].Server != s2 || su.Zone != "api_tcp" || su.Keepalive != nil {
		t.Fatalf("stream upstream: %+v", su)
	}
	if got := c.sessions(4); got["s1"] != 2 || got["s2"] != 2 {
		t.Errorf("stream sessions: %v", got)
	}
	su = c.upstream("stream", "api_tcp")
	if su.Peers[0].Connections != 2 || su.Peers[1].Connections != 2 {
		t.Errorf("stream connections: %+v", su.Peers)
	}
	if st := c.do("PATCH", "/api/9/stream/upstreams/api_tcp/servers/1", `{"down":true}`, &sv); st != 200 || !sv.Down {
		t.Fatalf("stream PATCH: %d %+v", st, sv)
	}
	if got := c.sessions(3); got["s1"] != 3 {
		t.Errorf("stream with s2 down: %v", got)
	}
	c.wantErr("GET", "/api/9/stream/upstreams/api_back", "", 404, "UpstreamNotFound")
	c.wantErr("GET", "/api/9/http/upstreams/api_tcp", "", 404, "UpstreamNotFound")

	// errors
	c.wantErr("GET", "/api/9/http/upstreams/nope", "", 404, "UpstreamNotFound")
	c.wantErr("POST", "/api/9/http/upstreams/nope/servers", `{"server":"127.0.0.1:1"}`, 404, "UpstreamNotFound")
	c.wantErr("GET", "/api/10/nginx", "", 404, "UnknownVersion")
	c.wantErr("GET", "/api/9/nope", "", 404, "PathNotFound")
	c.wantErr("PUT", "/api/9/nginx", "", 405, "MethodNotSupported")
	c.wantErr("POST", "/api/9/nginx", "{}", 405, "MethodNotSupported")
	c.wantErr("PATCH", "/api/9/http/upstreams/api_back/servers/0", `{"weight":"heavy"}`, 400, "UpstreamConfFormatError")
	c.wantErr("PATCH", "/api/9/http/upstreams/api_back/servers/0", `{"color":"red"}`, 400, "UpstreamConfFormatError")
	c.wantErr("PATCH", "/api/9/http/upstreams/api_back/servers/0", `{"weight":{"x":1}}`, 400, "UpstreamConfFormatError")
	c.wantErr("PATCH", "/api/9/http/upstreams/api_back/servers/0", `{"weight":0}`, 400, "UpstreamBadWeight")
	c.wantErr("PATCH", "/api/9/http/upstreams/api_back/servers/0", `{"weight":`, 415, "JsonError")
	c.wantErr("POST", "/api/9/http/upstreams/api_back/servers", `{"weight":2}`, 400, "UpstreamConfFormatError")
	c.wantErr("POST", "/api/9/http/upstreams/api_back/servers", `{"server":"backend.example:80"}`, 400, "UpstreamConfNoResolver")
	c.wantErr("PATCH", "/api/9/http/upstreams/api_back/servers/x", `{}`, 400, "UpstreamBadServerId")
	c.wantErr("DELETE", "/api/9/stream/upstreams/api_tcp/servers/7", "", 404, "UpstreamServerNotFound")

	var page string
	if st := c.do("POST", "/api/9/http/upstreams/api_back/servers", `{"server":"127.0.0.1:1","route":"`+strings.Repeat("x", 20<<10)+`"}`, &page); st != 413 {
		t.Errorf("POST over client_body_buffer_size: %d", st)
	}

	// write=off
	c.wantErr("POST", "/ro/9/http/upstreams/api_back/servers", `{"server":"127.0.0.1:1"}`, 405, "MethodDisabled")
	c.wantErr("PATCH", "/ro/9/http/upstreams/api_back/servers/0", `{"down":true}`, 405, "MethodDisabled")
	c.wantErr("DELETE", "/ro/9/http/upstreams/api_back/servers/0", "", 405, "MethodDisabled")
	if u := c.upstream("http", "api_back"); u.Peers[0].State != "up" || len(u.Peers) != 2 {
		t.Errorf("after refused writes: %+v", u.Peers)
	}
	var roList []string
	if st := c.do("GET", "/ro/9/stream", "", &roList); st != 200 || fmt.Sprint(roList) != "[upstreams]" {
		t.Errorf("GET /ro/9/stream: %d %v", st, roList)
	}
	// an if block in the location keeps the api, as nginx's if keeps its
	// location's content handler
	roList = nil
	if st := c.do("GET", "/ro/9/stream?x=1", "", &roList); st != 200 || fmt.Sprint(roList) != "[upstreams]" {
		t.Errorf("GET /ro/9/stream?x=1 (an if block): %d %v", st, roList)
	}

	// a reload builds the upstreams from the configuration again: what
	// the API changed is gone, and the generation grows
	if st := c.do("POST", "/api/9/http/upstreams/api_back/servers", `{"server":"`+h3+`"}`, &sv); st != 201 {
		t.Fatalf("POST before reload: %d", st)
	}
	gen := ngx.Generation
	if err := srv.Apply(loadAPIConf(t, conf)); err != nil {
		t.Fatal(err)
	}
	c.do("GET", "/api/9/nginx", "", &ngx)
	if ngx.Generation <= gen {
		t.Errorf("generation %d after a reload from %d", ngx.Generation, gen)
	}
	u = c.upstream("http", "api_back")
	if len(u.Peers) != 2 || u.Peers[0].Weight != 1 {
		t.Errorf("http upstream after reload: %+v", u.Peers)
	}
	if su := c.upstream("stream", "api_tcp"); su.Peers[1].State != "up" {
		t.Errorf("stream upstream after reload: %+v", su.Peers)
	}
}

// TestAPIHealthChecks reads the health checks' findings through the API:
// a server whose check fails is "unhealthy" with its failures counted,
// one that passes is "up", and under a mandatory check a server no check
// has reached yet is "checking".
func TestAPIHealthChecks(t *testing.T) {
	good := apiBackend(t, "good")
	dead := freeAddr(t) // nothing listens there
	// a server that takes connections and never answers: its first check
	// does not end while the test runs
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	httpAddr := freeAddr(t)
	conf := fmt.Sprintf(`events {}
error_log stderr crit;
http {
    access_log off;
    upstream hc_api {
        zone hc_api 64k;
        server %s;
        server %s;
    }
    upstream hc_never {
        zone hc_never 64k;
        server %s;
    }
    server {
        listen %s;
        location / {
            proxy_pass http://hc_api;
            health_check interval=50ms fails=2;
        }
        location /never {
            proxy_pass http://hc_never;
            proxy_read_timeout 1h;
            health_check interval=1h mandatory;
        }
        location /api {
            api;
        }
    }
}
`, good, dead, hang.Addr().String(), httpAddr)
	srv := NewServer(slog.New(slog.DiscardHandler))
	if err := srv.Apply(loadAPIConf(t, conf)); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background(), false)
	c := &apiClient{t: t, base: "http://" + httpAddr,
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	type hcPeer struct {
		Server       string
		State        string
		HealthChecks struct {
			Checks, Fails, Unhealthy uint64
			LastPassed               *bool `json:"last_passed"`
		} `json:"health_checks"`
	}
	var u struct{ Peers []hcPeer }
	deadline := time.Now().Add(5 * time.Second)
	for {
		u.Peers = nil
		if st := c.do("GET", "/api/9/http/upstreams/hc_api", "", &u); st != 200 {
			t.Fatalf("GET: %d", st)
		}
		if len(u.Peers) == 2 && u.Peers[1].State == "unhealthy" && u.Peers[0].HealthChecks.Checks >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers %+v", u.Peers)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ok, bad := u.Peers[0], u.Peers[1]
	if ok.Server != good || ok.State != "up" || ok.HealthChecks.Fails != 0 || ok.HealthChecks.LastPassed == nil || !*ok.HealthChecks.LastPassed {
		t.Errorf("the passing server: %+v", ok)
	}
	if bad.Server != dead || bad.HealthChecks.Fails < 2 || bad.HealthChecks.Unhealthy != 1 || bad.HealthChecks.LastPassed == nil || *bad.HealthChecks.LastPassed {
		t.Errorf("the failing server: %+v", bad)
	}
	var n struct{ Peers []hcPeer }
	c.do("GET", "/api/9/http/upstreams/hc_never", "", &n)
	if len(n.Peers) != 1 || n.Peers[0].State != "checking" || n.Peers[0].HealthChecks.Checks != 0 || n.Peers[0].HealthChecks.LastPassed != nil {
		t.Errorf("under a mandatory check: %+v", n.Peers)
	}
}
