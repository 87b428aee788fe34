package httpproxy

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// queryBackend answers with the status (st) and headers its query asks
// for: ct Content-Type, lm Last-Modified, ex Expires, cc and cc2
// Cache-Control, ce Content-Encoding; the body is "hello". It sends no
// Date, and Go's server writes the headers sorted by name.
func queryBackend(t *testing.T) string {
	b := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		h := w.Header()
		h["Content-Type"] = nil // no sniffing
		h["Date"] = nil
		for _, k := range []struct{ arg, name string }{{"ct", "Content-Type"}, {"lm", "Last-Modified"},
			{"ex", "Expires"}, {"cc", "Cache-Control"}, {"cc2", "Cache-Control"}, {"ce", "Content-Encoding"}} {
			if v, ok := q[k.arg]; ok {
				h[k.name] = append(h[k.name], v[0])
			}
		}
		h.Set("Content-Length", "5")
		st := 200
		if s := q.Get("st"); s != "" {
			st, _ = strconv.Atoi(s)
		}
		w.WriteHeader(st)
		w.Write([]byte("hello"))
	}))
	return b.addr
}

// headersConf is the configuration TestCharsetExpiresNginx runs on nginx
// and sluice (BACKEND the backend's address).
const headersConf = `
	charset UTF-8;
	server { listen LISTEN;
		location / { proxy_pass http://BACKEND; }
		location /cs { charset utf-8; proxy_pass http://BACKEND; }
		location /off { charset off; proxy_pass http://BACKEND; }
		location /ov { override_charset on; proxy_pass http://BACKEND; }
		location /types { charset_types text/css; proxy_pass http://BACKEND; }
		location /star { charset_types *; proxy_pass http://BACKEND; }
		location /var { charset $arg_cs; proxy_pass http://BACKEND; }
		location /ret { return 200 "text"; }
		location /ret404 { return 404; }
		location /ret302 { return 302 /x; }
		location /ret303 { return 303 /x; }
		location /exp { expires 1h; add_header X-A a; proxy_pass http://BACKEND; }
		location /neg { expires -1h; proxy_pass http://BACKEND; }
		location /zero { expires 0; proxy_pass http://BACKEND; }
		location /epoch { expires epoch; proxy_pass http://BACKEND; }
		location /max { expires max; proxy_pass http://BACKEND; }
		location /mod { expires modified 1h; proxy_pass http://BACKEND; }
		location /modneg { expires modified -1h; proxy_pass http://BACKEND; }
		location /daily { expires @15h30m; proxy_pass http://BACKEND; }
		location /evar { expires $arg_e; proxy_pass http://BACKEND; }
		location /emvar { expires modified $arg_e; proxy_pass http://BACKEND; }
		location /hide { expires 1h; proxy_hide_header Expires; proxy_pass http://BACKEND; }
		location /eret { expires 1h; return 200 "x"; }
		location /eret404 { expires 1h; return 404; }
		location /eret302 { expires 1h; return 302 /x; }
	}`

