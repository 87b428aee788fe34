package config

import "testing"

// apiErrorCases are http {} bodies with the api directive that sluice
// refuses. nginx 1.22 does not know api (NGINX Plus has it), so each is a
// difference. They run with httpErrorCases.
var apiErrorCases = []errorCase{
	{name: "api_param", body: "server { listen 127.0.0.1:18080; location /api { api write; } }", want: `invalid parameter "write" in FILE:3`, diff: "api is an NGINX Plus directive"},
	{name: "api_value", body: "server { listen 127.0.0.1:18080; location /api { api write=yes; } }", want: `invalid parameter "write=yes" in FILE:3`, diff: "api is an NGINX Plus directive"},
	{name: "api_args", body: "server { listen 127.0.0.1:18080; location /api { api write=on write=off; } }", want: `invalid number of arguments in "api" directive in FILE:3`, diff: "api is an NGINX Plus directive"},
	{name: "api_duplicate", body: "server { listen 127.0.0.1:18080; location /api { api; api write=on; } }", want: `"api" directive is duplicate in FILE:3`, diff: "api is an NGINX Plus directive"},
	{name: "api_server", body: "server { listen 127.0.0.1:18080; api; }", want: `"api" directive is not allowed here in FILE:3`, diff: "api is an NGINX Plus directive"},
	{name: "api_if", body: "server { listen 127.0.0.1:18080; location / { if ($args) { api; } } }", want: `"api" directive is not allowed here in FILE:3`, diff: "api is an NGINX Plus directive"},
}

func init() { httpErrorCases = append(httpErrorCases, apiErrorCases...) }

// TestAPIDirective checks write=on|off and which directive answers in a
// location with api and another content handler: the last one.
func TestAPIDirective(t *testing.T) {
	cfg, msg := loadHTTP(t, `server { listen 127.0.0.1:18080;
		location /a { api; }
		location /b { api write=on; }
		location /c { api write=off; }
		location /d { proxy_pass http://127.0.0.1:1; api; }
		location /e { api; proxy_pass http://127.0.0.1:1; }
		location /f { api; stub_status; }
		location /g { empty_gif; api; }
		location /h { api; empty_gif; } }`)
	if msg != "" {
		t.Fatal(msg)
	}
	type want struct{ api, write bool }
	wants := map[string]want{"/a": {true, false}, "/b": {true, true}, "/c": {true, false}, "/d": {true, false},
		"/e": {false, false}, "/f": {false, false}, "/g": {true, false}, "/h": {false, false}}
	for _, l := range cfg.HTTP.Servers[0].Locations {
		w := wants[l.Name]
		if got := l.API != nil; got != w.api || got && l.API.Write != w.write {
			t.Errorf("location %s: API %+v, want %+v", l.Name, l.API, w)
		}
		if l.API != nil && (l.ProxyPass != nil || l.StubStatus || l.EmptyGIF) {
			t.Errorf("location %s: api and another handler: %+v", l.Name, l)
		}
	}
}
