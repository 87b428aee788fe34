package config

import (
	"reflect"
	"testing"
	"time"
)

// grpcErrorCases are http {} bodies with http2 and grpc directives that
// nginx 1.22 refuses, with its message; diff names a deliberate
// difference.
var grpcErrorCases = []errorCase{
	{"chunk_size_zero", "http2_chunk_size 0;", `the http2 chunk size cannot be zero in FILE:3`, ""},
	{"streams_index_not_power", "http2_streams_index_size 3;", `"http2_streams_index_size" directive must be a power of two in FILE:3`, ""},
	{"recv_buffer_small", "http2_recv_buffer_size 32;", `"http2_recv_buffer_size" directive value is too small in FILE:3`, ""},
	{"recv_buffer_in_server", "server { listen 127.0.0.1:18999; http2_recv_buffer_size 1m; }", `"http2_recv_buffer_size" directive is not allowed here in FILE:3`, ""},
	{"grpc_pass_uri", "server { listen 127.0.0.1:18999; location / { grpc_pass grpc://127.0.0.1:1/x; } }", `invalid host in upstream "127.0.0.1:1/x" in FILE:3`, ""},
	{"grpc_pass_bad_port", "server { listen 127.0.0.1:18999; location / { grpc_pass 127.0.0.1:99999; } }", `invalid port in upstream "127.0.0.1:99999" in FILE:3`, ""},
	{"grpc_pass_in_server", "server { listen 127.0.0.1:18999; grpc_pass 127.0.0.1:1; }", `"grpc_pass" directive is not allowed here in FILE:3`, ""},
	{"grpc_pass_twice", "server { listen 127.0.0.1:18999; location / { grpc_pass 127.0.0.1:1; grpc_pass 127.0.0.1:2; } }", `"grpc_pass" directive is duplicate in FILE:3`, ""},
	{"grpc_bind_param", "grpc_bind 127.0.0.1 foo;", `invalid parameter "foo" in FILE:3`, ""},
	{"grpc_ssl_protocols", "grpc_ssl_protocols TLSv9;", `invalid value "TLSv9" in FILE:3`, ""},
	{"grpc_next_upstream", "grpc_next_upstream error bogus;", `invalid value "bogus" in FILE:3`, ""},
	{"grpc_read_timeout", "grpc_read_timeout 5x;", `"grpc_read_timeout" directive invalid value in FILE:3`, ""},
	{"grpc_upstream_port", "upstream u { server 127.0.0.1:1; } server { listen 127.0.0.1:18999; location / { grpc_pass u:50; } }", `upstream "u" may not have port 50 in FILE:3`, ""},
	{"grpc_pass_variables", "server { listen 127.0.0.1:18999; location / { grpc_pass grpc://$host:50051; } }", `"grpc_pass" with variables is not supported by sluice yet in FILE:3`, "grpc_pass with variables is not implemented"},
}

func TestHTTPGRPCErrors(t *testing.T) { checkErrors(t, grpcErrorCases) }

// TestHTTPGRPCErrorsNginx checks grpcErrorCases against nginx itself.
func TestHTTPGRPCErrorsNginx(t *testing.T) { checkErrorsNginx(t, grpcErrorCases) }

// grpcAccepted are bodies nginx 1.22 accepts; sluice must too. nginx 1.22
// does not know "http2 on" (1.25.1), so it is not among them.
var grpcAccepted = []acceptedCase{
	{"http2_all", "http2_max_concurrent_streams 64; http2_chunk_size 16k; http2_recv_buffer_size 512k; http2_body_preread_size 128k; http2_push off; http2_push_preload off; http2_streams_index_size 64; http2_max_concurrent_pushes 5; http2_idle_timeout 10s; http2_max_requests 5; http2_max_field_size 4k; http2_max_header_size 16k; http2_recv_timeout 10s;"},
	{"grpc_forms", "upstream u { server 127.0.0.1:1; } server { listen 127.0.0.1:18999 http2; location /a { grpc_pass u; } location /b { grpc_pass grpc://127.0.0.1:2; } location /c { grpc_pass grpcs://127.0.0.1; } location /d { grpc_pass unix:/tmp/g.sock; } location /e { grpc_pass grpc://u; } }"},
	{"grpc_settings", "grpc_set_header X-A $remote_addr; grpc_hide_header X-B; grpc_pass_header Server; grpc_ignore_headers X-Accel-Expires; grpc_connect_timeout 5s; grpc_read_timeout 1h; grpc_send_timeout 10s; grpc_next_upstream error timeout http_502 non_idempotent; grpc_next_upstream_tries 3; grpc_next_upstream_timeout 10s; grpc_buffer_size 8k; grpc_intercept_errors on; grpc_socket_keepalive on; grpc_bind 127.0.0.1;"},
	{"grpc_ssl", "grpc_ssl_verify off; grpc_ssl_server_name on; grpc_ssl_name x.example; grpc_ssl_protocols TLSv1.2 TLSv1.3; grpc_ssl_ciphers HIGH; grpc_ssl_verify_depth 2; grpc_ssl_session_reuse off;"},
	{"grpc_next_upstream_off", "grpc_next_upstream off;"},
}

func TestHTTPGRPCAccepted(t *testing.T) { checkAccepted(t, grpcAccepted) }

// TestHTTPGRPCInheritance checks that grpc_* and http2 settings merge
// down as nginx merges them: a level that sets one takes the others from
// above, a level that sets none shares its parent's.
func TestHTTPGRPCInheritance(t *testing.T) {
	cfg, msg := loadHTTP(t, `grpc_read_timeout 5m; grpc_set_header X-A a; http2_max_concurrent_streams 10;
		server { listen 127.0.0.1:18999; http2 on;
			location /a { grpc_pass 127.0.0.1:1; grpc_send_timeout 7s; }
			location /b { grpc_pass 127.0.0.1:1; grpc_set_header X-B b; }
			location /c { proxy_pass http://127.0.0.1:2; }
		}
		server { listen 127.0.0.1:18998; location / { grpc_pass 127.0.0.1:1; } }`)
	if msg != "" {
		t.Fatal(msg)
	}
	s := cfg.HTTP.Servers[0]
	if h := s.HTTP2; h == nil || !h.Enable || h.MaxConcurrentStreams != 10 || h.BodyPrereadSize != 64<<10 {
		t.Errorf("server http2 settings %+v", h)
	}
	if h := cfg.HTTP.Servers[1].HTTP2; h == nil || h.Enable || h.MaxConcurrentStreams != 10 {
		t.Errorf("second server http2 settings %+v", h)
	}
	a, b, c := s.Locations[0].Settings.GRPC, s.Locations[1].Settings.GRPC, s.Locations[2].Settings.GRPC
	if a.ReadTimeout != 5*time.Minute || a.SendTimeout != 7*time.Second || a.ConnectTimeout != 60*time.Second ||
		!reflect.DeepEqual(a.SetHeaders, []HTTPHeader{{Name: "X-A", Value: "a"}}) {
		t.Errorf("location /a: %+v", a)
	}
	if b.ReadTimeout != 5*time.Minute || !reflect.DeepEqual(b.SetHeaders, []HTTPHeader{{Name: "X-B", Value: "b"}}) {
		t.Errorf("location /b: %+v", b)
	}
	if c != s.Settings.GRPC || c.ReadTimeout != 5*time.Minute {
		t.Errorf("location /c does not share the server's settings: %+v", c)
	}
	if got := s.Locations[0].GRPCPass; got == nil || got.Upstream != "127.0.0.1:1" || got.Scheme != "grpc" {
		t.Errorf("grpc_pass %+v", got)
	}
}
