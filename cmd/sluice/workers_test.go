package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// workersConf answers each connection with the generation's word and the
// pid of the process that accepted it. %[1]s: main-context directives,
// %[2]s: the pid file's directory, %[3]s: the address, %[4]s: the word,
// %[5]s: stream-context directives.
const workersConf = `%[1]s
error_log stderr notice;
pid %[2]s/sluice.pid;
events {}
stream {
    %[5]s
    server { listen %[3]s; return "%[4]s $pid\n"; }
}
`

// servedBy makes n connections to addr, each from the next CPU this
// process may run on, and returns, by pid, how many each process
// answered, and the words they answered with. Connections from this host
// to a stream address go to the worker their CPU selects, so all workers
// are reached when the CPUs are at least as many.
func servedBy(t *testing.T, addr string, n int) (map[int]int, map[string]bool) {
	t.Helper()
	cpus := allowedCPUs()
	pids, words := map[int]int{}, map[string]bool{}
	for i := 0; i < n; i++ {
		var answer string
		var err error
		onCPU(cpus[i%len(cpus)], func() { answer, err = ask(addr, "") })
		answer = strings.TrimSpace(answer)
		word, pid, ok := strings.Cut(answer, " ")
		n, perr := strconv.Atoi(pid)
		if err != nil || !ok || perr != nil {
			t.Fatalf("connection %d: %q, %v", i, answer, err)
		}
		pids[n]++
		words[word] = true
	}
	return pids, words
}

// alive says whether process pid exists.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// waitGone waits for process pid to end.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond) // polling another process's existence
	}
}

