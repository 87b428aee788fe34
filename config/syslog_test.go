package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// syslogHTTPErrorCases are http {} bodies with "syslog:" log targets that
// nginx 1.22 refuses, with its message. The main-context error_log cases
// are golden files (err_syslog_*), compared with nginx by
// TestNginxDifferential.
var syslogHTTPErrorCases = []errorCase{
	{name: "access_log_no_server", body: `access_log syslog:tag=x;`, want: `no syslog server specified in FILE:3`},
	{name: "access_log_unknown_param", body: `access_log syslog:server=127.0.0.1,x combined;`, want: `unknown syslog parameter "x" in FILE:3`},
	{name: "access_log_facility", body: `access_log syslog:server=127.0.0.1,facility=local8;`, want: `unknown syslog facility "local8" in FILE:3`},
	{name: "access_log_severity", body: `access_log syslog:server=127.0.0.1,severity=warning;`, want: `unknown syslog severity "warning" in FILE:3`},
	{name: "access_log_tag_chars", body: `access_log "syslog:server=127.0.0.1,tag=a.b";`, want: `syslog "tag" only allows alphanumeric characters and underscore in FILE:3`},
	{name: "access_log_tag_variable", body: `access_log "syslog:server=127.0.0.1,tag=$host";`, want: `syslog "tag" only allows alphanumeric characters and underscore in FILE:3`},
	{name: "access_log_tag_long", body: `access_log syslog:server=127.0.0.1,tag=abcdefghijklmnopqrstuvwxyz0123456;`, want: `syslog tag length exceeds 32 in FILE:3`},
	{name: "access_log_syslog_first", body: `access_log syslog:server=127.0.0.1,facility=x nosuch;`, want: `unknown syslog facility "x" in FILE:3`},
	{name: "access_log_syslog_format", body: `access_log syslog:server=127.0.0.1 nosuch;`, want: `unknown log format "nosuch" in FILE:3`},
	{name: "access_log_syslog_buffer", body: `access_log syslog:server=127.0.0.1 combined buffer=32k;`, want: `logs to syslog cannot be buffered in FILE:3`},
	{name: "access_log_syslog_buffer_bad", body: `access_log syslog:server=127.0.0.1 combined buffer=0;`, want: `invalid buffer size "0" in FILE:3`},
	{name: "access_log_syslog_gzip", body: `access_log syslog:server=127.0.0.1 combined gzip;`, want: `logs to syslog cannot be buffered in FILE:3`},
	{name: "access_log_syslog_gzip_flush", body: `access_log syslog:server=127.0.0.1 combined flush=1s gzip=5;`, want: `logs to syslog cannot be buffered in FILE:3`},
	{name: "access_log_syslog_gzip_level", body: `access_log syslog:server=127.0.0.1 combined gzip=10;`, want: `invalid compression level "10" in FILE:3`},
	{name: "access_log_syslog_flush", body: `access_log syslog:server=127.0.0.1 combined flush=1s;`, want: `no buffer is defined for access_log "syslog:server=127.0.0.1" in FILE:3`},
	{name: "access_log_syslog_param", body: `access_log syslog:server=127.0.0.1 combined bogus;`, want: `invalid parameter "bogus" in FILE:3`},
	{name: "access_log_syslog_variable", body: `access_log syslog:server=$host;`, want: `host not found in syslog server "$host" in FILE:3`},
	{name: "error_log_server", body: "server { listen 127.0.0.1:18080; error_log syslog:server=127.0.0.1,tag=-; }", want: `syslog "tag" only allows alphanumeric characters and underscore in FILE:3`},
	{name: "error_log_location", body: "server { listen 127.0.0.1:18080; location / { error_log syslog:server=127.0.0.1:0 warn; } }", want: `invalid port in syslog server "127.0.0.1:0" in FILE:3`},
}

func TestSyslogHTTPErrors(t *testing.T) { checkErrors(t, syslogHTTPErrorCases) }

// TestSyslogHTTPErrorsNginx checks syslogHTTPErrorCases against nginx.
func TestSyslogHTTPErrorsNginx(t *testing.T) { checkErrorsNginx(t, syslogHTTPErrorCases) }

