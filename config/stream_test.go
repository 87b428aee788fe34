package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loadText compiles text from a file in a temporary directory; an error
// names the file FILE.
func loadText(t *testing.T, text string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "t.conf")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(Options{File: f})
	if err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), f, "FILE"))
	}
	return cfg, nil
}

// TestStreamHostnames checks that host names in upstream servers and in
// proxy_pass are resolved when the configuration is read, every address
// becoming a peer, as nginx does.
func TestStreamHostnames(t *testing.T) {
	old := LookupHost
	t.Cleanup(func() { LookupHost = old })
	LookupHost = func(host string) ([]string, error) {
		switch host {
		case "two.test":
			return []string{"10.0.0.1", "::ffff:10.0.0.2"}, nil
		case "one.test":
			return []string{"10.0.0.9"}, nil
		}
		return nil, errors.New("no such host")
	}
	cfg, err := loadText(t, `events {}
stream {
    upstream u {
        server two.test:80 weight=2;
    }
    server {
        listen 9000;
        proxy_pass u;
    }
    server {
        listen 9001;
        proxy_pass one.test:81;
    }
}`)
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.Stream.UpstreamByName("u")
	if len(u.Servers) != 2 || u.Servers[0].Addr != "10.0.0.1:80" || u.Servers[1].Addr != "10.0.0.2:80" ||
		u.Servers[1].Name != "two.test:80" || u.Servers[1].Weight != 2 {
		t.Errorf("servers %+v", u.Servers)
	}
	imp := cfg.Stream.UpstreamByName("one.test:81")
	if imp == nil || !imp.Implicit || len(imp.Servers) != 1 || imp.Servers[0].Addr != "10.0.0.9:81" {
		t.Errorf("implicit upstream %+v", imp)
	}
	if cfg.Stream.Servers[1].Upstream != "one.test:81" {
		t.Errorf("server 2 upstream %q", cfg.Stream.Servers[1].Upstream)
	}
}

