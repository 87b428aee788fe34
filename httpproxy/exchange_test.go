package httpproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// exchangePair returns an upstream connection to a loopback server whose
// accepted side is sent on the returned channel.
func exchangePair(t *testing.T) (*upConn, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(acc)
			return
		}
		t.Cleanup(func() { c.Close() })
		acc <- c
	}()
	d := net.Dialer{Timeout: 5 * time.Second, Control: startConnect}
	nc, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	tc := nc.(*net.TCPConn)
	rc, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	return &upConn{nc: nc, sock: tc, rc: rc}, acc
}

func TestExchangeWhole(t *testing.T) {
	uc, acc := exchangePair(t)
	srv := <-acc
	go func() {
		b := make([]byte, 64)
		if n, _ := srv.Read(b); n > 0 {
			srv.Write(append([]byte("got "), b[:n]...))
		}
	}()
	buf := make([]byte, 64)
	w, n, whole, err := uc.exchange([]byte("ping"), buf, false)
	if err != nil || !whole || w != 4 {
		t.Fatalf("exchange: written %d, whole %v, err %v", w, whole, err)
	}
	// the reply may come in parts: read the rest as the caller would
	for n < len("got ping") {
		m, err := uc.nc.Read(buf[n:])
		if err != nil {
			t.Fatal(err)
		}
		n += m
	}
	if string(buf[:n]) != "got ping" {
		t.Fatalf("read %q", buf[:n])
	}
}

func TestExchangeEOF(t *testing.T) {
	uc, acc := exchangePair(t)
	srv := <-acc
	go func() {
		b := make([]byte, 64)
		srv.Read(b)
		srv.Close()
	}()
	_, n, whole, err := uc.exchange([]byte("ping"), make([]byte, 64), false)
	if !whole || n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("exchange: n %d, whole %v, err %v; want EOF after a whole write", n, whole, err)
	}
}

func TestExchangeTimeout(t *testing.T) {
	uc, acc := exchangePair(t)
	<-acc // never answers
	uc.nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, _, whole, err := uc.exchange([]byte("ping"), make([]byte, 64), false)
	if !whole || !isTimeout(err) {
		t.Fatalf("exchange: whole %v, err %v; want a timeout", whole, err)
	}
}

// A request larger than the socket buffers goes out in part (the server
// reads nothing meanwhile); the caller writes the rest.
func TestExchangeShortWrite(t *testing.T) {
	uc, acc := exchangePair(t)
	srv := <-acc
	req := bytes.Repeat([]byte("x"), 64<<20)
	w, n, whole, err := uc.exchange(req, make([]byte, 64), false)
	if whole || err != nil || n != 0 || w <= 0 || w >= len(req) {
		t.Fatalf("exchange: written %d of %d, n %d, whole %v, err %v", w, len(req), n, whole, err)
	}
	got := make(chan int64, 1)
	go func() {
		k, _ := io.CopyN(io.Discard, srv, int64(len(req)))
		got <- k
	}()
	uc.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := uc.nc.Write(req[w:]); err != nil {
		t.Fatal(err)
	}
	if k := <-got; k != int64(len(req)) {
		t.Fatalf("server read %d bytes, want %d", k, len(req))
	}
}

func TestStartConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := net.Dialer{Timeout: 5 * time.Second, Control: startConnect}
	c, err := d.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Fatal("dial to a closed port succeeded")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial: %v; want connection refused", err)
	}
	if got := errText(err); got != "(111: Connection refused)" {
		t.Fatalf("errText = %q", got)
	}
}

func TestStartConnectIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	d := net.Dialer{Timeout: 5 * time.Second, Control: startConnect}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
