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

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/errlog"
)

// pipe is the copy loop of one proxied session.
type pipe struct {
	s         *session
	tryStart  time.Time    // when the connection to the upstream began
	last      atomic.Int64 // monoNow of the last transfer
	firstByte atomic.Int64 // $upstream_first_byte_time in nanoseconds, or -1
	timedOut  atomic.Bool
	use       atomic.Uint32 // useClosing, and how many pollers are using the sockets' descriptors
	done      chan struct{} // closed by close; nil for a polled session
	conns     [2]net.Conn
	watchdog  *time.Timer

	// What proxy leaves to be done at the end: the try began at
	// tryStart plus dialDelta (a time.Time would make each idle
	// session's pipe a size class larger).
	dialDelta time.Duration
	group     *upstream
	sel       balance.Selection

	// The polled copy (poll_linux.go).
	flows  [2]flow
	rcs    [2]syscall.RawConn // of conns
	ev     chan uint8         // a flow whose owner has stopped for good, or evClosed
	ctxEnd <-chan struct{}    // the session context's Done
	shard  *shard
	slot   int32

	failed     bool // writing the bytes read ahead failed: the session is over
	registered bool // the pollers copy the session
}

// evClosed on pipe.ev says that close was called.
const evClosed = 2

// epoch is the origin of monoNow.
var epoch = time.Now()

// monoNow reads the monotonic clock, which times proxy_timeout: it is the
// real time that passes, as the watchdog's timer, whatever the clock of
// session times is.
func monoNow() int64 { return int64(time.Since(epoch)) }

func (p *pipe) touch() { p.last.Store(monoNow()) }

// useClosing in pipe.use says that close was called.
const useClosing = 1 << 31

// enter lets a poller use the descriptors of the sockets directly, with
// no reference taken on them, until exit: close leaves them open
// meanwhile, so that their numbers cannot be reused under the poller. It
// reports false once close has been called.
func (p *pipe) enter() bool {
	for {
		o := p.use.Load()
		if o&useClosing != 0 {
			return false
		}
		if p.use.CompareAndSwap(o, o+1) {
			return true
		}
	}
}

// exit ends what enter began; the last poller out closes the
// connections if close was called meanwhile.
func (p *pipe) exit() {
	if p.use.Add(^uint32(0)) == useClosing {
		p.closeConns()
	}
}

// isClosing reports whether close was called.
func (p *pipe) isClosing() bool { return p.use.Load()&useClosing != 0 }

// close ends the session: both connections are closed, which makes both
// directions' copies return. A poller serving the session at that moment
// closes them when it leaves (a few system calls later).
func (p *pipe) close() {
	o := p.use.Or(useClosing)
	if o&useClosing != 0 {
		return
	}
	if p.done != nil {
		close(p.done)
	}
	if o == 0 {
		p.closeConns()
	}
	if p.ev != nil {
		p.ev <- evClosed
	}
}

func (p *pipe) closeConns() {
	p.conns[0].Close()
	p.conns[1].Close()
}

// check runs when proxy_timeout may have passed without traffic.
func (p *pipe) check() {
	if p.isClosing() {
		return
	}
	timeout := p.s.h.s.cfg.ProxyTimeout
	idle := time.Duration(monoNow() - p.last.Load())
	if idle >= timeout {
		p.timedOut.Store(true)
		p.close()
		return
	}
	p.watchdog.Reset(timeout - idle)
}

// dirResult is how one direction of a session ended.
type dirResult struct {
	n   int64
	err error // nil at the end of the stream
}

