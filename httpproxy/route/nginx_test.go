package route

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/internal/testutil"
)

// diffServers is the server-selection half of the differential
// configuration: PORT_A is replaced by a free port. Every server answers
// with its id in the X-Srv header.
const diffServers = `
server { listen 127.0.0.1:PORT_A; server_name first.test; return 200 "s-first"; add_header X-Srv s-first always; }
server { listen 127.0.0.1:PORT_A; server_name example.com www.example.com; return 200 "s-exact"; add_header X-Srv s-exact always; }
server { listen 127.0.0.1:PORT_A; server_name *.example.com; return 200 "s-head"; add_header X-Srv s-head always; }
server { listen 127.0.0.1:PORT_A; server_name *.b.example.com; return 200 "s-head-long"; add_header X-Srv s-head-long always; }
server { listen 127.0.0.1:PORT_A; server_name .example.org; return 200 "s-dotted"; add_header X-Srv s-dotted always; }
server { listen 127.0.0.1:PORT_A; server_name www.example.*; return 200 "s-tail"; add_header X-Srv s-tail always; }
server { listen 127.0.0.1:PORT_A; server_name www.example.co.*; return 200 "s-tail-long"; add_header X-Srv s-tail-long always; }
server { listen 127.0.0.1:PORT_A; server_name ~^api\d+\.test$; return 200 "s-re1"; add_header X-Srv s-re1 always; }
server { listen 127.0.0.1:PORT_A; server_name ~^api; return 200 "s-re2"; add_header X-Srv s-re2 always; }
server { listen 127.0.0.1:PORT_A; server_name ~^(?<sub>[a-z]+)\.users\.test$; return 200 "s-re3"; add_header X-Srv s-re3 always; }
server { listen 127.0.0.1:PORT_A default_server; server_name _; return 200 "s-default"; add_header X-Srv s-default always; }
server { listen 127.0.0.1:PORT_A; return 200 "s-noname"; add_header X-Srv s-noname always; }
server { listen 127.0.0.1:PORT_C; server_name c.test; return 200 "s-c1"; add_header X-Srv s-c1 always; }
server { listen 127.0.0.1:PORT_C; server_name c2.test; return 200 "s-c2"; add_header X-Srv s-c2 always; }
`

// diffLocations is the location half: one server on PORT_B whose
// locations answer with their id in X-Loc; proxying locations point at a
// closed port and answer 502 with their X-Loc.
const diffLocations = `
server {
	listen 127.0.0.1:PORT_B;
	location = / { return 200 "l-exact-root"; add_header X-Loc l-exact-root always; }
	location / { return 200 "l-root"; add_header X-Loc l-root always; }
	location = /exact { return 200 "l-exact"; add_header X-Loc l-exact always; }
	location /exact { return 200 "l-exact-prefix"; add_header X-Loc l-exact-prefix always; }
	location /doc { return 200 "l-doc"; add_header X-Loc l-doc always; }
	location /documents/ { return 200 "l-documents"; add_header X-Loc l-documents always; }
	location ^~ /images/ { return 200 "l-images"; add_header X-Loc l-images always; }
	location ~* \.(gif|jpg|jpeg)$ { return 200 "l-re-img"; add_header X-Loc l-re-img always; }
	location /api/ {
		proxy_pass http://127.0.0.1:PORT_DEAD;
		add_header X-Loc l-api always;
		location /api/v1/ { return 200 "l-api-v1"; add_header X-Loc l-api-v1 always; }
		location ~ \.json$ { return 200 "l-api-json"; add_header X-Loc l-api-json always; }
		location /api/v2/ {
			add_header X-Loc l-api-v2 always;
			return 200 "l-api-v2";
			location ~ \.csv$ { return 200 "l-api-v2-csv"; add_header X-Loc l-api-v2-csv always; }
		}
	}
	location ~ ^/api/.*\.xml$ { return 200 "l-re-xml"; add_header X-Loc l-re-xml always; }
	location ~ /Case/ { return 200 "l-re-case"; add_header X-Loc l-re-case always; }
	location /dir/ { proxy_pass http://127.0.0.1:PORT_DEAD; add_header X-Loc l-dir always; }
	location = /exdir/ { proxy_pass http://127.0.0.1:PORT_DEAD; add_header X-Loc l-exdir always; }
	location /exdir { return 200 "l-exdir-prefix"; add_header X-Loc l-exdir-prefix always; }
	location ^~ /static/ {
		return 200 "l-static"; add_header X-Loc l-static always;
		location ~ \.png$ { return 200 "l-static-png"; add_header X-Loc l-static-png always; }
	}
	location ~ ^/re/ {
		return 200 "l-re"; add_header X-Loc l-re always;
		location ~ \.txt$ { return 200 "l-re-txt"; add_header X-Loc l-re-txt always; }
		location ^/re/deep { return 200 "l-re-deep"; add_header X-Loc l-re-deep always; }
	}
	location ~ ^/first { return 200 "l-first"; add_header X-Loc l-first always; }
	location ~ ^/firs { return 200 "l-firs"; add_header X-Loc l-firs always; }
	location ~* ^/MIXED { return 200 "l-mixed"; add_header X-Loc l-mixed always; }
	location /a/b/c/ { return 200 "l-abc"; add_header X-Loc l-abc always; }
	location /a/ { return 200 "l-a"; add_header X-Loc l-a always; }
	location /a/b/ { return 200 "l-ab"; add_header X-Loc l-ab always; }
	location @named { return 200 "l-named"; add_header X-Loc l-named always; }
}
`

