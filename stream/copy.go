package stream

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/sluicelb/sluice/errlog"
)

// pipe is the copy loop of one proxied session.
type pipe struct {
	s        *session
	start    time.Time
	timeout  time.Duration
	last     atomic.Int64 // nanoseconds since start of the last transfer
	timedOut atomic.Bool
	done     chan struct{}
	stop     sync.Once
	conns    [2]net.Conn
	watchdog *time.Timer
}

func (p *pipe) touch() { p.last.Store(int64(p.s.h.s.p.now().Sub(p.start))) }

// close ends the session: both connections are closed, which makes both
// directions' copies return.
func (p *pipe) close() {
	p.stop.Do(func() {
		close(p.done)
		p.conns[0].Close()
		p.conns[1].Close()
	})
}

// check runs when proxy_timeout may have passed without traffic.
func (p *pipe) check() {
	select {
	case <-p.done:
		return
	default:
	}
	idle := p.s.h.s.p.now().Sub(p.start) - time.Duration(p.last.Load())
	if idle >= p.timeout {
		p.timedOut.Store(true)
		p.close()
		return
	}
	p.watchdog.Reset(p.timeout - idle)
}

type dirResult struct {
	n   int64
	err error
}

// pipe copies between the client and up until the session ends.
func (s *session) pipe(ctx context.Context, up net.Conn, tr *try, pending []byte) {
	cfg := s.h.s.cfg
	p := &pipe{s: s, start: s.h.s.p.now(), timeout: cfg.ProxyTimeout, done: make(chan struct{}), conns: [2]net.Conn{s.client, up}}
	tryStart := p.start.Add(-tr.connect)
	if p.timeout > 0 {
		p.watchdog = time.AfterFunc(p.timeout, p.check)
		defer p.watchdog.Stop()
	}
	defer context.AfterFunc(ctx, p.close)()
	var upN int64
	if len(pending) > 0 {
		n, err := up.Write(pending)
		upN += int64(n)
		if err != nil {
			s.tries[len(s.tries)-1].sent += upN
			s.bytesRecvd += upN
			p.close()
			return
		}
	}
	var firstByte atomic.Int64
	firstByte.Store(-1)
	down := make(chan dirResult, 1)
	go func() {
		n, err := p.copy(s.client, up, cfg.ProxyDownloadRate, func() {
			if firstByte.Load() < 0 {
				firstByte.Store(int64(s.h.s.p.now().Sub(tryStart)))
			}
		})
		down <- dirResult{n, err}
		p.ended(s.client, err)
	}()
	n, upErr := p.copy(up, s.client, cfg.ProxyUploadRate, nil)
	upN += n
	p.ended(up, upErr)
	d := <-down
	p.close()

	s.bytesRecvd += upN
	s.bytesSent += d.n
	tr.sent += upN
	tr.received += d.n
	if fb := firstByte.Load(); fb >= 0 {
		tr.firstByte = time.Duration(fb)
	}
	switch {
	case p.timedOut.Load():
		s.logf(errlog.LevelInfo, "connection timed out (110: Connection timed out) while proxying connection")
	case upErr != nil && !isClosed(upErr):
		s.logf(errlog.LevelInfo, "%s while proxying connection", ioErrText(upErr))
	case d.err != nil && !isClosed(d.err):
		s.logf(errlog.LevelInfo, "%s while proxying upstream", ioErrText(d.err))
	case upErr == nil:
		s.logf(errlog.LevelInfo, "client disconnected")
	default:
		s.logf(errlog.LevelInfo, "upstream disconnected")
	}
}

// ended is called when the copy towards dst has finished. At the end of
// the stream it passes the end on with a half-close when proxy_half_close
// is on; otherwise, or on an error, it ends the whole session, as nginx.
func (p *pipe) ended(dst net.Conn, err error) {
	if err == nil && p.s.h.s.cfg.ProxyHalfClose {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
			return
		}
	}
	p.close()
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed)
}

func ioErrText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return "recv() failed (" + errnoText(errno) + ")"
	}
	return err.Error()
}

