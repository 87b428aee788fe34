package httpproxy

import (
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// authUsers is a password file with the password "pw" for every user, in
// each scheme: hashes made with openssl passwd -1/-apr1/-5/-6 and
// htpasswd -B/-s. "des" (a crypt(3) DES hash nginx on Debian accepts) is
// not known to sluice; "u" hides "user2", as nginx's parser does.
const authUsers = `# comment
plain:{PLAIN}pw
sha:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=
ssha:{SSHA}s4ztAom9XxWkhO8QlKXAdS0XHxtzYWx0NDU2Nw==
apr:$apr1$xy$Y1bXHnOuwq3xcdFEYfCVp.
md5:$1$saltsalt$6SNdNaZLKst2LlSm7oPPL1
sha5:$5$0123456789abcdef$nQeWGJveUL7jlr94v7ZnhFSJ8cRx.CTNSEnVWA95G.C
sha6:$6$sa$hrv.xaT7t5POOaiHFlFVA3RqUI2QJqpL0yaPJc/5A9BRWCj83/lihMNTmvPD8xS0AqqoFFFw4bg7cfYON1S05/
bcy:$2y$05$qymO5IBAr9hPUuiIxOucMuW.1aCnEaZMuOmxJcYchf487LJ0Wo012
bcb:$2b$05$qymO5IBAr9hPUuiIxOucMuW.1aCnEaZMuOmxJcYchf487LJ0Wo012
bca:$2a$05$qymO5IBAr9hPUuiIxOucMuW.1aCnEaZMuOmxJcYchf487LJ0Wo012
comment:{PLAIN}pw:a comment
crlf:{PLAIN}pw` + "\r" + `
u
user2:{PLAIN}pw
user3:{PLAIN}pw
des:abzlUXK5ed5rs
empty:
last:{PLAIN}pw`

// authDiffConf exercises auth_basic, satisfy and limit_except. BACKEND is
// the head-echoing backend; DIR holds the password file "users".
const authDiffConf = `
	upstream b { server BACKEND; }
	server { listen LISTEN; server_name example.com;
		proxy_set_header X-User $remote_user;
		location / { auth_basic "my \"realm"; auth_basic_user_file DIR/users; proxy_pass http://b; }
		location /var/ { auth_basic "r-$arg_r"; auth_basic_user_file DIR/$arg_f; proxy_pass http://b; }
		location /off/ { auth_basic off; auth_basic_user_file DIR/users; proxy_pass http://b; }
		location /varoff/ { auth_basic $arg_a; auth_basic_user_file DIR/users; proxy_pass http://b; }
		location /nofile/ { auth_basic r; proxy_pass http://b; }
		location /missing/ { auth_basic r; auth_basic_user_file DIR/none; proxy_pass http://b; }
		location /all/ { deny all; auth_basic r; auth_basic_user_file DIR/users; proxy_pass http://b; }
		location /allallow/ { allow all; auth_basic r; auth_basic_user_file DIR/users; proxy_pass http://b; }
		location /any/ { satisfy any; deny all; auth_basic r; auth_basic_user_file DIR/users; proxy_pass http://b; }
		location /anyallow/ { satisfy any; allow 127.0.0.1; deny all; auth_basic r; auth_basic_user_file DIR/users; proxy_pass http://b; }
		location /anynorule/ { satisfy any; auth_basic r; auth_basic_user_file DIR/users; proxy_pass http://b; }
		location /anyonly/ { satisfy any; deny all; proxy_pass http://b; }
		location /anymissing/ { satisfy any; deny all; auth_basic r; auth_basic_user_file DIR/none; proxy_pass http://b; }
		location /le/ { limit_except GET { deny all; } proxy_pass http://b; }
		location /le2/ { limit_except GET POST { auth_basic le; auth_basic_user_file DIR/users; } proxy_pass http://b; }
		location /le3/ { auth_basic outer; auth_basic_user_file DIR/users; limit_except get { auth_basic off; } proxy_pass http://b; }
		location /le4/ { satisfy any; limit_except GET { deny all; auth_basic le; auth_basic_user_file DIR/users; } proxy_pass http://b; }
		location /le5/ { allow all; limit_except GET { } proxy_pass http://b; }
		location /leif/ { limit_except GET { deny all; } if ($arg_i) { } proxy_pass http://b; }
		location /lerw/ { limit_except GET { } set $x 1; rewrite ^ /other/ break; add_header X-A $x always; proxy_pass http://b; }
		location /leret/ { limit_except GET { } return 200 "ret"; proxy_pass http://b; }
		location /lenest/ { limit_except GET { deny all; } location /lenest/in/ { proxy_pass http://b; } proxy_pass http://b; }
		location /ep/ { error_page 401 /epage/x; auth_basic r; auth_basic_user_file DIR/users; proxy_pass http://b; }
		location /epage/ { proxy_pass http://b; }
		location /ret/ { auth_basic r; auth_basic_user_file DIR/users; return 200 "rewrite phase first"; }
	}`

// basicAuth returns an Authorization header line for user:pass.
func basicAuth(user, pass string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + "\r\n"
}

// TestAuthBasicNginxDifferential runs nginx and sluice on the same
// configuration and compares what clients see (status, WWW-Authenticate,
// body, the request the backend gets) for every password scheme, wrong
// and missing credentials, satisfy any/all and limit_except.
func TestAuthBasicNginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	be := headBackend(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(authUsers), 0o644); err != nil {
		t.Fatal(err)
	}
	body := strings.NewReplacer("BACKEND", be, "DIR", dir).Replace(authDiffConf)
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]

	type tc struct{ req, hdr string }
	var cases []tc
	for _, u := range []string{"plain", "sha", "ssha", "apr", "md5", "sha5", "sha6", "bcy", "bcb", "bca",
		"comment", "crlf", "user2", "user3", "empty", "last", "nobody", "u"} {
		cases = append(cases, tc{"GET /a", basicAuth(u, "pw")}, tc{"GET /a", basicAuth(u, "wrong")})
	}
	cases = append(cases,
		tc{"GET /a", ""}, tc{"GET /a", basicAuth("empty", "")},
		tc{"GET /a", "Authorization: Basic\r\n"},
		tc{"GET /a", "Authorization: basic   cGxhaW46cHc\r\n"},
		tc{"GET /a", "Authorization: Basic cGxhaW46cHc=garbage\r\n"},
		tc{"GET /a", "Authorization: Basic !!!!\r\n"},
		tc{"GET /a", "Authorization: Bearer cGxhaW46cHc=\r\n"},
		tc{"GET /a", basicAuth("", "pw")}, tc{"GET /a", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("plain")) + "\r\n"},
		tc{"GET /a", basicAuth("plain", "pw:x")},
		tc{"HEAD /a", ""},
		tc{"GET /var/?r=x&f=users", ""}, tc{"GET /var/?r=x&f=users", basicAuth("md5", "pw")},
		tc{"GET /var/?r=x&f=none", basicAuth("md5", "pw")}, tc{"GET /var/?r=x&f=", basicAuth("md5", "pw")},
		tc{"POST /leif/", ""}, tc{"POST /leif/?i=1", ""}, tc{"GET /leif/?i=1", ""},
		tc{"GET /lerw/", ""}, tc{"POST /lerw/", ""}, tc{"GET /leret/", ""}, tc{"POST /leret/", ""},
		tc{"POST /lenest/", ""}, tc{"POST /lenest/in/", ""},
		tc{"GET /off/", ""}, tc{"GET /varoff/?a=off", ""}, tc{"GET /varoff/?a=on", ""}, tc{"GET /nofile/", ""},
		tc{"GET /missing/", ""}, tc{"GET /missing/", basicAuth("plain", "pw")},
		tc{"GET /ret/", ""}, tc{"GET /ep/", ""},
	)
	for _, p := range []string{"/all/", "/allallow/", "/any/", "/anyallow/", "/anynorule/", "/anyonly/", "/anymissing/"} {
		cases = append(cases, tc{"GET " + p, ""}, tc{"GET " + p, basicAuth("sha6", "pw")}, tc{"GET " + p, basicAuth("sha6", "x")})
	}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "FOO"} {
		for _, p := range []string{"/le/", "/le2/", "/le3/", "/le4/", "/le5/"} {
			cases = append(cases, tc{m + " " + p, ""}, tc{m + " " + p, basicAuth("apr", "pw")})
		}
	}
	for _, c := range cases {
		req := c.req + " HTTP/1.1\r\nHost: example.com\r\n" + c.hdr + "Connection: close\r\n\r\n"
		want := normalizeResponse(rawRequest(t, nginxAddr, req), nginxAddr)
		got := normalizeResponse(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if got != want {
			t.Errorf("%s %q:\nsluice:\n%s\nnginx:\n%s", c.req, c.hdr, got, want)
		}
	}
	// a refused request body is discarded and the connection stays open
	for _, req := range []string{
		"POST /le/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhelloGET /le/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhelloGET /off/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
	} {
		want := normalizeResponse(rawRequest(t, nginxAddr, req), nginxAddr)
		got := normalizeResponse(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if got != want {
			t.Errorf("%s:\nsluice:\n%s\nnginx:\n%s", firstLine(req), got, want)
		}
	}
}

// TestAuthBasicLog checks the error log lines of auth_basic, satisfy and
// limit_except against nginx 1.22's words and levels for the same
// requests.
func TestAuthBasicLog(t *testing.T) {
	be := headBackend(t)
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte(authUsers), 0o644); err != nil {
		t.Fatal(err)
	}
	body := strings.NewReplacer("BACKEND", be, "DIR", dir, "LISTEN", "127.0.0.1:18080").Replace(authDiffConf)
	h := startProxy(t, "events {} http { access_log off;\n"+body+"}", Options{})
	addr := h.addr["127.0.0.1:18080"]
	for _, c := range []struct{ req, hdr, status string }{
		{"GET /a", "", "401"},
		{"GET /a", basicAuth("md5", "x"), "401"},
		{"GET /a", basicAuth("nobody", "pw"), "401"},
		{"GET /a", basicAuth("des", "pw"), "401"},
		{"GET /missing/", basicAuth("md5", "pw"), "403"},
		{"GET /all/", basicAuth("md5", "pw"), "403"},
		{"GET /anyonly/", "", "403"},
		{"POST /le/", "", "403"},
	} {
		got := rawRequest(t, addr, c.req+" HTTP/1.1\r\nHost: example.com\r\n"+c.hdr+"Connection: close\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 "+c.status) {
			t.Errorf("%s %q: %q, want %s", c.req, c.hdr, firstLine(got), c.status)
		}
	}
	logs := h.errs.String()
	for _, w := range []string{
		`[info] ` + "", // the level of the first
		`no user/password was provided for basic authentication, client: 127.0.0.1, server: example.com, request: "GET /a HTTP/1.1", host: "example.com"`,
		`[error]`,
		`user "md5": password mismatch, client: 127.0.0.1, server: example.com, request: "GET /a HTTP/1.1"`,
		`user "nobody" was not found in "` + users + `", client: 127.0.0.1`,
		`user "des": password mismatch (password scheme not supported by sluice), client: 127.0.0.1`,
		`open() "` + filepath.Join(dir, "none") + `" failed (2: No such file or directory), client: 127.0.0.1, server: example.com, request: "GET /missing/ HTTP/1.1"`,
		`access forbidden by rule, client: 127.0.0.1, server: example.com, request: "GET /all/ HTTP/1.1"`,
		`access forbidden by rule, client: 127.0.0.1, server: example.com, request: "GET /anyonly/ HTTP/1.1"`,
		`access forbidden by rule, client: 127.0.0.1, server: example.com, request: "POST /le/ HTTP/1.1"`,
	} {
		if !strings.Contains(logs, w) {
			t.Errorf("error log lacks %q:\n%s", w, logs)
		}
	}
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "no user/password") && !strings.Contains(l, "[info]") ||
			strings.Contains(l, "password mismatch") && !strings.Contains(l, "[error]") {
			t.Errorf("wrong level: %s", l)
		}
	}
}