var diffHosts = []string{
	"first.test", "example.com", "EXAMPLE.COM", "example.com.", "example.com:8080", "www.example.com",
	"a.example.com", "a.b.example.com", "b.example.com", "x.y.b.example.com", "example.org", "x.example.org",
	"www.example.net", "www.example.co.uk", "www.example", "api1.test", "api.test", "apix", "bob.users.test",
	"BOB.users.test", "_", "unknown.test", "[::1]:80", "127.0.0.1", "a..b", "", "a b", ".:.", "example.com.:80", "first.test:x:y",
}

var diffPaths = []string{
	"/", "/index.html", "/exact", "/exact/", "/exactly", "/doc", "/document", "/documents", "/documents/",
	"/documents/a.jpg", "/documents/A.JPG", "/images/a.jpg", "/images", "/images/", "/api/", "/api/x",
	"/api/v1/x", "/api/v1/x.json", "/api/x.json", "/api/x.xml", "/api/v1/x.xml", "/api/x.gif", "/api",
	"/api/v2/", "/api/v2/a.csv", "/api/v2/a.json", "/dir", "/dir/", "/dir/x", "/exdir", "/exdir/", "/exdir/x",
	"/static/a.png", "/static/a.jpg", "/static", "/Case/x", "/case/x", "/DOC", "/re/a.txt", "/re/a",
	"/re/deep/x", "/re/deep/x.txt", "/first", "/firs", "/fir", "/mixed/x", "/MIXED", "/a/", "/a/b", "/a/b/",
	"/a/b/c", "/a/b/c/", "/a/b/c/d.jpg", "/a", "/x.jpeg", "/@named",
}

