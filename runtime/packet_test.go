package runtime

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/config"
)

func freeUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// udpEcho answers every datagram with "TAG:DATA", repeated times copies.
func udpEcho(t *testing.T, tag string, copies int) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for i := 0; i < copies; i++ {
				pc.WriteTo([]byte(tag+":"+string(buf[:n])), from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return pc.LocalAddr().String()
}

// buildConf compiles a whole configuration text into a generation.
func buildConf(t *testing.T, text string) *Generation {
	t.Helper()
	file := filepath.Join(t.TempDir(), "sluice.conf")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{File: file})
	if err != nil {
		t.Fatal(err)
	}
	g, err := Build(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// ask sends msg from c and returns the datagrams received until want have
// come or the wait ends.
func ask(t *testing.T, c net.Conn, msg string, want int, wait time.Duration) []string {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	var got []string
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(wait))
	for len(got) < want {
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		got = append(got, string(buf[:n]))
	}
	return got
}

func udpClient(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUDPSocketSurvivesReload(t *testing.T) {
	one, two := udpEcho(t, "one", 1), udpEcho(t, "two", 1)
	addr := freeUDP(t)
	conf := `events {}
stream {
    server {
        listen %s udp;
        proxy_pass %s;
        proxy_timeout 1s;
    }
}`
	srv := NewServer(slog.New(slog.DiscardHandler))
	if err := srv.Apply(buildConf(t, fmt.Sprintf(conf, addr, one))); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background(), false)
	key := "udp " + addr
	before := srv.listeners[key]
	if before == nil {
		t.Fatalf("no udp listener in %v", srv.listeners)
	}
	old := udpClient(t, addr)
	if got := ask(t, old, "a", 1, waitUDP); strings.Join(got, ",") != "one:a" {
		t.Fatalf("before reload: %q", got)
	}
	if err := srv.Apply(buildConf(t, fmt.Sprintf(conf, addr, two))); err != nil {
		t.Fatal(err)
	}
	if srv.listeners[key] != before {
		t.Fatal("the UDP socket was replaced on reload")
	}
	// The session of the old client stays on the old configuration; a
	// new client gets the new one.
	if got := ask(t, old, "b", 1, waitUDP); strings.Join(got, ",") != "one:b" {
		t.Errorf("old session after reload: %q", got)
	}
	if got := ask(t, udpClient(t, addr), "c", 1, waitUDP); strings.Join(got, ",") != "two:c" {
		t.Errorf("new session after reload: %q", got)
	}
}

const waitUDP = 5 * time.Second

func TestUDPResponsesAndRequests(t *testing.T) {
	echo3 := udpEcho(t, "e", 3)
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	a, b, c := freeUDP(t), freeUDP(t), freeUDP(t)
	srv := NewServer(slog.New(slog.DiscardHandler))
	if err := srv.Apply(buildConf(t, fmt.Sprintf(`events {}
stream {
    log_format u '$protocol|$status|$remote_addr|$bytes_received|$bytes_sent|$upstream_addr|$upstream_bytes_sent|$upstream_bytes_received';
    access_log %s u;
    upstream e { server %s; }
    server { listen %s udp; proxy_pass e; proxy_responses 1; proxy_timeout 3s; }
    server { listen %s udp; proxy_pass e; proxy_responses 3; proxy_requests 1; proxy_timeout 3s; }
    server { listen %s udp; proxy_pass e; proxy_responses 5; proxy_timeout 200ms; }
}`, log, echo3, a, b, c))); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background(), false)
	lines := func(n int) []string {
		// The line is written when the session ends, after the answer.
		deadline := time.After(waitUDP)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			data, _ := os.ReadFile(log)
			l := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(l) >= n && l[0] != "" {
				return l
			}
			select {
			case <-deadline:
				return l
			case <-tick.C:
			}
		}
	}
	// proxy_responses 1: the session is done after the first answer; the
	// other two copies find no session and are not delivered.
	ca := udpClient(t, a)
	if got := ask(t, ca, "x", 3, 300*time.Millisecond); strings.Join(got, ",") != "e:x" {
		t.Errorf("responses 1: %q", got)
	}
	l := lines(1)
	if want := "UDP|200|127.0.0.1|1|3|" + echo3 + "|1|3"; len(l) != 1 || l[0] != want {
		t.Errorf("log %q, want %q", l, want)
	}
	// proxy_requests 1 + proxy_responses 3: each datagram is a session of
	// its own, all three answers come back.
	cb := udpClient(t, b)
	for _, m := range []string{"p", "q"} {
		if got := ask(t, cb, m, 3, waitUDP); strings.Join(got, ",") != "e:"+m+",e:"+m+",e:"+m {
			t.Errorf("requests 1: %q", got)
		}
	}
	if l := lines(3); len(l) != 3 || !strings.HasPrefix(l[2], "UDP|200|") {
		t.Errorf("log %q", l)
	}
	// 5 answers expected, 3 come: the timeout ends the session with 502.
	cc := udpClient(t, c)
	if got := ask(t, cc, "z", 3, waitUDP); len(got) != 3 {
		t.Errorf("timeout case: %q", got)
	}
	if l := lines(4); len(l) != 4 || !strings.HasPrefix(l[3], "UDP|502|") {
		t.Errorf("log %q", l)
	}
}

