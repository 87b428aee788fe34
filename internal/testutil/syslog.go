package testutil

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// Datagrams is a syslog receiver for tests: a UDP socket on 127.0.0.1 or
// a unix datagram socket, whose datagrams are collected until the test
// ends.
type Datagrams struct {
	// Addr is the address to name in server=: "127.0.0.1:PORT" or
	// "unix:/path".
	Addr string
	pc   net.PacketConn
	c    chan string
}

// UDPDatagrams starts a receiver on a free UDP port of 127.0.0.1.
func UDPDatagrams(t testing.TB) *Datagrams {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startDatagrams(t, pc, pc.LocalAddr().String())
}

// UnixDatagrams starts a receiver on a unix datagram socket in a
// temporary directory.
func UnixDatagrams(t testing.TB) *Datagrams {
	t.Helper()
	return UnixDatagramsAt(t, filepath.Join(t.TempDir(), "log.sock"))
}

// UnixDatagramsAt starts a receiver on a unix datagram socket at path.
func UnixDatagramsAt(t testing.TB, path string) *Datagrams {
	t.Helper()
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	return startDatagrams(t, pc, "unix:"+path)
}

func startDatagrams(t testing.TB, pc net.PacketConn, addr string) *Datagrams {
	d := &Datagrams{Addr: addr, pc: pc, c: make(chan string, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1<<17)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case d.c <- string(buf[:n]):
			default: // the test stopped reading; drop
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return d
}

// Close stops the receiver now.
func (d *Datagrams) Close() { d.pc.Close() }

// Next returns the next datagram, failing the test after timeout.
func (d *Datagrams) Next(t testing.TB, timeout time.Duration) string {
	t.Helper()
	select {
	case s := <-d.c:
		return s
	case <-time.After(timeout):
		t.Fatalf("no datagram at %s within %v", d.Addr, timeout)
		return ""
	}
}

// Wait returns the next datagram, or false after timeout.
func (d *Datagrams) Wait(timeout time.Duration) (string, bool) {
	select {
	case s := <-d.c:
		return s, true
	case <-time.After(timeout):
		return "", false
	}
}

// Pending returns the datagrams received and not read yet.
func (d *Datagrams) Pending() []string {
	var out []string
	for {
		select {
		case s := <-d.c:
			out = append(out, s)
		default:
			return out
		}
	}
}
