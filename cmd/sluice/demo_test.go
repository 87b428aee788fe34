package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ask sends msg on a new connection and returns the whole answer.
func ask(addr, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// waitDial waits until addr accepts connections.
func waitDial(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never accepted connections: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond) // polling a port the child binds; no event to wait on
	}
}

// outProc is a running sluice whose stdout is read line by line.
type outProc struct {
	cmd   *exec.Cmd
	lines chan string
}

func startOut(t *testing.T, args ...string) *outProc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &outProc{cmd: cmd, lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return p
}

func (p *outProc) expect(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("stdout closed before %q", re)
			}
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-deadline:
			t.Fatalf("no stdout line matching %q", re)
		}
	}
}

func TestDemoSeedSequence(t *testing.T) {
	listen, b1, b2 := freeAddr(t), freeAddr(t), freeAddr(t)
	hlisten, h1, h2 := freeAddr(t), freeAddr(t), freeAddr(t)
	p := startOut(t, "demo", "-listen", listen, "-backends", b1+","+b2, "-http-listen", hlisten, "-http-backends", h1+","+h2)
	p.expect(t, `^# each connection and request is logged below`)
	_, port1, _ := net.SplitHostPort(b1)
	_, port2, _ := net.SplitHostPort(b2)
	var got []string
	for _, m := range []string{"A", "B", "C", "D"} {
		resp, err := ask(listen, "Inference Request "+m+"\n")
		if err != nil {
			t.Fatal(err)
		}
		sm := regexp.MustCompile(`^\[Server (\d+)\] Received: Inference Request ` + m + `\. Time: \d+\.\d+$`).FindStringSubmatch(resp)
		if sm == nil {
			t.Fatalf("response %q", resp)
		}
		got = append(got, sm[1])
	}
	if want := []string{port1, port1, port2, port1}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("backends %v, want %v (nginx's smooth weighted round robin, 3:1)", got, want)
	}
	seen := map[string]int{}
	for i := 0; i < 4; i++ {
		m := p.expect(t, `^127\.0\.0\.1:\d+ -> (127\.0\.0\.1:\d+) status=200 in=20 out=\d+ time=\d+\.\d{3}$`)
		seen[m[1]]++
	}
	if seen[b1] != 3 || seen[b2] != 1 {
		t.Errorf("access log backends %v", seen)
	}

	// the HTTP part: least_conn over two JSON APIs, the seed's log format
	// and a live count per backend
	for i, req := range []struct{ method, path, body, want string }{
		{"GET", "/", "", `"message":"Response from: `},
		{"POST", "/chat", `{"message": "hi"}`, `"response":"Processed by chat API: HI"`},
		{"POST", "/completions", `{"prompt": "Hello world"}`, `"completions":[`},
		{"POST", "/completions", `{"prompt": "Hi", "stream": true}`, `data: [DONE]`},
	} {
		hreq, _ := http.NewRequest(req.method, "http://"+hlisten+req.path, strings.NewReader(req.body))
		resp, err := http.DefaultClient.Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), req.want) {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if up := resp.Header.Get("X-Upstream"); up != h1 && up != h2 {
			t.Errorf("request %d: X-Upstream %q", i, up)
		}
		p.expect(t, `^127\.0\.0\.1 - - \[.+\] "`+req.method+` `+regexp.QuoteMeta(req.path)+` HTTP/1\.1" 200 \d+ "-" "Go-http-client/1\.1" "-" to: 127\.0\.0\.1:\d+$`)
	}
	p.expect(t, `^\[requests per backend\] `+regexp.QuoteMeta(h1)+`: \d+ `+regexp.QuoteMeta(h2)+`: \d+$`)

	// the API and the dashboard show the upstreams
	resp, err := http.Get("http://" + hlisten + "/api/9/http/upstreams/backend")
	if err != nil {
		t.Fatal(err)
	}
	var ups struct {
		Peers []struct{ Server, State string }
	}
	err = json.NewDecoder(resp.Body).Decode(&ups)
	resp.Body.Close()
	if err != nil || len(ups.Peers) != 2 || ups.Peers[0].Server != h1 || ups.Peers[1].Server != h2 || ups.Peers[0].State != "up" {
		t.Errorf("API: %+v %v", ups, err)
	}
	resp, err = http.Get("http://" + hlisten + "/dashboard.html")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "/api/") {
		t.Errorf("dashboard: %d %.200s", resp.StatusCode, page)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("demo exit: %v", err)
	}
}

func TestNoConfigRunsDemo(t *testing.T) {
	dir := t.TempDir()
	p := startOut(t, "-p", dir)
	p.expect(t, `no configuration file given and conf/sluice\.conf not found: running the built-in demo`)
}

