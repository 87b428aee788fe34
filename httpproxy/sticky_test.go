package httpproxy

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/sluicelb/sluice/balance"
)

// tagBackend starts a backend that answers every request with tag.
func tagBackend(t *testing.T, tag string) *backend {
	return startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, tag)
	}))
}

// md5hex is the identifier NGINX Plus gives a server without route=.
func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// stickyGet sends GET url with the Cookie header cookie (if any) and
// returns the body and the Set-Cookie headers.
func stickyGet(t *testing.T, url, cookie string) (string, []string) {
	t.Helper()
	return stickyDo(t, &http.Client{Timeout: waitLimit, Transport: &http.Transport{DisableKeepAlives: true}}, url, cookie)
}

// stickyDo is stickyGet with client.
func stickyDo(t *testing.T, client *http.Client, url, cookie string) (string, []string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.Header.Values("Set-Cookie")
}

func TestStickyCookie(t *testing.T) {
	a, b := tagBackend(t, "a"), tagBackend(t, "b")
	now := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	h := startProxy(t, `events {} http { access_log off;
		upstream u {
			server `+a.addr+`;
			server `+b.addr+`;
			sticky cookie srv_id expires=1h domain=.example.com path=/ httponly secure samesite=lax;
		}
		upstream plain { server `+a.addr+`; server `+b.addr+`; }
		server { listen 127.0.0.1:18080;
			location / { proxy_pass http://u; }
			location /plain { proxy_pass http://plain; }
		} }`, Options{Now: func() time.Time { return now }})
	url := h.url("127.0.0.1:18080", "/")
	id := map[string]string{"a": md5hex(a.addr), "b": md5hex(b.addr)}
	cookie := func(tag string) string {
		return "srv_id=" + id[tag] + "; expires=Sat, 05-Dec-26 08:00:00 GMT; max-age=3600; domain=.example.com; httponly; secure; samesite=lax; path=/"
	}

	// a client without the cookie: the method picks (round robin
	// alternates) and the cookie names the server that answered
	seen := map[string]bool{}
	for range 2 {
		tag, set := stickyGet(t, url, "")
		seen[tag] = true
		if len(set) != 1 || set[0] != cookie(tag) {
			t.Fatalf("Set-Cookie from %s = %q\nwant %q", tag, set, cookie(tag))
		}
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("requests without the cookie went to %v, want both servers", seen)
	}

	// with the cookie, every request goes to the bound server
	for _, bound := range []string{"b", "a"} {
		for range 4 {
			tag, set := stickyGet(t, url, "x=1; srv_id="+id[bound])
			if tag != bound || len(set) != 1 || set[0] != cookie(bound) {
				t.Fatalf("bound to %s: answered by %s, Set-Cookie %q", bound, tag, set)
			}
		}
	}
	// an identifier of no server: the method picks
	if tag, set := stickyGet(t, url, "srv_id=0123"); len(set) != 1 || set[0] != cookie(tag) {
		t.Errorf("unknown identifier: %s, Set-Cookie %q", tag, set)
	}
	// no cookie for an upstream without sticky
	if _, set := stickyGet(t, h.url("127.0.0.1:18080", "/plain"), ""); len(set) != 0 {
		t.Errorf("Set-Cookie without sticky: %q", set)
	}

	// the bound server dies: the request goes to the other one (the
	// error is retried) and the cookie is set again
	a.kill()
	for range 3 {
		tag, set := stickyGet(t, url, "srv_id="+id["a"])
		if tag != "b" || len(set) != 1 || set[0] != cookie("b") {
			t.Fatalf("bound server down: answered by %q, Set-Cookie %q", tag, set)
		}
	}
}