// TestAuthBasicClients logs in with Go's client and with curl -u, against
// a password file given relative to the configuration's directory and
// changed between requests (it is read for every request).
func TestAuthBasicClients(t *testing.T) {
	be := headBackend(t)
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18080;
			location / { auth_basic "Restricted Area"; auth_basic_user_file users.htpasswd; proxy_pass http://`+be+`;
				proxy_set_header X-User $remote_user; }
			location /v/ { auth_basic v; auth_basic_user_file $arg_f; proxy_pass http://`+be+`; } } }`, Options{})
	file := filepath.Join(h.dir, "users.htpasswd")
	if err := os.WriteFile(file, []byte("alice:$apr1$xy$Y1bXHnOuwq3xcdFEYfCVp.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	url := h.url("127.0.0.1:18080", "/x")
	get := func(user, pass string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := (&http.Client{Timeout: waitLimit}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, _ := get("", "")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="Restricted Area"` {
		t.Errorf("no credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, body := get("alice", "pw")
	if resp.StatusCode != 200 || !strings.Contains(body, "X-User: alice\r\n") {
		t.Errorf("alice: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get("alice", "bad"); resp.StatusCode != 401 {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	// a new password takes effect at once
	if err := os.WriteFile(file, []byte("alice:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=\nbob:$6$sa$hrv.xaT7t5POOaiHFlFVA3RqUI2QJqpL0yaPJc/5A9BRWCj83/lihMNTmvPD8xS0AqqoFFFw4bg7cfYON1S05/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get("bob", "pw"); resp.StatusCode != 200 {
		t.Errorf("bob after the file changed: %d", resp.StatusCode)
	}
	// a relative name made of variables is taken from the same directory
	req, _ := http.NewRequest("GET", h.url("127.0.0.1:18080", "/v/?f=users.htpasswd"), nil)
	req.SetBasicAuth("bob", "pw")
	if resp, err := (&http.Client{Timeout: waitLimit}).Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("file from a variable: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	for _, c := range []struct{ user, want string }{{"alice:pw", "200"}, {"bob:pw", "200"}, {"bob:x", "401"}} {
		out, err := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "-u", c.user, url).CombinedOutput()
		if err != nil || string(out) != c.want {
			t.Errorf("curl -u %s: %q %v, want %s", c.user, out, err, c.want)
		}
	}
}

// TestFindUser checks the password file parser on nginx's corner cases.
func TestFindUser(t *testing.T) {
	for _, c := range []struct {
		file, user, want string
		found            bool
	}{
		{"a:1\nab:2\n", "ab", "2", true},
		{"ab\nab:2\n", "ab", "", false}, // the first line hides the second
		{"a\nab:2\nab:3", "ab", "3", true},
		{"#ab:1\nab:2:x\n", "ab", "2", true},
		{"\n\nab:2\r\n", "ab", "2", true},
		{"ab:", "ab", "", true},
		{"abc:1", "ab", "", false},
	} {
		pw, found := findUser([]byte(c.file), []byte(c.user))
		if found != c.found || string(pw) != c.want {
			t.Errorf("findUser(%q, %q) = %q, %v; want %q, %v", c.file, c.user, pw, found, c.want, c.found)
		}
	}
}

// TestAuthBasicH2 checks auth_basic and limit_except for HTTP/2 clients.
func TestAuthBasicH2(t *testing.T) {
	be := h2EchoBackend(t, "b1")
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18202 http2;
			location / { auth_basic "h2 realm"; auth_basic_user_file users; proxy_pass http://`+be.addr+`; }
			location /le/ { limit_except GET { deny all; } proxy_pass http://`+be.addr+`; } } }`, Options{})
	if err := os.WriteFile(filepath.Join(h.dir, "users"), []byte("carol:$5$0123456789abcdef$nQeWGJveUL7jlr94v7ZnhFSJ8cRx.CTNSEnVWA95G.C\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cl, _ := h2cClient(t)
	base := h.url("127.0.0.1:18202", "")
	for _, tc := range []struct {
		method, path, user string
		status             int
		auth               string
	}{
		{"GET", "/a", "", 401, `Basic realm="h2 realm"`},
		{"GET", "/a", "carol", 200, ""},
		{"GET", "/le/", "", 200, ""},
		{"POST", "/le/", "", 403, ""},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, "pw")
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.ProtoMajor != 2 || resp.Header.Get("WWW-Authenticate") != tc.auth {
			t.Errorf("%s %s: %s %d %q, want %d %q", tc.method, tc.path, resp.Proto, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.auth)
		}
	}
}

// TestAuthBasicUnknownVariable checks that an unknown variable in
// auth_basic or auth_basic_user_file is refused, even when the other
// directive is missing, with nginx's words.
func TestAuthBasicUnknownVariable(t *testing.T) {
	for _, d := range []string{"auth_basic $nosuch;", "auth_basic_user_file /x/$nosuch;",
		"limit_except GET { auth_basic $nosuch; }"} {
		hc := loadHTTP(t, t.TempDir(), `events {} http { access_log off; server { listen 127.0.0.1:18080;
			location / { `+d+` proxy_pass http://127.0.0.1:1; } } }`)
		_, err := Build(hc, Options{})
		if err == nil || !strings.Contains(err.Error(), `unknown "nosuch" variable`) {
			t.Errorf("%s: %v", d, err)
		}
	}
}
