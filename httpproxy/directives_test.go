package httpproxy

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRedirectCompletion: absolute_redirect, port_in_redirect and
// server_name_in_redirect complete a redirect to a path as nginx 1.22
// does. The expected Locations are what nginx answered with the same
// configuration and requests.
func TestRedirectCompletion(t *testing.T) {
	h := startProxy(t, `events {} http {
		access_log off;
		server { listen 127.0.0.1:18091; server_name primary.example alias.example;
			location /a { return 301 /x; }
			location /b { absolute_redirect off; return 301 /x; }
			location /c { port_in_redirect off; return 301 /x; }
			location /d { server_name_in_redirect on; return 301 /x; }
			location /e { server_name_in_redirect on; port_in_redirect off; return 302 /y?q=1; }
			location /f { absolute_redirect off; return 301 http://other/z; }
		}
	}`, Options{})
	addr := h.addr["127.0.0.1:18091"]
	port := portOf(addr)
	cases := []struct{ path, host, want string }{
		{"/a", "alias.example:" + port, "http://alias.example:" + port + "/x"},
		{"/b", "alias.example:" + port, "/x"},
		{"/c", "alias.example:" + port, "http://alias.example/x"},
		{"/d", "alias.example:" + port, "http://primary.example:" + port + "/x"},
		{"/e", "alias.example:" + port, "http://primary.example/y?q=1"},
		{"/f", "alias.example:" + port, "http://other/z"},
		// without a Host header: the local address
		{"/a", "", "http://127.0.0.1:" + port + "/x"},
		{"/c", "", "http://127.0.0.1/x"},
	}
	for _, tc := range cases {
		req := "GET " + tc.path + " HTTP/1.0\r\n"
		if tc.host != "" {
			req += "Host: " + tc.host + "\r\n"
		}
		resp := rawRequest(t, addr, req+"\r\n")
		var loc string
		for _, line := range strings.Split(resp, "\r\n") {
			if v, ok := strings.CutPrefix(line, "Location: "); ok {
				loc = v
			}
		}
		if loc != tc.want {
			t.Errorf("%s (Host %q): Location %q, want %q", tc.path, tc.host, loc, tc.want)
		}
	}
}

// TestMergeSlashes: merge_slashes off keeps "//" in $uri and in location
// matching; on (the default) merges them. The expected bodies are what
// nginx 1.22 answered with the same configuration and requests.
func TestMergeSlashes(t *testing.T) {
	h := startProxy(t, `events {} http {
		access_log off;
		server { listen 127.0.0.1:18093; merge_slashes off;
			location /a/b { return 200 "ab $uri\n"; } location / { return 200 "root $uri\n"; } }
		server { listen 127.0.0.1:18094;
			location /a/b { return 200 "ab $uri\n"; } location / { return 200 "root $uri\n"; } }
	}`, Options{})
	cases := []struct{ listen, uri, want string }{
		{"127.0.0.1:18093", "//a//b", "root //a//b\n"},
		{"127.0.0.1:18093", "/a/./b", "ab /a/b\n"},
		{"127.0.0.1:18093", "/a//b/../b", "root /a//b\n"},
		{"127.0.0.1:18094", "//a//b", "ab /a/b\n"},
		{"127.0.0.1:18094", "/a/./b", "ab /a/b\n"},
		{"127.0.0.1:18094", "/a//b/../b", "ab /a/b\n"},
	}
	for _, tc := range cases {
		resp := rawRequest(t, h.addr[tc.listen], "GET "+tc.uri+" HTTP/1.0\r\nHost: a\r\n\r\n")
		_, body, _ := strings.Cut(resp, "\r\n\r\n")
		if body != tc.want {
			t.Errorf("%s %s: body %q, want %q", tc.listen, tc.uri, body, tc.want)
		}
	}
}

// TestResetTimedoutConnection: with reset_timedout_connection on, return
// 444 and a client_header_timeout in the middle of a head close the
// connection with a reset; a keep-alive wait that ends without a byte,
// and everything with the directive off, close it with a FIN. These are
// the ends nginx 1.22 gave to the same requests.
func TestResetTimedoutConnection(t *testing.T) {
	h := startProxy(t, `events {} http {
		access_log off;
		client_header_timeout 200ms;
		server { listen 127.0.0.1:18095; reset_timedout_connection on; location / { return 444; } }
		server { listen 127.0.0.1:18096; location / { return 444; } }
	}`, Options{})
	end := func(listen, req string) string {
		c, err := net.DialTimeout("tcp", h.addr[listen], waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitLimit))
		io.WriteString(c, req)
		b, err := io.ReadAll(c)
		switch {
		case errors.Is(err, syscall.ECONNRESET):
			return "RST"
		case err != nil:
			return err.Error()
		case len(b) > 0:
			return "data"
		}
		return "EOF"
	}
	cases := []struct{ listen, req, want string }{
		{"127.0.0.1:18095", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "RST"},
		{"127.0.0.1:18095", "GET / HTTP/1.1\r\nHost: a\r\n", "RST"},
		{"127.0.0.1:18095", "", "EOF"},
		{"127.0.0.1:18096", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "EOF"},
		{"127.0.0.1:18096", "GET / HTTP/1.1\r\nHost: a\r\n", "EOF"},
	}
	for _, tc := range cases {
		if got := end(tc.listen, tc.req); got != tc.want {
			t.Errorf("%s %q: the connection ended with %s, want %s", tc.listen, tc.req, got, tc.want)
		}
	}
}
