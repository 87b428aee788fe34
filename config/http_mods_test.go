package config

import (
	"strings"
	"testing"
)

// modsErrorCases are http {} bodies with directives of the small modules
// (empty_gif, secure_link, userid, random_index, gunzip) that nginx 1.22
// refuses, with its message. They run with httpErrorCases.
var modsErrorCases = []errorCase{
	{name: "empty_gif_args", body: "server { listen 127.0.0.1:18080; location / { empty_gif on; } }", want: `invalid number of arguments in "empty_gif" directive in FILE:3`},
	{name: "empty_gif_server", body: "server { listen 127.0.0.1:18080; empty_gif; }", want: `"empty_gif" directive is not allowed here in FILE:3`},
	{name: "empty_gif_http", body: "empty_gif;", want: `"empty_gif" directive is not allowed here in FILE:3`},
	{name: "empty_gif_if", body: "server { listen 127.0.0.1:18080; location / { if ($args) { empty_gif; } } }", want: `"empty_gif" directive is not allowed here in FILE:3`},
	{name: "secure_link_mixed", body: "server { listen 127.0.0.1:18080; location / { secure_link_secret x; secure_link $arg_a; } }", want: `"secure_link_secret" cannot be mixed with "secure_link" and "secure_link_md5" in FILE:4`},
	{name: "secure_link_mixed_md5", body: "server { listen 127.0.0.1:18080; location / { secure_link_md5 y; secure_link_secret x; } }", want: `"secure_link_secret" cannot be mixed with "secure_link" and "secure_link_md5" in FILE:4`},
	{name: "secure_link_if", body: "server { listen 127.0.0.1:18080; location / { if ($args) { secure_link x; } } }", want: `"secure_link" directive is not allowed here in FILE:3`},
	{name: "secure_link_args", body: "secure_link a b;", want: `invalid number of arguments in "secure_link" directive in FILE:3`},
	{name: "secure_link_md5_args", body: "secure_link_md5;", want: `invalid number of arguments in "secure_link_md5" directive in FILE:3`},
	{name: "secure_link_duplicate", body: "secure_link a; secure_link b;", want: `"secure_link" directive is duplicate in FILE:3`},
	{name: "secure_link_md5_duplicate", body: "server { listen 127.0.0.1:18080; secure_link_md5 a; secure_link_md5 b; }", want: `"secure_link_md5" directive is duplicate in FILE:3`},
	{name: "secure_link_secret_duplicate", body: "server { listen 127.0.0.1:18080; location / { secure_link_secret a; secure_link_secret b; } }", want: `"secure_link_secret" directive is duplicate in FILE:3`},
	{name: "secure_link_limit_except", body: "server { listen 127.0.0.1:18080; location / { limit_except GET { secure_link_secret x; } } }", want: `"secure_link_secret" directive is not allowed here in FILE:3`},
	{name: "userid_value", body: "userid x;", want: `invalid value "x" in FILE:3`},
	{name: "userid_duplicate", body: "userid on; userid off;", want: `"userid" directive is duplicate in FILE:3`},
	{name: "userid_if", body: "server { listen 127.0.0.1:18080; location / { if ($arg_a) { userid on; } } }", want: `"userid" directive is not allowed here in FILE:3`},
	{name: "userid_service_negative", body: "userid_service -1;", want: `"userid_service" directive invalid number in FILE:3`},
	{name: "userid_service_word", body: "userid_service x;", want: `"userid_service" directive invalid number in FILE:3`},
	{name: "userid_service_duplicate", body: "userid_service 1; userid_service 2;", want: `"userid_service" directive is duplicate in FILE:3`},
	{name: "userid_name_duplicate", body: "userid_name a; userid_name b;", want: `"userid_name" directive is duplicate in FILE:3`},
	{name: "userid_domain_args", body: "userid_domain a b;", want: `invalid number of arguments in "userid_domain" directive in FILE:3`},
	{name: "userid_path_duplicate", body: "server { listen 127.0.0.1:18080; userid_path /a; userid_path /b; }", want: `"userid_path" directive is duplicate in FILE:3`},
	{name: "userid_expires_value", body: "userid_expires x;", want: `"userid_expires" directive invalid value in FILE:3`},
	{name: "userid_expires_negative", body: "userid_expires -1;", want: `"userid_expires" directive invalid value in FILE:3`},
	{name: "userid_expires_max_case", body: "userid_expires Max;", want: `"userid_expires" directive invalid value in FILE:3`},
	{name: "userid_expires_duplicate", body: "userid_expires 1; userid_expires 2;", want: `"userid_expires" directive is duplicate in FILE:3`},
	{name: "userid_p3p_duplicate", body: "userid_p3p a; userid_p3p b;", want: `"userid_p3p" directive is duplicate in FILE:3`},
	{name: "userid_flags_value", body: "userid_flags x;", want: `invalid value "x" in FILE:3`},
	{name: "userid_flags_args", body: "userid_flags secure httponly samesite=lax samesite=none;", want: `invalid number of arguments in "userid_flags" directive in FILE:3`},
	{name: "userid_flags_none", body: "userid_flags;", want: `invalid number of arguments in "userid_flags" directive in FILE:3`},
	{name: "userid_mark_long", body: "userid_mark ab;", want: `"userid_mark" directive value must be "off" or a single letter, digit or "=" in FILE:3`},
	{name: "userid_mark_dash", body: "userid_mark -;", want: `"userid_mark" directive value must be "off" or a single letter, digit or "=" in FILE:3`},
	{name: "userid_mark_off_case", body: "userid_mark OFF;", want: `"userid_mark" directive value must be "off" or a single letter, digit or "=" in FILE:3`},
	{name: "userid_mark_duplicate", body: "userid_mark a; userid_mark b;", want: `"userid_mark" directive is duplicate in FILE:3`},
	{name: "random_index_server", body: "server { listen 127.0.0.1:18080; random_index on; }", want: `"random_index" directive is not allowed here in FILE:3`},
	{name: "random_index_if", body: "server { listen 127.0.0.1:18080; location / { if ($arg_a) { random_index on; } } }", want: `"random_index" directive is not allowed here in FILE:3`},
	{name: "random_index_value", body: "server { listen 127.0.0.1:18080; location / { random_index yes; } }", want: `invalid value "yes" in "random_index" directive, it must be "on" or "off" in FILE:3`},
	{name: "random_index_duplicate", body: "server { listen 127.0.0.1:18080; location / { random_index on; random_index off; } }", want: `"random_index" directive is duplicate in FILE:3`},
	{name: "gunzip_value", body: "gunzip x;", want: `invalid value "x" in "gunzip" directive, it must be "on" or "off" in FILE:3`},
	{name: "gunzip_duplicate", body: "gunzip on; gunzip off;", want: `"gunzip" directive is duplicate in FILE:3`},
	{name: "gunzip_if", body: "server { listen 127.0.0.1:18080; location / { if ($arg_a) { gunzip on; } } }", want: `"gunzip" directive is not allowed here in FILE:3`},
	{name: "gunzip_buffers_args", body: "gunzip_buffers 4;", want: `invalid number of arguments in "gunzip_buffers" directive in FILE:3`},
	{name: "gunzip_buffers_number", body: "gunzip_buffers x 4k;", want: `"gunzip_buffers" directive invalid value in FILE:3`},
	{name: "gunzip_buffers_zero", body: "gunzip_buffers 0 4k;", want: `"gunzip_buffers" directive invalid value in FILE:3`},
	{name: "gunzip_buffers_size", body: "gunzip_buffers 4 x;", want: `"gunzip_buffers" directive invalid value in FILE:3`},
	{name: "gunzip_buffers_size_zero", body: "gunzip_buffers 4 0;", want: `"gunzip_buffers" directive invalid value in FILE:3`},
	{name: "gunzip_buffers_duplicate", body: "gunzip_buffers 4 4k; gunzip_buffers 8 8k;", want: `"gunzip_buffers" directive is duplicate in FILE:3`},
}

