package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestSharedState: SharedState names the first directive whose state nginx
// keeps in shared memory, with file and line, and is empty without one.
func TestSharedState(t *testing.T) {
	cases := []struct{ name, conf, want string }{
		{"none", "events {}\nhttp {\n upstream u { server 127.0.0.1:1; keepalive 8; }\n server { listen 127.0.0.1:8080; location / { proxy_pass http://u; } }\n}\n", ""},
		{"upstream zone", "events {}\nhttp {\n upstream u {\n  zone u 64k;\n  server 127.0.0.1:1;\n }\n}\n", `directive "zone" in %s:4`},
		{"limit_req_zone", "events {}\nhttp {\n limit_req_zone $binary_remote_addr zone=r:1m rate=1r/s;\n}\n", `directive "limit_req_zone" in %s:3`},
		{"stub_status", "events {}\nhttp {\n server {\n  listen 127.0.0.1:8080;\n  location /s { stub_status; }\n }\n}\n", `directive "stub_status" in %s:5`},
		{"builtin session cache", "events {}\nhttp {\n ssl_session_cache builtin:1000;\n}\n", ""},
		{"shared session cache", "events {}\nhttp {\n ssl_session_cache builtin shared:S:1m;\n}\n", `directive "ssl_session_cache" in %s:3`},
		{"udp", "events {}\nstream {\n server {\n  listen 127.0.0.1:5353 udp;\n  proxy_pass 127.0.0.1:53;\n }\n}\n", `directive "listen" in %s:4`},
		{"tcp", "events {}\nstream {\n server {\n  listen 127.0.0.1:5353;\n  proxy_pass 127.0.0.1:53;\n }\n}\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "s.conf")
			if err := os.WriteFile(conf, []byte(tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(Options{File: conf, Prefix: dir})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want != "" {
				want = fmt.Sprintf(want, conf)
			}
			if cfg.SharedState != want {
				t.Errorf("SharedState %q, want %q", cfg.SharedState, want)
			}
		})
	}
}
