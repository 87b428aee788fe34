package config

import "testing"

// metricsErrorCases are http {} bodies with the metrics directive that
// sluice refuses. metrics is Sluice's own (nginx and NGINX Plus have no
// such directive), so each is a difference. They run with
// httpErrorCases.
var metricsErrorCases = []errorCase{
	{name: "metrics_args", body: "server { listen 127.0.0.1:18080; location /metrics { metrics on; } }", want: `invalid number of arguments in "metrics" directive in FILE:3`, diff: "metrics is a Sluice extension"},
	{name: "metrics_duplicate", body: "server { listen 127.0.0.1:18080; location /metrics { metrics; metrics; } }", want: `"metrics" directive is duplicate in FILE:3`, diff: "metrics is a Sluice extension"},
	{name: "metrics_server", body: "server { listen 127.0.0.1:18080; metrics; }", want: `"metrics" directive is not allowed here in FILE:3`, diff: "metrics is a Sluice extension"},
	{name: "metrics_http", body: "metrics; server { listen 127.0.0.1:18080; }", want: `"metrics" directive is not allowed here in FILE:3`, diff: "metrics is a Sluice extension"},
	{name: "metrics_if", body: "server { listen 127.0.0.1:18080; location / { if ($args) { metrics; } } }", want: `"metrics" directive is not allowed here in FILE:3`, diff: "metrics is a Sluice extension"},
}

func init() { httpErrorCases = append(httpErrorCases, metricsErrorCases...) }

// TestMetricsDirective checks which directive answers in a location with
// metrics and another content handler: the last one.
func TestMetricsDirective(t *testing.T) {
	cfg, msg := loadHTTP(t, `server { listen 127.0.0.1:18080;
		location /a { metrics; }
		location /b { proxy_pass http://127.0.0.1:1; metrics; }
		location /c { metrics; proxy_pass http://127.0.0.1:1; }
		location /d { api; metrics; }
		location /e { metrics; api; }
		location /f { stub_status; metrics; }
		location /g { metrics; stub_status; }
		location /h { empty_gif; metrics; }
		location /i { metrics; empty_gif; }
		location /j { grpc_pass grpc://127.0.0.1:1; metrics; }
		location /k { metrics; grpc_pass grpc://127.0.0.1:1; }
		location /l { fastcgi_pass 127.0.0.1:1; metrics; }
		location /m { metrics; fastcgi_pass 127.0.0.1:1; } }`)
	if msg != "" {
		t.Fatal(msg)
	}
	wants := map[string]bool{"/a": true, "/b": true, "/d": true, "/f": true, "/h": true, "/j": true, "/l": true}
	for _, l := range cfg.HTTP.Servers[0].Locations {
		if l.Metrics != wants[l.Name] {
			t.Errorf("location %s: Metrics %v, want %v", l.Name, l.Metrics, wants[l.Name])
		}
		if l.Metrics && (l.ProxyPass != nil || l.GRPCPass != nil || l.CGIPass != nil || l.StubStatus || l.EmptyGIF || l.API != nil) {
			t.Errorf("location %s: metrics and another handler: %+v", l.Name, l)
		}
		if !l.Metrics && l.ProxyPass == nil && l.GRPCPass == nil && l.CGIPass == nil && !l.StubStatus && !l.EmptyGIF && l.API == nil {
			t.Errorf("location %s: no handler", l.Name)
		}
	}
}

// TestLastHandlerWins checks that of two content handlers in a location
// only the last is kept, as in nginx, for every pair of them.
func TestLastHandlerWins(t *testing.T) {
	handlers := map[string]string{
		"proxy": "proxy_pass http://127.0.0.1:1;", "grpc": "grpc_pass grpc://127.0.0.1:1;",
		"fastcgi": "fastcgi_pass 127.0.0.1:1;", "empty_gif": "empty_gif;", "stub_status": "stub_status;",
		"api": "api;", "metrics": "metrics;", "dashboard": "dashboard;",
	}
	kind := func(l *HTTPLocation) []string {
		var k []string
		for name, on := range map[string]bool{"proxy": l.ProxyPass != nil, "grpc": l.GRPCPass != nil, "fastcgi": l.CGIPass != nil,
			"empty_gif": l.EmptyGIF, "stub_status": l.StubStatus, "api": l.API != nil, "metrics": l.Metrics,
			"dashboard": l.Dashboard != nil} {
			if on {
				k = append(k, name)
			}
		}
		return k
	}
	for first, a := range handlers {
		for last, b := range handlers {
			if first == last {
				continue
			}
			cfg, msg := loadHTTP(t, "server { listen 127.0.0.1:18080; location / { "+a+" "+b+" } }")
			if msg != "" {
				t.Fatalf("%s then %s: %s", first, last, msg)
			}
			if got := kind(cfg.HTTP.Servers[0].Locations[0]); len(got) != 1 || got[0] != last {
				t.Errorf("%s then %s: handlers %v, want only %s", first, last, got, last)
			}
		}
	}
}
