package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestHTTPCharsetSettings checks the charset directives' defaults, their
// inheritance (each on its own), charset_types accumulation with nginx's
// warnings, and the charset table: a name keeps the spelling the http
// block first gave it.
func TestHTTPCharsetSettings(t *testing.T) {
	cfg, msg := loadHTTP(t, `
charset UTF-8;
charset_types text/css TEXT/HTML;
charset_types text/css;
server {
	listen 127.0.0.1:18080;
	override_charset on;
	location / { charset utf-8; source_charset utf-8; }
	location /off { charset off; charset_types *; }
	location /var { charset $arg_cs; }
}
server { listen 127.0.0.1:18081; charset koi8-r; }
server { listen 127.0.0.1:18082; charset_types text/html; }`)
	if msg != "" {
		t.Fatal(msg)
	}
	s0 := cfg.HTTP.Servers[0]
	top := HTTPCharset{Charset: "UTF-8", Types: []string{"text/html", "text/css"}}
	srv := top
	srv.Override = true
	root := srv
	root.Source = "UTF-8"
	off := srv
	off.Charset, off.Types, off.AnyType = "", nil, true
	v := srv
	v.Charset = "$arg_cs"
	koi := top
	koi.Charset = "koi8-r"
	only := top
	only.Types = []string{"text/html"}
	checks := []struct {
		name      string
		got, want HTTPCharset
	}{
		{"server", s0.Settings.Charset, srv},
		{"/", s0.Locations[0].Settings.Charset, root},
		{"/off", s0.Locations[1].Settings.Charset, off},
		{"/var", s0.Locations[2].Settings.Charset, v},
		{"second server", cfg.HTTP.Servers[1].Settings.Charset, koi},
		{"charset_types text/html alone", cfg.HTTP.Servers[2].Settings.Charset, only},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, c.got, c.want)
		}
	}
	if want := []string{"UTF-8", "koi8-r"}; !reflect.DeepEqual(cfg.HTTP.Charsets, want) {
		t.Errorf("charset table %q, want %q", cfg.HTTP.Charsets, want)
	}
	var warns []string
	for _, w := range cfg.Warnings {
		if strings.HasPrefix(w, "duplicate") {
			warns = append(warns, strings.ReplaceAll(w, cfg.File, "FILE"))
		}
	}
	// nginx lower-cases the type before it names it; "text/html" is
	// always in the list
	wantWarns := []string{`duplicate MIME type "text/html" in FILE:5`, `duplicate MIME type "text/css" in FILE:6`,
		`duplicate MIME type "text/html" in FILE:15`}
	if !reflect.DeepEqual(warns, wantWarns) {
		t.Errorf("warnings %q, want %q", warns, wantWarns)
	}
	cfg, _ = loadHTTP(t, "server { listen 127.0.0.1:18080; }")
	if got := cfg.HTTP.Servers[0].Settings.Charset; !reflect.DeepEqual(got, defaultHTTPCharset) {
		t.Errorf("defaults %+v", got)
	}
	if got := defaultHTTPCharset.Types; len(got) != 6 || got[0] != "text/html" || got[5] != "application/rss+xml" {
		t.Errorf("default charset_types %q", got)
	}
}

// TestHTTPExpiresSettings checks how expires is parsed and inherited.
func TestHTTPExpiresSettings(t *testing.T) {
	cfg, msg := loadHTTP(t, `
expires 1h;
server {
	listen 127.0.0.1:18080;
	location / { }
	location /neg { expires -30m; }
	location /mod { expires modified +1d; }
	location /daily { expires @15h30m; }
	location /epoch { expires epoch; }
	location /max { expires max; }
	location /off { expires off; location /off/in { } }
	location /var { expires modified $arg_e; }
	location /y { expires "1y 2M"; }
}`)
	if msg != "" {
		t.Fatal(msg)
	}
	want := []HTTPExpires{
		{Mode: ExpiresAccess, Time: 3600},
		{Mode: ExpiresAccess, Time: -1800},
		{Mode: ExpiresModified, Time: 86400},
		{Mode: ExpiresDaily, Time: 15*3600 + 30*60},
		{Mode: ExpiresEpoch},
		{Mode: ExpiresMax},
		{},
		{Mode: ExpiresModified, Value: "$arg_e"},
		{Mode: ExpiresAccess, Time: 365*86400 + 2*30*86400},
	}
	locs := cfg.HTTP.Servers[0].Locations
	for i, w := range want {
		if got := locs[i].Settings.Expires; got != w {
			t.Errorf("%s: got %+v, want %+v", locs[i].Name, got, w)
		}
	}
	if got := locs[6].Locations[0].Settings.Expires; got != (HTTPExpires{}) {
		t.Errorf("off not inherited: %+v", got)
	}
}

// TestParseExpires checks the values expires takes at run time (from a
// variable).
func TestParseExpires(t *testing.T) {
	cases := []struct {
		v        string
		modified bool
		mode     string
		secs     int64
		msg      string
	}{
		{"2h", false, ExpiresAccess, 7200, ""},
		{"-2h", false, ExpiresAccess, -7200, ""},
		{"0", true, ExpiresModified, 0, ""},
		{"epoch", false, ExpiresEpoch, 0, ""},
		{"off", false, ExpiresOff, 0, ""},
		{"max", true, "", 0, "invalid value"},
		{"@1h", false, ExpiresDaily, 3600, ""},
		{"@24h", false, ExpiresDaily, 86400, ""},
		{"", false, "", 0, "invalid value"},
		{"bad", false, "", 0, "invalid value"},
	}
	for _, c := range cases {
		mode, secs, msg := ParseExpires(c.v, c.modified)
		if msg != c.msg || (msg == "" && (mode != c.mode || secs != c.secs)) {
			t.Errorf("ParseExpires(%q, %v) = %q, %d, %q; want %q, %d, %q", c.v, c.modified, mode, secs, msg, c.mode, c.secs, c.msg)
		}
	}
}
