package runtime

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// hcBackend answers "OK" to the health check's "HC" and its tag to
// anything else.
func hcBackend(t *testing.T, tag, check string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		l, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return
		}
		if l == "HC\n" {
			io.WriteString(c, check)
			return
		}
		io.WriteString(c, tag+"\n")
	})
	return ln.Addr().String()
}

// A reload keeps what the stream health checks found (a healthy server
// stays so under mandatory persistent, an unhealthy one stays out), and a
// reload that removes the check brings its servers back.
func TestStreamHealthCheckReload(t *testing.T) {
	good := hcBackend(t, "good", "OK\n")
	bad := hcBackend(t, "bad", "NO\n")
	listen := freeAddr(t)
	conf := func(check string) string {
		return fmt.Sprintf(`events {}
stream {
    upstream hc_reload {
        zone hc_reload 64k;
        server %s;
        server %s max_fails=0;
    }
    match hc {
        send "HC\n";
        expect "OK";
    }
    server {
        listen %s;
        proxy_pass hc_reload;
        %s
    }
}`, good, bad, listen, check)
	}
	ask := func() string {
		c, err := net.DialTimeout("tcp", listen, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "hi\n")
		l, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(l)
	}
	srv := NewServer(slog.New(slog.DiscardHandler))
	defer srv.Shutdown(context.Background(), false)
	check := "health_check match=hc mandatory persistent interval=100ms;"
	if err := srv.Apply(buildConf(t, conf(check))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ask() != "good" {
		if time.Now().After(deadline) {
			t.Fatal("the server that passes its check gets no connections")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 6 {
		if got := ask(); got != "good" {
			t.Fatalf("request %d: %q before the reload", i, got)
		}
	}
	if err := srv.Apply(buildConf(t, conf(check))); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if got := ask(); got != "good" {
			t.Fatalf("request %d: %q right after a reload that kept the check", i, got)
		}
	}
	if err := srv.Apply(buildConf(t, conf(""))); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 4 {
		seen[ask()] = true
	}
	if !seen["bad"] || !seen["good"] {
		t.Errorf("answers after a reload that removed the check: %v", seen)
	}
}