func TestStickyCookieAttributes(t *testing.T) {
	a := tagBackend(t, "a")
	now := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	id := md5hex(a.addr)
	h := startProxy(t, `events {} http { access_log off;
		upstream session { server `+a.addr+`; sticky cookie s; }
		upstream max { server `+a.addr+`; sticky cookie m expires=max path=/app; }
		upstream vars { server `+a.addr+` route=r1; sticky cookie v domain=$arg_d samesite=$arg_ss expires=0; }
		upstream strict { server `+a.addr+`; sticky cookie s samesite=Strict; }
		server { listen 127.0.0.1:18080;
			location /session { proxy_pass http://session; }
			location /max { proxy_pass http://max; }
			location /vars { proxy_pass http://vars; }
			location /strict { proxy_pass http://strict; }
		} }`, Options{Now: func() time.Time { return now }})
	for _, tc := range []struct{ path, want string }{
		{"/session", "s=" + id},
		{"/max", "m=" + id + "; expires=Thu, 31-Dec-37 23:55:55 GMT; max-age=315360000; path=/app"},
		{"/strict", "s=" + id + "; samesite=Strict"},
		// route= is the value; domain and samesite from variables: empty
		// leaves them out, a bad SameSite becomes strict
		{"/vars", "v=r1; expires=Sat, 05-Dec-26 07:00:00 GMT; max-age=0"},
		{"/vars?d=example.org&ss=None", "v=r1; expires=Sat, 05-Dec-26 07:00:00 GMT; max-age=0; domain=example.org; samesite=None"},
		{"/vars?ss=sometimes", "v=r1; expires=Sat, 05-Dec-26 07:00:00 GMT; max-age=0; samesite=strict"},
	} {
		_, set := stickyGet(t, h.url("127.0.0.1:18080", tc.path), "")
		if len(set) != 1 || set[0] != tc.want {
			t.Errorf("%s: Set-Cookie %q\nwant %q", tc.path, set, tc.want)
		}
	}
}

func TestStickyRoute(t *testing.T) {
	a, b := tagBackend(t, "a"), tagBackend(t, "b")
	h := startProxy(t, `events {} http { access_log off;
		map $cookie_jsessionid $route_cookie { ~.+\.(?P<route>\w+)$ $route; }
		map $request_uri $route_uri { ~jsessionid=.+\.(?P<route>\w+)$ $route; }
		upstream u {
			server `+a.addr+` route=a;
			server `+b.addr+` route=b;
			sticky route $route_cookie $route_uri;
		}
		server { listen 127.0.0.1:18080; location / { proxy_pass http://u; } } }`, Options{})
	for _, tc := range []struct{ path, cookie, want string }{
		{"/", "jsessionid=123.b", "b"},
		{"/", "jsessionid=9.9.a", "a"},
		{"/x?jsessionid=77.b", "", "b"},
		{"/x?jsessionid=77.a", "", "a"},
		{"/x?jsessionid=77.a", "jsessionid=1.b", "b"}, // the first non-empty variable
	} {
		for range 3 {
			tag, set := stickyGet(t, h.url("127.0.0.1:18080", tc.path), tc.cookie)
			if tag != tc.want || len(set) != 0 {
				t.Fatalf("%s with %q: answered by %s (Set-Cookie %q), want %s", tc.path, tc.cookie, tag, set, tc.want)
			}
		}
	}
	// no route, or a route of no server: round robin
	for _, cookie := range []string{"", "jsessionid=1.c"} {
		seen := map[string]bool{}
		for range 2 {
			tag, _ := stickyGet(t, h.url("127.0.0.1:18080", "/"), cookie)
			seen[tag] = true
		}
		if !seen["a"] || !seen["b"] {
			t.Errorf("cookie %q: requests went to %v, want both servers", cookie, seen)
		}
	}
}

func TestStickyDrain(t *testing.T) {
	a, b := tagBackend(t, "a"), tagBackend(t, "b")
	h := startProxy(t, `events {} http { access_log off;
		upstream u { server `+a.addr+` drain; server `+b.addr+`; sticky cookie id; }
		server { listen 127.0.0.1:18080; location / { proxy_pass http://u; } } }`, Options{})
	url := h.url("127.0.0.1:18080", "/")
	for range 4 {
		if tag, _ := stickyGet(t, url, ""); tag != "b" {
			t.Fatalf("a new client went to the draining server")
		}
		if tag, set := stickyGet(t, url, "id="+md5hex(a.addr)); tag != "a" || !strings.HasPrefix(strings.Join(set, ""), "id="+md5hex(a.addr)) {
			t.Fatalf("a client bound to the draining server: answered by %s, Set-Cookie %q", tag, set)
		}
	}
}