// TestUDPDNS sends a real DNS query with dig through sluice to dnsmasq.
func TestUDPDNS(t *testing.T) {
	need := func(name string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI", name)
			}
			t.Skipf("%s not installed", name)
		}
		return p
	}
	dnsmasq, dig := need("dnsmasq"), need("dig")
	dnsAddr := startDNSMasq(t, dnsmasq)
	front := freeUDP(t)
	srv := NewServer(slog.New(slog.DiscardHandler))
	if err := srv.Apply(buildConf(t, fmt.Sprintf(`events {}
stream {
    server { listen %s udp; proxy_pass %s; proxy_responses 1; proxy_timeout 2s; }
}`, front, dnsAddr))); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background(), false)
	host, fport, _ := net.SplitHostPort(front)
	var answer string
	for i := 0; i < 20 && answer == ""; i++ { // dnsmasq may still be starting
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		b, _ := exec.CommandContext(dctx, dig, "@"+host, "-p", fport, "+short", "+time=1", "+tries=1", "test.example").Output()
		dcancel()
		answer = strings.TrimSpace(string(b))
		if strings.Contains(answer, "timed out") {
			answer = ""
		}
	}
	if answer != "10.1.2.3" {
		t.Errorf("dig answered %q", answer)
	}
}

// startDNSMasq runs dnsmasq on a loopback port free for both UDP and TCP
// (dnsmasq binds both) and returns its address once it has started. Other
// tests running at the same time may take the port between the check and
// dnsmasq's bind: then it tries another port, a few times.
func startDNSMasq(t *testing.T, dnsmasq string) string {
	t.Helper()
	var last string
	for attempt := 0; attempt < 5; attempt++ {
		port := freeBothPorts(t)
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, dnsmasq, "--no-daemon", "--log-facility=-", "--port="+port,
			"--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
			"--address=/test.example/10.1.2.3", "--user="+currentUser())
		stderr, err := cmd.StderrPipe()
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		cmd.Stdout = cmd.Stderr
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		started := make(chan bool, 1)
		var out strings.Builder
		go func() {
			sc := bufio.NewScanner(stderr)
			ok := false
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
				if !ok && strings.Contains(sc.Text(), "started") {
					ok = true
					started <- true
				}
			}
			if !ok {
				started <- false
			}
		}()
		var up bool
		select {
		case up = <-started:
		case <-time.After(10 * time.Second):
		}
		if up {
			t.Cleanup(func() { cancel(); cmd.Wait() })
			return net.JoinHostPort("127.0.0.1", port)
		}
		cancel()
		cmd.Wait()
		last = out.String()
	}
	t.Fatalf("dnsmasq did not start: %s", last)
	return ""
}

// freeBothPorts returns a loopback port that is free for TCP and UDP.
func freeBothPorts(t *testing.T) string {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		pc, err := net.ListenPacket("udp", "127.0.0.1:"+port)
		l.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return ""
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}