const seedConf = `error_log stderr notice;
pid %[1]s/sluice.pid;
events {}
stream {
    upstream inference_tcp_backends {
        %[3]s
    }
    server {
        listen %[2]s;
        proxy_pass inference_tcp_backends;
        proxy_timeout 30s;
        proxy_connect_timeout 5s;
    }
}
`

// nameServer answers every connection with its name, then echoes.
func nameServer(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, name+"\n")
		io.Copy(c, c)
	})
	return ln.Addr().String()
}

func TestSeedScenarioFromConfig(t *testing.T) {
	b1, b2 := nameServer(t, "8001"), nameServer(t, "8002")
	dir := t.TempDir()
	listen := freeAddr(t)
	conf := writeFile(t, filepath.Join(dir, "sluice.conf"), fmt.Sprintf(seedConf, dir, listen,
		"server "+b1+" weight=3;\n        server "+b2+";"))
	p := start(t, "-c", conf)
	p.expect(`sluice/.* started`)
	var got []string
	for i := 0; i < 4; i++ {
		c, err := net.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		l, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSpace(l))
	}
	if strings.Join(got, " ") != "8001 8001 8002 8001" {
		t.Errorf("sequence %v", got)
	}
}

// TestReloadUnderLoad keeps 32 clients opening connections through sluice
// while SIGHUP swaps the upstream list: no connection may fail, the
// connections open before the reload keep working, and every connection
// opened after the reload reaches the new list.
func TestReloadUnderLoad(t *testing.T) { reloadUnderLoad(t, "") }

// TestReloadUnderLoadWorkers is TestReloadUnderLoad with worker
// processes: the reload starts new workers and retires the old ones.
func TestReloadUnderLoadWorkers(t *testing.T) { reloadUnderLoad(t, "worker_processes 2;\n") }

// reloadUnderLoad runs TestReloadUnderLoad with main, main-context
// directives, before seedConf.
func reloadUnderLoad(t *testing.T, main string) {
	oldB, newB := nameServer(t, "old"), nameServer(t, "new")
	dir := t.TempDir()
	listen := freeAddr(t)
	conf := filepath.Join(dir, "sluice.conf")
	writeFile(t, conf, main+fmt.Sprintf(seedConf, dir, listen, "server "+oldB+";"))
	p := start(t, "-c", conf)
	p.expect(`sluice/.* started`)

	// Established sessions that live across the reload.
	var kept []net.Conn
	for i := 0; i < 4; i++ {
		c, err := net.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		if l, _ := r.ReadString('\n'); l != "old\n" {
			t.Fatalf("kept connection reached %q", l)
		}
		kept = append(kept, &bufConn{Conn: c, r: r})
	}

	var (
		failures  atomic.Int64
		total     atomic.Int64
		reloaded  atomic.Bool
		staleNew  atomic.Int64 // started after the reload, reached the old list
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		firstErrs = make(chan error, 32)
	)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := reloaded.Load()
				c, err := net.Dial("tcp", listen)
				if err == nil {
					c.SetDeadline(time.Now().Add(10 * time.Second))
					r := bufio.NewReader(c)
					var name, echo string
					name, err = r.ReadString('\n')
					if err == nil {
						_, err = io.WriteString(c, "ping\n")
					}
					if err == nil {
						echo, err = r.ReadString('\n')
					}
					if err == nil && echo != "ping\n" {
						err = fmt.Errorf("echo %q", echo)
					}
					if err == nil && after && name != "new\n" {
						staleNew.Add(1)
					}
					c.Close()
				}
				total.Add(1)
				if err != nil {
					failures.Add(1)
					select {
					case firstErrs <- err:
					default:
					}
				}
			}
		}()
	}
	// Let the load run, reload with a new list, let it run again.
	waitCount := func(n int64) {
		deadline := time.Now().Add(20 * time.Second)
		for total.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d connections completed", total.Load())
			}
			time.Sleep(5 * time.Millisecond) // waiting on the clients' progress counter
		}
	}
	waitCount(500)
	writeFile(t, conf, main+fmt.Sprintf(seedConf, dir, listen, "server "+newB+";"))
	p.signal(syscall.SIGHUP)
	p.expect(`configuration reloaded`)
	reloaded.Store(true)
	base := total.Load()
	waitCount(base + 500)
	close(stop)
	wg.Wait()

	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d connections failed, first: %v", n, total.Load(), <-firstErrs)
	}
	if n := staleNew.Load(); n > 0 {
		t.Errorf("%d connections opened after the reload reached the old upstream", n)
	}
	for i, c := range kept {
		io.WriteString(c, "still here\n")
		if l, err := c.(*bufConn).r.ReadString('\n'); err != nil || l != "still here\n" {
			t.Errorf("established connection %d after reload: %q, %v", i, l, err)
		}
	}
	t.Logf("%d connections, 0 failed", total.Load())
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}
