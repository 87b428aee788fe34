package stream

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// TestRedisBenchmark runs redis-benchmark through the proxy to a real
// redis-server.
func TestRedisBenchmark(t *testing.T) {
	server := testutil.Need(t, "redis-server")
	bench := testutil.Need(t, "redis-benchmark")
	addr := testutil.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	testutil.Daemon{Path: server, Args: []string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no"},
		Ready: []string{addr}}.Start(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    upstream redis {
        server %s;
    }
    server {
        listen 127.0.0.1:1;
        proxy_pass redis;
    }
}`, logFormat, addr), nil)
	_, pport, _ := net.SplitHostPort(h.addr["127.0.0.1:1"])
	out, err := exec.Command(bench, "-h", "127.0.0.1", "-p", pport, "-q", "-n", "2000", "-c", "20", "-t", "set,get").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	text := string(out)
	for _, op := range []string{"SET", "GET"} {
		if !regexp.MustCompile(`(?m)` + op + `: [\d.]+ requests per second`).MatchString(text) {
			t.Errorf("no %s result:\n%s", op, text)
		}
	}
	if strings.Contains(strings.ToLower(text), "error") {
		t.Errorf("errors in output:\n%s", text)
	}
	t.Logf("%s", strings.TrimSpace(text))
}
