package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// testAPI returns an API over an http upstream "back" (two servers, the
// second a backup) and a stream upstream "tcp" (hash: no backup).
func testAPI(t *testing.T, write bool) *API {
	t.Helper()
	reg := balance.NewRegistry(nil)
	set := new(balance.GroupSet)
	g, err := reg.Build(HTTPPrefix+"back", []balance.Server{
		{Addr: "127.0.0.1:8081", Weight: 5},
		{Addr: "127.0.0.1:8082", Name: "localhost:8082", Backup: true, MaxConns: 20, MaxFails: balance.MaxFailsOff},
	}, balance.Config{})
	if err != nil {
		t.Fatal(err)
	}
	set.Add(g, "back")
	s, err := reg.Build("tcp", []balance.Server{{Addr: "127.0.0.1:9001"}}, balance.Config{Method: balance.Hash})
	if err != nil {
		t.Fatal(err)
	}
	set.Add(s, "")
	loaded := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	return &API{Write: write, Upstreams: set, Version: "0.1.0", Build: "sluice", Generation: 3, Loaded: loaded,
		Now: func() time.Time { return loaded.Add(time.Second) },
		Counters: func() Counters {
			return Counters{Accepted: 10, Handled: 9, Active: 4, Reading: 1, Writing: 1, Requests: 25}
		}}
}

