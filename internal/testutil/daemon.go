package testutil

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Paths of the nginx binary and of its stream module, as Debian's nginx
// and libnginx-mod-stream packages install them.
const (
	NginxPath         = "/usr/sbin/nginx"
	NginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"
)

// ciRequired reports whether a missing program fails the test instead of
// skipping it: on CI, every peer the tests use must be installed.
func ciRequired() bool { return os.Getenv("CI") == "true" }

// Need returns the path of a program the test runs, looked up in PATH and
// then in ~/go/bin. Without it the test is skipped, or fails when the
// environment has CI=true.
func Need(t testing.TB, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err == nil {
		return p
	}
	if home, _ := os.UserHomeDir(); home != "" {
		q := filepath.Join(home, "go", "bin", prog)
		if _, err := os.Stat(q); err == nil {
			return q
		}
	}
	if ciRequired() {
		t.Fatalf("%s is required in CI: %v", prog, err)
	}
	t.Skipf("%s not installed", prog)
	return ""
}

// NeedNginx skips the test when nginx is not installed at NginxPath, or
// fails it when the environment has CI=true.
func NeedNginx(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(NginxPath); err != nil {
		if ciRequired() {
			t.Fatalf("nginx is required in CI: %v", err)
		}
		t.Skipf("nginx not installed: %v", err)
	}
}

// Daemon is a server program a test runs in the foreground, such as
// nginx, haproxy or redis-server.
type Daemon struct {
	// Path is the program; Args its arguments.
	Path string
	Args []string
	// Ready lists TCP addresses the program must accept connections on
	// before Start returns.
	Ready []string
	// Probe, when not empty, is written on each readiness connection
	// before it is closed, so that a server waiting for a first message
	// (a TLS ClientHello, say) ends it at once.
	Probe string
}

// Start runs d until the test ends, when it is killed and waited for, and
// waits for it to accept connections on every Ready address. The test
// fails with the program's output when it cannot start, exits, or does not
// listen within WaitLimit; the output is logged too when the test fails
// later.
func (d Daemon) Start(t testing.TB) {
	t.Helper()
	name := filepath.Base(d.Path)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, d.Path, d.Args...)
	out := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	deadline := time.Now().Add(WaitLimit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, a := range d.Ready {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				if d.Probe != "" {
					io.WriteString(c, d.Probe)
				}
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not listening on %s: %v\n%s", name, a, err, out.String())
			}
			select {
			case <-exited:
				t.Fatalf("%s exited: %v\n%s", name, waitErr, out.String())
			case <-tick.C:
			}
		}
	}
}

// StartHAProxy runs haproxy (found as Need finds it) in the foreground on
// the configuration text cfg until the test ends, and waits for it to
// accept connections on every address of ready.
func StartHAProxy(t testing.TB, cfg string, ready ...string) {
	t.Helper()
	bin := Need(t, "haproxy")
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	Daemon{Path: bin, Args: []string{"-db", "-f", path}, Ready: ready}.Start(t)
}

// SkipUnless skips the test unless every file of paths exists, such as a
// program and the module it loads; unlike Need, it skips on CI too.
func SkipUnless(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s is not installed", p)
		}
	}
}

// HAProxyDefaults begins a haproxy configuration for tests: a global
// section and defaults for TCP proxying with bounded timeouts.
const HAProxyDefaults = `global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 10s
    timeout server 10s
`

// NginxStreamConf returns an nginx configuration that runs in the
// foreground, keeps its pid file and error log in dir, loads the stream
// module, and has stream as the body of its stream block.
func NginxStreamConf(dir, stream string) string {
	return fmt.Sprintf(`load_module %s;
daemon off;
master_process off;
pid %s/nginx.pid;
error_log %s/error.log info;
events { worker_connections 64; }
stream {
%s}
`, NginxStreamModule, dir, dir, stream)
}

// Nginx writes conf to dir/nginx.conf and returns a Daemon that runs nginx
// on it with dir as its prefix (and dir/error.log as its error log until
// the configuration is read). The caller sets Ready, and Probe if needed,
// then starts it.
func Nginx(t testing.TB, dir, conf string) Daemon {
	t.Helper()
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return Daemon{Path: NginxPath, Args: []string{"-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log")}}
}