func init() { httpErrorCases = append(httpErrorCases, modsErrorCases...) }

// modsAccepted are http {} bodies with the small modules' directives that
// nginx accepts; sluice must too.
var modsAccepted = []acceptedCase{
	{"secure_link", `secure_link $arg_md5,$arg_expires; secure_link_md5 "$secure_link_expires$uri secret"; server { listen 127.0.0.1:18080; secure_link ""; secure_link_md5 ""; location / { secure_link_secret x; location /n { secure_link_secret ""; } } location /a { secure_link $arg_h; } }`},
	{"secure_link_secret_levels", `secure_link_secret x; secure_link $arg_a; server { listen 127.0.0.1:18080; secure_link_secret y; location / { secure_link $arg_b; } }`},
	{"userid", `userid ON; userid_service 99999999999; userid_name ""; userid_domain none; userid_path ""; userid_expires 365d; userid_p3p none; userid_flags off secure; userid_flags SECURE samesite=LAX; userid_mark =;
		server { listen 127.0.0.1:18080; userid v1; userid_expires max; userid_mark off; location / { userid log; userid_expires off; } location /o { userid off; } }`},
	{"random_index", "server { listen 127.0.0.1:18080; location / { random_index ON; location /a { random_index off; } } }"},
	{"gunzip", "gunzip on; gunzip_buffers 16 8k; server { listen 127.0.0.1:18080; gunzip off; location / { gunzip ON; gunzip_buffers 32 4k; } }"},
	{"empty_gif", "server { listen 127.0.0.1:18080; location /a { empty_gif; empty_gif; } location /b { proxy_pass http://127.0.0.1:1; empty_gif; } location /c { empty_gif; stub_status; } }"},
}

