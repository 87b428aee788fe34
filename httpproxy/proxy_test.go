package httpproxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// statusBackend answers every request with status and its name; it counts
// the requests and the connections it accepted.
type statusBackend struct {
	*backend
	reqs  atomic.Int64
	conns atomic.Int64
}

func startStatusBackend(t *testing.T, name string, status int, hook ...func(*http.Request)) *statusBackend {
	sb := &statusBackend{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := &trackingListener{Listener: ln}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sb.reqs.Add(1)
		for _, f := range hook {
			f(r)
		}
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(status)
		io.WriteString(w, name)
	}), ConnState: func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			sb.conns.Add(1)
		}
	}}
	sb.backend = &backend{ln: tl, addr: ln.Addr().String(), srv: srv}
	go srv.Serve(tl)
	t.Cleanup(sb.kill)
	return sb
}

func TestNextUpstream(t *testing.T) {
	bad := startStatusBackend(t, "bad", 502)
	good := startStatusBackend(t, "good", 200)
	notFound := startStatusBackend(t, "nf", 404)
	h := startProxy(t, `events {} http {
		log_format up '$request_method $uri $status $upstream_addr|$upstream_status|$body_bytes_sent';
		access_log {{DIR}}/logs/up.log up;
		upstream b1 { server `+bad.addr+`; server `+good.addr+`; }
		upstream b2 { server `+bad.addr+`; server `+good.addr+`; }
		upstream b3 { server `+bad.addr+`; server `+good.addr+`; }
		upstream b4 { server `+bad.addr+`; server `+good.addr+`; }
		upstream b5 { server `+bad.addr+`; server `+good.addr+`; }
		upstream nf { server `+notFound.addr+`; server `+good.addr+`; }
		upstream d1 { server 127.0.0.1:1; server `+good.addr+`; }
		upstream d2 { server 127.0.0.1:1; server `+good.addr+`; }
		server { listen 127.0.0.1:18080;
			location /default { proxy_pass http://b1; }
			location /http502 { proxy_pass http://b2; proxy_next_upstream error timeout http_502; }
			location /post502 { proxy_pass http://b3; proxy_next_upstream error timeout http_502; }
			location /nonidem { proxy_pass http://b4; proxy_next_upstream http_502 non_idempotent; }
			location /off { proxy_pass http://d1; proxy_next_upstream off; }
			location /dead { proxy_pass http://d2; }
			location /tries { proxy_pass http://b5; proxy_next_upstream http_502; proxy_next_upstream_tries 1; }
			location /nf { proxy_pass http://nf; proxy_next_upstream http_404; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	cases := []struct {
		method, path string
		want         string // body
		status       int
		log          string // $upstream_addr|$upstream_status suffix of the log line
	}{
		// round robin starts at the first server: "bad" answers first
		{"GET", "/default", "bad", 502, bad.addr + "|502"},
		{"GET", "/http502", "good", 200, bad.addr + ", " + good.addr + "|502, 200"},
		{"POST", "/post502", "bad", 502, bad.addr + "|502"}, // POST is not retried once sent
		{"POST", "/nonidem", "good", 200, bad.addr + ", " + good.addr + "|502, 200"},
		{"GET", "/off", "", 502, "127.0.0.1:1|502"},
		{"POST", "/dead", "good", 200, "127.0.0.1:1, " + good.addr + "|502, 200"}, // never reached: retried
		{"GET", "/tries", "bad", 502, bad.addr + "|502"},
		{"GET", "/nf", "good", 200, notFound.addr + ", " + good.addr + "|404, 200"},
	}
	var wantLog []string
	for _, tc := range cases {
		body := ""
		if tc.method == "POST" {
			body = "Content-Length: 2\r\n\r\nhi"
		} else {
			body = "\r\n"
		}
		got := rawRequest(t, addr, tc.method+" "+tc.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"+body)
		head, b, _ := strings.Cut(got, "\r\n\r\n")
		if !strings.HasPrefix(head, fmt.Sprintf("HTTP/1.1 %d ", tc.status)) || (tc.want != "" && b != tc.want) {
			t.Errorf("%s %s: %q %q, want %d %q", tc.method, tc.path, firstLine(head), b, tc.status, tc.want)
		}
		wantLog = append(wantLog, fmt.Sprintf("%s %s %d %s", tc.method, tc.path, tc.status, tc.log))
	}
	var lines []string
	testutil.WaitFor(t, "the log lines", func() bool {
		b, _ := os.ReadFile(h.dir + "/logs/up.log")
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) >= len(cases)
	})
	for i, l := range lines {
		l = l[:strings.LastIndexByte(l, '|')]
		if l != wantLog[i] {
			t.Errorf("log line %d: %q, want %q", i, l, wantLog[i])
		}
	}
}

// TestMidStreamFailure cuts the upstream in the middle of a body: the
// client connection must end without the response looking complete.
func TestMidStreamFailure(t *testing.T) {
	for _, framing := range []string{"length", "chunked"} {
		t.Run(framing, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			t.Cleanup(func() { ln.Close(); wg.Wait() })
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				http.ReadRequest(bufio.NewReader(c))
				if framing == "length" {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
				} else {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npart\r\n")
				}
			}()
			h := startProxy(t, `events {} http { access_log off;
				server { listen 127.0.0.1:18080; location / { proxy_pass http://`+ln.Addr().String()+`; proxy_http_version 1.1; } } }`, Options{})
			resp, err := http.Get(h.url("127.0.0.1:18080", "/"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Fatalf("the truncated body %q read as complete", b)
			}
			testutil.WaitFor(t, "the error log line", func() bool {
				return strings.Contains(h.errs.String(), "upstream prematurely closed connection while reading upstream")
			})
		})
	}
}

// TestUpstreamKeepalivePool checks that "keepalive N" reuses upstream
// connections, and that without it every request opens one (HTTP/1.0,
// Connection: close, nginx's default).
func TestUpstreamKeepalivePool(t *testing.T) {
	var seen sync.Map
	be := startStatusBackend(t, "ok", 200, func(r *http.Request) {
		seen.Store(r.Proto+" "+r.Header.Get("Connection"), true)
	})
	h := startProxy(t, `events {} http { access_log off;
		upstream pooled { server `+be.addr+`; keepalive 2; }
		upstream plain { server `+be.addr+`; }
		server { listen 127.0.0.1:18080;
			location /pooled { proxy_pass http://pooled; proxy_http_version 1.1; proxy_set_header Connection ""; }
			location /plain { proxy_pass http://plain; } } }`, Options{})
	client := &http.Client{Timeout: waitLimit}
	get := func(path string) {
		resp, err := client.Get(h.url("127.0.0.1:18080", path))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	for i := 0; i < 20; i++ {
		get("/pooled")
	}
	if n := be.conns.Load(); n != 1 {
		t.Errorf("20 sequential pooled requests used %d upstream connections, want 1", n)
	}
	if _, ok := seen.Load("HTTP/1.1 "); !ok {
		t.Errorf("pooled requests were not HTTP/1.1 without Connection: %v", keys(&seen))
	}
	before := be.conns.Load()
	for i := 0; i < 5; i++ {
		get("/plain")
	}
	if n := be.conns.Load() - before; n != 5 {
		t.Errorf("5 requests without keepalive used %d connections, want 5", n)
	}
	if _, ok := seen.Load("HTTP/1.0 close"); !ok {
		t.Errorf("plain requests were not HTTP/1.0 with Connection: close: %v", keys(&seen))
	}
}

func keys(m *sync.Map) []string {
	var out []string
	m.Range(func(k, _ any) bool { out = append(out, k.(string)); return true })
	return out
}

// TestStalePooledConnection closes the pooled upstream connection from the
// server side between two requests: the second request must still succeed
// (it never reached the server, so it is sent again on a new connection).
func TestStalePooledConnection(t *testing.T) {
	be := startStatusBackend(t, "ok", 200)
	h := startProxy(t, `events {} http { access_log off;
		upstream pooled { server `+be.addr+`; keepalive 2; }
		server { listen 127.0.0.1:18080;
			location / { proxy_pass http://pooled; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`, Options{})
	for i := 0; i < 3; i++ {
		got := rawRequest(t, h.addr["127.0.0.1:18080"], "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		if !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
			t.Fatalf("request %d: %q\n%s", i, firstLine(got), h.errs.String())
		}
		// the backend drops its idle connections (as a backend with a
		// short keep-alive timeout does)
		be.ln.mu.Lock()
		for _, c := range be.ln.conns {
			c.Close()
		}
		be.ln.conns = nil
		be.ln.mu.Unlock()
	}
	if n := be.reqs.Load(); n != 3 {
		t.Errorf("backend saw %d requests, want 3", n)
	}
}

func TestAccessLogOpenFails(t *testing.T) {
	dir := t.TempDir()
	hc := loadHTTP(t, dir, `events {} http { access_log /nonexistent-dir/x/access.log;
		server { listen 127.0.0.1:18080; location / { return 200; } } }`)
	_, err := Build(hc, Options{Log: noLog})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent-dir/x/access.log") {
		t.Fatalf("build with an access log that cannot be opened: %v", err)
	}
}

// TestProxyPassVariablesConcurrent sends concurrent requests through a
// proxy_pass whose variable names several new addresses: the one-server
// upstreams made for them are created and read by many connections at once
// (under -race).
func TestProxyPassVariablesConcurrent(t *testing.T) {
	var bes [4]*backend
	var counts [4]*atomic.Int64
	mapLines := ""
	for i := range bes {
		bes[i], counts[i] = echoBackend(t)
		mapLines += fmt.Sprintf(" %d %s;", i, bes[i].addr)
	}
	h := startProxy(t, `events {} http { access_log off;
		map $arg_to $target { default 127.0.0.1:1;`+mapLines+` }
		server { listen 127.0.0.1:18080;
			location / { proxy_pass http://$target; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 12 {
				to := (g + i) % len(bes)
				got := rawRequest(t, addr, fmt.Sprintf("GET /c?to=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", to))
				if _, body, _ := strings.Cut(got, "\r\n\r\n"); body != fmt.Sprintf("GET /c?to=%d 0", to) {
					t.Errorf("to=%d: %q (%s)", to, body, firstLine(got))
				}
			}
		})
	}
	wg.Wait()
	for i, n := range counts {
		if n.Load() != 8*12/4 {
			t.Errorf("backend %d served %d requests, want %d", i, n.Load(), 8*12/4)
		}
	}
}

func TestProxyPassVariablesAndURI(t *testing.T) {
	be, _ := echoBackend(t)
	h := startProxy(t, `events {} http { access_log off;
		upstream named { server `+be.addr+`; }
		map $arg_to $target { default named; direct `+be.addr+`; }
		server { listen 127.0.0.1:18080;
			location /var/ { proxy_pass http://$target; }
			location /varuri/ { proxy_pass http://$target/fixed$is_args$args; }
			location = /exact { proxy_pass http://named/other; }
			location /sp/ { proxy_pass http://named/x/; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	cases := []struct{ path, want string }{
		{"/var/a?b=1", "GET /var/a?b=1 0"},
		{"/var/a?to=direct", "GET /var/a?to=direct 0"},
		{"/varuri/zzz?q=2", "GET /fixed?q=2 0"},
		{"/exact", "GET /other 0"},
		{"/sp/a%20b", "GET /x/a%20b 0"},
	}
	for _, tc := range cases {
		got := rawRequest(t, addr, "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		_, body, _ := strings.Cut(got, "\r\n\r\n")
		if body != tc.want {
			t.Errorf("%s: %q (%s), want %q", tc.path, body, firstLine(got), tc.want)
		}
	}
}
