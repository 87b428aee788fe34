package config

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// nginxDifferences are the golden cases on which sluice deliberately
// disagrees with nginx 1.22, each with the reason; docs/differences.md
// explains them to users. Every other main/events golden case must be
// accepted by both or refused by both with the same message.
var nginxDifferences = map[string]string{
	"events_optional":           `sluice does not require an events block (nginx: no "events" section in configuration)`,
	"grammar_empty_file":        "sluice does not require an events block",
	"grammar_only_comments":     "sluice does not require an events block",
	"load_module_late":          `load_module is accepted anywhere in the main context (nginx: "is specified too late")`,
	"err_worker_processes_zero": "sluice refuses worker_processes 0, which would start no worker",
	"err_unsupported":           "an nginx directive sluice does not implement is refused by name",
	"err_unsupported_events":    "an nginx directive sluice does not implement is refused by name",
	"err_include_loop":          "nginx recurses until it crashes; sluice refuses the loop",
	"err_include_self":          "nginx recurses until it crashes; sluice refuses the loop",
}

// nonMainBlock finds inputs that are not main/events only: the
// differential test leaves them to the golden test.
var nonMainBlock = regexp.MustCompile(`(?m)(^|[\s;{}])(http|stream|mail)\s*\{`)

// TestNginxDifferential runs nginx -t on every golden input that uses only
// the grammar and main/events directives and checks that sluice accepts
// exactly what nginx accepts, and refuses with nginx's message otherwise,
// except for the documented differences above. It needs nginx at
// /usr/sbin/nginx; without it the test is skipped, unless CI=true.
func TestNginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	dir, confs := goldenConfs(t)
	// nginx resolves relative log paths against its prefix and opens
	// them; give it one with a logs directory.
	prefix := t.TempDir()
	if err := os.Mkdir(filepath.Join(prefix, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, conf := range confs {
		name := strings.TrimSuffix(filepath.Base(conf), ".conf")
		if strings.HasPrefix(name, "stream_") || strings.HasPrefix(name, "http_") || strings.HasPrefix(name, "debian_") {
			continue
		}
		text, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		if nonMainBlock.Match(text) {
			continue
		}
		compared++
		t.Run(name, func(t *testing.T) {
			var g string
			if b, err := os.ReadFile(strings.TrimSuffix(conf, ".conf") + ".g"); err == nil {
				g = strings.TrimSpace(string(b))
			}
			nginxOK, nginxMsg := runNginx(t, conf, prefix, g)
			_, err := Load(Options{File: conf, Prefix: dir, Directives: g})
			sluiceOK, sluiceMsg := err == nil, ""
			if err != nil {
				sluiceMsg = err.Error()
			}
			same := nginxOK == sluiceOK && (nginxOK || nginxMsg == sluiceMsg)
			if why := nginxDifferences[name]; why != "" {
				if same {
					t.Errorf("listed as a difference (%s) but sluice and nginx agree: %q", why, nginxMsg)
				}
				t.Logf("documented difference: %s\n nginx:  ok=%v %s\n sluice: ok=%v %s", why, nginxOK, nginxMsg, sluiceOK, sluiceMsg)
				return
			}
			if !same {
				t.Errorf("sluice and nginx disagree\n nginx:  ok=%v %s\n sluice: ok=%v %s", nginxOK, nginxMsg, sluiceOK, sluiceMsg)
			}
		})
	}
	t.Logf("%d golden cases compared with nginx", compared)
	if compared < 60 {
		t.Errorf("only %d golden cases compared with nginx, want at least 60", compared)
	}
}

// nginxError finds the first error nginx printed: the text after
// "nginx: [emerg] " (or [alert], [crit]).
var nginxError = regexp.MustCompile(`(?m)^nginx: \[(?:emerg|alert|crit)\] (.*)$`)

// runNginx runs nginx -t on conf and returns whether it accepted it, and
// its first error message otherwise.
func runNginx(t *testing.T, conf, prefix, g string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := []string{"-t", "-p", prefix + "/", "-c", conf, "-e", "/dev/null"}
	if g != "" {
		args = append(args, "-g", g)
	}
	cmd := exec.CommandContext(ctx, testutil.NginxPath, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("nginx -t timed out: %s", out.String())
	}
	if err == nil {
		return true, ""
	}
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("running nginx: %v", err)
	}
	m := nginxError.FindSubmatch(out.Bytes())
	if m == nil {
		// a crash (an include loop makes nginx overflow its stack)
		return false, "nginx failed without a message: " + err.Error()
	}
	return false, string(m[1])
}
