package route

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/config"
)

// build compiles "events {} http { body }" and its router.
func build(t testing.TB, body string) *Router {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "t.conf")
	if err := os.WriteFile(file, []byte("events {}\nhttp {\n"+body+"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{File: file, Prefix: dir})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// id names a location by its "return 200 ID" text, or its name.
func id(l *Location) string {
	if l == nil {
		return "-"
	}
	if l.Conf.Return != nil {
		return l.Conf.Return.Text
	}
	return l.Conf.Name
}

func serverID(s *Server) string {
	if s == nil {
		return "-"
	}
	if s.Conf.Return != nil {
		return s.Conf.Return.Text
	}
	return "?"
}

const locConf = `
server {
	listen 127.0.0.1:18200;
	location = / { return 200 "exact-root"; }
	location / { return 200 "root"; }
	location = /exact { return 200 "exact"; }
	location /exact { return 200 "exact-prefix"; }
	location /doc { return 200 "doc"; }
	location /documents/ { return 200 "documents"; }
	location ^~ /images/ { return 200 "images-noregex"; }
	location ~* \.(gif|jpg|jpeg)$ { return 200 "re-img"; }
	location /api/ {
		proxy_pass http://127.0.0.1:1;
		location /api/v1/ { return 200 "api-v1"; }
		location ~ \.json$ { return 200 "api-json"; }
	}
	location ~ ^/api/.*\.xml$ { return 200 "re-xml"; }
	location ~ /Case/ { return 200 "re-case"; }
	location /dir/ { proxy_pass http://127.0.0.1:1; }
	location ~ ^/re/ {
		location ~ \.txt$ { return 200 "re-nested-txt"; }
		return 200 "re";
	}
	location @named { return 200 "named"; }
}`

func TestMatchLocation(t *testing.T) {
	r := build(t, locConf)
	s := r.Servers[0]
	tests := []struct {
		path, want string
		redirect   bool
	}{
		{"/", "exact-root", false},
		{"/index.html", "root", false},
		{"/exact", "exact", false},
		{"/exact/", "exact-prefix", false},
		{"/exactly", "exact-prefix", false},
		{"/doc", "doc", false},
		{"/document", "doc", false},
		{"/documents/", "documents", false},
		{"/documents/a.jpg", "re-img", false},
		{"/documents/A.JPG", "re-img", false},
		{"/images/a.jpg", "images-noregex", false},
		{"/images", "root", false},
		{"/api/", "/api/", false},
		{"/api/x", "/api/", false},
		{"/api/v1/x", "api-v1", false},
		{"/api/v1/x.json", "api-json", false},
		{"/api/x.xml", "re-xml", false},
		{"/api/x.gif", "re-img", false},
		{"/api", "/api/", true},
		{"/dir", "/dir/", true},
		{"/dir/", "/dir/", false},
		{"/Case/x", "re-case", false},
		{"/case/x", "root", false},
		{"/DOC", "root", false},
		{"/re/a.txt", "re-nested-txt", false},
		{"/re/a", "re", false},
		{"@named", "-", false},
	}
	for _, tc := range tests {
		m := s.Match(tc.path)
		if got := id(m.Location); got != tc.want || m.Redirect != tc.redirect {
			t.Errorf("Match(%q) = %s redirect=%v, want %s redirect=%v", tc.path, got, m.Redirect, tc.want, tc.redirect)
		}
	}
	if got := id(s.Named("@named")); got != "named" {
		t.Errorf("Named(@named) = %s", got)
	}
	if s.Named("@none") != nil {
		t.Errorf("Named(@none) found a location")
	}
}

func TestMatchCaptures(t *testing.T) {
	r := build(t, `server { listen 127.0.0.1:18201; server_name ~^(?<user>[a-z]+)\.example\.com$;
		location ~ ^/users/([0-9]+)/(?<tab>[a-z]+)$ { return 200 "u"; } }`)
	s := r.Servers[0]
	m := s.Match("/users/42/posts")
	if got := m.Captures("/users/42/posts"); strings.Join(got, ",") != "/users/42/posts,42,posts" {
		t.Errorf("captures = %q", got)
	}
	if n := m.Names(); len(n) != 3 || n[2] != "tab" {
		t.Errorf("names = %q", n)
	}
	sm, ok := r.AddrByKey("127.0.0.1:18201").Find("Alice.Example.com:8080")
	if !ok || sm.Host != "alice.example.com" {
		t.Fatalf("find = %+v %v", sm, ok)
	}
	if got := sm.Captures(); strings.Join(got, ",") != "alice.example.com,alice" {
		t.Errorf("server captures = %q", got)
	}
	if m := s.Match("/x"); m.Captures("/x") != nil {
		t.Errorf("captures without a regex location")
	}
}

const srvConf = `
server { listen 127.0.0.1:18210; server_name first.test; return 200 "first"; }
server { listen 127.0.0.1:18210; server_name example.com www.example.com; return 200 "exact"; }
server { listen 127.0.0.1:18210; server_name *.example.com; return 200 "head"; }
server { listen 127.0.0.1:18210; server_name *.b.example.com; return 200 "head-long"; }
server { listen 127.0.0.1:18210; server_name .example.org; return 200 "dotted"; }
server { listen 127.0.0.1:18210; server_name www.example.*; return 200 "tail"; }
server { listen 127.0.0.1:18210; server_name www.example.co.*; return 200 "tail-long"; }
server { listen 127.0.0.1:18210; server_name ~^api\d+\.test$; return 200 "re1"; }
server { listen 127.0.0.1:18210; server_name ~^api; return 200 "re2"; }
server { listen 127.0.0.1:18210 default_server; server_name _; return 200 "default"; }
server { listen 127.0.0.1:18210; return 200 "noname"; }
server { listen 127.0.0.1:18211; server_name other.test; return 200 "other"; }
server { listen 18212; server_name wild.test; return 200 "wild"; }
server { listen 127.0.0.2:18212; server_name specific.test; return 200 "specific"; }
`

func TestFindServer(t *testing.T) {
	r := build(t, srvConf)
	a := r.AddrByKey("127.0.0.1:18210")
	tests := []struct {
		host, want string
		ok         bool
	}{
		{"first.test", "first", true},
		{"example.com", "exact", true},
		{"EXAMPLE.COM", "exact", true},
		{"example.com.", "exact", true},
		{"example.com:8080", "exact", true},
		{"www.example.com", "exact", true},
		{"a.example.com", "head", true},
		{"a.b.example.com", "head-long", true},
		{"b.example.com", "head", true},
		{"example.org", "dotted", true},
		{"x.example.org", "dotted", true},
		{"www.example.net", "tail", true},
		{"www.example.co.uk", "tail-long", true},
		{"www.example", "default", true},
		{"api1.test", "re1", true},
		{"api.test", "re2", true},
		{"_", "default", true},
		{"unknown.test", "default", true},
		{"[::1]:80", "default", true},
		{"", "", false},
		{"a..b", "", false},
		{"a/b", "", false},
		{"a b", "", false},
		{":80", "", false},
	}
	for _, tc := range tests {
		m, ok := a.Find(tc.host)
		got := ""
		if ok {
			got = serverID(m.Server)
		}
		if ok != tc.ok || got != tc.want {
			t.Errorf("Find(%q) = %q %v, want %q %v", tc.host, got, ok, tc.want, tc.ok)
		}
	}
	if got := serverID(a.NoHost().Server); got != "noname" {
		t.Errorf("NoHost = %s, want the server named \"\"", got)
	}
	if got := serverID(r.AddrByKey("127.0.0.1:18211").NoHost().Server); got != "other" {
		t.Errorf("NoHost without an empty name = %s, want the default", got)
	}
	addrs := []struct {
		local netip.AddrPort
		want  string
	}{
		{netip.MustParseAddrPort("127.0.0.1:18210"), "default"},
		{netip.MustParseAddrPort("[::ffff:127.0.0.1]:18210"), "default"},
		{netip.MustParseAddrPort("127.0.0.2:18212"), "specific"},
		{netip.MustParseAddrPort("127.0.0.3:18212"), "wild"},
		{netip.MustParseAddrPort("127.0.0.1:1"), "-"},
	}
	for _, tc := range addrs {
		a := r.Addr(tc.local)
		got := "-"
		if a != nil {
			got = serverID(a.Default())
		}
		if got != tc.want {
			t.Errorf("Addr(%v).Default() = %s, want %s", tc.local, got, tc.want)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"example.com", "example.com", true},
		{"Example.COM:443", "example.com", true},
		{"example.com.", "example.com", true},
		{"example.com.:80", "example.com", true},
		{"[::1]:8080", "[::1]", true},
		{"[::1]", "[::1]", true},
		{".example.com", ".example.com", true},
		{"", "", false},
		{".", "", false},
		{"a..b", "", false},
		{"a\x00b", "", false},
		{"a\tb", "", false},
		{"a\x7fb", "", false},
	}
	for _, tc := range tests {
		got, ok := NormalizeHost(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeHost(%q) = %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNewEmpty(t *testing.T) {
	r, err := New(nil)
	if err != nil || r.Addr(netip.MustParseAddrPort("127.0.0.1:80")) != nil {
		t.Errorf("empty router: %v", err)
	}
}

func BenchmarkFindExact(b *testing.B) {
	a := build(b, srvConf).AddrByKey("127.0.0.1:18210")
	b.ReportAllocs()
	for b.Loop() {
		if m, _ := a.Find("www.example.com:8080"); m.Server == nil {
			b.Fatal("no server")
		}
	}
}

func BenchmarkFindWildcard(b *testing.B) {
	a := build(b, srvConf).AddrByKey("127.0.0.1:18210")
	b.ReportAllocs()
	for b.Loop() {
		if m, _ := a.Find("a.b.example.com"); m.Server == nil {
			b.Fatal("no server")
		}
	}
}

func BenchmarkFindRegex(b *testing.B) {
	a := build(b, srvConf).AddrByKey("127.0.0.1:18210")
	b.ReportAllocs()
	for b.Loop() {
		if m, _ := a.Find("api12.test"); m.Server == nil {
			b.Fatal("no server")
		}
	}
}

func benchMatch(b *testing.B, path string) {
	s := build(b, locConf).Servers[0]
	b.ReportAllocs()
	for b.Loop() {
		if m := s.Match(path); m.Location == nil {
			b.Fatal("no location")
		}
	}
}

func BenchmarkMatchExact(b *testing.B)        { benchMatch(b, "/exact") }
func BenchmarkMatchPrefix(b *testing.B)       { benchMatch(b, "/documents/report") }
func BenchmarkMatchNestedPrefix(b *testing.B) { benchMatch(b, "/api/v1/chat/completions") }
func BenchmarkMatchRegex(b *testing.B)        { benchMatch(b, "/documents/photo.jpg") }

func TestNoAllocs(t *testing.T) {
	r := build(t, srvConf+locConf)
	a := r.AddrByKey("127.0.0.1:18210")
	s := r.AddrByKey("127.0.0.1:18200").Default()
	cases := map[string]func(){
		"exact host":    func() { a.Find("www.example.com:80") },
		"wildcard host": func() { a.Find("a.b.example.com") },
		"exact path":    func() { s.Match("/exact") },
		"prefix path":   func() { s.Match("/images/x") },
		"nested prefix": func() { s.Match("/api/v1/chat") },
	}
	if raceEnabled {
		// the race detector makes sync.Pool, and so regexp, allocate
		delete(cases, "nested prefix")
	}
	for name, f := range cases {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"example.com", "Example.COM:443", "[::1]:80", "a..b", "", ".", "a.:80", "x:y:z", "[v", "a\x00"} {
		f.Add(s)
	}
	a := build(f, srvConf).AddrByKey("127.0.0.1:18210")
	f.Fuzz(func(t *testing.T, host string) {
		h, ok := NormalizeHost(host)
		if _, ok2 := a.Find(host); ok2 != ok {
			t.Fatalf("Find and NormalizeHost disagree on %q", host)
		}
		if !ok {
			return
		}
		if h == "" || strings.ContainsAny(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("NormalizeHost(%q) = %q", host, h)
		}
		// the result is a prefix of the host, lower-cased; nginx is not
		// idempotent here (".:." gives ".", which is invalid on its own)
		if !strings.EqualFold(host[:len(h)], h) || strings.ContainsAny(h, "/ \t\x00") {
			t.Fatalf("NormalizeHost(%q) = %q", host, h)
		}
	})
}