func TestStickyUnknownVariable(t *testing.T) {
	dir := t.TempDir()
	_, err := Build(loadHTTP(t, dir, `events {} http { access_log off;
		upstream u { server 127.0.0.1:1; sticky route $nope; }
		server { listen 127.0.0.1:18080; location / { proxy_pass http://u; } } }`), Options{})
	if err == nil || !strings.Contains(err.Error(), `unknown "nope" variable`) {
		t.Errorf("Build = %v, want unknown \"nope\" variable", err)
	}
}

func TestStickyGRPC(t *testing.T) {
	g0, g1 := startHealthBackend(t, "g0"), startHealthBackend(t, "g1")
	h := startProxy(t, `events {} http { access_log off;
		upstream grpcs { server `+g0.addr+`; server `+g1.addr+`; sticky cookie srv; }
		server { listen 127.0.0.1:18220 http2; location / { grpc_pass grpc://grpcs; } }
	}`, Options{})
	cl := grpcClient(t, h.addr["127.0.0.1:18220"])
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for range 4 {
		var hd, tr metadata.MD
		octx := metadata.AppendToOutgoingContext(ctx, "cookie", "srv="+md5hex(g1.addr))
		if _, err := cl.Check(octx, &healthpb.HealthCheckRequest{}, grpc.Header(&hd), grpc.Trailer(&tr)); err != nil {
			t.Fatal(err)
		}
		if got := tr.Get("x-backend"); len(got) != 1 || got[0] != "g1" {
			t.Fatalf("bound call served by %v, want g1", got)
		}
		if got := hd.Get("set-cookie"); len(got) != 1 || got[0] != "srv="+md5hex(g1.addr) {
			t.Fatalf("set-cookie %q", got)
		}
	}
}

// sessionBackend answers with its tag and, to a request without the
// cookie examplecookie, sets one: TAG-N.
func sessionBackend(t *testing.T, tag string) *backend {
	var n atomic.Int32
	return startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("examplecookie"); err != nil {
			w.Header().Add("Set-Cookie", "other=1")
			w.Header().Add("Set-Cookie", fmt.Sprintf("ExampleCookie=%s-%d; Path=/", tag, n.Add(1)))
		}
		io.WriteString(w, tag)
	}))
}

func TestStickyLearn(t *testing.T) {
	a, b := sessionBackend(t, "a"), sessionBackend(t, "b")
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC).UnixNano())
	h := startProxy(t, `events {} http { access_log off; keepalive_time 10d;
		upstream u {
			server `+a.addr+`;
			server `+b.addr+`;
			sticky learn create=$upstream_cookie_examplecookie lookup=$cookie_examplecookie zone=client_sessions:1m timeout=1h;
		}
		upstream hdr {
			server `+a.addr+`;
			server `+b.addr+`;
			sticky learn create=$upstream_cookie_nope create=$upstream_cookie_examplecookie lookup=$cookie_examplecookie zone=hdr:64k header;
		}
		server { listen 127.0.0.1:18080;
			location / { proxy_pass http://u; }
			location /hdr { proxy_pass http://hdr; }
			location /sync { return 204; }
		} }`, Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	// one keep-alive connection: a session is learnt when its response
	// has ended, before the next request on the connection is read
	tr := &http.Transport{MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Timeout: waitLimit, Transport: tr}
	get := func(url, cookie string) (string, []string) {
		t.Helper()
		return stickyDo(t, client, url, cookie)
	}
	for _, path := range []string{"/", "/hdr"} {
		url := h.url("127.0.0.1:18080", path)
		// each server creates a session; later requests of a session go
		// to its server, where round robin would alternate
		sessions := map[string]string{}
		for range 2 {
			tag, set := get(url, "")
			if len(set) != 2 {
				t.Fatalf("%s: Set-Cookie %q", path, set)
			}
			id, _, _ := strings.Cut(strings.TrimPrefix(set[1], "ExampleCookie="), ";")
			sessions[tag] = id
		}
		if len(sessions) != 2 {
			t.Fatalf("%s: sessions %v, want one on each server", path, sessions)
		}
		for _, tag := range []string{"b", "a", "b"} {
			for range 3 {
				if got, _ := get(url, "examplecookie="+sessions[tag]); got != tag {
					t.Fatalf("%s: session %s answered by %s", path, sessions[tag], got)
				}
			}
		}
		// a session nobody created: round robin
		seen := map[string]bool{}
		for range 2 {
			tag, _ := get(url, "examplecookie=unknown")
			seen[tag] = true
		}
		if len(seen) != 2 {
			t.Errorf("%s: unknown session went to %v, want both servers", path, seen)
		}
	}

	// sessions unused for the timeout are forgotten. A session is learnt
	// once its response has ended, which the client does not see: a
	// request on the same connection waits for it before the clock moves.
	url := h.url("127.0.0.1:18080", "/")
	advance := func(d time.Duration) {
		t.Helper()
		get(h.url("127.0.0.1:18080", "/sync"), "")
		now.Add(int64(d))
	}
	_, set := get(url, "")
	id, _, _ := strings.Cut(strings.TrimPrefix(set[1], "ExampleCookie="), ";")
	owner := id[:1]
	advance(59 * time.Minute)
	if got, _ := get(url, "examplecookie="+id); got != owner {
		t.Fatalf("session used within the timeout answered by %s, want %s", got, owner)
	}
	advance(59 * time.Minute) // 59 minutes after the last use
	if got, _ := get(url, "examplecookie="+id); got != owner {
		t.Fatalf("session renewed by its use answered by %s, want %s", got, owner)
	}
	advance(61 * time.Minute)
	seen := map[string]bool{}
	for range 2 {
		tag, _ := get(url, "examplecookie="+id)
		seen[tag] = true
	}
	if len(seen) != 2 {
		t.Errorf("expired session went to %v, want both servers", seen)
	}

	// the server of a session dies: the session moves to the server
	// that answered
	_, set = get(url, "")
	id, _, _ = strings.Cut(strings.TrimPrefix(set[1], "ExampleCookie="), ";")
	dead, alive := a, "b"
	if id[:1] == "b" {
		dead, alive = b, "a"
	}
	dead.kill()
	for range 3 {
		if got, _ := get(url, "examplecookie="+id); got != alive {
			t.Fatalf("session of a dead server answered by %q, want %s", got, alive)
		}
	}
}

