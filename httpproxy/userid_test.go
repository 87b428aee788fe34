package httpproxy

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// userIDDiffConf sets the userid cookie with every attribute, and in
// locations with other settings; each location shows the variables.
const userIDDiffConf = `
	server { listen LISTEN;
		userid on; userid_expires max; userid_domain example.com; userid_path /p; userid_p3p 'CP="CUR ADM"';
		userid_flags secure samesite=lax httponly; userid_flags samesite=strict;
		location / { return 200 "got=$uid_got set=$uid_set reset=[$uid_reset]\n"; }
		location /v1 { userid v1; userid_service 7; return 200 "got=$uid_got set=$uid_set\n"; }
		location /log { userid log; return 200 "got=$uid_got set=$uid_set\n"; }
		location /off { userid off; return 200 "got=$uid_got set=$uid_set\n"; }
		location /mark { userid_mark X; return 200 "got=$uid_got set=$uid_set\n"; }
		location /reset { set $uid_reset $arg_r; return 200 "got=$uid_got set=$uid_set\n"; }
		location /svc { userid_service 1234; userid_expires off; userid_flags off; userid_domain none;
			userid_p3p none; userid_name Track; userid_path /; return 200 "got=$uid_got set=$uid_set\n"; }
		location /exp { userid_expires 1h; return 200 "got=$uid_got\n"; }
		location /file { root DIR; }
		location /err { return 404; }
		location /gif { userid_mark 0; empty_gif; }
	}`

// uidNorm hides what differs between two servers making the same
// cookie: the time, process and sequence words of an identifier made
// (its first word, the service or the server's address, is kept) and an
// expiry time relative to now.
func uidNorm(s string) string {
	s = uidCookieRe.ReplaceAllString(s, "${1}${2}~${3}")
	s = uidSetRe.ReplaceAllString(s, "set=${1}=${2}~")
	return uidExpiresRe.ReplaceAllString(s, "expires=~")
}

var (
	uidCookieRe  = regexp.MustCompile(`(Set-Cookie: [^=]*=)([A-Za-z0-9+/]{5})[A-Za-z0-9+/]{17}(..)`)
	uidSetRe     = regexp.MustCompile(`set=(\w*)=([0-9A-F]{8})[0-9A-F]{24}`)
	uidExpiresRe = regexp.MustCompile(`expires=\w{3}, \d\d-\w{3}-\d\d \d\d:\d\d:\d\d GMT`)
)

// TestUserIDNginxDifferential sends nginx and sluice the same requests,
// with and without cookies of every kind, and compares the answers: the
// cookie's attributes, P3P, the variables, and whether a cookie is sent.
func TestUserIDNginxDifferential(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "file"), []byte("data\n"), 0o644)
	const c1 = "fwAAAWXz9lAAAAAAAwMDAg=="
	get := func(target, cookie string) string {
		h := ""
		if cookie != "" {
			h = "Cookie: " + cookie + "\r\n"
		}
		return "GET " + target + " HTTP/1.1\r\nHost: a\r\n" + h + "Connection: close\r\n\r\n"
	}
	requests := []string{
		get("/", ""), get("/v1", ""), get("/log", ""), get("/off", ""), get("/mark", ""),
		get("/svc", ""), get("/exp", ""), get("/file", ""), get("/err", ""), get("/gif", ""),
		"HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		get("/", "uid="+c1), get("/v1", "uid="+c1), get("/log", "uid="+c1), get("/off", "uid="+c1),
		get("/mark", "uid="+c1), get("/mark", "uid="+c1[:22]+"X="), get("/mark", "uid="+c1[:22]+"Y="),
		get("/gif", "uid="+c1), get("/gif", "uid="+c1[:22]+"0="),
		get("/reset?r=1", "uid="+c1), get("/reset?r=0", "uid="+c1), get("/reset?r=log", "uid="+c1),
		get("/reset", "uid="+c1), get("/reset?r=1", ""),
		get("/svc", "uid="+c1), get("/svc", "Track="+c1), get("/svc", "TRACK = "+c1),
		get("/", "uid=short"), get("/", "uid="+strings.Replace(c1, "A", "-", 1)),
		get("/", "uid=fwAAAWXz9l==AAAAAAAAAAAAAA"), get("/", "uid=fwAAAWXz9lAAAAAAAAAAAA=="),
		get("/", "a=1, uid="+c1), get("/", "a=uid=x; uid="+c1), get("/", "uid;uid="+c1),
		get("/", "uidx="+c1), get("/", "xuid="+c1), get("/", "uid="+c1+"; uid=other"),
		get("/", " uid = "+c1+" ;"),
		"GET / HTTP/1.1\r\nHost: a\r\nCookie: a=b\r\nCookie: uid=" + c1 + "\r\nConnection: close\r\n\r\n",
		get("/err", "uid="+c1), get("/file", "uid="+c1),
	}
	moduleDiffNorm(t, dir, userIDDiffConf, requests, uidNorm)
}

