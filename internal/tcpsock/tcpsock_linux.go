//go:build linux

// Package tcpsock is an accepted TCP connection whose socket is
// registered with the runtime's poller through rtpoll instead of the net
// package. Besides costing no os-level file and no finalizer, it lets a
// reader that knows its last read emptied the socket wait for the next
// bytes without first making a read(2) that can only fail with EAGAIN
// (rtpoll.FD.ReadDrained), as an nginx worker waits for its next event:
// on a keep-alive connection that is one system call fewer per request.
//
// A Conn is a net.Conn with the methods of *net.TCPConn the proxies use
// (SetNoDelay, SetLinger, SetKeepAliveConfig, CloseWrite); its
// SyscallConn is the rtpoll.FD itself.
package tcpsock

import (
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	sockets "github.com/sluicelb/sluice/internal/listen"
	"github.com/sluicelb/sluice/internal/rtpoll"
)

// Supported says whether Accept can be used on this platform.
const Supported = true

// Conn is an accepted TCP connection.
type Conn struct {
	fd     rtpoll.FD
	remote netip.AddrPort

	localOnce sync.Once
	local     net.Addr

	// The read and write callbacks' state, bound at their first use.
	rfn, wfn   func(fd uintptr) bool
	rbuf, wbuf []byte
	rn, wn     int
	rerr, werr syscall.Errno
}

// Acceptor accepts the connections of a TCP listener as Conns. It
// waits on a duplicate of the listener's socket registered with rtpoll,
// since the listener's own raw connection cannot wait; the listener's
// registration sees the same events and does nothing with them.
type Acceptor struct {
	fd rtpoll.FD
}

// NewAcceptor returns an Acceptor for tl; Close it when tl is closed.
func NewAcceptor(tl *net.TCPListener) (*Acceptor, error) {
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = sockets.DupCloexec(int(fd))
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	a := &Acceptor{}
	if err := a.fd.Open(nfd); err != nil {
		syscall.Close(nfd)
		return nil, err
	}
	return a, nil
}

// Close closes the duplicate: an Accept under way returns net.ErrClosed.
func (a *Acceptor) Close() error { return a.fd.Close() }

// Accept waits for a connection and accepts it. It returns net.ErrClosed
// once the Acceptor is closed, or the accept4(2) error.
func (a *Acceptor) Accept() (*Conn, error) {
	var nfd int
	var sa syscall.Sockaddr
	var aerr error
	err := a.fd.Read(func(fd uintptr) bool {
		for {
			nfd, sa, aerr = syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			switch aerr {
			case syscall.EINTR, syscall.ECONNABORTED:
				continue // as the net package: the next one
			case syscall.EAGAIN:
				return false
			}
			return true
		}
	})
	if err != nil {
		return nil, err
	}
	if aerr != nil {
		return nil, os.NewSyscallError("accept4", aerr)
	}
	var remote netip.AddrPort
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		remote = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *syscall.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a = a.WithZone(ifi.Name)
			}
		}
		remote = netip.AddrPortFrom(a, uint16(sa.Port))
	}
	c := &Conn{}
	if err := c.Init(nfd, remote); err != nil {
		syscall.Close(nfd)
		return nil, err
	}
	// TCP_NODELAY on, as the net package sets it on the connections it
	// accepts (and nginx's tcp_nodelay on): without it, a small write that
	// follows another (an HTTP/2 frame, a streamed chunk) waits for the
	// peer's delayed acknowledgement, up to 40 ms.
	c.SetNoDelay(true)
	return c, nil
}

// Init makes c the connection of fd, a connected (or connecting)
// non-blocking TCP socket to remote, and registers it with the poller.
// On an error fd is left open, for the caller to close.
func (c *Conn) Init(fd int, remote netip.AddrPort) error {
	c.remote = remote
	return c.fd.Open(fd)
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

func (c *Conn) readStep(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.rbuf[0])), uintptr(len(c.rbuf)), 0, 0, 0)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.rn, c.rerr = int(n), e
		return true
	}
}

func (c *Conn) writeStep(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		b := c.wbuf[c.wn:]
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			c.wn += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werr = e
			return true
		}
	}
	return true
}

// Read reads as net.Conn's Read: io.EOF at the end of the stream.
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if c.rfn == nil {
		c.rfn = c.readStep
	}
	c.rbuf, c.rn, c.rerr = b, 0, 0
	err := c.fd.Read(c.rfn)
	c.rbuf = nil
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case c.rerr != 0:
		return 0, c.opError("read", os.NewSyscallError("recvfrom", c.rerr))
	case c.rn == 0:
		return 0, io.EOF
	}
	return c.rn, nil
}

