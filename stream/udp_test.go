package stream

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/proxyproto"
)

// udpSessions is a net.Listener of UDP sessions for tests, as the
// runtime's: datagrams are grouped by the client's address.
type udpSessions struct {
	pc       *net.UDPConn
	mu       sync.Mutex
	sessions map[netip.AddrPort]*udpSessionConn
}

func listenUDPSessions(t *testing.T, addr string) *udpSessions {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return &udpSessions{pc: pc.(*net.UDPConn), sessions: map[netip.AddrPort]*udpSessionConn{}}
}

func (l *udpSessions) Accept() (net.Conn, error) {
	buf := make([]byte, 65536)
	for {
		n, from, err := l.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		c := l.sessions[from]
		isNew := c == nil
		if isNew {
			c = &udpSessionConn{l: l, remote: from, queue: make(chan []byte, 16), closed: make(chan struct{})}
			l.sessions[from] = c
		}
		l.mu.Unlock()
		select {
		case c.queue <- append([]byte(nil), buf[:n]...):
		default:
		}
		if isNew {
			return c, nil
		}
	}
}

func (l *udpSessions) Close() error   { return l.pc.Close() }
func (l *udpSessions) Addr() net.Addr { return l.pc.LocalAddr() }

type udpSessionConn struct {
	l      *udpSessions
	remote netip.AddrPort
	queue  chan []byte
	closed chan struct{}
	once   sync.Once
}

func (c *udpSessionConn) Read(b []byte) (int, error) {
	select {
	case p := <-c.queue:
		return copy(b, p), nil
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

func (c *udpSessionConn) Write(b []byte) (int, error) {
	return c.l.pc.WriteToUDPAddrPort(b, c.remote)
}

func (c *udpSessionConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.l.mu.Lock()
		delete(c.l.sessions, c.remote)
		c.l.mu.Unlock()
	})
	return nil
}

func (c *udpSessionConn) LocalAddr() net.Addr              { return c.l.pc.LocalAddr() }
func (c *udpSessionConn) RemoteAddr() net.Addr             { return net.UDPAddrFromAddrPort(c.remote) }
func (c *udpSessionConn) SetDeadline(time.Time) error      { return nil }
func (c *udpSessionConn) SetReadDeadline(time.Time) error  { return nil }
func (c *udpSessionConn) SetWriteDeadline(time.Time) error { return nil }

// udpBackend answers each datagram with answer(datagram); the datagrams
// it received are sent on got.
type udpBackend struct {
	pc  net.PacketConn
	got chan []byte
	wg  sync.WaitGroup
}

func startUDPBackend(t *testing.T, answer func([]byte) []byte) *udpBackend {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &udpBackend{pc: pc, got: make(chan []byte, 100)}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			d := append([]byte(nil), buf[:n]...)
			select {
			case b.got <- d:
			default:
			}
			pc.WriteTo(answer(d), from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		b.wg.Wait()
	})
	return b
}

func (b *udpBackend) addr() string { return b.pc.LocalAddr().String() }

// deadUDPAddr returns a loopback UDP address nothing listens on: a
// datagram sent there draws an ICMP port unreachable.
func deadUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := pc.LocalAddr().String()
	pc.Close()
	return a
}

// udpAsk sends msg from a new socket to addr and returns the answer.
func udpAsk(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return string(buf[:n])
}

