package runtime

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// udpQueue is how many datagrams a session may have waiting to be read;
// beyond it new ones are dropped, as a full socket buffer would.
const udpQueue = 64

// packetListener turns a UDP socket into a net.Listener of sessions, as
// nginx's stream module does for "listen ... udp": datagrams are grouped
// by the client's address and port, and Accept returns a connection for
// each client not yet in a session. The socket belongs to the listener and
// outlives generations: sessions already running keep their datagrams,
// and new clients reach the handler of the current generation.
//
// On a wildcard address (0.0.0.0 or [::]) the listener learns the address
// each datagram was sent to (IP_PKTINFO, IPV6_RECVPKTINFO): a session is
// a client and that address, as in nginx, its LocalAddr is that address
// ($server_addr), and its replies leave from it, so that a client that
// sent to 127.0.0.2 gets its answer from 127.0.0.2.
type packetListener struct {
	pc *net.UDPConn

	// pktinfo is set on a wildcard address whose socket reports the
	// destination of each datagram; v6 when the socket is AF_INET6.
	pktinfo, v6 bool

	mu       sync.Mutex
	sessions map[sessionKey]*PacketConn
	buf      []byte
	oob      []byte
}

// sessionKey identifies a UDP session: the client, and the address it
// sent to when the listener is on a wildcard address.
type sessionKey struct {
	remote netip.AddrPort
	local  netip.Addr
}

func newPacketListener(pc *net.UDPConn) *packetListener {
	l := &packetListener{pc: pc, sessions: map[sessionKey]*PacketConn{}, buf: make([]byte, 65536)}
	if a, ok := pc.LocalAddr().(*net.UDPAddr); ok && a.IP.IsUnspecified() {
		l.pktinfo, l.v6 = enablePktinfo(pc)
		if l.pktinfo {
			l.oob = make([]byte, 128)
		}
	}
	return l
}

// Accept reads datagrams until one comes from a client without a session,
// and returns that client's new session.
func (l *packetListener) Accept() (net.Conn, error) {
	for {
		var n int
		var from netip.AddrPort
		var err error
		var key sessionKey
		if l.pktinfo {
			var oobn int
			n, oobn, _, from, err = l.pc.ReadMsgUDPAddrPort(l.buf, l.oob)
			if err == nil {
				key.local = pktinfoDst(l.oob[:oobn])
			}
		} else {
			n, from, err = l.pc.ReadFromUDPAddrPort(l.buf)
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return nil, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		key.remote = from
		d := append([]byte(nil), l.buf[:n]...)
		l.mu.Lock()
		c := l.sessions[key]
		isNew := c == nil
		if isNew {
			c = &PacketConn{l: l, remote: from, local: key.local, queue: make(chan []byte, udpQueue), closed: make(chan struct{})}
			if key.local.IsValid() {
				c.oob = pktinfoSrc(key.local, l.v6)
			}
			l.sessions[key] = c
		}
		l.mu.Unlock()
		select {
		case c.queue <- d:
		default: // queue full: dropped
		}
		if isNew {
			return c, nil
		}
	}
}

func (l *packetListener) Close() error   { return l.pc.Close() }
func (l *packetListener) Addr() net.Addr { return l.pc.LocalAddr() }

func (l *packetListener) detach(c *PacketConn) {
	l.mu.Lock()
	key := sessionKey{c.remote, c.local}
	if l.sessions[key] == c {
		delete(l.sessions, key)
	}
	l.mu.Unlock()
}

// PacketConn is one UDP session of a "listen ... udp" socket: each Read
// returns one datagram from the client (cut to the buffer's size), each
// Write sends one datagram to it. It is safe for concurrent use.
type PacketConn struct {
	l      *packetListener
	remote netip.AddrPort
	local  netip.Addr // the address the client sent to, on a wildcard listener
	oob    []byte     // the control message that sends from local
	queue  chan []byte
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	deadline time.Time
}

// Read returns the next datagram of the client.
func (c *PacketConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	d := c.deadline
	c.mu.Unlock()
	var timeout <-chan time.Time
	if !d.IsZero() {
		t := time.NewTimer(time.Until(d))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case p := <-c.queue:
		return copy(b, p), nil
	case <-c.closed:
		return 0, net.ErrClosed
	case <-timeout:
		return 0, os.ErrDeadlineExceeded
	}
}

// Write sends b to the client as one datagram.
func (c *PacketConn) Write(b []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	if c.oob != nil {
		n, _, err := c.l.pc.WriteMsgUDPAddrPort(b, c.oob, c.remote)
		return n, err
	}
	return c.l.pc.WriteToUDPAddrPort(b, c.remote)
}

// Detach ends the binding of the client's address to this session: its
// next datagrams start a new session (nginx's proxy_requests). The
// session itself goes on.
func (c *PacketConn) Detach() { c.l.detach(c) }

// Close ends the session; datagrams still queued are dropped.
func (c *PacketConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.l.detach(c)
	})
	return nil
}

// LocalAddr returns the address the client sent to: the address of the
// listening socket, or, on a wildcard address, the datagrams' destination.
func (c *PacketConn) LocalAddr() net.Addr {
	a := c.l.pc.LocalAddr()
	if ua, ok := a.(*net.UDPAddr); ok && c.local.IsValid() {
		return &net.UDPAddr{IP: c.local.AsSlice(), Port: ua.Port}
	}
	return a
}

// RemoteAddr returns the client's address.
func (c *PacketConn) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(c.remote) }

// SetDeadline sets the read deadline; writes do not block.
func (c *PacketConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline bounds the Reads that start after it.
func (c *PacketConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline does nothing: writes of datagrams do not block.
func (c *PacketConn) SetWriteDeadline(time.Time) error { return nil }