// pipe starts copying between the client and up: it writes pending and
// hands the session to the pollers when it can. wait, on the goroutine
// that serves the session, then waits for its end.
func (s *session) pipe(ctx context.Context, up net.Conn, tr *try, pending []byte) *pipe {
	cfg := s.h.s.cfg
	p := &pipe{s: s, conns: [2]net.Conn{s.client, up}}
	p.tryStart = s.h.s.p.now().Add(-tr.connect)
	p.firstByte.Store(-1)
	p.touch()
	polled := p.pollable()
	if polled {
		p.ev = make(chan uint8, len(p.flows)+1)
	} else {
		p.done = make(chan struct{})
	}
	if cfg.ProxyTimeout > 0 {
		p.watchdog = time.AfterFunc(cfg.ProxyTimeout, p.check)
	}
	if len(pending) > 0 {
		// Counted at once: nothing reads the counts before wait adds
		// the rest.
		n, err := up.Write(pending)
		tr.sent += int64(n)
		s.bytesRecvd += int64(n)
		if err != nil {
			p.failed = true
			return p
		}
	}
	// (When registration fails, done stays nil: it serves only the rate
	// limits, which polled sessions have none of.)
	p.registered = polled && p.register(ctx)
	return p
}

// wait waits until the session started by pipe ends, accounts for it
// and logs how it ended, then does what proxy left for the end.
func (p *pipe) wait(ctx context.Context) {
	p.copied(ctx)
	if p.watchdog != nil {
		p.watchdog.Stop()
	}
	p.finishProxy()
}

// copied is the part of wait that ends with the copy.
func (p *pipe) copied(ctx context.Context) {
	s := p.s
	tr := &s.tries[len(s.tries)-1]
	if p.failed {
		p.close()
		return
	}
	var u, d dirResult
	if p.registered {
		p.waitPolled(&u, &d)
	} else {
		p.goroutines(ctx, &u, &d)
	}
	s.bytesRecvd += u.n
	s.bytesSent += d.n
	tr.sent += u.n
	tr.received += d.n
	if fb := p.firstByte.Load(); fb >= 0 {
		tr.firstByte = time.Duration(fb)
	}
	switch {
	case p.timedOut.Load():
		s.logf(errlog.LevelInfo, "connection timed out (110: Connection timed out) while proxying connection")
	case u.err != nil && !isClosed(u.err):
		s.logf(errlog.LevelInfo, "%s while proxying connection", ioErrText(u.err))
	case d.err != nil && !isClosed(d.err):
		s.logf(errlog.LevelInfo, "%s while proxying upstream", ioErrText(d.err))
	case u.err == nil:
		s.logf(errlog.LevelInfo, "client disconnected")
	default:
		s.logf(errlog.LevelInfo, "upstream disconnected")
	}
}

// finishProxy closes the upstream connection and tells the balancer how
// the try went.
func (p *pipe) finishProxy() {
	s := p.s
	tr := &s.tries[len(s.tries)-1]
	tr.session = s.h.s.p.now().Sub(p.tryStart.Add(p.dialDelta))
	p.conns[1].Close()
	if p.group != nil {
		var lat time.Duration
		switch p.group.group.Metric() {
		case balance.MetricConnect:
			lat = tr.connect
		case balance.MetricFirstByte:
			lat = tr.firstByte
		case balance.MetricLastByte:
			lat = tr.session
		}
		if lat < 0 {
			lat = 0
		}
		p.sel.Done(balance.Outcome{Latency: lat})
	}
}

// goroutines copies each direction in a goroutine of its own: the copy
// for connections that cannot be polled (not sockets, or TLS), and for
// rate-limited sessions.
func (p *pipe) goroutines(ctx context.Context, u, d *dirResult) {
	s := p.s
	cfg := s.h.s.cfg
	up := p.conns[1]
	defer context.AfterFunc(ctx, p.close)()
	down := make(chan dirResult, 1)
	go func() {
		n, err := p.copy(s.client, up, cfg.ProxyDownloadRate, func() {
			if p.firstByte.Load() < 0 {
				p.firstByte.Store(int64(s.h.s.p.now().Sub(p.tryStart)))
			}
		})
		down <- dirResult{n, err}
		p.ended(s.client, err)
	}()
	u.n, u.err = p.copy(up, s.client, cfg.ProxyUploadRate, nil)
	p.ended(up, u.err)
	*d = <-down
	p.close()
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