// TestNginxDifferential runs nginx with a configuration of many servers
// and locations whose answers name the block chosen, sends it a table of
// Host × path requests, and checks that the router picks the same block
// for each. It needs nginx at /usr/sbin/nginx; without it the test is
// skipped unless CI=true.
func TestNginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	var ports []string
	for _, p := range testutil.FreePorts(t, 4) {
		ports = append(ports, strconv.Itoa(p))
	}
	repl := strings.NewReplacer("PORT_A", ports[0], "PORT_B", ports[1], "PORT_C", ports[2], "PORT_DEAD", ports[3])
	httpBody := repl.Replace(diffServers + diffLocations)

	dir := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// the configuration sluice reads
	sluiceConf := filepath.Join(dir, "sluice.conf")
	if err := os.WriteFile(sluiceConf, []byte("events {}\nhttp {\n"+httpBody+"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{File: sluiceConf, Prefix: dir})
	if err != nil {
		t.Fatal(err)
	}
	router, err := New(cfg.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	// the same http block for nginx, with what a foreground nginx needs
	nginxConf := filepath.Join(dir, "nginx.conf")
	tmp := filepath.Join(dir, "tmp")
	text := fmt.Sprintf(`daemon off; master_process off; pid %s/nginx.pid; error_log %s/logs/error.log;
events {}
http {
	access_log off;
	client_body_temp_path %s/body; proxy_temp_path %s/proxy; fastcgi_temp_path %s/fcgi;
	uwsgi_temp_path %s/uwsgi; scgi_temp_path %s/scgi;
%s}
`, dir, dir, tmp, tmp, tmp, tmp, tmp, httpBody)
	if err := os.WriteFile(nginxConf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Daemon{Path: testutil.NginxPath, Args: []string{"-p", dir + "/", "-c", nginxConf, "-e", filepath.Join(dir, "logs/stderr.log")},
		Ready: []string{"127.0.0.1:" + ports[0], "127.0.0.1:" + ports[1], "127.0.0.1:" + ports[2]}}.Start(t)

	requests := 0
	// server selection
	addrA := router.AddrByKey("127.0.0.1:" + ports[0])
	addrC := router.AddrByKey("127.0.0.1:" + ports[2])
	for _, c := range []struct {
		port string
		addr *Addr
	}{{ports[0], addrA}, {ports[2], addrC}} {
		for _, host := range append(diffHosts, "\x00nohost") {
			noHost := host == "\x00nohost"
			status, hdr := get(t, c.port, host, noHost, "/")
			requests++
			var want string
			var m ServerMatch
			ok := true
			if noHost {
				m = c.addr.NoHost()
			} else {
				m, ok = c.addr.Find(host)
			}
			if !ok {
				if status != 400 {
					t.Errorf("port %s Host %q: nginx answered %d, router says 400", c.port, host, status)
				}
				continue
			}
			want = m.Server.Conf.Return.Text
			if got := hdr["x-srv"]; got != want {
				t.Errorf("port %s Host %q: nginx chose %q (status %d), router %q", c.port, host, got, status, want)
			}
		}
	}
	// location selection
	srv := router.AddrByKey("127.0.0.1:" + ports[1]).Default()
	for _, path := range diffPaths {
		status, hdr := get(t, ports[1], "loc.test", false, path)
		requests++
		m := srv.Match(path)
		if m.Redirect {
			if status != 301 || !strings.HasSuffix(hdr["location"], path+"/") {
				t.Errorf("path %q: router redirects to %q/, nginx answered %d %q", path, path, status, hdr["location"])
			}
			continue
		}
		want := "none"
		if m.Location != nil {
			want = locID(m.Location)
		}
		got := hdr["x-loc"]
		if got == "" {
			got = "none"
		}
		if got != want {
			t.Errorf("path %q: nginx chose %q (status %d), router %q", path, got, status, want)
		}
	}
	if requests < 100 {
		t.Errorf("only %d requests compared, want at least 100", requests)
	}
	t.Logf("%d requests compared with nginx", requests)
}

// locID is the X-Loc value a location adds.
func locID(l *Location) string {
	for _, h := range l.Conf.Settings.AddHeaders {
		if h.Name == "X-Loc" {
			return h.Value
		}
	}
	return "?"
}

// get sends one HTTP/1.0 request and returns the status and the headers
// (lower-case names).
func get(t *testing.T, port, host string, noHost bool, path string) (int, map[string]string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + path + " HTTP/1.0\r\n"
	if !noHost {
		req += "Host: " + host + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("%s %q: %v", path, host, err)
	}
	var status int
	fmt.Sscanf(line, "HTTP/1.1 %d", &status)
	hdr := map[string]string{}
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
		k, v, _ := strings.Cut(strings.TrimRight(l, "\r\n"), ":")
		hdr[strings.ToLower(k)] = strings.TrimSpace(v)
	}
	return status, hdr
}
