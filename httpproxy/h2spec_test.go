package httpproxy

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// h2specKnown are the h2spec test ids Sluice is known to fail, each with
// its reason in docs/http2.md ("Known h2spec failures").
func h2specKnown(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../docs/http2.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	id := regexp.MustCompile("^- `([^`]+)`")
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = strings.HasPrefix(line, "## Known h2spec failures")
			continue
		}
		if m := id.FindStringSubmatch(line); in && m != nil {
			known[m[1]] = true
		}
	}
	return known
}

// runH2spec runs h2spec against addr and returns its summary line and the
// ids of the failed tests, as "http2/6.5.3/1" (group, section, number).
func runH2spec(t *testing.T, bin, addr string, extra ...string) (string, []string, string) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"-h", host, "-p", port, "-o", "2"}, extra...)
	out, _ := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	section := regexp.MustCompile(`^\s+(\d+(?:\.\d+)*)\.\s`)
	fail := regexp.MustCompile(`^\s+× (\d+):`)
	var summary, group, sec string
	var failed []string
	inFail := false
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "Failures:"):
			inFail = true
		case strings.Contains(l, " tests, ") && strings.Contains(l, " passed"):
			summary = strings.TrimSpace(l)
		case !inFail:
		case strings.HasPrefix(l, "Generic tests"):
			group = "generic"
		case strings.HasPrefix(l, "HPACK"):
			group = "hpack"
		case strings.HasPrefix(l, "Hypertext Transfer Protocol"):
			group = "http2"
		default:
			if m := section.FindStringSubmatch(l); m != nil {
				sec = m[1]
			} else if m := fail.FindStringSubmatch(l); m != nil {
				failed = append(failed, group+"/"+sec+"/"+m[1])
			}
		}
	}
	if summary == "" {
		t.Fatalf("h2spec gave no summary:\n%s", out)
	}
	_, report, _ := strings.Cut(string(out), "Failures:")
	return summary, failed, report
}

// TestH2spec runs h2spec against an h2c listener proxying to a backend
// (the request bodies are read, as they are in use) and fails on a failure
// docs/http2.md does not explain.
func TestH2spec(t *testing.T) {
	bin := testutil.Need(t, "h2spec")
	known := h2specKnown(t)
	be := h2EchoBackend(t, "spec")
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18210 http2; location / { proxy_pass http://`+be.addr+`; } }
	}`, Options{Log: noLog})
	summary, failed, report := runH2spec(t, bin, h.addr["127.0.0.1:18210"])
	t.Logf("h2spec (h2c): %s %v", summary, failed)
	for _, id := range failed {
		if !known[id] {
			t.Errorf("h2spec: %s failed and docs/http2.md does not list it", id)
		}
	}
	if t.Failed() {
		t.Logf("h2spec failures:%s", report)
	}
}

// TestH2specTLS runs h2spec against an HTTP/2 TLS listener.
func TestH2specTLS(t *testing.T) {
	bin := testutil.Need(t, "h2spec")
	known := h2specKnown(t)
	dir := t.TempDir()
	c := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "h2spec", DNS: []string{"localhost"}})
	be := h2EchoBackend(t, "spec")
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
		server { listen 127.0.0.1:18211 ssl http2; ssl_certificate %s; ssl_certificate_key %s;
			location / { proxy_pass http://%s; } }
	}`, c.CertFile, c.KeyFile, be.addr), Options{Log: noLog})
	summary, failed, report := runH2spec(t, bin, h.addr["127.0.0.1:18211"], "-t", "-k")
	t.Logf("h2spec (TLS): %s %v", summary, failed)
	for _, id := range failed {
		if !known[id] {
			t.Errorf("h2spec: %s failed and docs/http2.md does not list it", id)
		}
	}
	if t.Failed() {
		t.Logf("h2spec failures:%s", report)
	}
}
