package httpproxy

import (
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// pcreDiffConf uses constructs of PCRE that RE2 lacks (look-ahead,
// look-behind, back-references) where nginx configurations carry them:
// locations, captures of locations and rewrite, map, if and gzip_disable.
const pcreDiffConf = `
	map $http_user_agent $bot { default "no"; "~*(?<!good)bot" "yes"; }
	gzip_disable "MSIE [1-6].(?!.*SV1)";
	server { listen LISTEN;
		location ~ /\.(?!well-known) { return 403 "hidden $uri\n"; }
		location ~ "^/v(?<ver>\d+)/(\w+)/\2$" { return 200 "twice v=$ver 1=$1 2=$2\n"; }
		location /r/ { rewrite "^/r/(?<a>\w+)(?=-x)" /dst/$a last; return 200 "norw $uri\n"; }
		location /dst/ { return 200 "dst $uri\n"; }
		location /bot { return 200 "bot=$bot\n"; }
		location /if { if ($arg_q ~ "^(?!skip)(\w+)") { return 200 "if $1\n"; } return 200 "noif\n"; }
		location / { return 200 "root $uri\n"; }
	}`

// TestPCRENginxDifferential runs nginx and sluice on pcreDiffConf and
// compares the answers.
func TestPCRENginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	nginxAddr := startNginx(t, pcreDiffConf)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(pcreDiffConf, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]
	for _, c := range []struct{ path, ua string }{
		{"/.git/config", ""}, {"/.well-known/acme", ""}, {"/a/.htaccess", ""},
		{"/v2/ab/ab", ""}, {"/v2/ab/cd", ""}, {"/v10/x_y/x_y", ""},
		{"/r/foo-x", ""}, {"/r/foo-y", ""},
		{"/bot", "BadBot/1.0"}, {"/bot", "goodbot"}, {"/bot", "curl"},
		{"/if?q=skipme", ""}, {"/if?q=hello", ""},
	} {
		req := "GET " + c.path + " HTTP/1.0\r\n"
		if c.ua != "" {
			req += "User-Agent: " + c.ua + "\r\n"
		}
		req += "\r\n"
		want := normalizeResponse(rawRequest(t, nginxAddr, req), nginxAddr)
		got := normalizeResponse(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if got != want {
			t.Errorf("%s (%q):\nsluice:\n%s\nnginx:\n%s", c.path, c.ua, got, want)
		}
	}
}

// capturesDiffConf uses the captures of regular expression locations and
// server names where nginx users put them: proxy_pass, return, set, and a
// later rewrite that replaces them.
const capturesDiffConf = `
	upstream b { server BACKEND; }
	server { listen LISTEN; server_name ~^(?<sub>[a-z]+)\.(example)\.com$;
		location / { return 200 "sub=$sub 1=$1 2=$2 host=$host\n"; }
		location ~ ^/p/(\w+)/(.*)$ { proxy_pass http://b/up/$2?first=$1; }
		location ~ "^/n/(?<svc>[a-z]+)/(?<rest>.*)$" { proxy_pass http://b/svc/$svc/$rest; }
		location ~* ^/CASE/(.+)$ { return 200 "case $1 sub=$sub\n"; }
		location ~ ^/rw/(\w+)$ { rewrite ^/rw/(\w+)$ /done/$1x last; }
		location ~ ^/done/(\w+)$ { return 200 "done $1 sub=$sub\n"; }
		location ~ ^/set/(\d+)$ { set $n "n$1"; return 200 "$n\n"; }
	}
	server { listen LISTEN default_server; server_name _;
		location ~ ^/p/(\w+)$ { proxy_pass http://b/plain/$1; }
		location / { return 200 "default 1=$1\n"; }
	}`

// TestCapturesNginxDifferential runs nginx and sluice on capturesDiffConf
// and compares what the client and the backend see.
func TestCapturesNginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	be := headBackend(t)
	body := strings.ReplaceAll(capturesDiffConf, "BACKEND", be)
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]
	for _, c := range []struct{ host, path string }{
		{"api.example.com", "/"}, {"api.example.com", "/p/one/two/three?q=1"},
		{"api.example.com", "/n/users/42/x"}, {"api.example.com", "/case/AbC"},
		{"api.example.com", "/rw/zz"}, {"api.example.com", "/set/7"},
		{"other.test", "/p/x"}, {"other.test", "/"},
	} {
		req := "GET " + c.path + " HTTP/1.0\r\nHost: " + c.host + "\r\n\r\n"
		want := normalizeResponse(rawRequest(t, nginxAddr, req), nginxAddr)
		got := normalizeResponse(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if got != want {
			t.Errorf("%s%s:\nsluice:\n%s\nnginx:\n%s", c.host, c.path, got, want)
		}
	}
}