func TestUDPNextUpstreamOnRefused(t *testing.T) {
	cases := []struct {
		name     string
		extra    string // directives of the server block
		servers  int    // dead servers before the live one
		wantOK   bool
		wantAddr int // addresses in $upstream_addr
	}{
		{"next server answers", "", 1, true, 2},
		{"two refuse, third answers", "", 2, true, 3},
		{"proxy_next_upstream off", "proxy_next_upstream off;", 1, false, 1},
		{"tries 1", "proxy_next_upstream_tries 1;", 1, false, 1},
		{"tries 2 of 3", "proxy_next_upstream_tries 2;", 2, false, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			live := startUDPBackend(t, func(d []byte) []byte { return append([]byte("live:"), d...) })
			var servers, addrs []string
			for range tc.servers {
				a := deadUDPAddr(t)
				servers = append(servers, "server "+a+";")
				addrs = append(addrs, a)
			}
			servers = append(servers, "server "+live.addr()+";")
			addrs = append(addrs, live.addr())
			h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    upstream dns { %s }
    server {
        listen 127.0.0.1:5353 udp;
        proxy_pass dns;
        proxy_responses 1;
        proxy_timeout 1s;
        %s
    }
}`, logFormat, strings.Join(servers, " "), tc.extra), nil)
			c, err := net.Dial("udp", h.addr["127.0.0.1:5353"])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(waitLimit))
			c.Write([]byte("query"))
			h.waitSessions(1)
			buf := make([]byte, 100)
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, rerr := c.Read(buf)
			lines := h.logLines()
			if len(lines) != 1 {
				t.Fatalf("log lines %q", lines)
			}
			l := lines[0]
			if tc.wantOK {
				if rerr != nil || string(buf[:n]) != "live:query" {
					t.Fatalf("answer %q, %v", buf[:n], rerr)
				}
				if field(l, 0) != "200" {
					t.Errorf("status in %q", l)
				}
			} else {
				if rerr == nil {
					t.Fatalf("answered %q", buf[:n])
				}
				if field(l, 0) != "502" {
					t.Errorf("status in %q", l)
				}
			}
			if want := strings.Join(addrs[:tc.wantAddr], ", "); field(l, 1) != want {
				t.Errorf("$upstream_addr %q, want %q", field(l, 1), want)
			}
			// The refused tries sent the datagram and received nothing.
			sent := strings.Split(field(l, 10), ", ")
			recvd := strings.Split(field(l, 11), ", ")
			if len(sent) != tc.wantAddr || len(recvd) != tc.wantAddr {
				t.Fatalf("per-try bytes %q %q", sent, recvd)
			}
			for i := range tc.wantAddr {
				wantRecvd := "0"
				if tc.wantOK && i == tc.wantAddr-1 {
					wantRecvd = "10"
				}
				if sent[i] != "5" || recvd[i] != wantRecvd {
					t.Errorf("try %d: sent %s received %s", i, sent[i], recvd[i])
				}
			}
			if field(l, 3) != "5" || field(l, 4) != "UDP" {
				t.Errorf("line %q", l)
			}
			if !strings.Contains(h.errs.String(), "(111: Connection refused)") {
				t.Errorf("error log: %s", h.errs.String())
			}
		})
	}
}

func TestUDPProxyProtocol(t *testing.T) {
	// The backend reads the header at the front of each datagram that has
	// one and answers with the source it names and the payload.
	live := startUDPBackend(t, func(d []byte) []byte {
		if !bytes.HasPrefix(d, []byte("PROXY ")) {
			return append([]byte("raw|"), d...)
		}
		br := bufio.NewReader(bytes.NewReader(d))
		hdr, err := proxyproto.Read(br)
		if err != nil {
			return []byte("bad header: " + err.Error())
		}
		rest := make([]byte, br.Buffered())
		br.Read(rest)
		return []byte(fmt.Sprintf("%s|%s|%s|%s", hdr.Transport, hdr.Source, hdr.Destination, rest))
	})
	dead := deadUDPAddr(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    upstream u { server %s; server %s; }
    server {
        listen 127.0.0.1:5353 udp;
        proxy_pass u;
        proxy_protocol on;
        proxy_responses 1;
        proxy_requests 2;
        proxy_timeout 2s;
    }
}`, logFormat, dead, live.addr()), nil)
	c, err := net.Dial("udp", h.addr["127.0.0.1:5353"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 1000)
	// The first datagram carries the header, to the server that refuses
	// it and again to the next; the second datagram goes without.
	for i, want := range []string{
		fmt.Sprintf("TCP4|%s|%s|first", c.LocalAddr(), h.addr["127.0.0.1:5353"]),
		"raw|second",
	} {
		c.Write([]byte([]string{"first", "second"}[i]))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != want {
			t.Errorf("answer %d %q, want %q", i, buf[:n], want)
		}
	}
	h.waitSessions(1)
	lines := h.logLines()
	if len(lines) != 1 {
		t.Fatalf("log %q", lines)
	}
	hdrLen := len(fmt.Sprintf("PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n", c.LocalAddr().(*net.UDPAddr).Port, c.RemoteAddr().(*net.UDPAddr).Port))
	if want := fmt.Sprintf("%d, %d", hdrLen+5, hdrLen+5+6); field(lines[0], 10) != want {
		t.Errorf("$upstream_bytes_sent %q, want %q", field(lines[0], 10), want)
	}
	if field(lines[0], 0) != "200" || field(lines[0], 3) != "11" {
		t.Errorf("line %q", lines[0])
	}
}
