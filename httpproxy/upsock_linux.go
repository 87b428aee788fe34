//go:build linux

package httpproxy

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/sluicelb/sluice/internal/tcpsock"
)

// haveSock says whether dialSock can be used.
const haveSock = true

// upSock is a TCP connection to an upstream server opened with system
// calls of its own rather than by net.Dialer, which for each connection
// also connects a second time, asks for both addresses, and makes its
// calls in the scheduler's system-call state (where a loopback connect,
// which runs the whole handshake, often has its processor taken away).
// Here a connection costs socket, connect, and registering with the
// runtime's poller (epoll_ctl, through rtpoll: no os.File, whose fcntl,
// finalizer and allocations cost a tenth of the proxy's time per request
// when each request has a connection of its own). A lazy one
// (plain HTTP) leaves the handshake to the first write of the request,
// which fails with the handshake's error if it failed, or with EAGAIN
// while it is under way (nginx asks getsockopt(SO_ERROR) before writing);
// others ask a second connect(2). TCP_NODELAY is set on a lazy
// connection only before writes that may follow one another (a streamed
// body, a tunnel): a request written whole is not delayed by Nagle's
// algorithm. With nginx's default of one connection per request this
// saves about a tenth of the proxy's CPU time per request.
//
// The connection itself (reads, writes, deadlines, close) is a
// tcpsock.Conn made from the dialled descriptor; upSock adds the
// handshake.
type upSock struct {
	tcpsock.Conn
	rc   syscall.RawConn // the Conn's descriptor
	peer netip.AddrPort  // the server's address as given, for RemoteAddr and errors
	ap   netip.AddrPort  // the address connect(2) takes
	v6   bool

	connecting bool // connect(2) left the handshake under way (lazy)
	nodelay    bool // TCP_NODELAY is set
}

// dialSock connects to ap within timeout (none when zero); keepalive
// turns SO_KEEPALIVE on (proxy_socket_keepalive), with the system's
// timers. A lazy dial returns while the handshake may still be under way
// (connecting): the first write learns how it ended, or finishConnect
// waits for it; TCP_NODELAY is then left for setNoDelay.
func dialSock(ap netip.AddrPort, timeout time.Duration, keepalive, lazy bool) (*upSock, error) {
	peer := ap
	family, v6 := syscall.AF_INET, false
	if a := ap.Addr(); !a.Unmap().Is4() {
		family, v6 = syscall.AF_INET6, true
	} else {
		ap = netip.AddrPortFrom(a.Unmap(), ap.Port())
	}
	s := &upSock{peer: peer, ap: ap, v6: v6, nodelay: !lazy}
	r, _, e := syscall.RawSyscall(syscall.SYS_SOCKET, uintptr(family), syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if e != 0 {
		return nil, s.dialError("socket", e)
	}
	fd := int(r)
	if !lazy {
		setBoolOpt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	}
	if keepalive {
		setBoolOpt(fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}
	cerr := sysConnect(fd, ap, v6)
	if cerr != nil && cerr != syscall.EINPROGRESS && cerr != syscall.EINTR {
		syscall.Close(fd)
		return nil, s.dialError("connect", cerr)
	}
	if err := s.Conn.Init(fd, peer); err != nil {
		syscall.Close(fd)
		return nil, s.dialError("connect", err)
	}
	s.rc = s.Conn.FD()
	s.connecting = cerr != nil
	if lazy {
		return s, nil
	}
	if err := s.finishConnect(timeout); err != nil {
		s.Conn.Close()
		return nil, err
	}
	return s, nil
}

// dialError is a failure of the system call op while connecting.
func (s *upSock) dialError(op string, err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(s.peer), Err: os.NewSyscallError(op, err)}
}

// isDialError says whether err is a failure to connect, from dialSock or
// from the first write of a lazy connection.
func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// finishConnect waits, within timeout, for a handshake that connect(2)
// left under way, and reports how it ended. Over loopback it has ended by
// the time connect(2) returns, and the second connect(2) below reports
// that at once; with a remote server the socket is waited for until
// writable.
func (s *upSock) finishConnect(timeout time.Duration) error {
	if !s.connecting {
		return nil
	}
	s.connecting = false
	if timeout > 0 {
		s.SetWriteDeadline(time.Now().Add(timeout))
	}
	var cres syscall.Errno
	werr := s.rc.Write(func(fd uintptr) bool {
		cres = 0
		if err := sysConnect(int(fd), s.ap, s.v6); err != nil {
			cres = err.(syscall.Errno)
		}
		return cres != syscall.EALREADY && cres != syscall.EINPROGRESS && cres != syscall.EINTR
	})
	if werr != nil {
		return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(s.peer), Err: werr}
	}
	s.SetWriteDeadline(time.Time{})
	if cres != 0 && cres != syscall.EISCONN {
		return s.dialError("connect", cres)
	}
	return nil
}

// firstWrite reports on the handshake of a connecting socket from the
// first write to it: m bytes written and its error err. It returns the
// dial error when the handshake failed, and whether it is still under way
// (nothing written, EAGAIN).
func (s *upSock) firstWrite(m int, err error) (underWay bool, derr error) {
	switch {
	case m > 0 || err == nil:
	case errors.Is(err, syscall.EAGAIN):
		return true, nil
	default:
		// errno is declared here: taking its address makes it escape,
		// and it would be allocated on every call
		var errno syscall.Errno
		if errors.As(err, &errno) {
			err = errno
		}
		derr = s.dialError("connect", err)
	}
	s.connecting = false
	return false, derr
}

// setBoolOpt turns the socket option opt at level on for fd.
func setBoolOpt(fd, level, opt int) {
	one := int32(1)
	syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&one)), 4, 0)
}

// setNoDelay sets TCP_NODELAY, once, before writes that may follow one
// another.
func (s *upSock) setNoDelay() {
	if s.nodelay {
		return
	}
	s.nodelay = true
	s.rc.Control(func(fd uintptr) { setBoolOpt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY) })
}

// Write writes all of b, waiting while the socket is full; a lazy
// connection's handshake is waited for first.
func (s *upSock) Write(b []byte) (int, error) {
	if s.connecting {
		if err := s.finishConnect(0); err != nil {
			return 0, err
		}
	}
	return s.Conn.Write(b)
}
