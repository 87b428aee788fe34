package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "sluice")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sluice runs the binary and returns its exit code, stdout and stderr.
func sluice(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTestOption(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.conf"), "worker_processes 2;\nevents { worker_connections 64; }\n")
	bad := writeFile(t, filepath.Join(dir, "bad.conf"), "events {\n}\nworker_procs 2;\n")
	warn := writeFile(t, filepath.Join(dir, "warn.conf"), "user www-data;\nevents {}\n")

	tests := []struct {
		name     string
		args     []string
		code     int
		stderr   []string
		noStderr bool
	}{
		{"ok", []string{"-t", "-c", good}, 0, []string{
			"sluice: the configuration file " + good + " syntax is ok\n",
			"sluice: configuration file " + good + " test is successful\n"}, false},
		{"quiet", []string{"-tq", "-c", good}, 0, nil, true},
		{"error names file and line", []string{"-t", "-c", bad}, 1, []string{
			`sluice: [emerg] unknown directive "worker_procs" in ` + bad + ":3\n",
			"sluice: configuration file " + bad + " test failed\n"}, false},
		{"warning", []string{"-t", "-c", warn}, 0, []string{
			`sluice: [warn] the "user" directive is ignored: sluice does not change its user in ` + warn + ":1\n"}, false},
		{"missing file", []string{"-t", "-c", filepath.Join(dir, "nope.conf")}, 1, []string{
			`sluice: [emerg] open() "` + filepath.Join(dir, "nope.conf") + `" failed (2: No such file or directory)`}, false},
		{"-g", []string{"-t", "-c", good, "-g", "worker_processes 3;"}, 1, []string{
			`"worker_processes" directive is duplicate in ` + good + ":1"}, false},
		{"-g error", []string{"-t", "-c", good, "-g", "bogus;"}, 1, []string{
			`sluice: [emerg] unknown directive "bogus" in command line`}, false},
		{"-p with relative -c", []string{"-t", "-p", dir, "-c", "good.conf"}, 0, []string{"test is successful"}, false},
		{"invalid option", []string{"-x"}, 1, []string{`sluice: invalid option: "x"`}, false},
		{"missing value", []string{"-c"}, 1, []string{`sluice: option "-c" requires file name`}, false},
		{"bad signal", []string{"-s", "hup"}, 1, []string{`invalid option: "-s hup"`}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := sluice(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if tc.noStderr && stderr != "" {
				t.Errorf("stderr not empty:\n%s", stderr)
			}
		})
	}
}

func TestDump(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "conf.d"), 0o755)
	main := writeFile(t, filepath.Join(dir, "main.conf"), "events {}\ninclude conf.d/*.conf;\n")
	writeFile(t, filepath.Join(dir, "conf.d", "b.conf"), "env B;")
	writeFile(t, filepath.Join(dir, "conf.d", "a.conf"), "env A;\n")
	code, stdout, _ := sluice(t, "-T", "-c", main)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := "# configuration file " + main + ":\nevents {}\ninclude conf.d/*.conf;\n\n" +
		"# configuration file " + filepath.Join(dir, "conf.d", "a.conf") + ":\nenv A;\n\n" +
		"# configuration file " + filepath.Join(dir, "conf.d", "b.conf") + ":\nenv B;\n"
	if stdout != want {
		t.Errorf("dump:\n%q\nwant:\n%q", stdout, want)
	}
}

