package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// gzipErrorCases are gzip and error_page bodies nginx refuses, with its
// message; diff names a deliberate difference.
var gzipErrorCases = []errorCase{
	{name: "gzip_flag", body: "gzip yes;", want: `invalid value "yes" in "gzip" directive, it must be "on" or "off" in FILE:3`},
	{name: "gzip_comp_level_low", body: "gzip_comp_level 0;", want: `value must be between 1 and 9 in FILE:3`},
	{name: "gzip_comp_level_high", body: "gzip_comp_level 10;", want: `value must be between 1 and 9 in FILE:3`},
	{name: "gzip_comp_level_nan", body: "gzip_comp_level x;", want: `"gzip_comp_level" directive invalid number in FILE:3`},
	{name: "gzip_http_version", body: "gzip_http_version 2.0;", want: `invalid value "2.0" in FILE:3`},
	{name: "gzip_proxied_value", body: "gzip_proxied expired foo;", want: `invalid value "foo" in FILE:3`},
	{name: "gzip_min_length", body: "gzip_min_length x;", want: `"gzip_min_length" directive invalid value in FILE:3`},
	{name: "gzip_buffers_zero", body: "gzip_buffers 0 4k;", want: `"gzip_buffers" directive invalid value in FILE:3`},
	{name: "gzip_buffers_args", body: "gzip_buffers 4;", want: `invalid number of arguments in "gzip_buffers" directive in FILE:3`},
	{name: "gzip_vary_flag", body: "gzip_vary x;", want: `invalid value "x" in "gzip_vary" directive, it must be "on" or "off" in FILE:3`},
	{name: "gzip_duplicate", body: "gzip on; gzip off;", want: `"gzip" directive is duplicate in FILE:3`},
	{name: "gzip_in_upstream", body: "upstream u { server 127.0.0.1; gzip on; }", want: `"gzip" directive is not allowed here in FILE:3`},
	{name: "gzip_disable_regex", body: `gzip_disable "(";`, want: `invalid regular expression "(": missing closing ) at "(" in FILE:3`, diff: "regular expressions are Go's, not PCRE's"},
	{name: "recursive_error_pages_flag", body: "recursive_error_pages maybe;", want: `invalid value "maybe" in "recursive_error_pages" directive, it must be "on" or "off" in FILE:3`},
}

func TestHTTPGzipErrors(t *testing.T) {
	nginx := true
	if _, err := os.Stat(testutil.NginxPath); err != nil {
		nginx = false
	}
	prefix := t.TempDir()
	os.Mkdir(filepath.Join(prefix, "logs"), 0o755)
	for _, tc := range gzipErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			if _, got := loadHTTP(t, tc.body); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if !nginx {
				return
			}
			file := filepath.Join(t.TempDir(), "t.conf")
			os.WriteFile(file, []byte("events {}\nhttp {\n"+tc.body+"\n}\n"), 0o644)
			ok, msg := runNginx(t, file, prefix, "")
			msg = strings.ReplaceAll(msg, file, "FILE")
			switch {
			case tc.diff != "" && ok:
				t.Errorf("nginx accepts what sluice refuses (%s)", tc.diff)
			case tc.diff == "" && (ok || msg != tc.want):
				t.Errorf("nginx: ok=%v %q\nwant %q", ok, msg, tc.want)
			}
		})
	}
}

// TestHTTPGzipSettings checks defaults, inheritance (each directive on
// its own), gzip_types accumulation and the warnings for duplicates.
func TestHTTPGzipSettings(t *testing.T) {
	cfg, msg := loadHTTP(t, `
gzip on;
gzip_types application/json text/html;
gzip_types text/plain Application/JSON;
gzip_proxied expired;
gzip_proxied auth;
gzip_disable msie6 "curl/";
recursive_error_pages on;
server {
	listen 127.0.0.1:18080;
	gzip_comp_level 5;
	location / { gzip_vary on; gzip_types *; }
	location /off { gzip off; gzip_http_version 1.0; gzip_min_length 1k; gzip_buffers 16 8k; recursive_error_pages off; }
}
server { listen 127.0.0.1:18081; }`)
	if msg != "" {
		t.Fatal(msg)
	}
	srv := cfg.HTTP.Servers[0]
	top := HTTPGzip{On: true, Types: []string{"text/html", "application/json", "text/plain"}, MinLength: 20, Level: 1,
		Proxied: []string{"expired", "auth"}, HTTPVersion: 11, Disable: []string{"curl/"}, DisableMSIE6: true, BuffersNum: 32, BuffersSize: 4096}
	want := map[string]HTTPGzip{}
	s := top
	s.Level = 5
	want["server"] = s
	root := s
	root.Vary, root.Types, root.AnyType = true, nil, true
	want["/"] = root
	off := s
	off.On, off.HTTPVersion, off.MinLength, off.BuffersNum, off.BuffersSize = false, 10, 1024, 16, 8192
	want["/off"] = off
	want["other"] = top
	got := map[string]HTTPGzip{
		"server": srv.Settings.Gzip,
		"/":      srv.Locations[0].Settings.Gzip,
		"/off":   srv.Locations[1].Settings.Gzip,
		"other":  cfg.HTTP.Servers[1].Settings.Gzip,
	}
	for k := range want {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("%s:\n got %+v\nwant %+v", k, got[k], want[k])
		}
	}
	if !srv.Locations[0].Settings.RecursiveErrorPages || srv.Locations[1].Settings.RecursiveErrorPages {
		t.Errorf("recursive_error_pages not inherited as set")
	}
	var warns []string
	for _, w := range cfg.Warnings {
		if strings.HasPrefix(w, "duplicate") {
			warns = append(warns, strings.ReplaceAll(w, cfg.File, "FILE"))
		}
	}
	wantWarns := []string{`duplicate MIME type "text/html" in FILE:5`, `duplicate MIME type "application/json" in FILE:6`}
	if !reflect.DeepEqual(warns, wantWarns) {
		t.Errorf("warnings %q, want %q", warns, wantWarns)
	}
	// the defaults
	cfg, _ = loadHTTP(t, "server { listen 127.0.0.1:18080; }")
	if g := cfg.HTTP.Servers[0].Settings.Gzip; !reflect.DeepEqual(g, defaultHTTPGzip) {
		t.Errorf("defaults %+v", g)
	}
}