func TestHTTPModsAccepted(t *testing.T) { checkAccepted(t, modsAccepted) }

// TestEmptyGIFHandler checks which directive answers in a location with
// empty_gif and another content handler: the last one, as in nginx.
func TestEmptyGIFHandler(t *testing.T) {
	cfg, msg := loadHTTP(t, `server { listen 127.0.0.1:18080;
		location /a { proxy_pass http://127.0.0.1:1; empty_gif; }
		location /b { empty_gif; proxy_pass http://127.0.0.1:1; }
		location /c { empty_gif; grpc_pass 127.0.0.1:1; }
		location /d { empty_gif; stub_status; }
		location /e { stub_status; empty_gif; } }`)
	if msg != "" {
		t.Fatal(msg)
	}
	want := map[string]bool{"/a": true, "/b": false, "/c": false, "/d": false, "/e": true}
	for _, l := range cfg.HTTP.Servers[0].Locations {
		if l.EmptyGIF != want[l.Name] {
			t.Errorf("location %s: EmptyGIF %v", l.Name, l.EmptyGIF)
		}
	}
}

// TestSecureLinkInheritance checks how secure_link, secure_link_md5 and
// secure_link_secret are inherited, as nginx merges them.
func TestSecureLinkInheritance(t *testing.T) {
	cfg, msg := loadHTTP(t, `secure_link $arg_h; secure_link_md5 m; server { listen 127.0.0.1:18080;
		location /a { secure_link $arg_x; }
		location /s { secure_link_secret w; location /s/n { } location /s/l { secure_link_md5 k; } } }`)
	if msg != "" {
		t.Fatal(msg)
	}
	locs := cfg.HTTP.Servers[0].Locations
	for _, tc := range []struct {
		name string
		got  HTTPSecureLink
		want HTTPSecureLink
	}{
		{"server", cfg.HTTP.Servers[0].Settings.Mods.SecureLink, HTTPSecureLink{Link: "$arg_h", HasLink: true, MD5: "m", HasMD5: true}},
		{"/a", locs[0].Settings.Mods.SecureLink, HTTPSecureLink{Link: "$arg_x", HasLink: true, MD5: "m", HasMD5: true}},
		{"/s", locs[1].Settings.Mods.SecureLink, HTTPSecureLink{Secret: "w", HasSecret: true}},
		{"/s/n", locs[1].Locations[0].Settings.Mods.SecureLink, HTTPSecureLink{Secret: "w", HasSecret: true}},
		{"/s/l", locs[1].Locations[1].Settings.Mods.SecureLink, HTTPSecureLink{MD5: "k", HasMD5: true}},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}
}

// TestUserIDConfig checks the userid settings and their inheritance, and
// the warning for a userid_flags value given twice (a second samesite
// value counts as one, as in nginx).
func TestUserIDConfig(t *testing.T) {
	cfg, msg := loadHTTP(t, `userid on; userid_flags secure samesite=lax; userid_flags samesite=strict secure;
		server { listen 127.0.0.1:18080; userid_name n; userid_mark X; userid_expires max;
			location / { userid v1; userid_flags httponly; userid_domain none; userid_path /p; } }`)
	if msg != "" {
		t.Fatal(msg)
	}
	for _, w := range []string{`duplicate value "samesite=strict"`, `duplicate value "secure"`} {
		found := false
		for _, got := range cfg.Warnings {
			found = found || strings.Contains(got, w)
		}
		if !found {
			t.Errorf("no warning %q in %q", w, cfg.Warnings)
		}
	}
	srv := cfg.HTTP.Servers[0]
	want := HTTPUserID{Mode: UserIDOn, Name: "n", HasName: true, Expires: UserIDMaxExpires, Mark: 'X',
		Flags: UserIDSecure | UserIDSameSite | UserIDSameSiteLax}
	if got := srv.Settings.Mods.UserID; got != want {
		t.Errorf("server: %+v\nwant %+v", got, want)
	}
	want.Mode, want.Flags, want.Path, want.HasPath = UserIDV1, UserIDHTTPOnly, "/p", true
	if got := srv.Locations[0].Settings.Mods.UserID; got != want {
		t.Errorf("location: %+v\nwant %+v", got, want)
	}
}