func TestVersion(t *testing.T) {
	code, _, stderr := sluice(t, "-V")
	if code != 0 || !strings.HasPrefix(stderr, "sluice version: sluice/"+Version+"\n") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^configure arguments:( --with(out)?-[a-z0-9_]+)+$`).MatchString(stderr) {
		t.Errorf("no configure arguments line:\n%s", stderr)
	}
	code, _, stderr = sluice(t, "-v")
	if code != 0 || stderr != "sluice version: sluice/"+Version+"\n" {
		t.Errorf("-v: exit %d, %q", code, stderr)
	}
	code, _, stderr = sluice(t, "-h")
	if code != 0 || !strings.Contains(stderr, "-s signal     : send signal to a master process") {
		t.Errorf("-h: exit %d, %q", code, stderr)
	}
}

// proc is a running sluice whose error log (stderr) is read line by line.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
	done  chan error
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, lines: make(chan string, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		p.done <- err
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// expect waits for a line matching re.
func (p *proc) expect(re string) string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("error log closed before %q", re)
			}
			if rx.MatchString(l) {
				return l
			}
		case <-deadline:
			p.t.Fatalf("no error log line matching %q", re)
		}
	}
}

func (p *proc) signal(s syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatal(err)
	}
}

func (p *proc) wait() int {
	p.t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			p.t.Fatal(err)
		}
		return 0
	case <-time.After(10 * time.Second):
		p.t.Fatal("sluice did not exit")
	}
	return -1
}

func TestProcessLifecycle(t *testing.T) {
	dir := t.TempDir()
	pid := filepath.Join(dir, "sluice.pid")
	conf := filepath.Join(dir, "sluice.conf")
	good := "pid " + pid + ";\nerror_log stderr notice;\nevents {}\n"
	writeFile(t, conf, good)

	p := start(t, "-c", conf)
	line := p.expect(`\[notice\] \d+#\d+: sluice/.* started`)
	if !regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[notice\] `).MatchString(line) {
		t.Errorf("error log line not in nginx's format: %q", line)
	}
	data, err := os.ReadFile(pid)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if got, _ := strconv.Atoi(strings.TrimSpace(string(data))); got != p.cmd.Process.Pid {
		t.Fatalf("pid file holds %q, process is %d", data, p.cmd.Process.Pid)
	}

	// -s reload finds the process through the pid file.
	if code, _, stderr := sluice(t, "-s", "reload", "-c", conf); code != 0 {
		t.Fatalf("-s reload: exit %d: %s", code, stderr)
	}
	p.expect(`configuration reloaded`)

	// A broken file is reported with file:line and the process keeps running.
	writeFile(t, conf, good+"\nbroken directive;\n")
	p.signal(syscall.SIGHUP)
	p.expect(`\[emerg\] \d+#\d+: unknown directive "broken" in ` + regexp.QuoteMeta(conf) + `:5$`)
	p.expect(`reload failed, the running configuration is kept`)
	writeFile(t, conf, good)
	p.signal(syscall.SIGHUP)
	p.expect(`configuration reloaded`)

	p.signal(syscall.SIGUSR1)
	p.expect(`reopening logs`)

	if code, _, stderr := sluice(t, "-s", "quit", "-c", conf); code != 0 {
		t.Fatalf("-s quit: exit %d: %s", code, stderr)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d after SIGQUIT", code)
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
}

func TestSignalWithoutPidFile(t *testing.T) {
	dir := t.TempDir()
	conf := writeFile(t, filepath.Join(dir, "s.conf"), "pid "+filepath.Join(dir, "none.pid")+";\nevents {}\n")
	code, _, stderr := sluice(t, "-s", "reload", "-c", conf)
	if code != 1 || !strings.Contains(stderr, `sluice: [error] open() "`+filepath.Join(dir, "none.pid")+`" failed (2: No such file or directory)`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestStartFailsOnBadConfig(t *testing.T) {
	dir := t.TempDir()
	conf := writeFile(t, filepath.Join(dir, "s.conf"), "events {\n  worker_connections many;\n}\n")
	code, _, stderr := sluice(t, "-c", conf)
	if code != 1 || !strings.Contains(stderr, `sluice: [emerg] invalid number "many" in `+conf+":2") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestExamples keeps the configurations in examples/ valid.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.conf")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		if code, _, stderr := sluice(t, "-t", "-q", "-c", f); code != 0 {
			t.Errorf("%s: exit %d: %s", f, code, stderr)
		}
	}
}