func TestStickySessionsFull(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := &stickySessions{m: map[string]stickySession{}, max: 2, timeout: time.Minute}
	s.learn("k1", "a", true, now)
	s.learn("k2", "b", true, now.Add(time.Second))
	s.learn("k1", "a", false, now.Add(2*time.Second)) // renewed: k2 is now the oldest
	s.learn("k3", "c", false, now.Add(3*time.Second)) // not created: nothing learnt
	s.learn("k4", "d", true, now.Add(4*time.Second))
	for key, want := range map[string]string{"k1": "a", "k2": "", "k3": "", "k4": "d"} {
		got, _ := s.get([]byte(key), now.Add(5*time.Second))
		if got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
}

func TestStickyLearnReload(t *testing.T) {
	a, b := sessionBackend(t, "a"), sessionBackend(t, "b")
	conf := `events {} http { access_log off;
		upstream u {
			server ` + a.addr + `;
			server ` + b.addr + `;
			sticky learn create=$upstream_cookie_examplecookie lookup=$cookie_examplecookie zone=z:1m header;
		}
		server { listen 127.0.0.1:18080; location / { proxy_pass http://u; } } }`
	reg := balance.NewRegistry(nil)
	old := startProxy(t, conf, Options{Registry: reg})
	sessions := map[string]string{}
	for range 2 {
		tag, set := stickyGet(t, old.url("127.0.0.1:18080", "/"), "")
		if len(set) != 2 {
			t.Fatalf("Set-Cookie %q", set)
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(set[1], "ExampleCookie="), ";")
		sessions[tag] = id
	}
	// the next generation (a reload) keeps the zone's sessions; another
	// process (registry) does not share them
	for _, tc := range []struct {
		reg  *balance.Registry
		kept bool
	}{{reg, true}, {balance.NewRegistry(nil), false}} {
		h := startProxy(t, conf, Options{Registry: tc.reg})
		match := 0
		for _, tag := range []string{"b", "b", "a", "a"} {
			got, _ := stickyGet(t, h.url("127.0.0.1:18080", "/"), "examplecookie="+sessions[tag])
			if got == tag {
				match++
			}
		}
		if tc.kept && match != 4 {
			t.Errorf("after reload, %d of 4 requests reached their session's server", match)
		}
		if !tc.kept && match == 4 {
			t.Errorf("another process knew the sessions")
		}
	}
}