// TestCharsetExpiresNginx sends the same requests to nginx and sluice on
// headersConf and compares the statuses and headers (Expires and
// max-age are compared as offsets from the response's Date where they
// depend on the time).
func TestCharsetExpiresNginx(t *testing.T) {
	be := queryBackend(t)
	body := strings.ReplaceAll(headersConf, "BACKEND", be)
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]
	const old, future = "Thu,%2001%20Jan%202026%2000:00:00%20GMT", "Thu,%2001%20Jan%202037%2000:00:00%20GMT"
	paths := []string{
		// charset
		"/?ct=text/html", "/?ct=TEXT/HTML", "/?ct=text/css", "/?ct=application/javascript", "/?ct=application/json",
		"/?ct=text/html%3B%20foo=bar", "/?ct=text/html%3B", "/?ct=text/html%3B%20charset=iso-8859-1",
		"/?ct=text/html%3Bcharset=%22koi8-r%22", "/?ct=text/html&st=301", "/?ct=text/html&st=302",
		"/?ct=text/html&st=303", "/?ct=text/html&st=404", "/?st=200", "/cs?ct=text/html",
		"/off?ct=text/html", "/ov?ct=text/html%3B%20charset=iso-8859-1", "/ov?ct=text/html%3Bcharset=utf-8",
		"/ov?ct=text/html%3Bcharset=UTF-8&st=301", "/ov?ct=text/html%3Bcharset=", "/ov?ct=text/css%3Bcharset=utf-8",
		"/types?ct=text/css", "/types?ct=text/plain", "/types?ct=text/html", "/star?ct=image/png",
		"/var?ct=text/html&cs=foo", "/var?ct=text/html&cs=utf-8", "/var?ct=text/html&cs=",
		"/ret", "/ret404", "/ret302", "/ret303",
		// expires
		"/exp", "/exp?st=201", "/exp?st=204", "/exp?st=206", "/exp?st=304", "/exp?st=307", "/exp?st=308",
		"/exp?st=203", "/exp?st=404", "/exp?st=500", "/exp?ex=foo&cc=private&cc2=no-store",
		"/exp?cc=private", "/neg", "/zero", "/epoch", "/max", "/mod", "/mod?lm=" + old, "/mod?lm=" + future,
		"/mod?lm=garbage", "/modneg?lm=" + future, "/daily", "/evar?e=2h", "/evar?e=-2h", "/evar?e=epoch",
		"/evar?e=max", "/evar?e=off", "/evar?e=bad", "/evar?e=@1h", "/evar", "/emvar?e=2h&lm=" + old,
		"/emvar?e=-2h&lm=" + future, "/emvar?e=max", "/hide?ex=foo", "/eret", "/eret404", "/eret302",
	}
	for _, p := range paths {
		req := "GET " + p + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
		want := normalizeResponse(rawRequest(t, nginxAddr, req), nginxAddr)
		got := normalizeResponse(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if !sameResponse(got, want) {
			t.Errorf("GET %s:\nsluice:\n%s\nnginx:\n%s", p, got, want)
		}
	}
}

// sameResponse compares two normalized responses line by line; an
// Expires or a Cache-Control max-age may differ by two seconds, as the
// two responses are not made in the same second.
func sameResponse(a, b string) bool {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(la) != len(lb) {
		return false
	}
	for i := range la {
		if la[i] == lb[i] {
			continue
		}
		if x, ok := strings.CutPrefix(la[i], "Expires: "); ok {
			y, _ := strings.CutPrefix(lb[i], "Expires: ")
			tx, err1 := http.ParseTime(x)
			ty, err2 := http.ParseTime(y)
			if err1 == nil && err2 == nil && tx.Sub(ty).Abs() <= 2*time.Second {
				continue
			}
		}
		if x, ok := strings.CutPrefix(la[i], "Cache-Control: max-age="); ok {
			y, _ := strings.CutPrefix(lb[i], "Cache-Control: max-age=")
			nx, err1 := strconv.Atoi(x)
			ny, err2 := strconv.Atoi(y)
			if err1 == nil && err2 == nil && nx-ny <= 2 && ny-nx <= 2 {
				continue
			}
		}
		return false
	}
	return true
}