// copy moves bytes from src to dst until src ends (nil error) or fails.
// Between transfers it holds no buffer: it waits until src is readable,
// asks the kernel how many bytes are queued, and moves exactly those with
// dst.ReadFrom, which splices between sockets. onData runs when data is
// first seen. rate, when positive, limits the transfer to rate bytes per
// second.
func (p *pipe) copy(dst, src net.Conn, rate int64, onData func()) (int64, error) {
	sc, ok := src.(syscall.Conn)
	if !ok {
		return p.copyGeneric(dst, src, rate, onData)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return p.copyGeneric(dst, src, rate, onData)
	}
	rf, ok := dst.(io.ReaderFrom)
	if !ok {
		return p.copyBuffered(dst, src, rc, rate, onData)
	}
	var total int64
	lr := &io.LimitedReader{R: src}
	began := time.Now()
	for {
		eof, err := peek(rc)
		if err != nil || eof {
			return total, err
		}
		if onData != nil {
			onData()
			onData = nil
		}
		p.touch()
		n := inq(rc)
		if n <= 0 {
			n = 64 << 10
		}
		if rate > 0 && n > rate {
			n = rate
		}
		lr.N = n
		w, err := rf.ReadFrom(lr)
		total += w
		p.touch()
		if err != nil {
			return total, err
		}
		if w == 0 {
			// The queued bytes vanished (reset): read to learn why.
			continue
		}
		if rate > 0 && !p.pace(began, total, rate) {
			return total, net.ErrClosed
		}
	}
}

// pace waits until total bytes are within rate bytes per second of
// began; it reports false when the session ends meanwhile.
func (p *pipe) pace(began time.Time, total, rate int64) bool {
	due := began.Add(time.Duration(float64(total) / float64(rate) * float64(time.Second)))
	wait := time.Until(due)
	if wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.done:
		return false
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// copyBuffered is copy for a destination that cannot splice (a unix
// socket): a buffer is taken from a pool only once data is ready.
func (p *pipe) copyBuffered(dst, src net.Conn, rc syscall.RawConn, rate int64, onData func()) (int64, error) {
	var total int64
	began := time.Now()
	for {
		eof, err := peek(rc)
		if err != nil || eof {
			return total, err
		}
		if onData != nil {
			onData()
			onData = nil
		}
		p.touch()
		bp := bufPool.Get().(*[]byte)
		buf := *bp
		if rate > 0 && int64(len(buf)) > rate {
			buf = buf[:rate]
		}
		n, rerr := src.Read(buf)
		var werr error
		if n > 0 {
			_, werr = dst.Write(buf[:n])
			total += int64(n)
		}
		bufPool.Put(bp)
		p.touch()
		if werr != nil {
			return total, werr
		}
		if rerr != nil {
			if rerr == io.EOF {
				return total, nil
			}
			return total, rerr
		}
		if rate > 0 && !p.pace(began, total, rate) {
			return total, net.ErrClosed
		}
	}
}

// copyGeneric is copy for connections without a file descriptor.
func (p *pipe) copyGeneric(dst, src net.Conn, rate int64, onData func()) (int64, error) {
	var total int64
	buf := make([]byte, 16<<10)
	began := time.Now()
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if onData != nil {
				onData()
				onData = nil
			}
			p.touch()
			if _, err := dst.Write(buf[:n]); err != nil {
				return total, err
			}
			total += int64(n)
			if rate > 0 && !p.pace(began, total, rate) {
				return total, net.ErrClosed
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// peek waits until the socket has data, has reached the end of the
// stream (eof), or has failed, without consuming anything.
func peek(rc syscall.RawConn) (eof bool, err error) {
	var b [1]byte
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return rerr != syscall.EAGAIN && rerr != syscall.EINTR
	})
	if err != nil {
		return false, err
	}
	if rerr != nil {
		return false, rerr
	}
	return n == 0, nil
}

// inq returns the number of bytes queued for reading on the socket.
func inq(rc syscall.RawConn) int64 {
	var n int32
	rc.Control(func(fd uintptr) {
		_, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
		if e != 0 {
			n = 0
		}
	})
	return int64(n)
}