func TestStreamInheritance(t *testing.T) {
	cfg, err := loadText(t, `events {}
stream {
    proxy_timeout 5m;
    allow 10.0.0.0/8;
    deny all;
    server {
        listen 9000;
        proxy_pass 127.0.0.1:1;
    }
    server {
        listen 9001;
        proxy_pass 127.0.0.1:1;
        proxy_timeout 1s;
        deny 10.1.0.0/16;
    }
    proxy_connect_timeout 2s;
}`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"inherited proxy_timeout", cfg.Stream.Servers[0].ProxyTimeout, 5 * time.Minute},
		{"own proxy_timeout", cfg.Stream.Servers[1].ProxyTimeout, time.Second},
		{"stream-level directive after the servers", cfg.Stream.Servers[1].ProxyConnectTimeout, 2 * time.Second},
		{"inherited rules", len(cfg.Stream.Servers[0].Access), 2},
		{"own rules replace inherited ones", len(cfg.Stream.Servers[1].Access), 1},
		{"default buffer", cfg.Stream.Servers[0].ProxyBufferSize, int64(16 << 10)},
		{"default next upstream", cfg.Stream.Servers[0].ProxyNextUpstream, true},
		{"default half close", cfg.Stream.Servers[0].ProxyHalfClose, false},
		{"default nodelay", cfg.Stream.Servers[0].TCPNodelay, true},
		{"default limit_conn_log_level", cfg.Stream.Servers[0].LimitConnLogLevel, "error"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestStreamErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{"upstream u { server 127.0.0.1:1 max_fails=x; }", `invalid parameter "max_fails=x"`},
		{"upstream u { server localhost:1 resolve; }", `resolving names at run time requires upstream "u" to be in shared memory`},
		{"upstream u { server localhost resolve; }", `no port in upstream "localhost"`},
		{"upstream u { server 127.0.0.1:1; least_conn; hash $x; }", ``},
		{"upstream u { server 127.0.0.1:1 route=a; }", `invalid parameter "route=a"`},
		{"upstream u { server 127.0.0.1:1; sticky cookie a; }", `"sticky" directive is not allowed here`},
		{"upstream u { server 127.0.0.1:1; random three; }", `invalid parameter "three"`},
		{"upstream u { server 127.0.0.1:1; hash $x inconsistent; }", `invalid parameter "inconsistent"`},
		{"server { listen 9000 backlog=x; proxy_pass 127.0.0.1:1; }", `invalid backlog "backlog=x"`},
		{"server { listen 9000 fastopen=x; proxy_pass 127.0.0.1:1; }", `invalid fastopen "fastopen=x"`},
		{"server { listen 9000 udp fastopen=5; proxy_pass 127.0.0.1:1; }", `"listen" directive "fastopen" parameter is incompatible with "udp"`},
		{"server { listen 9000 fastopen=256; proxy_pass 127.0.0.1:1; }", ``},
		{"server { listen 9000 ssl; proxy_pass 127.0.0.1:1; }", `no "ssl_certificate" is defined for the "listen ... ssl" directive`},
		{"server { listen 9000 ssl; ssl_certificate c; proxy_pass 127.0.0.1:1; }", `no "ssl_certificate_key" is defined for the "listen ... ssl" directive`},
		{"server { listen 9000 ssl; ssl_certificate c; ssl_certificate d; ssl_certificate_key k; proxy_pass 127.0.0.1:1; }", `no "ssl_certificate_key" is defined for certificate`},
		{"server { listen 9000; ssl_certificate c; proxy_pass 127.0.0.1:1; }", ``},
		{"server { listen 9000 ssl; ssl_certificate c; ssl_certificate_key k; ssl_verify_client maybe; proxy_pass 127.0.0.1:1; }", `invalid value "maybe"`},
		{"server { listen 9000 ssl; ssl_certificate c; ssl_certificate_key k; ssl_verify_client optional_no_ca; proxy_pass 127.0.0.1:1; }", ``},
		{"server { listen 9000 ssl; ssl_certificate c; ssl_certificate_key k; ssl_protocols TLSv9; proxy_pass 127.0.0.1:1; }", `invalid value "TLSv9"`},
		{"server { listen 9000 ssl; ssl_certificate c; ssl_certificate_key k; ssl_session_cache foo; proxy_pass 127.0.0.1:1; }", `invalid session cache "foo"`},
		{"server { listen 9000 ssl; ssl_certificate c; ssl_certificate_key k; ssl_session_cache shared:x; proxy_pass 127.0.0.1:1; }", `invalid session cache "shared:x"`},
		{"server { listen 9000 ssl; ssl_certificate c; ssl_certificate_key k; ssl_session_cache shared:SSL:1k; proxy_pass 127.0.0.1:1; }", `session cache "shared:SSL:1k" is too small`},
		{"server { listen 9000 ssl; ssl_certificate c; ssl_certificate_key k; ssl_session_cache off none; proxy_pass 127.0.0.1:1; }", `invalid session cache "off"`},
		{"server { listen 9000 ssl; ssl_certificate c; ssl_certificate_key k; ssl_verify_depth x; proxy_pass 127.0.0.1:1; }", `"ssl_verify_depth" directive invalid number`},
		{"server { listen 9000; proxy_ssl on; proxy_ssl_certificate c; proxy_pass 127.0.0.1:1; }", `no "proxy_ssl_certificate_key" is defined for certificate`},
		{"server { listen 9000; proxy_ssl on; proxy_ssl_protocols foo; proxy_pass 127.0.0.1:1; }", `invalid value "foo"`},
		{"server { listen 9000; proxy_ssl_verify on; proxy_pass 127.0.0.1:1; }", ``},
		{"server { listen 9000 udp ssl; proxy_pass 127.0.0.1:1; }", `"listen" directive "ssl" parameter is incompatible with "udp"`},
		{"server { listen 9000 udp backlog=5; proxy_pass 127.0.0.1:1; }", `"listen" directive "backlog" parameter is incompatible with "udp"`},
		{"server { listen 9000 udp so_keepalive=on; proxy_pass 127.0.0.1:1; }", `"listen" directive "so_keepalive" parameter is incompatible with "udp"`},
		{"server { listen 9000 udp; listen 9000; proxy_pass 127.0.0.1:1; }", ``},
		{"server { listen 9000; set_real_ip_from 10.0.0.0/33; proxy_pass 127.0.0.1:1; }", `host not found in set_real_ip_from "10.0.0.0/33"`},
		{"server { listen 9000; proxy_requests x; proxy_pass 127.0.0.1:1; }", `"proxy_requests" directive invalid number`},
		{"server { listen 9000; proxy_protocol v3; proxy_pass 127.0.0.1:1; }", `invalid value "v3" in "proxy_protocol" directive, it must be "on", "off" or "v2"`},
		{"server { listen 9000; proxy_protocol V2; proxy_pass 127.0.0.1:1; }", ``},
		{"server { listen 9000; proxy_protocol on v2; proxy_pass 127.0.0.1:1; }", `invalid number of arguments in "proxy_protocol" directive`},
		{"server { listen 9000; proxy_responses -1; proxy_pass 127.0.0.1:1; }", `"proxy_responses" directive invalid number`},
		{"server { listen 9000; listen 9000; proxy_pass 127.0.0.1:1; }", `duplicate "0.0.0.0:9000" address and port pair`},
		{"server { listen 9000; proxy_pass 127.0.0.1:1; proxy_bind off; proxy_bind 1.2.3.4; }", `"proxy_bind" directive is duplicate`},
		{"server { listen 9000; proxy_pass 127.0.0.1:1; limit_conn_log_level foo; }", `invalid value "foo"`},
		{"limit_conn_zone $binary_remote_addr zone=a:1m; limit_conn_zone $remote_addr zone=a:1m;", `limit_conn_zone "a" is already bound to key "$binary_remote_addr"`},
		{"log_format a x; log_format a y;", `duplicate "log_format" name "a"`},
		{"server { listen 9000; proxy_pass 127.0.0.1:1; proxy_next_upstream_tries x; }", `"proxy_next_upstream_tries" directive invalid number`},
		{"server { listen 9000; proxy_pass 127.0.0.1:1; access_log /tmp/x f gzip; } log_format f x;", `unknown log format "f"`},
		{"server { listen 9000 ssl; ssl_certificate c; ssl_certificate_key k; ssl_ecdh_curve foo; proxy_pass 127.0.0.1:1; }", `SSL_CTX_set1_curves_list("foo") failed (SSL: error:0A080106:SSL routines::passed invalid argument:group 'foo' cannot be set)`},
		{"ssl_ecdh_curve X25519:X25519; server { listen 9000 ssl; ssl_certificate c; ssl_certificate_key k; proxy_pass 127.0.0.1:1; }", `SSL_CTX_set1_curves_list("X25519:X25519") failed`},
		{"server { listen 9000; ssl_certificate c; ssl_certificate_key k; ssl_ecdh_curve foo; proxy_pass 127.0.0.1:1; }", ``},
		{"server { listen 9000 ssl; ssl_certificate c; ssl_certificate_key k; ssl_ecdh_curve secp384r1:X448; ssl_dhparam /nonexistent; proxy_pass 127.0.0.1:1; }", ``},
		{"ssl_dhparam a; ssl_dhparam b;", `"ssl_dhparam" directive is duplicate`},
		{"server { listen 9000; ssl on; proxy_pass 127.0.0.1:1; }", `"ssl" directive is not allowed here`},
		{"upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 9000; proxy_pass u; health_check interval=1s jitter=100ms fails=3 passes=2 mandatory persistent port=8080 udp; }", ``},
		{"upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 9000; proxy_pass u; health_check; health_check match=m; health_check_timeout 1s; } match m { send \"PING\\r\\n\"; expect ~* \"^\\+pong\"; }", ``},
		{"upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 9000; proxy_pass u; health_check interval=x; }", `invalid parameter "interval=x" in FILE:3`},
		{"upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 9000; proxy_pass u; health_check interval=0; }", `invalid parameter "interval=0"`},
		{"upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 9000; proxy_pass u; health_check fails=0; }", `invalid parameter "fails=0"`},
		{"upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 9000; proxy_pass u; health_check passes=x; }", `invalid parameter "passes=x"`},
		{"upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 9000; proxy_pass u; health_check port=65536; }", `invalid parameter "port=65536"`},
		{"upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 9000; proxy_pass u; health_check tcp; }", `invalid parameter "tcp"`},
		{"upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 9000; proxy_pass u; health_check persistent; }", `"persistent" requires "mandatory"`},
		{"upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 9000; proxy_pass u; health_check match=nope; }", `match "nope" not found in FILE:3`},
		{"server { listen 9000; proxy_pass 127.0.0.1:1; health_check; }", `"health_check" requires "proxy_pass" to an upstream group in FILE:3`},
		{"upstream u { zone u 64k; server 127.0.0.1:1; } server { listen 9000; proxy_pass $x; health_check; }", `"health_check" requires "proxy_pass" to an upstream group`},
		{"server { listen 9000; return x; health_check; }", `"health_check" requires "proxy_pass" to an upstream group`},
		{"upstream u { server 127.0.0.1:1; } server { listen 9000; proxy_pass u; health_check; }", `health checks require upstream "u" to be in shared memory`},
		{"health_check;", `"health_check" directive is not allowed here`},
		{"health_check_timeout x;", `"health_check_timeout" directive invalid value`},
		{"match m { send a; send b; }", `"send" directive is duplicate`},
		{"match m { expect a; expect ~ b; }", `"expect" directive is duplicate`},
		{"match m { expect = a; }", `invalid parameter "="`},
		{"match m { expect ~ \"(\"; }", `invalid regular expression "("`},
		{"match m { send \"\\xZZ\"; }", `invalid "send" value`},
		{"match m { status 200; }", `unknown directive "status"`},
		{"match m { } match m { }", `duplicate match "m"`},
		{"server { listen 9000; proxy_pass 127.0.0.1:1; match m { } }", `"match" directive is not allowed here`},
	}
	for _, tc := range tests {
		_, err := loadText(t, "events {}\nstream {\n"+tc.body+"\n}\n")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.body, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestStreamHealthCheckValues(t *testing.T) {
	cfg, err := loadText(t, `events {}
stream {
    health_check_timeout 2s;
    upstream u { zone u 64k; server 127.0.0.1:1; }
    match redis {
        send "PING\r\n\x00\x7f";
        expect "+PONG";
    }
    server { listen 9000; proxy_pass u; health_check match=redis interval=250ms port=6380; }
    server { listen 9001; proxy_pass u; health_check_timeout 300ms; health_check udp mandatory; }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	st := cfg.Stream
	hc := st.Servers[0].HealthChecks[0]
	want := StreamHealthCheck{HealthCheck: HealthCheck{Interval: 250 * time.Millisecond, Fails: 1, Passes: 1, Match: "redis", Port: 6380, Pos: hc.Pos}, Timeout: 2 * time.Second}
	if hc != want {
		t.Errorf("health_check: %+v, want %+v", hc, want)
	}
	m := st.MatchByName("redis")
	if m == nil || m.Send != "PING\r\n\x00\x7f" || m.Expect != "+PONG" || m.ExpectRegex {
		t.Errorf("match: %+v", m)
	}
	hc = st.Servers[1].HealthChecks[0]
	if !hc.UDP || !hc.Mandatory || hc.Timeout != 300*time.Millisecond || hc.Interval != 5*time.Second {
		t.Errorf("udp health_check: %+v", hc)
	}
}