func keysOf(m map[int]int) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestWorkerProcesses runs a master with two worker processes: both serve,
// a worker that dies is replaced, a reload replaces both with workers on
// the new configuration and a bad one keeps them, and SIGQUIT ends them
// all.
func TestWorkerProcesses(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	conf := filepath.Join(dir, "sluice.conf")
	writeFile(t, conf, fmt.Sprintf(workersConf, "worker_processes 2;", dir, addr, "one", ""))
	p := start(t, "-c", conf)
	startRe := regexp.MustCompile(`start worker process (\d+)$`)
	var started []int
	for len(started) < 2 {
		n, _ := strconv.Atoi(startRe.FindStringSubmatch(p.expect(`start worker process \d+$`))[1])
		started = append(started, n)
	}
	p.expect(`sluice/.* started`)
	master := p.cmd.Process.Pid

	// Both workers accept: each has its own socket of the address.
	pids, words := servedBy(t, addr, 40)
	if len(pids) != 2 || pids[started[0]] == 0 || pids[started[1]] == 0 || pids[master] != 0 {
		t.Fatalf("connections served by %v; workers %v, master %d", pids, started, master)
	}
	if !words["one"] || len(words) != 1 {
		t.Fatalf("answers %v", words)
	}

	// A worker that dies is replaced, and serves its socket again.
	syscall.Kill(started[0], syscall.SIGKILL)
	p.expect(fmt.Sprintf(`\[alert\] \d+#\d+: worker process %d exited on signal 9`, started[0]))
	n, _ := strconv.Atoi(startRe.FindStringSubmatch(p.expect(`start worker process \d+$`))[1])
	workers := []int{n, started[1]}
	pids, _ = servedBy(t, addr, 40)
	if len(pids) != 2 || pids[workers[0]] == 0 || pids[workers[1]] == 0 {
		t.Fatalf("after the restart, connections served by %v; workers %v", pids, workers)
	}

	// A bad configuration keeps the workers.
	writeFile(t, conf, fmt.Sprintf(workersConf, "worker_processes 2;", dir, addr, "two", "bad;"))
	p.signal(syscall.SIGHUP)
	p.expect(`unknown directive "bad" in ` + regexp.QuoteMeta(conf) + `:6$`)
	p.expect(`reload failed, the running configuration is kept`)
	if pids, words = servedBy(t, addr, 20); len(words) != 1 || !words["one"] {
		t.Fatalf("after a failed reload: answers %v from %v", words, pids)
	}

	// A good one replaces them; the old ones exit.
	writeFile(t, conf, fmt.Sprintf(workersConf, "worker_processes 2;", dir, addr, "two", ""))
	p.signal(syscall.SIGHUP)
	p.expect(`configuration reloaded`)
	pids, words = servedBy(t, addr, 40)
	if len(words) != 1 || !words["two"] || len(pids) != 2 {
		t.Fatalf("after the reload: answers %v from %v", words, pids)
	}
	for _, w := range workers {
		if pids[w] != 0 {
			t.Errorf("old worker %d served after the reload", w)
		}
		waitGone(t, w)
	}

	// SIGUSR1 reaches the master, which passes it on.
	p.signal(syscall.SIGUSR1)
	p.expect(`signal 10 \(SIGUSR1\) received, reopening logs`)

	// SIGQUIT stops the workers and the master, which removes its pid file.
	p.signal(syscall.SIGQUIT)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for w := range pids {
		waitGone(t, w)
	}
	if _, err := os.Stat(filepath.Join(dir, "sluice.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
}

// TestWorkerProcessesSharedState: a configuration with state nginx keeps
// in shared memory runs in one worker process, with as many processors
// as worker_processes says, and the log says why.
func TestWorkerProcessesSharedState(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	conf := filepath.Join(dir, "sluice.conf")
	writeFile(t, conf, fmt.Sprintf(workersConf, "worker_processes 2;", dir, addr, "one",
		"limit_conn_zone $binary_remote_addr zone=addr:1m;"))
	p := start(t, "-c", conf)
	p.expect(`one worker process with 2 processors serves: directive "limit_conn_zone" in ` + regexp.QuoteMeta(conf) + `:6 keeps state`)
	p.expect(`start worker process \d+$`)
	p.expect(`sluice/.* started`)
	if pids, _ := servedBy(t, addr, 20); len(pids) != 1 || pids[p.cmd.Process.Pid] != 0 {
		t.Fatalf("connections served by %v", pids)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestWorkerProcessesAddressInUse: as nginx, sluice does not start on an
// address another process listens on, although its workers' sockets
// share addresses among themselves.
func TestWorkerProcessesAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	conf := writeFile(t, filepath.Join(dir, "sluice.conf"), fmt.Sprintf(workersConf, "worker_processes 2;", dir, ln.Addr(), "one", ""))
	code, _, stderr := sluice(t, "-c", conf)
	if code != 1 || !strings.Contains(stderr, "bind() to "+ln.Addr().String()+" failed (98: Address already in use)") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestLocalConnectionsSteered: with two workers, the connections from
// this host to a stream address go to the worker that the CPU their
// client connected from selects, so that a client thread's connections
// share a worker and two CPUs reach two workers; those to an HTTP address
// spread over both workers from one CPU.
func TestLocalConnectionsSteered(t *testing.T) {
	var pair []int // two CPUs that select different workers (CPU mod 2)
	for _, c := range allowedCPUs() {
		if len(pair) == 0 || c%2 != pair[0]%2 {
			pair = append(pair, c)
		}
		if len(pair) == 2 {
			break
		}
	}
	if len(pair) < 2 || goruntime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	if err := steerable(); err != nil {
		t.Skipf("the kernel refuses a program on a socket group: %v", err)
	}
	dir := t.TempDir()
	saddr, haddr := freeAddr(t), freeAddr(t)
	conf := writeFile(t, filepath.Join(dir, "sluice.conf"), fmt.Sprintf(`worker_processes 2;
error_log stderr notice;
pid %s/sluice.pid;
events {}
stream { server { listen %s; return "stream $pid\n"; } }
http { access_log off; server { listen %s; return 200 "http $pid\n"; } }
`, dir, saddr, haddr))
	p := start(t, "-c", conf)
	p.expect(`start worker process \d+$`)
	p.expect(`start worker process \d+$`)
	p.expect(`sluice/.* started`)

	// pidOf reads the pid at the end of an answer.
	pidOf := func(answer string) int {
		f := strings.Fields(answer)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.Atoi(f[len(f)-1])
		return n
	}
	var served []int
	for _, cpu := range pair {
		pids := map[int]int{}
		for i := 0; i < 20; i++ {
			var answer string
			var err error
			onCPU(cpu, func() { answer, err = ask(saddr, "") })
			if err != nil || !strings.HasPrefix(answer, "stream ") {
				t.Fatalf("stream connection from CPU %d: %q, %v", cpu, answer, err)
			}
			pids[pidOf(answer)]++
		}
		if len(pids) != 1 {
			t.Fatalf("stream connections from CPU %d served by %v, not one worker", cpu, pids)
		}
		served = append(served, keysOf(pids)[0])
	}
	if served[0] == served[1] {
		t.Fatalf("CPUs %v both reached worker %d", pair, served[0])
	}

	pids := map[int]int{}
	for i := 0; i < 40; i++ {
		var answer string
		var err error
		onCPU(pair[0], func() { answer, err = ask(haddr, "GET / HTTP/1.0\r\n\r\n") })
		if err != nil || !strings.Contains(answer, "\r\n\r\nhttp ") {
			t.Fatalf("HTTP connection: %q, %v", answer, err)
		}
		pids[pidOf(answer)]++
	}
	if len(pids) != 2 {
		t.Fatalf("HTTP connections from one CPU served by %v, not both workers", pids)
	}
	p.signal(syscall.SIGQUIT)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