// uidExchange asks addr for target with cookie (none when empty) and
// returns the cookie's value that the answer sets ("" for none) and the
// answer's body.
func uidExchange(t *testing.T, addr, target, cookie string) (set, body string) {
	t.Helper()
	h := ""
	if cookie != "" {
		h = "Cookie: uid=" + cookie + "\r\n"
	}
	resp, b, err := readResponse(bufio.NewReader(strings.NewReader(rawRequest(t, addr,
		"GET "+target+" HTTP/1.1\r\nHost: a\r\n"+h+"Connection: close\r\n\r\n"))), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
		if c.Name == "uid" {
			set = c.Value
		}
	}
	return set, b
}

// TestUserIDCookiesInterchange checks that a cookie nginx makes is read by
// sluice as nginx reads it, and the reverse, for both cookie versions and
// with a mark (no new cookie is sent for any of them); and that the words of sluice's cookies are what nginx puts
// there: the server's address or the service, and the time.
func TestUserIDCookiesInterchange(t *testing.T) {
	body := `server { listen LISTEN;
		location / { userid on; return 200 "got=$uid_got set=$uid_set"; }
		location /v1 { userid v1; userid_service 7; return 200 "got=$uid_got set=$uid_set"; }
		location /mark { userid on; userid_mark t; return 200 "got=$uid_got set=$uid_set"; }
	}`
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]
	servers := []struct{ name, addr string }{{"nginx", nginxAddr}, {"sluice", sluiceAddr}}
	for _, target := range []string{"/", "/v1", "/mark"} {
		for i, from := range servers {
			to := servers[1-i]
			cookie, made := uidExchange(t, from.addr, target, "")
			if cookie == "" || !strings.HasPrefix(made, "got= set=uid=") {
				t.Fatalf("%s %s: cookie %q, body %q", from.name, target, cookie, made)
			}
			want := "got=" + strings.TrimPrefix(made, "got= set=") + " set="
			set, got := uidExchange(t, to.addr, target, cookie)
			if got != want || set != "" {
				t.Errorf("%s's cookie %q for %s read by %s: %q (set %q), want %q", from.name, cookie, target, to.name, got, set, want)
			}
			// and by the server that made it
			if _, again := uidExchange(t, from.addr, target, cookie); again != want {
				t.Errorf("%s reads its own cookie %q as %q, want %q", from.name, cookie, again, want)
			}
		}
	}
	// the words of sluice's cookies
	now := time.Now().Unix()
	for _, tc := range []struct {
		target  string
		order   binary.ByteOrder
		service uint32
	}{{"/", binary.BigEndian, 0x7f000001}, {"/v1", binary.LittleEndian, 7}} {
		cookie, _ := uidExchange(t, sluiceAddr, tc.target, "")
		raw, err := base64.StdEncoding.DecodeString(cookie)
		if err != nil || len(raw) != 16 {
			t.Fatalf("%s: cookie %q: %v", tc.target, cookie, err)
		}
		if s := tc.order.Uint32(raw[0:]); s != tc.service {
			t.Errorf("%s: first word %#x, want %#x", tc.target, s, tc.service)
		}
		if ts := int64(tc.order.Uint32(raw[4:])); ts < now-5 || ts > now+5 {
			t.Errorf("%s: time word %d, now %d", tc.target, ts, now)
		}
	}
}

