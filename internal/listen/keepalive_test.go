//go:build linux

package listen

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// sockopts returns SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL and
// TCP_KEEPCNT of c.
func sockopts(t *testing.T, c *net.TCPConn) [4]int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v [4]int
	rc.Control(func(fd uintptr) {
		v[0], _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		v[1], _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		v[2], _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
		v[3], _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
	})
	return v
}

// TestKeepAlive: so_keepalive=on keeps the system's timers,
// idle:intvl:cnt sets those given, and without it SO_KEEPALIVE stays off.
func TestKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pair := func() *net.TCPConn {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		ac, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ac.Close() })
		return ac.(*net.TCPConn)
	}
	off := pair()
	off.SetKeepAlive(false)
	sys := sockopts(t, off)
	KeepAlive(off, "", 0, 0, 0)
	if v := sockopts(t, off); v[0] != 0 {
		t.Errorf("without so_keepalive: %v", v)
	}
	on := pair()
	on.SetKeepAlive(false)
	KeepAlive(on, "on", 0, 0, 0)
	if v := sockopts(t, on); v[0] != 1 || v[1] != sys[1] || v[2] != sys[2] || v[3] != sys[3] {
		t.Errorf("so_keepalive=on: %v, want on with the system's %v", v, sys[1:])
	}
	set := pair()
	KeepAlive(set, "on", 30*time.Second, 0, 3)
	if v := sockopts(t, set); v[0] != 1 || v[1] != 30 || v[2] != sys[2] || v[3] != 3 {
		t.Errorf("so_keepalive=30s::3: %v", v)
	}
}
