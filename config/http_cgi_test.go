package config

import (
	"os"
	"path/filepath"
	"testing"
)

// cgiErrorCases are the fastcgi, uwsgi and scgi modules' errors, checked
// with the other httpErrorCases (against nginx too).
var cgiErrorCases = []errorCase{
	{name: "fastcgi_pass_no_port", body: "server { listen 127.0.0.1:18080; location / { fastcgi_pass localhost; } }", want: `no port in upstream "localhost" in FILE:3`},
	{name: "fastcgi_pass_duplicate", body: "server { listen 127.0.0.1:18080; location / { fastcgi_pass 127.0.0.1:9000; fastcgi_pass 127.0.0.1:9001; } }", want: `"fastcgi_pass" directive is duplicate in FILE:3`},
	{name: "fastcgi_pass_http", body: "server { listen 127.0.0.1:18080; location / { fastcgi_pass http://127.0.0.1:9000; } }", want: `invalid host in upstream "http://127.0.0.1:9000" in FILE:3`},
	{name: "fastcgi_pass_unix", body: "server { listen 127.0.0.1:18080; location / { fastcgi_pass unix:; } }", want: `no path in the unix domain socket in upstream "unix:" in FILE:3`},
	{name: "fastcgi_pass_upstream_port", body: "upstream u { server 127.0.0.1:9000; } server { listen 127.0.0.1:18080; location / { fastcgi_pass u:9000; } }", want: `upstream "u" may not have port 9000 in FILE:3`},
	{name: "fastcgi_pass_http_level", body: "fastcgi_pass 127.0.0.1:9000;", want: `"fastcgi_pass" directive is not allowed here in FILE:3`},
	{name: "fastcgi_pass_args", body: "server { listen 127.0.0.1:18080; location / { fastcgi_pass 127.0.0.1:9000 x; } }", want: `invalid number of arguments in "fastcgi_pass" directive in FILE:3`},
	{name: "fastcgi_split_captures", body: "server { listen 127.0.0.1:18080; location / { fastcgi_split_path_info ^(.+)$; } }", want: `pattern "^(.+)$" must have 2 captures in FILE:3`},
	{name: "fastcgi_split_if", body: "server { listen 127.0.0.1:18080; location / { if ($args) { fastcgi_split_path_info ^(.+)(.*)$; } } }", want: `"fastcgi_split_path_info" directive is not allowed here in FILE:3`},
	{name: "fastcgi_split_http_captures", body: "fastcgi_split_path_info ^(.+)$;", want: `pattern "^(.+)$" must have 2 captures in FILE:3`},
	{name: "fastcgi_param_args", body: "fastcgi_param A;", want: `invalid number of arguments in "fastcgi_param" directive in FILE:3`},
	{name: "fastcgi_param_parameter", body: "fastcgi_param A b c;", want: `invalid parameter "c" in FILE:3`},
	{name: "fastcgi_param_if", body: "server { listen 127.0.0.1:18080; location / { if ($args) { fastcgi_param A b; } } }", want: `"fastcgi_param" directive is not allowed here in FILE:3`},
	{name: "fastcgi_keep_conn_value", body: "fastcgi_keep_conn maybe;", want: `invalid value "maybe" in "fastcgi_keep_conn" directive, it must be "on" or "off" in FILE:3`},
	{name: "fastcgi_next_upstream_value", body: "fastcgi_next_upstream bogus;", want: `invalid value "bogus" in FILE:3`},
	{name: "fastcgi_index_args", body: "fastcgi_index a b;", want: `invalid number of arguments in "fastcgi_index" directive in FILE:3`},
	{name: "fastcgi_read_timeout_value", body: "fastcgi_read_timeout 1x;", want: `"fastcgi_read_timeout" directive invalid value in FILE:3`},
	{name: "fastcgi_buffer_size_value", body: "fastcgi_buffer_size 1x;", want: `"fastcgi_buffer_size" directive invalid value in FILE:3`},
	{name: "fastcgi_ignore_headers_value", body: "fastcgi_ignore_headers X-Bogus;", want: `invalid value "X-Bogus" in FILE:3`},
	{name: "fastcgi_intercept_errors_duplicate", body: "fastcgi_intercept_errors on; fastcgi_intercept_errors off;", want: `"fastcgi_intercept_errors" directive is duplicate in FILE:3`},
	{name: "fastcgi_temp_path_args", body: "fastcgi_temp_path /x 1 2 3 4;", want: `invalid number of arguments in "fastcgi_temp_path" directive in FILE:3`},
	{name: "fastcgi_cache", body: "fastcgi_cache z;", want: `"fastcgi_cache" directive is not supported by sluice in FILE:3`, diff: "fastcgi_cache is not implemented"},
	{name: "uwsgi_modifier1_range", body: "uwsgi_modifier1 300;", want: `value must be between 0 and 255 in FILE:3`},
	{name: "uwsgi_pass_duplicate", body: "server { listen 127.0.0.1:18080; location / { uwsgi_pass 127.0.0.1:9000; uwsgi_pass 127.0.0.1:9001; } }", want: `"uwsgi_pass" directive is duplicate in FILE:3`},
	{name: "uwsgi_param_args", body: "uwsgi_param A;", want: `invalid number of arguments in "uwsgi_param" directive in FILE:3`},
	{name: "scgi_pass_no_port", body: "server { listen 127.0.0.1:18080; location / { scgi_pass localhost; } }", want: `no port in upstream "localhost" in FILE:3`},
	{name: "scgi_pass_location_if_server", body: "server { listen 127.0.0.1:18080; if ($args) { scgi_pass 127.0.0.1:1; } }", want: `"scgi_pass" directive is not allowed here in FILE:3`},
	{name: "fastcgi_busy_buffers_less", body: "server { listen 127.0.0.1:18080; location / { fastcgi_buffers 2 4k; } }", want: `"fastcgi_busy_buffers_size" must be less than the size of all "fastcgi_buffers" minus one buffer in FILE:4`},
	{name: "fastcgi_buffers_two", body: "server { listen 127.0.0.1:18080; location / { fastcgi_buffers 1 4k; } }", want: `there must be at least 2 "fastcgi_buffers" in FILE:4`},
	{name: "fastcgi_busy_buffers_small", body: "server { listen 127.0.0.1:18080; location / { fastcgi_busy_buffers_size 1k; } }", want: `"fastcgi_busy_buffers_size" must be equal to or greater than the maximum of the value of "fastcgi_buffer_size" and one of the "fastcgi_buffers" in FILE:4`},
	{name: "uwsgi_busy_buffers_less", body: "server { listen 127.0.0.1:18080; location / { uwsgi_buffers 2 4k; } }", want: `"uwsgi_busy_buffers_size" must be less than the size of all "uwsgi_buffers" minus one buffer in FILE:4`},
	{name: "scgi_index", body: "scgi_index index.php;", want: `unknown directive "scgi_index" in FILE:3`},
}

