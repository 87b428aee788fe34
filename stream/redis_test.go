package stream

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// need returns the path of a program a test needs; without it the test is
// skipped, or fails when CI=true.
func need(t *testing.T, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", prog, err)
		}
		t.Skipf("%s not installed", prog)
	}
	return p
}

// TestRedisBenchmark runs redis-benchmark through the proxy to a real
// redis-server.
func TestRedisBenchmark(t *testing.T) {
	server := need(t, "redis-server")
	bench := need(t, "redis-benchmark")
	addr := deadAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(server, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling the child's port; there is no event to wait on
	}
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