// TestCharsetExpires checks the exact headers sluice makes with a fixed
// clock: the charset added to proxied and generated responses, Expires
// and Cache-Control in place of the upstream's (the first Cache-Control
// kept, the others dropped), after Last-Modified with "modified",
// nothing for statuses expires leaves alone, and gzip_proxied deciding on
// the new Expires. The error log names charsets that would need
// recoding.
func TestCharsetExpires(t *testing.T) {
	be := queryBackend(t)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	h := startProxy(t, `events {} http { access_log off; charset utf-8;
	server { listen 127.0.0.1:18080;
		location / { proxy_pass http://`+be+`; }
		location /ov { override_charset on; proxy_pass http://`+be+`; }
		location /exp { expires 1h; add_header X-A a; charset off; proxy_pass http://`+be+`; }
		location /mod { expires modified 2h; proxy_pass http://`+be+`; }
		location /ret { expires 30m; return 200 "text"; }
		location /ret404 { expires 30m; return 404; }
		location /gz { gzip on; gzip_min_length 1; gzip_proxied expired; expires -1h; proxy_pass http://`+be+`; }
		location /gzpos { gzip on; gzip_min_length 1; gzip_proxied expired; expires 1h; proxy_pass http://`+be+`; }
	} }`, Options{Now: func() time.Time { return now }})
	addr := h.addr["127.0.0.1:18080"]
	cases := []struct {
		path string
		want []string // header lines in order, among Content-Type, Expires, Cache-Control, Last-Modified, X-A
	}{
		{"/?ct=text/html", []string{"Content-Type: text/html; charset=utf-8"}},
		{"/?ct=image/png", []string{"Content-Type: image/png"}},
		{"/?ct=text/html%3B%20charset=koi8-r", []string{"Content-Type: text/html; charset=koi8-r"}},
		{"/ov?ct=text/plain%3Bcharset=UTF-8", []string{"Content-Type: text/plain; charset=utf-8"}},
		{"/ov?ct=text/plain%3Bcharset=koi8-r", []string{"Content-Type: text/plain;charset=koi8-r"}},
		{"/?ct=text/html&st=302", []string{"Content-Type: text/html"}},
		{"/ret", []string{"Content-Type: text/plain; charset=utf-8", "Expires: Sun, 01 Mar 2026 10:30:00 GMT", "Cache-Control: max-age=1800"}},
		{"/ret404", []string{"Content-Type: text/html; charset=utf-8"}},
		{"/exp?ct=text/html", []string{"Content-Type: text/html", "Expires: Sun, 01 Mar 2026 11:00:00 GMT", "Cache-Control: max-age=3600", "X-A: a"}},
		{"/exp?ex=0&cc=private&cc2=no-store", []string{"Cache-Control: max-age=3600", "Expires: Sun, 01 Mar 2026 11:00:00 GMT", "X-A: a"}},
		{"/exp?cc=no-store", []string{"Cache-Control: max-age=3600", "Expires: Sun, 01 Mar 2026 11:00:00 GMT", "X-A: a"}},
		{"/exp?st=404&ex=0&cc=private", []string{"Cache-Control: private", "Expires: 0"}},
		{"/mod?lm=Sun,%2001%20Mar%202026%2009:00:00%20GMT", []string{"Last-Modified: Sun, 01 Mar 2026 09:00:00 GMT", "Expires: Sun, 01 Mar 2026 11:00:00 GMT", "Cache-Control: max-age=3600"}},
		{"/mod?lm=Sun,%2001%20Mar%202026%2007:00:00%20GMT", []string{"Last-Modified: Sun, 01 Mar 2026 07:00:00 GMT", "Expires: Sun, 01 Mar 2026 09:00:00 GMT", "Cache-Control: no-cache"}},
		{"/mod", []string{"Expires: Sun, 01 Mar 2026 12:00:00 GMT", "Cache-Control: max-age=7200"}},
	}
	keep := map[string]bool{"content-type": true, "expires": true, "cache-control": true, "last-modified": true, "x-a": true}
	for _, c := range cases {
		resp := rawRequest(t, addr, "GET "+c.path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		head, _, _ := strings.Cut(resp, "\r\n\r\n")
		var got []string
		for _, l := range strings.Split(head, "\r\n")[1:] {
			name, _, _ := strings.Cut(l, ":")
			if keep[strings.ToLower(name)] {
				got = append(got, l)
			}
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("GET %s:\n got %q\nwant %q", c.path, got, c.want)
		}
	}
	// gzip_proxied sees the Expires that expires sets, as in nginx
	for _, c := range []struct {
		path string
		gz   bool
	}{{"/gz?ct=text/html", true}, {"/gzpos?ct=text/html", false}, {"/gzpos?ct=text/html&st=404", true}} {
		resp := rawRequest(t, addr, "GET "+c.path+" HTTP/1.1\r\nHost: a\r\nVia: 1.1 p\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
		if got := strings.Contains(resp, "\r\nContent-Encoding: gzip\r\n"); got != c.gz {
			t.Errorf("GET %s: compressed %v, want %v:\n%s", c.path, got, c.gz, resp)
		}
	}
	const logged = `[error] `
	if s := h.errs.String(); !strings.Contains(s, `no "charset_map" between the charsets "koi8-r" and "utf-8" while reading response header from upstream`) ||
		!strings.Contains(s, logged) {
		t.Errorf("error log: %s", s)
	}
}