// TestUserIDLog checks the error log lines of bad cookies and resets.
func TestUserIDLog(t *testing.T) {
	h := startProxy(t, `events {} http { access_log off; server { listen 127.0.0.1:18080;
		userid on; location / { set $uid_reset $arg_r; return 200 "$uid_got"; } } }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	uidExchange(t, addr, "/", "short")
	uidExchange(t, addr, "/", "fwAA-WXz9lAAAAAAAwMDAg==")
	uidExchange(t, addr, "/?r=log", "fwAAAWXz9lAAAAAAAwMDAg==")
	for _, want := range []string{
		`[error] `, `client sent too short userid cookie "uid=short", client: 127.0.0.1`,
		`client sent invalid userid cookie "uid=fwAA-WXz9lAAAAAAAwMDAg=="`,
		`[notice] `, `userid cookie "uid=0100007F50F6F3650000000002030303" was reset`,
	} {
		if !strings.Contains(h.errs.String(), want) {
			t.Errorf("error log lacks %q:\n%s", want, h.errs.String())
		}
	}
}

// TestUserIDExpires checks the expiry of the cookie with a fixed clock:
// the year in two digits up to 2037 and in four after, as nginx writes
// it, and the time word of the cookie.
func TestUserIDExpires(t *testing.T) {
	now := time.Date(2026, 12, 4, 23, 30, 5, 0, time.UTC)
	h := startProxy(t, `events {} http { access_log off; server { listen 127.0.0.1:18080; userid on;
		location /h { userid_expires 1h; return 204; }
		location /y { userid_expires 20y; return 204; } } }`, Options{Now: func() time.Time { return now }})
	addr := h.addr["127.0.0.1:18080"]
	for _, tc := range []struct{ target, want string }{
		{"/h", "; expires=Sat, 05-Dec-26 00:30:05 GMT; path=/"},
		{"/y", "; expires=Thu, 29-Nov-2046 23:30:05 GMT; path=/"},
	} {
		out := rawRequest(t, addr, "GET "+tc.target+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		m := regexp.MustCompile(`Set-Cookie: uid=([A-Za-z0-9+/]{22}==)(.*)\r\n`).FindStringSubmatch(out)
		if m == nil || m[2] != tc.want {
			t.Fatalf("%s: %q, want %q", tc.target, out, tc.want)
		}
		raw, _ := base64.StdEncoding.DecodeString(m[1])
		if ts := binary.BigEndian.Uint32(raw[4:]); int64(ts) != now.Unix() {
			t.Errorf("%s: time word %d, want %d", tc.target, ts, now.Unix())
		}
	}
}

// TestUserIDKeepAlive checks that each request of a keep-alive
// connection gets its own identifier.
func TestUserIDKeepAlive(t *testing.T) {
	h := startProxy(t, `events {} http { access_log off; server { listen 127.0.0.1:18080;
		userid on; location / { return 200 "$uid_set"; } } }`, Options{})
	out := rawRequest(t, h.addr["127.0.0.1:18080"], "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(strings.NewReader(out))
	var cookies, bodies []string
	for i := 0; i < 2; i++ {
		resp, body, err := readResponse(br, false)
		if err != nil {
			t.Fatalf("response %d: %v in %q", i, err, out)
		}
		cookies = append(cookies, resp.Header.Get("Set-Cookie"))
		bodies = append(bodies, body)
	}
	if cookies[0] == "" || cookies[0] == cookies[1] || bodies[0] == bodies[1] {
		t.Errorf("cookies %q, bodies %q: want two identifiers", cookies, bodies)
	}
}