// TestServe checks the JSON of each endpoint, byte for byte: members in
// NGINX Plus's order, compact.
func TestServe(t *testing.T) {
	a := testAPI(t, true)
	cases := []struct {
		method, path, args, body string
		status                   int
		want                     string
	}{
		{"GET", "", "", "", 200, `[1,2,3,4,5,6,7,8,9]`},
		{"GET", "/", "", "", 200, `[1,2,3,4,5,6,7,8,9]`},
		{"GET", "/9", "", "", 200, `["nginx","connections","http","stream"]`},
		{"GET", "//9///", "", "", 200, `["nginx","connections","http","stream"]`},
		{"HEAD", "/9/http/", "", "", 200, `["requests","upstreams"]`},
		{"GET", "/9/stream", "", "", 200, `["upstreams"]`},
		{"GET", "/9/connections", "", "", 200, `{"accepted":10,"dropped":1,"active":2,"idle":2}`},
		{"GET", "/9/connections", "fields=idle,accepted", "", 200, `{"accepted":10,"idle":2}`},
		{"GET", "/9/http/requests", "", "", 200, `{"total":25,"current":2}`},
		{"GET", "/9/http/upstreams/back", "", "", 200, `{"peers":[` +
			`{"id":0,"server":"127.0.0.1:8081","name":"127.0.0.1:8081","backup":false,"weight":5,"state":"up","active":0,"requests":0,"fails":0,"unavail":0,"health_checks":{"checks":0,"fails":0,"unhealthy":0}},` +
			`{"id":1,"server":"127.0.0.1:8082","name":"localhost:8082","backup":true,"weight":1,"state":"up","active":0,"max_conns":20,"requests":0,"fails":0,"unavail":0,"health_checks":{"checks":0,"fails":0,"unhealthy":0}}],` +
			`"keepalive":0,"zombies":0,"zone":"back"}`},
		{"GET", "/9/http/upstreams", "fields=", "", 200, `{"back":{}}`},
		{"GET", "/9/http/upstreams", "fields=zone", "", 200, `{"back":{"zone":"back"}}`},
		{"GET", "/9/stream/upstreams", "", "", 200, `{"tcp":{"peers":[{"id":0,"server":"127.0.0.1:9001","name":"127.0.0.1:9001","backup":false,"weight":1,"state":"up","active":0,"connections":0,"fails":0,"unavail":0,"health_checks":{"checks":0,"fails":0,"unhealthy":0}}],"zombies":0}}`},
		{"GET", "/9/http/upstreams/back/servers/1", "", "", 200, `{"id":1,"server":"127.0.0.1:8082","weight":1,"max_conns":20,"max_fails":0,"fail_timeout":"10s","slow_start":"0s","route":"","backup":true,"down":false}`},
		{"GET", "/9/stream/upstreams/tcp/servers/", "", "", 200, `[{"id":0,"server":"127.0.0.1:9001","weight":1,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","backup":false,"down":false}]`},
		{"PATCH", "/9/http/upstreams/back/servers/0", "", `{"weight":2,"max_conns":3,"max_fails":4,"fail_timeout":"1m","slow_start":"500ms","drain":true}`, 200,
			`{"id":0,"server":"127.0.0.1:8081","weight":2,"max_conns":3,"max_fails":4,"fail_timeout":"60s","slow_start":"500ms","route":"","backup":false,"down":false,"drain":true}`},
		{"POST", "/9/http/upstreams/back/servers", "", `{"server":"10.0.0.1","backup":true,"route":"r2"}`, 201,
			`{"id":2,"server":"10.0.0.1:80","weight":1,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"r2","backup":true,"down":false}`},
		{"DELETE", "/9/http/upstreams/back/servers/1", "", "", 200,
			`[{"id":0,"server":"127.0.0.1:8081","weight":2,"max_conns":3,"max_fails":4,"fail_timeout":"60s","slow_start":"500ms","route":"","backup":false,"down":false,"drain":true},` +
				`{"id":2,"server":"10.0.0.1:80","weight":1,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"r2","backup":true,"down":false}]`},
		{"POST", "/9/http/upstreams/back/servers", "", `{"server":"127.0.0.1:8082"}`, 201,
			`{"id":3,"server":"127.0.0.1:8082","weight":1,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"","backup":false,"down":false}`},

		{"GET", "/10", "", "", 404, `{"error":{"status":404,"text":"unknown version","code":"UnknownVersion"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"GET", "/09/nginx", "", "", 404, `{"error":{"status":404,"text":"unknown version","code":"UnknownVersion"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"GET", "/9/slabs", "", "", 404, `{"error":{"status":404,"text":"path not found","code":"PathNotFound"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"POST", "/9/http/upstreams/back", "", "{}", 405, `{"error":{"status":405,"text":"method not supported","code":"MethodNotSupported"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"GET", "/9/http/upstreams/none/servers", "", "", 404, `{"error":{"status":404,"text":"upstream not found","code":"UpstreamNotFound"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"GET", "/9/http/upstreams/back/servers/9", "", "", 404, `{"error":{"status":404,"text":"server with ID \"9\" does not exist","code":"UpstreamServerNotFound"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"GET", "/9/http/upstreams/back/servers/-1", "", "", 400, `{"error":{"status":400,"text":"invalid server ID","code":"UpstreamBadServerId"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"PATCH", "/9/http/upstreams/back/servers/0", "", `{"a":"1"}`, 400, `{"error":{"status":400,"text":"unknown parameter \"a\"","code":"UpstreamConfFormatError"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"PATCH", "/9/http/upstreams/back/servers/0", "", `{"weight":"2"}`, 400, `{"error":{"status":400,"text":"invalid \"weight\" value","code":"UpstreamConfFormatError"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"PATCH", "/9/http/upstreams/back/servers/0", "", `[1]`, 400, `{"error":{"status":400,"text":"nested object or list","code":"UpstreamConfFormatError"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"PATCH", "/9/http/upstreams/back/servers/0", "", `{} {}`, 415, `{"error":{"status":415,"text":"json error","code":"JsonError"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"PATCH", "/9/http/upstreams/back/servers/0", "", `{"server":"127.0.0.1:1"}`, 400, `{"error":{"status":400,"text":"server \"0\" address is immutable","code":"UpstreamServerImmutable"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"PATCH", "/9/http/upstreams/back/servers/0", "", `{"route":"` + strings.Repeat("r", 33) + `"}`, 400, `{"error":{"status":400,"text":"invalid \"route\"","code":"UpstreamBadRoute"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"PATCH", "/9/http/upstreams/back/servers/0", "", `{"max_conns":-1}`, 400, `{"error":{"status":400,"text":"invalid \"max_conns\"","code":"UpstreamBadMaxConns"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"PATCH", "/9/http/upstreams/back/servers/0", "", `{"slow_start":"x"}`, 400, `{"error":{"status":400,"text":"invalid \"slow_start\" value","code":"UpstreamConfFormatError"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"POST", "/9/stream/upstreams/tcp/servers", "", `{"server":"127.0.0.1:9002","backup":true}`, 400, `{"error":{"status":400,"text":"upstream \"tcp\" has no backup","code":"UpstreamNoBackup"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"POST", "/9/stream/upstreams/tcp/servers", "", `{"server":"127.0.0.1"}`, 400, `{"error":{"status":400,"text":"no port in server \"127.0.0.1\"","code":"UpstreamBadAddress"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
		{"DELETE", "/9/stream/upstreams/tcp/servers/0", "", "", 400, `{"error":{"status":400,"text":"server \"0\" not removable","code":"UpstreamServerImmutable"},"request_id":"rid","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`},
	}
	for _, tc := range cases {
		status, body := a.Serve(&Request{Method: tc.method, Path: tc.path, Args: tc.args, Body: []byte(tc.body), RequestID: "rid", Addr: "127.0.0.1:80"})
		if status != tc.status || string(body) != tc.want {
			t.Errorf("%s %s?%s %s:\ngot  %d %s\nwant %d %s", tc.method, tc.path, tc.args, tc.body, status, body, tc.status, tc.want)
		}
	}
}

func TestServeNginx(t *testing.T) {
	a := testAPI(t, false)
	status, body := a.Serve(&Request{Method: "GET", Path: "/9/nginx", Args: "fields=version,build,address,generation,load_timestamp,timestamp", Addr: "[::1]:8080"})
	want := `{"version":"0.1.0","build":"sluice","address":"::1","generation":3,"load_timestamp":"2026-01-02T03:04:05.006Z","timestamp":"2026-01-02T03:04:06.006Z"}`
	if status != 200 || string(body) != want {
		t.Errorf("got  %d %s\nwant %s", status, body, want)
	}
}

// TestReadOnly checks that write=off refuses every change with
// MethodDisabled and changes nothing.
func TestReadOnly(t *testing.T) {
	a := testAPI(t, false)
	for _, r := range []Request{
		{Method: "POST", Path: "/9/http/upstreams/back/servers", Body: []byte(`{"server":"10.0.0.1:80"}`)},
		{Method: "PATCH", Path: "/9/http/upstreams/back/servers/0", Body: []byte(`{"down":true}`)},
		{Method: "DELETE", Path: "/9/http/upstreams/back/servers/1"},
		{Method: "DELETE", Path: "/9/http/upstreams/none/servers/1"},
	} {
		status, body := a.Serve(&r)
		if want := `{"error":{"status":405,"text":"method disabled","code":"MethodDisabled"},"request_id":"","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}`; status != 405 || string(body) != want {
			t.Errorf("%s %s: %d %s", r.Method, r.Path, status, body)
		}
	}
	g, _ := a.Upstreams.Group(HTTPPrefix + "back")
	if ps := g.Peers(); len(ps) != 2 || ps[0].Server().Down {
		t.Errorf("read-only API changed the group: %+v", ps)
	}
}

func TestNginxTime(t *testing.T) {
	for in, want := range map[string]time.Duration{"10": 10 * time.Second, "10s": 10 * time.Second, "1m30s": 90 * time.Second,
		"500ms": 500 * time.Millisecond, "1h": time.Hour, "2d": 48 * time.Hour} {
		if got, ok := nginxTime(in); !ok || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "s", "1x", "-1s", "1.5s"} {
		if got, ok := nginxTime(in); ok {
			t.Errorf("%q: %v, want an error", in, got)
		}
	}
}
