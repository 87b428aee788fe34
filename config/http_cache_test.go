package config

import (
	"testing"
	"time"
)

// cacheErrorCases are http {} bodies with proxy cache directives that
// nginx 1.22 refuses, with its message; diff names a deliberate
// difference.
var cacheErrorCases = []errorCase{
	{"cache_path_args", "proxy_cache_path /tmp/sluice-cfg-cache;", `invalid number of arguments in "proxy_cache_path" directive in FILE:3`, ""},
	{"cache_path_no_size", "proxy_cache_path /tmp/sluice-cfg-cache keys_zone=a;", `invalid keys zone size "keys_zone=a" in FILE:3`, ""},
	{"cache_path_small", "proxy_cache_path /tmp/sluice-cfg-cache keys_zone=a:1k;", `keys zone "keys_zone=a:1k" is too small in FILE:3`, ""},
	{"cache_path_bad_size", "proxy_cache_path /tmp/sluice-cfg-cache keys_zone=a:xx;", `invalid keys zone size "keys_zone=a:xx" in FILE:3`, ""},
	{"cache_path_levels", "proxy_cache_path /tmp/sluice-cfg-cache levels=3 keys_zone=a:1m;", `invalid "levels" "levels=3" in FILE:3`, ""},
	{"cache_path_levels4", "proxy_cache_path /tmp/sluice-cfg-cache levels=1:2:2:2 keys_zone=a:1m;", `invalid "levels" "levels=1:2:2:2" in FILE:3`, ""},
	{"cache_path_inactive", "proxy_cache_path /tmp/sluice-cfg-cache keys_zone=a:1m inactive=x;", `invalid inactive value "inactive=x" in FILE:3`, ""},
	{"cache_path_max_size", "proxy_cache_path /tmp/sluice-cfg-cache keys_zone=a:1m max_size=x;", `invalid max_size value "max_size=x" in FILE:3`, ""},
	{"cache_path_param", "proxy_cache_path /tmp/sluice-cfg-cache keys_zone=a:1m foo=1;", `invalid parameter "foo=1" in FILE:3`, ""},
	{"cache_path_temp", "proxy_cache_path /tmp/sluice-cfg-cache keys_zone=a:1m use_temp_path=x;", `invalid use_temp_path value "use_temp_path=x", it must be "on" or "off" in FILE:3`, ""},
	{"cache_path_no_zone", "proxy_cache_path /tmp/sluice-cfg-cache inactive=1m;", `"proxy_cache_path" must have "keys_zone" parameter in FILE:3`, ""},
	{"cache_path_same", "proxy_cache_path /tmp/sluice-cfg-cache keys_zone=a:1m;\nproxy_cache_path /tmp/sluice-cfg-cache keys_zone=b:1m;", `the same path name "/tmp/sluice-cfg-cache" used in FILE:3 and in FILE:4`, ""},
	{"cache_path_zone_twice", "proxy_cache_path /tmp/sluice-cfg-cache keys_zone=a:1m;\nproxy_cache_path /tmp/sluice-cfg-cache2 keys_zone=a:1m;", `duplicate zone "a" in FILE:4`, ""},
	{"cache_path_in_server", "server { proxy_cache_path /tmp/sluice-cfg-cache keys_zone=z:1m; }", `"proxy_cache_path" directive is not allowed here in FILE:3`, ""},
	{"cache_path_loader", "proxy_cache_path /tmp/sluice-cfg-cache keys_zone=a:1m loader_sleep=x;", `invalid loader_sleep value "loader_sleep=x" in FILE:3`, ""},
	{"cache_unknown_zone", "proxy_cache b;", `zero size shared memory zone "b"`, ""},
	{"cache_twice", "proxy_cache_path /tmp/sluice-cfg-cache keys_zone=a:1m; proxy_cache a; proxy_cache off;", `"proxy_cache" directive is duplicate in FILE:3`, ""},
	{"cache_valid_time", "proxy_cache_valid 200 x;", `invalid time value "x" in FILE:3`, ""},
	{"cache_valid_status", "proxy_cache_valid 99 1m;", `invalid status "99" in FILE:3`, ""},
	{"cache_methods", "proxy_cache_methods FOO;", `invalid value "FOO" in FILE:3`, ""},
	{"cache_use_stale", "proxy_cache_use_stale error foo;", `invalid value "foo" in FILE:3`, ""},
	{"cache_key_twice", "proxy_cache_key a; proxy_cache_key b;", `"proxy_cache_key" directive is duplicate in FILE:3`, ""},
	{"cache_ignore_headers", "proxy_ignore_headers Foo;", `invalid value "Foo" in FILE:3`, ""},
	{"cache_min_uses", "proxy_cache_min_uses x;", `"proxy_cache_min_uses" directive invalid number in FILE:3`, ""},
	{"cache_lock_timeout", "proxy_cache_lock_timeout x;", `"proxy_cache_lock_timeout" directive invalid value in FILE:3`, ""},
}

func TestHTTPCacheErrors(t *testing.T) { checkErrors(t, cacheErrorCases) }

// TestHTTPCacheErrorsNginx checks cacheErrorCases against nginx itself.
func TestHTTPCacheErrorsNginx(t *testing.T) { checkErrorsNginx(t, cacheErrorCases) }

// TestHTTPCacheSettings checks defaults and inheritance of the proxy
// cache directives.
func TestHTTPCacheSettings(t *testing.T) {
	cfg, msg := loadHTTP(t, `proxy_cache_path /tmp/sluice-cfg-cache levels=1:2 keys_zone=one:10m inactive=1h max_size=1g;
proxy_cache one;
proxy_cache_valid 200 10m;
server { listen 127.0.0.1:18999;
  location /a { proxy_pass http://127.0.0.1:1; proxy_cache_valid any 1m; proxy_cache_methods POST; }
  location /b { proxy_pass http://127.0.0.1:1; proxy_cache off; }
  location /c { proxy_pass http://127.0.0.1:1; proxy_cache $arg_zone; }
}`)
	if msg != "" {
		t.Fatal(msg)
	}
	cp := cfg.HTTP.CachePaths[0]
	if cp.Zone != "one" || cp.ZoneSize != 10<<20 || cp.Inactive != time.Hour || cp.MaxSize != 1<<30 || len(cp.Levels) != 2 || cp.Levels[1] != 2 {
		t.Errorf("cache path %+v", cp)
	}
	a := cfg.HTTP.Servers[0].Locations[0].Settings.ProxyCache
	if a.Zone != "one" || len(a.Valid) != 1 || a.Valid[0].Codes[0] != 0 || a.Key != "" || len(a.Methods) != 3 {
		t.Errorf("location /a: %+v", a)
	}
	if c := cfg.HTTP.Servers[0].Locations[2].Settings.ProxyCache; c.Zone != "$arg_zone" || !c.ZoneVar {
		t.Errorf("location /c: %+v", c)
	}
	if b := cfg.HTTP.Servers[0].Locations[1].Settings.ProxyCache; b.Zone != "" || len(b.Valid) != 1 || b.Valid[0].Time != 10*time.Minute {
		t.Errorf("location /b: %+v", b)
	}
}
