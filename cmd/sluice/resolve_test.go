package main

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/dnstest"
)

// namedBackends listens on port of 127.0.0.1 and of 127.0.0.2: HTTP
// servers answering "a" and "b", or (stream) TCP servers writing it to
// each connection. It returns the port.
func namedBackends(t *testing.T, stream bool) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	for ip, name := range map[string]string{"127.0.0.1": "a", "127.0.0.2": "b"} {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
		if err != nil {
			t.Skipf("cannot listen on %s:%s: %v", ip, port, err)
		}
		t.Cleanup(func() { ln.Close() })
		if stream {
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					io.WriteString(c, name)
					c.Close()
				}
			}()
			continue
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	return port
}

// TestResolveFollowsDNS runs upstreams whose server names have the
// resolve parameter: when the name server's answer changes, new requests
// and connections go to the new address, and when the name is gone, the
// upstream answers as one whose servers are all down.
func TestResolveFollowsDNS(t *testing.T) {
	dns := dnstest.Start(t)
	dns.Set("web.test", "127.0.0.1")
	dns.Set("tcp.test", "127.0.0.1")
	webPort, tcpPort := namedBackends(t, false), namedBackends(t, true)
	httpAddr, streamAddr := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	conf := writeFile(t, filepath.Join(dir, "sluice.conf"), `error_log stderr info;
events {}
http {
    access_log off;
    resolver `+dns.Addr()+` valid=1s;
    upstream web { zone web 64k; server web.test:`+webPort+` resolve; }
    server { listen `+httpAddr+`; location / { proxy_pass http://web; } }
}
stream {
    resolver `+dns.Addr()+` valid=1s;
    upstream tcp { zone tcp 64k; server tcp.test:`+tcpPort+` resolve; }
    server { listen `+streamAddr+`; proxy_pass tcp; }
}
`)
	p := start(t, "-c", conf)
	p.expect(`sluice/.* started`)
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() (int, string) {
		resp, err := hc.Get("http://" + httpAddr + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tcp := func() string {
		c := dialTest(t, streamAddr)
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		b, _ := io.ReadAll(c)
		return string(b)
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(6 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if code, body := get(); code != 200 || body != "a" {
		t.Fatalf("at start: %d %q", code, body)
	}
	if got := tcp(); got != "a" {
		t.Fatalf("stream at start: %q", got)
	}

	dns.Set("web.test", "127.0.0.2")
	dns.Set("tcp.test", "127.0.0.2")
	until("http to follow the new address", func() bool { _, b := get(); return b == "b" })
	until("stream to follow the new address", func() bool { return tcp() == "b" })
	p.expect(`upstream "(web|tcp)": (web|tcp)\.test:\d+ now resolves to 127\.0\.0\.2`)

	dns.Set("web.test")
	until("the gone name to leave the upstream", func() bool { code, _ := get(); return code == 502 })
	if got := tcp(); got != "b" {
		t.Errorf("stream after the http name went: %q", got)
	}
}
