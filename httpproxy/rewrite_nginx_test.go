package httpproxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// rewriteDiffConf exercises the rewrite module: rewrite with every flag,
// captures, arguments, redirects, set, break, if with each kind of
// condition, server- and location-level scripts, and what proxy_pass
// sends after a rewrite. BACKEND is the head-echoing backend; DIR a
// directory holding the file "f".
const rewriteDiffConf = `
	upstream b { server BACKEND; }
	server { listen LISTEN; server_name example.com;
		rewrite ^/srv/(.*)$ /loc/$1;
		rewrite ^/srvlast/(.*)$ /loc/$1 last;
		rewrite ^/srvbreak/(.*)$ /loc/$1 break;
		rewrite ^/srvredir/(.*)$ /loc/$1 redirect;
		rewrite ^/srvbrkuri/(.*)$ /nobrk/$1 break;
		rewrite ^/srvlasturi/(.*)$ /nobrk/$1 last;
		if ($http_x_block) { return 403 "blocked"; }
		set $who "server";
		if ($http_x_sub ~ "^(?<sub>[a-z]+)-(\d)$") { set $subv "s-$2"; }
		location / { proxy_pass http://b; }
		location /loc/ { proxy_pass http://b; add_header X-Who $who always; }
		location /last/ { rewrite ^/last/(.*)$ /loc/$1 last; return 500; }
		location /brk/ { rewrite ^/brk/(.*)$ /moved/$1 break; proxy_pass http://b; }
		location /brkuri/ { rewrite ^/brkuri/(.*)$ /moved/$1 break; proxy_pass http://b/base/; }
		location /nobrk/ { proxy_pass http://b/base/; }
		location /lastpass/ { proxy_pass http://b/base/; }
		location /tolastpass/ { rewrite ^/tolastpass/(.*)$ /lastpass/$1 last; }
		location /noflag/ { rewrite ^/noflag/(.*)$ /loc/$1; set $who "noflag"; }
		location /args/ {
			rewrite ^/args/keep$ /loc/keep break;
			rewrite ^/args/drop$ /loc/drop? break;
			rewrite ^/args/add$ /loc/add?n=1 break;
			rewrite ^/args/addnone$ /loc/addnone?n=1? break;
			proxy_pass http://b;
		}
		location /redir/ {
			rewrite ^/redir/perm/(.*)$ /new/$1 permanent;
			rewrite ^/redir/temp/(.*)$ /new/$1 redirect;
			rewrite ^/redir/abs/(.*)$ http://other.example/$1;
			rewrite ^/redir/scheme/(.*)$ $scheme://$host/s/$1?a=b;
			rewrite ^/redir/noargs/(.*)$ https://other.example/$1? permanent;
			return 404;
		}
		location /named/ { rewrite "^/named/(?<first>[a-z]+)/(?P<second>[0-9]+)$" /loc/$second/$first break; proxy_pass http://b; }
		location ~ ^/re/(\w+)$ { return 200 "re:$1 uri:$uri"; }
		location /ret/ { rewrite ^/ret/(.*)$ /changed/$1; return 200 "uri=$uri args=$args request_uri=$request_uri"; }
		location /set/ { set $a "x$arg_v"; set $b "$a-y"; return 200 "$a $b"; }
		location /brkdir/ { set $c 1; break; set $c 2; }
		location /if/ {
			if ($arg_t) { return 200 "truthy"; }
			if ($arg_e = "yes") { return 200 "equal"; }
			if ($arg_e != "no") { return 200 "not-no"; }
			return 200 "fallthrough";
		}
		location /ifre/ {
			if ($http_user_agent ~* "^curl/(\d+)") { return 200 "curl $1"; }
			if ($http_user_agent !~ "bot") { return 200 "not a bot"; }
			if ($uri ~ "^/ifre/(?<part>.+)$") { return 200 "part $part"; }
			return 200 "none";
		}
		location /iffile/ {
			if (-f DIR/f) { set $r "${r}f"; }
			if (!-f DIR/missing) { set $r "${r}F"; }
			if (-d DIR) { set $r "${r}d"; }
			if (-e DIR/f) { set $r "${r}e"; }
			if (!-x DIR/f) { set $r "${r}X"; }
			if (-f DIR) { set $r "${r}bad"; }
			return 200 "files:$r";
		}
		location /ifbreak/ {
			if ($arg_b) { rewrite ^ /loc/from-if break; }
			rewrite ^ /loc/after-if last;
		}
		location /ifafter/ {
			if ($arg_a) { set $z "in-if"; }
			return 200 "after $z";
		}
		location /loop/ { rewrite ^/loop/(.*)$ /loop/x$1 last; }
		location /empty/ { rewrite ^ $arg_none break; }
		location /esc/ { rewrite ^/esc/(.*)$ /loc/$1 break; proxy_pass http://b; }
		location /escredir/ { rewrite ^/escredir/(.*)$ /loc/$1 permanent; }
		location /escargs/ { rewrite ^/escargs/(.*)$ /loc/x?v=$1 break; proxy_pass http://b; }
		location /isargs/ { rewrite ^ /x?; return 200 "[$is_args][$args][$uri]"; }
		location /isargs2/ { rewrite ^ /x; return 200 "[$is_args][$args][$uri]"; }
		location /deny/ { deny all; return 200 "rewrite phase first"; }
		location /denyrw/ { deny all; rewrite ^ /loc/x last; }
		location /ep/ { error_page 404 = /loc/ep; return 404; }
		location /epnamed/ { error_page 404 = @named; return 404; }
		location @named { rewrite ^ /loc/from-named break; proxy_pass http://b; }
		location /srvcap/ { return 200 "[$1]"; }
		location /ifuri/ { proxy_pass http://b/base/; if ($arg_a) { } }
		location /cors/ {
			if ($request_method = OPTIONS) { add_header Access-Control-Allow-Origin * always; add_header X-If 1 always; return 204; }
			add_header X-Outer 1 always;
			proxy_pass http://b;
		}
		location /ifpass/ {
			if ($arg_alt) { proxy_pass http://b; add_header X-Alt $arg_alt always; }
			proxy_pass http://b/base/;
			add_header X-Outer 1 always;
		}
		location /ifinherit/ { add_header X-Outer 1 always; if ($arg_a) { set $q 1; } proxy_pass http://b/base/; }
		location /ifep/ { if ($arg_a) { error_page 404 =200 /loc/from-ep; } return 404; }
		location /evil/ { set $t 1; if ($t) { add_header X-First 1 always; } if ($t) { add_header X-Second 2 always; } return 204; }
		location /ifret/ { if ($arg_a) { add_header X-In 1 always; } add_header X-Out 1 always; return 200 "ret"; }
		location ~ ^/rl/(\w+)/(\w+)$ { rewrite ^ /loc/$2/$1 break; proxy_pass http://b; }
		location ~ ^/rl2/(\w+)/(\w+)$ { rewrite ^/rl2/(\w+) /loc/$2/$1 break; proxy_pass http://b; }
		location ~ ^/rl3/(\w+)$ { if ($uri ~ ^/) { return 200 "[$1]"; } }
		location /sub/ { return 200 "[$subv][$sub]"; }
		location /ifuri2/ { proxy_pass http://b/base/; if ($arg_a) { rewrite ^/ifuri2/(.*)$ /ifuri2/n/$1 break; } }
	}`