// syslogStreamErrorCases are stream {} bodies nginx 1.22 refuses.
var syslogStreamErrorCases = []errorCase{
	{name: "access_log_no_format", body: `access_log syslog:server=127.0.0.1;`, want: `log format is not specified in FILE:4`},
	{name: "access_log_unknown_param", body: `log_format f x; access_log syslog:server=127.0.0.1,x f;`, want: `unknown syslog parameter "x" in FILE:4`},
	{name: "access_log_buffer", body: `log_format f x; access_log syslog:server=127.0.0.1 f buffer=1k;`, want: `logs to syslog cannot be buffered in FILE:4`},
	{name: "access_log_gzip", body: `log_format f x; access_log syslog:server=127.0.0.1 f gzip;`, want: `logs to syslog cannot be buffered in FILE:4`},
	{name: "access_log_flush", body: `log_format f x; access_log syslog:server=127.0.0.1 f flush=1s;`, want: `no buffer is defined for access_log "syslog:server=127.0.0.1" in FILE:4`},
	{name: "file_flush", body: `log_format f x; access_log /tmp/x f flush=1s;`, want: `no buffer is defined for access_log "/tmp/x" in FILE:4`},
	{name: "error_log_tag", body: `error_log syslog:server=127.0.0.1,tag=t-;`, want: `syslog "tag" only allows alphanumeric characters and underscore in FILE:4`},
	{name: "error_log_server", body: "server { listen 127.0.0.1:12345; proxy_pass 127.0.0.1:1; error_log syslog:server=127.0.0.1,facility=bad; }", want: `unknown syslog facility "bad" in FILE:4`},
	{name: "access_log_server", body: "log_format f x; server { listen 127.0.0.1:12345; proxy_pass 127.0.0.1:1; access_log syslog:server=[::1 f; }", want: `invalid host in syslog server "[::1" in FILE:4`},
}

// streamPrologue loads nginx's stream module; sluice accepts the line too.
const streamPrologue = "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\nevents {}\nstream {\n"

func TestSyslogStreamErrors(t *testing.T) {
	for _, tc := range syslogStreamErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadText(t, streamPrologue+tc.body+"\n}\n")
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %q", err, tc.want)
			}
		})
	}
}

// TestSyslogStreamErrorsNginx checks syslogStreamErrorCases against nginx.
func TestSyslogStreamErrorsNginx(t *testing.T) {
	testutil.NeedNginx(t)
	if _, err := os.Stat("/usr/lib/nginx/modules/ngx_stream_module.so"); err != nil {
		t.Skip("nginx's stream module is not installed")
	}
	prefix := t.TempDir()
	for _, tc := range syslogStreamErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "t.conf")
			if err := os.WriteFile(file, []byte(streamPrologue+tc.body+"\n}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ok, msg := runNginx(t, file, prefix, "")
			if msg = strings.ReplaceAll(msg, file, "FILE"); ok || msg != tc.want {
				t.Errorf("nginx: ok=%v %q\nwant %q", ok, msg, tc.want)
			}
		})
	}
}

// syslogAccepted are http {} bodies with syslog targets that nginx and
// sluice both accept.
var syslogAccepted = []acceptedCase{
	{"access_log_forms", `log_format f escape=json '$remote_addr'; access_log syslog:server=unix:/dev/log,tag=nginx,severity=info combined; access_log syslog:server=127.0.0.1:5140,facility=local0,nohostname f if=$arg_x;
		server { listen 127.0.0.1:18081; access_log syslog:server=[::1],severity=debug; error_log syslog:server=127.0.0.1:514,facility=local7 warn; location / { error_log syslog:server=unix:/nonexistent/log,tag= info; access_log syslog:server=localhost; } }`},
	{"error_log_levels", `error_log syslog:server=127.0.0.1,severity=crit debug; error_log syslog:server=127.0.0.1 emerg;`},
}

func TestSyslogAccepted(t *testing.T) { checkAccepted(t, syslogAccepted) }

// TestSyslogServer checks the addresses server= resolves to.
func TestSyslogServer(t *testing.T) {
	restore := LookupHost
	t.Cleanup(func() { LookupHost = restore })
	LookupHost = func(host string) ([]string, error) {
		switch host {
		case "logs.example":
			return []string{"2001:db8::1", "192.0.2.7", "192.0.2.8"}, nil
		case "v6.example":
			return []string{"2001:db8::2"}, nil
		}
		return nil, errors.New("no such host")
	}
	tests := []struct{ in, addr, msg string }{
		{"127.0.0.1", "127.0.0.1:514", ""},
		{"127.0.0.1:5140", "127.0.0.1:5140", ""},
		{"[::1]", "[::1]:514", ""},
		{"[::1]:5140", "[::1]:5140", ""},
		{"unix:/dev/log", "unix:/dev/log", ""},
		{"UNIX:/dev/log", "unix:/dev/log", ""},
		{"logs.example", "192.0.2.7:514", ""}, // IPv4 first
		{"logs.example:1", "192.0.2.7:1", ""},
		{"v6.example", "[2001:db8::2]:514", ""},
		{"nope.example", "", "host not found"},
		{"[fe80::1%lo]", "", "invalid IPv6 address"},
		{"[::1]:5/x", "", "invalid host"},
	}
	for _, tc := range tests {
		addr, msg := syslogServer(tc.in)
		if addr != tc.addr || msg != tc.msg {
			t.Errorf("%s: %q %q, want %q %q", tc.in, addr, msg, tc.addr, tc.msg)
		}
	}
}
