package config

import "testing"

// dashboardErrorCases are http {} bodies with the dashboard directive that
// sluice refuses. dashboard is Sluice's own (NGINX Plus ships its
// dashboard as a static file), so each is a difference. They run with
// httpErrorCases.
var dashboardErrorCases = []errorCase{
	{name: "dashboard_args", body: "server { listen 127.0.0.1:18080; location /d { dashboard /api/ /x/; } }", want: `invalid number of arguments in "dashboard" directive in FILE:3`, diff: "dashboard is a Sluice extension"},
	{name: "dashboard_empty", body: "server { listen 127.0.0.1:18080; location /d { dashboard \"\"; } }", want: `invalid parameter "" in FILE:3`, diff: "dashboard is a Sluice extension"},
	{name: "dashboard_duplicate", body: "server { listen 127.0.0.1:18080; location /d { dashboard; dashboard /a/; } }", want: `"dashboard" directive is duplicate in FILE:3`, diff: "dashboard is a Sluice extension"},
	{name: "dashboard_server", body: "server { listen 127.0.0.1:18080; dashboard; }", want: `"dashboard" directive is not allowed here in FILE:3`, diff: "dashboard is a Sluice extension"},
	{name: "dashboard_http", body: "dashboard; server { listen 127.0.0.1:18080; }", want: `"dashboard" directive is not allowed here in FILE:3`, diff: "dashboard is a Sluice extension"},
	{name: "dashboard_if", body: "server { listen 127.0.0.1:18080; location / { if ($args) { dashboard; } } }", want: `"dashboard" directive is not allowed here in FILE:3`, diff: "dashboard is a Sluice extension"},
}

func init() { httpErrorCases = append(httpErrorCases, dashboardErrorCases...) }

// TestDashboardDirective checks the api URI a dashboard reads: /api/
// without an argument, the argument as written with one.
func TestDashboardDirective(t *testing.T) {
	cfg, msg := loadHTTP(t, `server { listen 127.0.0.1:18080;
		location /a { dashboard; }
		location /b { dashboard /status/api; }
		location /c { dashboard "/x y/<api>/"; } }`)
	if msg != "" {
		t.Fatal(msg)
	}
	wants := map[string]string{"/a": "/api/", "/b": "/status/api", "/c": "/x y/<api>/"}
	for _, l := range cfg.HTTP.Servers[0].Locations {
		if l.Dashboard == nil {
			t.Errorf("location %s: no dashboard", l.Name)
			continue
		}
		if l.Dashboard.APIURI != wants[l.Name] {
			t.Errorf("location %s: api URI %q, want %q", l.Name, l.Dashboard.APIURI, wants[l.Name])
		}
		if l.Dashboard.Pos == "" {
			t.Errorf("location %s: no position", l.Name)
		}
	}
}