// cgiAccepted are configurations of the gateway modules nginx accepts.
var cgiAccepted = []acceptedCase{
	{"fastcgi_param_if_not_empty", "fastcgi_param HTTPS $https if_not_empty; server { listen 127.0.0.1:18080; location / { fastcgi_pass 127.0.0.1:9000; } }"},
	{"fastcgi_pass_in_if", "server { listen 127.0.0.1:18080; location / { if ($args) { fastcgi_pass 127.0.0.1:9000; } } }"},
	{"fastcgi_pass_variable", "server { listen 127.0.0.1:18080; location / { fastcgi_pass $arg_b; } }"},
	{"fastcgi_pass_unix", "server { listen 127.0.0.1:18080; location / { fastcgi_pass unix:/run/php/php-fpm.sock; } }"},
	{"fastcgi_pass_upstream_later", "server { listen 127.0.0.1:18080; location / { fastcgi_pass php; } } upstream php { server 127.0.0.1:9000; keepalive 8; }"},
	{"handlers_last_wins", "server { listen 127.0.0.1:18080; location / { fastcgi_pass 127.0.0.1:9000; proxy_pass http://127.0.0.1:1; } location /b { proxy_pass http://127.0.0.1:1; fastcgi_pass 127.0.0.1:9000; } }"},
	{"fastcgi_next_upstream_updating", "fastcgi_next_upstream error updating;"},
	{"uwsgi_pass_scheme", "server { listen 127.0.0.1:18080; location / { uwsgi_pass uwsgi://127.0.0.1:9000; uwsgi_modifier1 30; } }"},
	{"scgi_all", "scgi_param SCGI 1; scgi_read_timeout 5s; scgi_buffering off; server { listen 127.0.0.1:18080; location / { scgi_pass 127.0.0.1:9000; } }"},
}

