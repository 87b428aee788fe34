package balance

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const nginxBin = "/usr/sbin/nginx"

// backend is a TCP server that writes its own address and closes.
func backend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, addr)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return addr
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startNginx runs nginx in the foreground with the given stream block, waits
// until it accepts on probe (a connection that reaches an upstream, so do not
// probe a listener whose picks are counted) and stops it when the test ends.
func startNginx(t *testing.T, stream string, probe string) {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 512; }
stream {
%[2]s
}
`, dir, stream)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, nginxBin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		cancel()
	})
	// Wait until every listener accepts, or nginx exits, for 10s at most.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", probe, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s", err, stderr.String(), log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not listen on %s", probe)
		}
	}
}

// ask connects to addr from source address src and returns what the
// backend nginx chose wrote.
func ask(t *testing.T, src, addr string) string {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return string(b)
}

// TestNginxDifferential runs real nginx's stream proxy over Go backends and
// requires the balancer to choose the same backend for every connection:
// "hash $remote_addr consistent" and "hash $remote_addr" for 250 client
// addresses, and the weighted round robin sequence with a dead server.
func TestNginxDifferential(t *testing.T) {
	if _, err := os.Stat(nginxBin); err != nil {
		t.Skip("nginx not installed")
	}
	if testing.Short() {
		t.Skip("starts nginx")
	}
	var b []string
	for range 5 {
		b = append(b, backend(t))
	}
	dead := freeAddr(t)
	chashSrv := []Server{{Addr: b[0]}, {Addr: b[1], Weight: 2}, {Addr: b[2]}, {Addr: b[3], Weight: 3}, {Addr: b[4]}}
	hashSrv := []Server{{Addr: b[0], Weight: 2}, {Addr: b[1]}, {Addr: b[2], Weight: 3}, {Addr: b[3]}}
	rrSrv := []Server{{Addr: b[0], Weight: 5}, {Addr: dead, Weight: 2}, {Addr: b[1]}, {Addr: b[2]}}
	upstream := func(name, method string, srv []Server) string {
		var sb strings.Builder
		fmt.Fprintf(&sb, "upstream %s {\n%s\n", name, method)
		for _, s := range srv {
			fmt.Fprintf(&sb, "server %s weight=%d;\n", s.Addr, max(s.Weight, 1))
		}
		sb.WriteString("}\n")
		return sb.String()
	}
	lc, lh, lr := freeAddr(t), freeAddr(t), freeAddr(t)
	startNginx(t, upstream("ch", "hash $remote_addr consistent;", chashSrv)+
		upstream("h", "hash $remote_addr;", hashSrv)+
		upstream("rr", "", rrSrv)+
		fmt.Sprintf("server { listen %s; proxy_pass ch; }\nserver { listen %s; proxy_pass h; }\nserver { listen %s; proxy_pass rr; proxy_connect_timeout 2s; }\n", lc, lh, lr),
		lc) // nginx binds all listeners before serving: probing one suffices

	reg := NewRegistry(nil)
	clients := make([]string, 0, 250)
	for i := range 250 {
		clients = append(clients, fmt.Sprintf("127.0.%d.%d", 1+i%2, 1+i/2))
	}
	for _, tc := range []struct {
		name   string
		listen string
		srv    []Server
		cfg    Config
	}{
		{"hash consistent", lc, chashSrv, Config{Method: Hash, Consistent: true}},
		{"hash", lh, hashSrv, Config{Method: Hash}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := reg.Build(tc.name, tc.srv, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			used := map[string]int{}
			for _, ip := range clients {
				got := ask(t, ip, tc.listen)
				req := Request{Key: []byte(ip)}
				sel := pick(t, g, &req)
				sel.Done(Outcome{})
				if sel.Peer.Addr() != got {
					t.Fatalf("client %s: nginx chose %s, balance chose %s", ip, got, sel.Peer.Addr())
				}
				used[got]++
			}
			if len(used) < len(tc.srv) {
				t.Fatalf("only %d of %d servers used: %v", len(used), len(tc.srv), used)
			}
		})
	}
	t.Run("round robin with a dead server", func(t *testing.T) {
		g, err := reg.Build("rr", rrSrv, Config{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			got := ask(t, "", lr)
			var req Request
			var want string
			for {
				sel := pick(t, g, &req)
				if sel.Peer.Addr() == dead {
					sel.Done(Outcome{Failed: true})
					continue
				}
				sel.Done(Outcome{})
				want = sel.Peer.Addr()
				break
			}
			if got != want {
				t.Fatalf("connection %d: nginx chose %s, balance chose %s", i, got, want)
			}
		}
	})
}
