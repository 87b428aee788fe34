package testutil

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// chromiumNames are the names headless Chromium goes by: Debian's
// chromium package, other distributions' and Google's build.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// NeedChromium returns the path of Chromium. Without it the test is
// skipped, or fails when the environment has CI=true (.ci/run installs
// Debian's chromium package).
func NeedChromium(t testing.TB) string {
	t.Helper()
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return Need(t, chromiumNames[0]) // skips, or fails on CI
}

// DumpDOM loads url in headless Chromium (bin, from NeedChromium) with a
// profile of its own, lets the page's scripts run for budget of virtual
// time, and returns the DOM then, serialized. Chromium and the processes
// it starts are killed if they have not finished within 20 seconds; the
// test fails then, or when Chromium fails.
func DumpDOM(t testing.TB, bin, url string, budget time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless=new", "--no-sandbox", "--disable-gpu",
		"--no-first-run", "--disable-extensions", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(),
		"--virtual-time-budget="+strconv.FormatInt(budget.Milliseconds(), 10), "--dump-dom", url)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// Chromium runs helper processes: its process group goes at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish within 20s on %s\n%s", url, errOut.String())
	}
	if err != nil {
		t.Fatalf("chromium on %s: %v\n%s", url, err, errOut.String())
	}
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers left behind, if any
	}
	return out.String()
}