// TestRewriteNginxDifferential runs nginx and sluice on the same rewrite
// configuration and compares what clients see: status, Location, body,
// and the request the backend receives.
func TestRewriteNginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	be := headBackend(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	body := strings.NewReplacer("BACKEND", be, "DIR", dir).Replace(rewriteDiffConf)
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]

	paths := []string{
		"/srv/a?q=1", "/srvlast/a", "/srvbreak/a", "/srvredir/a?q=1", "/srvbrkuri/a?q=1", "/srvlasturi/a?q=1",
		"/last/a?q=1", "/brk/a?q=1", "/brkuri/a?q=1", "/nobrk/a?q=1", "/tolastpass/a?q=1", "/noflag/a",
		"/args/keep?o=1", "/args/drop?o=1", "/args/add?o=1", "/args/add", "/args/addnone?o=1",
		"/redir/perm/a?o=1", "/redir/temp/a", "/redir/abs/a?o=1", "/redir/scheme/a?o=1", "/redir/noargs/a?o=1", "/redir/none",
		"/named/abc/123", "/re/word", "/ret/a?x=1", "/set/?v=1", "/brkdir/",
		"/if/?t=1", "/if/?t=0", "/if/?e=yes", "/if/?e=no", "/if/?e=x", "/if/?e=no&t=",
		"/iffile/", "/ifbreak/?b=1", "/ifbreak/", "/ifafter/?a=1", "/ifafter/",
		"/loop/a", "/empty/", "/esc/a%20b%3Fc", "/escredir/a%20b%3Fc", "/escredir/a+b;c",
		"/escargs/a%20b&c", "/escargs/a+b", "/escargs/plain", "/isargs/?a=1", "/isargs2/?a=1", "/isargs2/?", "/deny/", "/denyrw/",
		"/ep/?q=1", "/epnamed/", "/srv/%41", "/srvcap/",
		"/ifuri/x%41?a=1", "/ifuri/x%41", "/ifuri2/x?a=1",
		"OPTIONS /cors/x", "/cors/x", "/ifpass/x?alt=1", "/ifpass/x", "/ifinherit/x?a=1", "/ifep/?a=1", "/ifep/",
		"/evil/", "/ifret/?a=1", "/ifret/", "/rl/a/b", "/rl2/a/b", "/rl3/a",
	}
	for _, p := range paths {
		if !strings.Contains(p, " ") {
			p = "GET " + p
		}
		req := p + " HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
		want := normalizeResponse(rawRequest(t, nginxAddr, req), nginxAddr)
		got := normalizeResponse(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if got != want {
			t.Errorf("%s:\nsluice:\n%s\nnginx:\n%s", p, got, want)
		}
	}
	// request bodies follow a rewritten request; a redirect or return
	// discards them and the connection stays usable
	raws := []string{
		"POST /last/a?q=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
		"POST /brk/a HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST /redir/perm/a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhelloGET /ret/a HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"HEAD /redir/temp/a HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
	}
	for _, req := range raws {
		want := normalizeResponse(rawRequest(t, nginxAddr, req), nginxAddr)
		got := normalizeResponse(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if got != want {
			t.Errorf("%s:\nsluice:\n%s\nnginx:\n%s", firstLine(req), got, want)
		}
	}
	headers := []string{
		"X-Sub: abc-7\r\n", "X-Sub: ABC-7\r\n",
		"User-Agent: curl/8.1\r\n", "User-Agent: Mozilla\r\n", "User-Agent: googlebot\r\n", "X-Block: 1\r\n",
	}
	for _, hd := range headers {
		path := "/ifre/tail"
		if strings.HasPrefix(hd, "X-Sub") {
			path = "/sub/"
		}
		req := "GET " + path + " HTTP/1.1\r\nHost: example.com\r\n" + hd + "Connection: close\r\n\r\n"
		want := normalizeResponse(rawRequest(t, nginxAddr, req), nginxAddr)
		got := normalizeResponse(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if got != want {
			t.Errorf("GET %s with %q:\nsluice:\n%s\nnginx:\n%s", path, hd, got, want)
		}
	}
}

// TestRewriteLog checks the notice-level entries rewrite_log writes and
// the error of a rewrite cycle, in the words nginx 1.22 uses for the same
// configuration and requests.
func TestRewriteLog(t *testing.T) {
	h := startProxy(t, `events {} http { access_log off; rewrite_log on;
		server { listen 127.0.0.1:18080; server_name ex;
			location /a/ { rewrite ^/a/(.*)$ /b/$1?x=1 last; }
			location /b/ { if ($arg_x ~ ^(\d)$) { return 200 "b $1"; } return 200 "no"; }
			location /r/ { rewrite ^/nomatch /x; rewrite ^/r/(.*)$ http://h/$1 redirect; }
			location /loop/ { rewrite ^/loop/(.*)$ /loop/x$1 last; }
			location /quiet/ { rewrite_log off; rewrite ^/quiet/(.*)$ /b/$1 last; } } }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	for _, tc := range []struct{ path, status string }{
		{"/a/q?y=2", "200"}, {"/r/q?y=2", "302"}, {"/loop/a", "500"}, {"/quiet/q", "200"},
	} {
		got := rawRequest(t, addr, "GET "+tc.path+" HTTP/1.1\r\nHost: ex\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status) {
			t.Errorf("%s: %q, want %s", tc.path, firstLine(got), tc.status)
		}
	}
	logs := h.errs.String()
	for _, w := range []string{
		`[notice] ` + "", // the level
		`"^/a/(.*)$" matches "/a/q", client: 127.0.0.1, server: ex, request: "GET /a/q?y=2 HTTP/1.1", host: "ex"`,
		`rewritten data: "/b/q", args: "x=1&y=2", client: 127.0.0.1, server: ex, request: "GET /a/q?y=2 HTTP/1.1"`,
		`"^(\d)$" matches "1", client: 127.0.0.1`,
		`"^/nomatch" does not match "/r/q", client: 127.0.0.1`,
		`"^/r/(.*)$" matches "/r/q", client: 127.0.0.1`,
		`rewritten redirect: "http://h/q?y=2", client: 127.0.0.1`,
		`rewritten data: "/loop/xxxxxxxxxxxa", args: "", client: 127.0.0.1`,
		`[error]`,
		`rewrite or internal redirection cycle while processing "/loop/xxxxxxxxxxxa", client: 127.0.0.1, server: ex, request: "GET /loop/a HTTP/1.1", host: "ex"`,
	} {
		if !strings.Contains(logs, w) {
			t.Errorf("error log lacks %q:\n%s", w, logs)
		}
	}
	if n := strings.Count(logs, `matches "/loop/`); n != 11 {
		t.Errorf("%d rewrites of /loop/a logged, nginx makes 11", n)
	}
	if strings.Contains(logs, `"/quiet/q"`) {
		t.Errorf("rewrite_log off still logs:\n%s", logs)
	}
}