// Write writes all of b, waiting while the socket is full.
func (c *Conn) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if c.wfn == nil {
		c.wfn = c.writeStep
	}
	c.wbuf, c.wn, c.werr = b, 0, 0
	err := c.fd.Write(c.wfn)
	n := c.wn
	c.wbuf = nil
	if err == nil && c.werr != 0 {
		err = os.NewSyscallError("sendto", c.werr)
	}
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// Close closes the connection; a read or write under way returns
// net.ErrClosed.
func (c *Conn) Close() error {
	if err := c.fd.Close(); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// sockCall runs a system call on the socket that returns only an error.
func (c *Conn) sockCall(op string, trap, a1, a2, a3, a4, a5 uintptr) error {
	var e syscall.Errno
	if err := c.fd.Control(func(fd uintptr) {
		_, _, e = syscall.RawSyscall6(trap, fd, a1, a2, a3, a4, a5)
	}); err != nil {
		return c.opError(op, err)
	}
	if e != 0 {
		return c.opError(op, os.NewSyscallError(op, e))
	}
	return nil
}

// CloseWrite shuts the sending side down.
func (c *Conn) CloseWrite() error {
	return c.sockCall("shutdown", syscall.SYS_SHUTDOWN, syscall.SHUT_WR, 0, 0, 0, 0)
}

// CloseRead shuts the receiving side down.
func (c *Conn) CloseRead() error {
	return c.sockCall("shutdown", syscall.SYS_SHUTDOWN, syscall.SHUT_RD, 0, 0, 0, 0)
}

func (c *Conn) setInt(level, opt, v int) error {
	iv := int32(v)
	return c.sockCall("setsockopt", syscall.SYS_SETSOCKOPT, uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&iv)), 4, 0)
}

// SetNoDelay sets TCP_NODELAY (on for an accepted connection, as the net
// package sets it).
func (c *Conn) SetNoDelay(on bool) error {
	v := 0
	if on {
		v = 1
	}
	return c.setInt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, v)
}

// SetLinger sets SO_LINGER as net.TCPConn's SetLinger: sec < 0 turns it
// off; 0 makes Close reset the connection.
func (c *Conn) SetLinger(sec int) error {
	l := syscall.Linger{}
	if sec >= 0 {
		l.Onoff, l.Linger = 1, int32(sec)
	}
	return c.sockCall("setsockopt", syscall.SYS_SETSOCKOPT, syscall.SOL_SOCKET, syscall.SO_LINGER, uintptr(unsafe.Pointer(&l)), unsafe.Sizeof(l), 0)
}

// SetKeepAliveConfig sets SO_KEEPALIVE and, where they are positive, the
// idle time, interval and count; the others keep the system's values.
func (c *Conn) SetKeepAliveConfig(cfg net.KeepAliveConfig) error {
	if !cfg.Enable {
		return c.setInt(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 0)
	}
	if err := c.setInt(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1); err != nil {
		return err
	}
	secs := func(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }
	if cfg.Idle > 0 {
		if err := c.setInt(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, secs(cfg.Idle)); err != nil {
			return err
		}
	}
	if cfg.Interval > 0 {
		if err := c.setInt(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, secs(cfg.Interval)); err != nil {
			return err
		}
	}
	if cfg.Count > 0 {
		return c.setInt(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, cfg.Count)
	}
	return nil
}

// LocalAddr returns the connection's own address, asked of the kernel
// once.
func (c *Conn) LocalAddr() net.Addr {
	c.localOnce.Do(func() {
		var sa syscall.Sockaddr
		c.fd.Control(func(fd uintptr) { sa, _ = syscall.Getsockname(int(fd)) })
		switch sa := sa.(type) {
		case *syscall.SockaddrInet4:
			c.local = &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
		case *syscall.SockaddrInet6:
			c.local = net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)))
		default:
			c.local = &net.TCPAddr{}
		}
	})
	return c.local
}

// RemoteAddr returns the client's address.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }

// RemoteAddrPort returns the client's address without allocating.
func (c *Conn) RemoteAddrPort() netip.AddrPort { return c.remote }

func (c *Conn) SetDeadline(t time.Time) error      { return c.fd.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.fd.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.fd.SetWriteDeadline(t) }

// SyscallConn returns the socket's raw connection: the rtpoll.FD, with
// ReadDrained and MarkDrained.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return &c.fd, nil }

// FD returns the registered descriptor.
func (c *Conn) FD() *rtpoll.FD { return &c.fd }
