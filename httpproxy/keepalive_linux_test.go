//go:build linux

package httpproxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// TestListenSoKeepalive: so_keepalive=idle:intvl:cnt on an http listen
// sets the accepted connection's keepalive timers; without it
// SO_KEEPALIVE stays off.
func TestListenSoKeepalive(t *testing.T) {
	dir := t.TempDir()
	b, err := Build(loadHTTP(t, dir, `events {} http { access_log off;
		server { listen 127.0.0.1:18080 so_keepalive=30s:10s:3; listen 127.0.0.1:18081; return 200 "ok"; } }`),
		Options{Registry: balance.NewRegistry(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range b.Closers {
			c()
		}
	}()
	for _, l := range b.Listeners {
		lc := net.ListenConfig{KeepAlive: -1} // as sluice's listeners
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cc, err := net.DialTimeout("tcp", ln.Addr().String(), waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ac, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { l.Handler.ServeConn(context.Background(), ac); close(done) }()
		cc.SetDeadline(time.Now().Add(waitLimit))
		io.WriteString(cc, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if _, body, err := readResponse(bufio.NewReader(cc), false); err != nil || body != "ok" {
			t.Errorf("%s: %q, %v", l.Address, body, err)
		}
		var v [4]int
		rc, _ := ac.(*net.TCPConn).SyscallConn()
		rc.Control(func(fd uintptr) {
			v[0], _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
			v[1], _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
			v[2], _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
			v[3], _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
		})
		cc.Close()
		<-done
		want := [4]int{1, 30, 10, 3}
		if l.Address == "127.0.0.1:18081" {
			want = [4]int{0, v[1], v[2], v[3]}
		}
		if v != want {
			t.Errorf("%s: SO_KEEPALIVE, idle, intvl, cnt = %v, want %v", l.Address, v, want)
		}
	}
}
