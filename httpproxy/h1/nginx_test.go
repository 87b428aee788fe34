package h1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// startNginx runs nginx in the foreground with two servers: one answering
// "ok", one answering "$uri|$args|$host". It returns their addresses.
func startNginx(t *testing.T) (okAddr, uriAddr string) {
	t.Helper()
	testutil.NeedNginx(t)
	dir := t.TempDir()
	okAddr, uriAddr = testutil.FreeAddr(t), testutil.FreeAddr(t)
	conf := fmt.Sprintf(`daemon off;
master_process off;
error_log %[1]s/error.log info;
pid %[1]s/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server { listen %[2]s; location / { return 200 ok; } }
  server { listen %[3]s; location / { return 200 "$uri|$args|$host"; } }
}
`, dir, okAddr, uriAddr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// nginx listens before it writes its pid file; wait for both servers.
	testutil.Daemon{Path: testutil.NginxPath, Args: []string{"-p", dir, "-c", path}, Ready: []string{okAddr, uriAddr}}.Start(t)
	return okAddr, uriAddr
}

// exchange sends raw, half-closes, and returns everything nginx answers.
func exchange(t *testing.T, addr string, raw []byte) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(raw); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil && len(out) == 0 {
		t.Fatalf("read: %v", err)
	}
	return out
}

func firstStatus(resp []byte) int {
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 ")) || len(resp) < 12 {
		return -1
	}
	n, err := strconv.Atoi(string(resp[9:12]))
	if err != nil {
		return -1
	}
	return n
}

// TestNginxDifferential sends the request table to a real nginx and checks
// that the status nginx answers is the one ParseRequest gives.
func TestNginxDifferential(t *testing.T) {
	okAddr, uriAddr := startNginx(t)
	for _, tc := range requestCases {
		if tc.name == "http09" { // nginx answers HTTP/0.9, which is not supported here
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			_, err := ParseRequest([]byte(tc.in), &r, Limits{})
			ours := 200
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("parse: %v", err)
				}
				ours = e.ResponseStatus()
			}
			got := firstStatus(exchange(t, okAddr, []byte(tc.in)))
			if got != ours {
				t.Fatalf("nginx answered %d, ParseRequest gives %d (%v)", got, ours, err)
			}
		})
	}
	// $uri, $args and $host for accepted targets.
	targets := []string{"/", "/a//b", "/a/./b", "/a/../b", "/a/..", "/a/.", "/%41", "/a/%2e%2e",
		"/a%2fb", "/a%2F..%2Fb", "/%25", "/%23", "/%3F", "/a?b=%41", "/a#frag", "/a?x#y", "//",
		"/.a", "/..a", "/a/...", "/a/b/..?q", "/a/.?q", "/a/..#x", "http://X.Com", "http://x.com:80?a=b",
		"http://x.com/a%20b", "/%C3%A9", "/a+b", "/a/./", "/a/.%2e", "/a/%2e", "/%2e", "/a/b/..%2f",
		"/a#b?c", "/x/%2e%2e/y", "/a;b/../c"}
	for _, target := range targets {
		raw := "GET " + target + " HTTP/1.1\r\nHost: Hh.Example.\r\nConnection: close\r\n\r\n"
		var r Request
		if _, err := ParseRequest([]byte(raw), &r, Limits{}); err != nil {
			t.Errorf("%s: %v", target, err)
			continue
		}
		resp := exchange(t, uriAddr, []byte(raw))
		i := bytes.Index(resp, []byte("\r\n\r\n"))
		if firstStatus(resp) != 200 || i < 0 {
			t.Errorf("%s: nginx answered %q", target, resp)
			continue
		}
		want := string(resp[i+4:])
		got := string(r.URI) + "|" + string(r.Args) + "|" + string(r.HostName)
		if got != want {
			t.Errorf("%s: $uri|$args|$host = %q, nginx says %q", target, got, want)
		}
	}
}