func init() {
	httpErrorCases = append(httpErrorCases, cgiErrorCases...)
	httpAccepted = append(httpAccepted, cgiAccepted...)
}

// TestCGISettings checks what a location with fastcgi_pass gets: the
// parameter list replaced at the level that sets one, the other settings
// inherited one by one.
func TestCGISettings(t *testing.T) {
	cfg, msg := loadHTTP(t, `fastcgi_param A 1; fastcgi_param B 2; fastcgi_read_timeout 5s;
		server { listen 127.0.0.1:18080;
			location /a { fastcgi_pass 127.0.0.1:9000; }
			location /b { fastcgi_param C 3; fastcgi_keep_conn on; fastcgi_pass 127.0.0.1:9000; }
			location /c { proxy_pass http://127.0.0.1:1; fastcgi_pass 127.0.0.1:9000; } }`)
	if msg != "" {
		t.Fatal(msg)
	}
	locs := cfg.HTTP.Servers[0].Locations
	a, b, c := locs[0].Settings.CGI(ProtoFastCGI), locs[1].Settings.CGI(ProtoFastCGI), locs[2]
	if len(a.Params) != 2 || a.Params[1].Name != "B" || a.ReadTimeout.Seconds() != 5 || a.KeepConn {
		t.Errorf("/a: %+v", a)
	}
	if len(b.Params) != 1 || b.Params[0].Name != "C" || b.ReadTimeout.Seconds() != 5 || !b.KeepConn {
		t.Errorf("/b: %+v", b)
	}
	if c.ProxyPass != nil || c.CGIPass == nil || c.CGIPass.Pass.Upstream != "127.0.0.1:9000" {
		t.Errorf("/c: the last handler should win: %+v %+v", c.ProxyPass, c.CGIPass)
	}
}

// TestCGIDebianIncludes loads Debian's fastcgi.conf, fastcgi_params,
// uwsgi_params and scgi_params by their relative names, from the
// directory of the main configuration file, as nginx.conf's sites do.
func TestCGIDebianIncludes(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"fastcgi.conf", "fastcgi_params", "uwsgi_params", "scgi_params"} {
		b, err := os.ReadFile(filepath.Join("/etc/nginx", name))
		if err != nil {
			t.Skipf("Debian's %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sites := filepath.Join(dir, "sites-enabled")
	os.Mkdir(sites, 0o755)
	os.WriteFile(filepath.Join(sites, "default"), []byte(`server { listen 127.0.0.1:18080; root /var/www/html;
	location ~ \.php$ { include snippets/fastcgi-php.conf; fastcgi_pass unix:/run/php/php-fpm.sock; }
	location /py/ { include uwsgi_params; uwsgi_pass 127.0.0.1:3031; }
	location /scgi/ { include scgi_params; scgi_pass 127.0.0.1:4000; } }`), 0o644)
	// Debian's snippets/fastcgi-php.conf
	os.Mkdir(filepath.Join(dir, "snippets"), 0o755)
	os.WriteFile(filepath.Join(dir, "snippets", "fastcgi-php.conf"), []byte(`fastcgi_split_path_info ^(.+?\.php)(/.*)$;
try_files $fastcgi_script_name =404;
set $path_info $fastcgi_path_info;
fastcgi_param PATH_INFO $path_info;
fastcgi_index index.php;
include fastcgi.conf;
`), 0o644)
	f := filepath.Join(dir, "nginx.conf")
	os.WriteFile(f, []byte("events {}\nhttp { include sites-enabled/*; }\n"), 0o644)
	cfg, err := Load(Options{File: f})
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.HTTP.Servers[0].Locations[0]
	g := l.Settings.CGI(ProtoFastCGI)
	script := false
	for _, p := range g.Params {
		script = script || p.Name == "SCRIPT_FILENAME" && p.Value == "$document_root$fastcgi_script_name"
	}
	if l.CGIPass == nil || g.Index != "index.php" || g.SplitPathInfo == "" || !script {
		t.Errorf("php location: %+v %+v", l.CGIPass, g)
	}
	if u := cfg.HTTP.Servers[0].Locations[1].Settings.CGI(ProtoUWSGI); len(u.Params) == 0 {
		t.Errorf("uwsgi_params not read")
	}
}
