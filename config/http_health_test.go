package config

import (
	"reflect"
	"testing"
	"time"
)

// TestHTTPHealthCheck checks what health_check and match compile to: the
// defaults (5s, fails 1, passes 1, uri /), every parameter, several
// checks in one location, a match block given after its use, and every
// form of status, header and body test.
func TestHTTPHealthCheck(t *testing.T) {
	cfg, msg := loadHTTP(t, `upstream u { zone u 64k; server 127.0.0.1:1; }
		server { listen 127.0.0.1:18080;
			location / { proxy_pass http://u; health_check; health_check interval=150ms jitter=1s fails=3 passes=2 uri=/hc?x=1 mandatory persistent match=ok port=8081 keepalive_time=60s; }
			location /b { health_check mandatory; proxy_pass http://u; } }
		match ok {
			status 200; status ! 500; status 200 204; status 200-399; status ! 400-599 301;
			header X-A; header ! X-B; header X-C = v; header X-D != v; header X-E ~ "^a"; header X-F !~ b;
			body ~ "Welcome to nginx!"; body !~ maintenance;
		}`)
	if msg != "" {
		t.Fatal(msg)
	}
	locs := cfg.HTTP.Servers[0].Locations
	hcs := locs[0].HealthChecks
	if len(hcs) != 2 {
		t.Fatalf("checks: %+v", hcs)
	}
	def := HTTPHealthCheck{HealthCheck: HealthCheck{Interval: 5 * time.Second, Fails: 1, Passes: 1, Pos: hcs[0].Pos}, URI: "/"}
	if hcs[0] != def {
		t.Errorf("defaults: %+v", hcs[0])
	}
	all := HTTPHealthCheck{HealthCheck: HealthCheck{Interval: 150 * time.Millisecond, Jitter: time.Second, Fails: 3, Passes: 2,
		Mandatory: true, Persistent: true, Match: "ok", Port: 8081, Pos: hcs[1].Pos}, URI: "/hc?x=1", KeepaliveTime: time.Minute}
	if hcs[1] != all {
		t.Errorf("parameters: %+v", hcs[1])
	}
	if b := locs[1].HealthChecks; len(b) != 1 || !b[0].Mandatory || b[0].Persistent {
		t.Errorf("location /b: %+v", b)
	}
	if len(cfg.HTTP.Matches) != 1 {
		t.Fatalf("matches: %+v", cfg.HTTP.Matches)
	}
	var got []HTTPMatchTest
	for _, x := range cfg.HTTP.Matches[0].Tests {
		x.Pos = ""
		got = append(got, x)
	}
	r := func(lo, hi int) HTTPStatusRange { return HTTPStatusRange{lo, hi} }
	want := []HTTPMatchTest{
		{Kind: "status", Codes: []HTTPStatusRange{r(200, 200)}},
		{Kind: "status", Not: true, Codes: []HTTPStatusRange{r(500, 500)}},
		{Kind: "status", Codes: []HTTPStatusRange{r(200, 200), r(204, 204)}},
		{Kind: "status", Codes: []HTTPStatusRange{r(200, 399)}},
		{Kind: "status", Not: true, Codes: []HTTPStatusRange{r(400, 599), r(301, 301)}},
		{Kind: "header", Name: "X-A"},
		{Kind: "header", Name: "X-B", Not: true},
		{Kind: "header", Name: "X-C", Op: "=", Value: "v"},
		{Kind: "header", Name: "X-D", Op: "!=", Value: "v"},
		{Kind: "header", Name: "X-E", Op: "~", Value: "^a"},
		{Kind: "header", Name: "X-F", Op: "!~", Value: "b"},
		{Kind: "body", Op: "~", Value: "Welcome to nginx!"},
		{Kind: "body", Op: "!~", Value: "maintenance"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tests:\n got  %+v\n want %+v", got, want)
	}
}
