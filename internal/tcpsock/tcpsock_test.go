//go:build linux

package tcpsock

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

func listen(t *testing.T) (*net.TCPListener, *Acceptor) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAcceptor(l.(*net.TCPListener))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); l.Close() })
	return l.(*net.TCPListener), a
}

// pair dials a listener made by listen and accepts the connection: the
// client's end and the accepted Conn. The client's end closes when the
// test ends.
func pair(t *testing.T) (l *net.TCPListener, cli net.Conn, c *Conn) {
	t.Helper()
	l, a := listen(t)
	cli, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	if c, err = a.Accept(); err != nil {
		t.Fatal(err)
	}
	return l, cli, c
}

// A connection accepted by an Acceptor carries both addresses, reads,
// writes, shuts its side down and closes as a *net.TCPConn does.
func TestAcceptedConn(t *testing.T) {
	l, cli, c := pair(t)
	defer c.Close()
	if got, want := c.RemoteAddr().String(), cli.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr %s, want %s", got, want)
	}
	if got, want := c.LocalAddr().String(), l.Addr().String(); got != want {
		t.Errorf("LocalAddr %s, want %s", got, want)
	}
	if v := noDelay(t, c); v != 1 {
		t.Errorf("TCP_NODELAY %d on an accepted connection, want 1 (as the net package)", v)
	}
	if err := c.SetNoDelay(false); err != nil {
		t.Errorf("SetNoDelay: %v", err)
	}
	if v := noDelay(t, c); v != 0 {
		t.Errorf("TCP_NODELAY %d after SetNoDelay(false)", v)
	}
	if err := c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: -1, Count: 3}); err != nil {
		t.Errorf("SetKeepAliveConfig: %v", err)
	}
	go cli.Write([]byte("ping"))
	buf := make([]byte, 16)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("Read %q, %v", buf[:n], err)
	}
	if _, err := c.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(cli)
	if err != nil || string(got) != "pong" {
		t.Fatalf("client read %q, %v; want pong then the end", got, err)
	}
	// a read deadline in the past fails at once
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
		t.Fatalf("Read past the deadline: %v", err)
	}
}

// noDelay returns c's TCP_NODELAY.
func noDelay(t *testing.T, c *Conn) int {
	v := -1
	c.FD().Control(func(fd uintptr) {
		var err error
		if v, err = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY); err != nil {
			t.Error(err)
		}
	})
	return v
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// SetLinger(0) makes Close reset the connection.
func TestLingerReset(t *testing.T) {
	_, cli, c := pair(t)
	c.SetLinger(0)
	c.Close()
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := cli.Read(make([]byte, 1)); err == nil || err == io.EOF || isTimeout(err) {
		t.Fatalf("client read: %v, want a reset", err)
	}
}

// Closing the Acceptor ends an Accept that waits.
func TestAcceptorClose(t *testing.T) {
	_, a := listen(t)
	done := make(chan error)
	go func() {
		_, err := a.Accept()
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	a.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}
