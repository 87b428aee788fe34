package httpproxy

import (
	"net/http"
	"strings"
	"testing"
)

// cookieBackendValues are the Set-Cookie headers of the cookie backend.
var cookieBackendValues = []string{
	"a=1; Domain=backend.example; Path=/app/x",
	"b=2;domain=.BACKEND.example;path=/API/q ;Secure",
	"sess_id=3; Path=/; SameSite=None; secure",
	"keep=4; Secure; HttpOnly; SameSite=Lax; Path=/",
	"x=5; Domain=svc.internal",
	"noval; Path=/app/",
	"c=6; Domain=other.example",
	"d=7; Path=/other; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
	"e=8;  Path = /app/z ;Max-Age=3",
	"CVar=9; Path=/",
	"sess2=1; HttpOnly; SameSite=strict",
	"f=10; Domain=",
	"g=11; samesite=lax; samesite=none",
	"h=12; Path=/n/deep; Domain=A.Named.Test",
}

// TestProxyCookie checks proxy_cookie_domain, proxy_cookie_path and
// proxy_cookie_flags on the Set-Cookie headers of a backend, with
// variables, regular expressions and captures (named too), a leading dot, several
// rules of a kind (the first match wins), per-kind inheritance and "off".
// The expected values are what nginx 1.22 sends for the same
// configuration and backend.
func TestProxyCookie(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, v := range cookieBackendValues {
			w.Header().Add("Set-Cookie", v)
		}
		w.Write([]byte("ok"))
	}))
	h := startProxy(t, `events {} http { access_log off;
	server { listen 127.0.0.1:18080;
		proxy_cookie_domain backend.example $host;
		proxy_cookie_domain ~^(.+)\.internal$ $1.public;
		proxy_cookie_domain .Other.Example .front.example;
		proxy_cookie_path /app/ /;
		proxy_cookie_path ~*^/API(/.*)$ /v2$1;
		proxy_cookie_path ~^/n/(?<rest>.*)$ /named/${rest}x;
		proxy_cookie_domain ~^(?<sub>[a-z]+)\.named\.test$ $sub.example;
		proxy_cookie_flags ~^sess secure httponly samesite=strict;
		proxy_cookie_flags keep nosecure nohttponly nosamesite;
		proxy_cookie_flags $arg_c samesite=lax;
		proxy_cookie_flags g samesite=strict;
		location / { proxy_pass http://`+be.addr+`; }
		location /p/ { proxy_pass http://`+be.addr+`; proxy_cookie_path /other /o; }
		location /off/ { proxy_pass http://`+be.addr+`; proxy_cookie_domain off; proxy_cookie_flags off; }
		location /none/ { proxy_pass http://`+be.addr+`; proxy_cookie_domain off; proxy_cookie_path off; proxy_cookie_flags off; }
	}}`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	cases := []struct {
		path string
		want []string
	}{
		{"/?c=cvar", []string{
			"a=1; Domain=front.test; Path=/x",
			"b=2; domain=.front.test; path=/v2/q; Secure",
			"sess_id=3; Path=/; SameSite=Strict; secure; HttpOnly",
			"keep=4; Path=/",
			"x=5; Domain=svc.public",
			"noval; Path=/app/",
			"c=6; Domain=front.example",
			"d=7; Path=/other; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
			"e=8; Path=/z; Max-Age=3",
			"CVar=9; Path=/; SameSite=Lax",
			"sess2=1; HttpOnly; SameSite=strict; Secure",
			"f=10; Domain=",
			"g=11; SameSite=Strict; samesite=none",
			"h=12; Path=/named/deepx; Domain=A.example",
		}},
		{"/p/", []string{
			"a=1; Domain=front.test; Path=/app/x",
			"b=2; domain=.front.test; path=/API/q; Secure",
			"sess_id=3; Path=/; SameSite=Strict; secure; HttpOnly",
			"keep=4; Path=/",
			"x=5; Domain=svc.public",
			"noval; Path=/app/",
			"c=6; Domain=front.example",
			"d=7; Path=/o; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
			"e=8;  Path = /app/z ;Max-Age=3",
			"CVar=9; Path=/",
			"sess2=1; HttpOnly; SameSite=strict; Secure",
			"f=10; Domain=",
			"g=11; SameSite=Strict; samesite=none",
			"h=12; Path=/n/deep; Domain=A.example",
		}},
		{"/off/", []string{
			"a=1; Domain=backend.example; Path=/x",
			"b=2; domain=.BACKEND.example; path=/v2/q; Secure",
			"sess_id=3; Path=/; SameSite=None; secure",
			"keep=4; Secure; HttpOnly; SameSite=Lax; Path=/",
			"x=5; Domain=svc.internal",
			"noval; Path=/app/",
			"c=6; Domain=other.example",
			"d=7; Path=/other; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
			"e=8; Path=/z; Max-Age=3",
			"CVar=9; Path=/",
			"sess2=1; HttpOnly; SameSite=strict",
			"f=10; Domain=",
			"g=11; samesite=lax; samesite=none",
			"h=12; Path=/named/deepx; Domain=A.Named.Test",
		}},
		{"/none/", cookieBackendValues},
	}
	for _, tc := range cases {
		resp, _ := get(t, addr, "GET "+tc.path+" HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n")
		got := resp.Header.Values("Set-Cookie")
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: Set-Cookie\n%s\nwant\n%s", tc.path, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}
