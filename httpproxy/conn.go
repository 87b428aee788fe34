package httpproxy

import (
	"context"
	"errors"
	"fmt"
	"github.com/sluicelb/sluice/internal/listen"
	"github.com/sluicelb/sluice/proxyproto"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/httpproxy/h1"
	"github.com/sluicelb/sluice/httpproxy/route"
)

// Handler serves the client connections of one listening address. It is
// immutable and safe for concurrent use; it implements the runtime's
// connection handler interface.
type Handler struct {
	p      *proxy
	addr   *route.Addr
	listen config.HTTPListen
	def    *server    // the default server: its header buffer sizes and timeouts apply
	key    string     // the listen address
	tls    *listenTLS // listen ... ssl, or nil (tls.go)
	// serving is the newest build serving the address (see markServing).
	serving *atomic.Uint64
	h2      h2State // HTTP/2 (h2.go)
}

// connSeq numbers client connections for $connection and the error log's
// "*N", across generations.
var connSeq atomic.Uint64

var connPool = sync.Pool{New: func() any { return new(conn) }}

// conn is one client connection. It is pooled with its request and buffers.
type conn struct {
	h      *Handler
	nc     net.Conn
	rc     syscall.RawConn
	id     uint64
	unix   bool
	remote netip.AddrPort
	local  netip.AddrPort
	opened time.Time
	proto  []byte // the protocol of an HTTP/2 stream's request (protoConn), or nil
	// pp is the PROXY protocol header of a connection to a listen ...
	// proxy_protocol address, when it carried addresses (proxyproto.go).
	pp    *proxyproto.Header
	reset bool // close with a reset (reset_timedout_connection)
	// sub says the connection serves a subrequest (subrequest.go). up
	// is the upstream connection its request is using, which closes when
	// ctx, the connection's context, is done (a fast stop, or
	// worker_shutdown_timeout); nil when ctx can never be done.
	sub bool
	up  *upstreamInUse
	ctx context.Context
	// unread says that a response which ends the connection left client
	// bytes unread (a body it did not read); ended says the connection
	// ends because a response said so, and noLinger that the client
	// failed or timed out: they decide lingering_close (linger.go).
	unread, ended, noLinger bool
	// bulk says a response body was spliced to the client, which took
	// the socket off a pacing congestion control (loopbulk.Unpace).
	bulk bool

	// idlePrev and idleNext link the connection into its build's
	// idleConns while it waits for its next request (idleIn).
	idlePrev, idleNext *conn
	idleIn             bool

	// hw watches the client while a response head is awaited
	// (proxy_ignore_client_abort off; proxy.go).
	hw headWatch

	buf     []byte // read buffer; unread client bytes are buf[r0:r1]
	r0, r1  int
	headEnd int
	carry   []byte // client bytes read past a chunked body from the socket

	requests  int
	kaTimeout time.Duration // keepalive_timeout of the last request
	// req is the request being served; an idle connection holds none
	// (requests and their buffers are pooled).
	req *request
	rdl deadline // read deadline set on nc
	wdl deadline // write deadline set on nc

	tls connTLS // TLS state (tls.go)

	// raw reads of the request head (see readSome); drain is rc when it
	// can wait for bytes without a first read that finds none
	drain drainer
	rfn   func(fd uintptr) bool
	rsize int
	rn    int
	rerr  error
	// raw writes to the client (see writeRaw)
	wfn func(fd uintptr) bool
	w   rawWrite
	// the deferred write (wbatch.go); lastWrite lets the next write be one
	ws        wslot
	lastWrite bool
}

// readSome reads client bytes into buf[r1:], taking a buffer of size bytes
// from the pool only once bytes are there: a connection waiting for its
// next request holds no buffer. It returns io.EOF when the client closed.
func (c *conn) readSome(size int) (int, error) {
	if c.rc == nil {
		if c.buf == nil {
			c.buf = getBuf(size)
		}
		return c.nc.Read(c.buf[c.r1:])
	}
	if c.rfn == nil {
		c.rfn = c.rawRead
	}
	c.rsize, c.rn, c.rerr = size, 0, nil
	var err error
	if c.drain != nil {
		err = c.drain.ReadDrained(c.rfn)
	} else {
		err = c.rc.Read(c.rfn)
	}
	if err != nil {
		return 0, err
	}
	if c.rerr != nil {
		return 0, c.rerr
	}
	if c.rn == 0 {
		return 0, io.EOF
	}
	return c.rn, nil
}

// rawRead is the function readSome runs on the socket: one read(2), or
// false to wait for readiness.
func (c *conn) rawRead(fd uintptr) bool {
	if c.buf == nil {
		c.buf = getBuf(c.rsize)
	}
	b := c.buf[c.r1:]
	n, err := sysRead(int(fd), b)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		if c.r1 == 0 {
			putBuf(c.buf)
			c.buf = nil
		}
		return false
	}
	if err != nil {
		c.rerr = err
		return true
	}
	c.rn = n
	if n < len(b) && c.drain != nil {
		c.drain.MarkDrained()
	}
	return true
}

// drainer is a raw connection (an rtpoll.FD, through tcpsock) that can
// wait for the next bytes without first trying a read(2) when the last
// read emptied the socket, as a keep-alive connection's read of its next
// request does after each response.
type drainer interface {
	ReadDrained(fn func(fd uintptr) bool) error
	MarkDrained()
}

// TakesSockets says that the handler takes the TCP connections it is
// given as tcpsock connections (runtime.SocketHandler).
func (h *Handler) TakesSockets() bool { return true }

// tcpConn is what ServeConn sets on an accepted TCP connection: a
// *net.TCPConn or a *tcpsock.Conn.
type tcpConn interface {
	SetNoDelay(bool) error
	SetKeepAliveConfig(net.KeepAliveConfig) error
}

// ServeConn serves the requests of one client connection and closes it.
func (h *Handler) ServeConn(ctx context.Context, nc net.Conn) {
	pc, stream := nc.(protoConn)
	if !stream {
		stats.accepted.Add(1)
		stats.handled.Add(1)
		stats.active.Add(1)
	}
	c := connPool.Get().(*conn)
	c.h, c.nc, c.ctx = h, nc, ctx
	if ctx != nil && ctx.Done() != nil {
		// When the context ends (a fast stop, or worker_shutdown_timeout
		// after a reload or a graceful stop), the upstream connection
		// in use is closed too, so that a request waiting for its
		// upstream ends at once, as the runtime closes the client's.
		up := &upstreamInUse{}
		c.up = up
		defer context.AfterFunc(ctx, up.stop)()
	}
	if stream {
		c.id, c.proto, c.pp = pc.ConnID(), pc.Proto(), pc.proxyHeader()
	} else {
		c.id = connSeq.Add(1)
	}
	c.opened = h.p.now()
	switch a := nc.RemoteAddr().(type) {
	case *net.TCPAddr:
		c.remote = a.AddrPort()
		if l, ok := nc.LocalAddr().(*net.TCPAddr); ok {
			c.local = l.AddrPort()
		}
		c.unix = false
	default:
		c.unix = true
		c.remote, c.local = netip.AddrPort{}, netip.AddrPort{}
	}
	if tc, ok := nc.(tcpConn); ok {
		if !h.def.def.set.TCPNodelay {
			tc.SetNoDelay(false)
		}
		if l := &h.listen; l.SoKeepalive != "" {
			listen.KeepAlive(tc, l.SoKeepalive, l.KeepIdle, l.KeepIntvl, l.KeepCnt)
		}
	}
	ppOK := stream || !h.listen.ProxyProtocol || c.readProxyHeader() // proxyproto.go
	if !ppOK {
		c.noLinger = true
	}
	tlsOK := ppOK && (h.tls == nil || stream || c.startTLS(ctx)) // tls.go
	c.rc = rawConn(c.nc)
	c.drain, _ = c.rc.(drainer)
	if tlsOK && (stream || h.listen.SSL || !h.h2c() || !c.sniffH2(ctx)) {
		c.serve(ctx)
	}
	if c.settleWrite() != nil {
		c.noLinger = true
	}
	if c.reset {
		resetOnClose(c.nc)
	} else if !stream && ctx.Err() == nil {
		c.linger()
	}
	c.nc.Close()
	if !stream {
		stats.active.Add(-1)
	}
	c.release()
	connPool.Put(c)
}

// timedOut records that r ends its connection with a client timeout or
// return 444: with reset_timedout_connection on in r's location, the
// connection is then closed with a reset, as nginx does.
func (c *conn) timedOut(r *request) {
	c.noLinger = true
	if r.loc != nil && r.loc.set.ResetTimedoutConnection {
		c.reset = true
	}
}

// resetOnClose makes the close of a TCP connection (under TLS, too) send
// a reset: SO_LINGER with a zero timeout.
func resetOnClose(nc net.Conn) {
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn()
	}
	if tc, ok := nc.(interface{ SetLinger(int) error }); ok {
		tc.SetLinger(0)
	}
}

func (c *conn) release() {
	if c.buf != nil {
		putBuf(c.buf)
		c.buf = nil
	}
	c.r0, c.r1, c.headEnd, c.requests = 0, 0, 0, 0
	c.reset, c.unread, c.ended, c.noLinger, c.bulk, c.lastWrite = false, false, false, false, false, false
	c.carry = c.carry[:0]
	c.h, c.nc, c.rc, c.drain, c.proto, c.pp, c.ctx, c.up = nil, nil, nil, nil, nil, nil, nil, nil
	c.rdl, c.wdl = deadline{}, deadline{}
	c.tls = connTLS{}
	c.putRequest()
}

var reqPool = sync.Pool{New: func() any { return new(request) }}

// getRequest gives the connection a request to read into.
func (c *conn) getRequest() *request {
	if c.req == nil {
		c.req = reqPool.Get().(*request)
		c.req.c = c
		c.req.h1.Reset()
	}
	return c.req
}

// putRequest returns the connection's request to the pool.
func (c *conn) putRequest() {
	r := c.req
	if r == nil {
		return
	}
	c.req = nil
	r.reset()
	r.c = nil
	r.srv, r.loc = nil, nil
	r.origMethod = nil
	if cap(r.body) > 64<<10 {
		r.body = nil
	}
	if cap(r.out) > 64<<10 {
		r.out = nil
	}
	if cap(r.scratch) > 64<<10 {
		r.scratch = nil
	}
	reqPool.Put(r)
}

// serve runs the request loop.
//
// serve, buildUpstreamHead, sendRequest and responseDone are never
// inlined: inlined by profile-guided optimisation (cmd/sluice/default.pgo),
// their locals stay on the stack for the whole request, and an idle
// keep-alive connection keeps the stack its requests grew: 8.5 KB instead
// of 4 (TestIdleStack, run with -pgo by bench/pgo.sh).
//
//go:noinline
func (c *conn) serve(ctx context.Context) {
	for {
		if c.r0 == c.r1 && c.requests > 0 && !c.waitIdle() {
			return
		}
		if !c.readHead() {
			return
		}
		stats.requests.Add(c.id, 1)
		c.requests++
		stats.writing.Add(c.id, 1)
		keep := c.handle()
		stats.writing.Add(c.id, -1)
		if !keep || ctx.Err() != nil {
			c.ended = !keep
			return
		}
		c.next()
	}
}

// next moves the unread bytes of the connection to the start of the buffer
// for the next request, or drops the buffer when there are none.
func (c *conn) next() {
	if len(c.carry) > 0 {
		// the body was read from the socket: nothing of buf is unread
		if c.buf == nil || len(c.buf) < len(c.carry) {
			if c.buf != nil {
				putBuf(c.buf)
			}
			c.buf = getBuf(len(c.carry))
		}
		c.r0, c.r1 = 0, copy(c.buf, c.carry)
		c.carry = c.carry[:0]
		return
	}
	if c.r0 == c.r1 {
		c.r0, c.r1 = 0, 0
		return
	}
	c.r1 = copy(c.buf, c.buf[c.r0:c.r1])
	c.r0 = 0
}

// waitIdle waits for the next request of a keep-alive connection, holding
// no buffer and no request meanwhile; it is called straight from serve so
// that the goroutine's stack is shallow while it waits (the runtime can
// then shrink it). It reports false when the client closed or
// keepalive_timeout passed.
func (c *conn) waitIdle() bool {
	c.putRequest()
	if c.buf != nil {
		putBuf(c.buf)
		c.buf = nil
	}
	c.r0, c.r1 = 0, 0
	c.rdl.set(c.nc, true, c.kaTimeout)
	idle := &c.h.p.idle
	if c.proto == nil && !idle.join(c) {
		return false // the configuration has been replaced: close
	}
	m, err := c.readSome(c.h.def.limits.HeaderBufferSize)
	if c.proto == nil {
		idle.leave(c)
	}
	if c.settleWrite() != nil {
		return false
	}
	if err != nil {
		return false
	}
	c.r1 = m
	return true
}

// readHead reads and parses the next request head. On failure it answers
// (or just closes, as nginx does on timeouts) and reports false.
func (c *conn) readHead() bool {
	h := c.h
	p := h.p
	lim := h.def.limits
	stats.reading.Add(c.id, 1)
	defer stats.reading.Add(c.id, -1)
	start := p.now()
	// client_header_timeout runs from the start of the head: it is set
	// once, when the head needs more than what arrived with its first bytes
	timed := false
	if c.requests == 0 && c.r1 == c.r0 {
		c.rdl.force(c.nc, true, h.def.cfg.ClientHeaderTimeout)
		timed = true
	}
	if c.buf == nil {
		c.buf = getBuf(lim.HeaderBufferSize)
	}
	r := c.getRequest()
	r.h1.Reset()
	r.start = start
	for {
		if c.r1 > c.r0 {
			n, err := h1.ParseRequest(c.buf[c.r0:c.r1], &r.h1, lim)
			if err == nil {
				c.headEnd = c.r0 + n
				c.r0 = c.headEnd
				if c.proto != nil {
					r.h1.Proto = c.proto
				}
				return true
			}
			if err != h1.ErrNeedMore {
				var he *h1.Error
				status := 400
				reason := err.Error()
				if errors.As(err, &he) {
					status, reason = he.Status, he.Reason
				}
				c.failHead(status, reason)
				return false
			}
		}
		if c.r1 == len(c.buf) {
			switch {
			case c.r0 > 0:
				c.r1 = copy(c.buf, c.buf[c.r0:c.r1])
				c.r0 = 0
			case len(c.buf) < lim.MaxHeadSize():
				nb := getBuf(lim.MaxHeadSize())
				c.r1 = copy(nb, c.buf[:c.r1])
				putBuf(c.buf)
				c.buf = nb
			default:
				c.failHead(494, "client sent too large request")
				return false
			}
		}
		if !timed {
			c.rdl.force(c.nc, true, h.def.cfg.ClientHeaderTimeout)
			timed = true
		}
		m, err := c.readSome(lim.HeaderBufferSize)
		c.r1 += m
		if err != nil && m == 0 {
			if c.r1 > c.r0 {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					r.reset()
					c.logf(h.def, errlog.LevelInfo, "client timed out (110: Connection timed out) while reading client request headers")
					r.status = 408
				} else {
					r.reset()
					c.logf(h.def, errlog.LevelInfo, "client prematurely closed connection while reading client request headers")
					r.status = 400
				}
				r.srv = h.def
				r.loc = h.def.def
				if r.status == 408 {
					c.timedOut(r)
				}
				c.writeLogs(r)
			}
			return false
		}
	}
}

// failHead answers a request whose head is not acceptable and logs it.
func (c *conn) failHead(status int, reason string) {
	r := c.req
	r.reset()
	r.srv, r.loc = c.h.def, c.h.def.def
	r.keepAlive = false
	c.logf(r.srv, errlog.LevelInfo, reason+" while reading client request headers")
	c.sendError(r, status)
	c.writeLogs(r)
}

// handle serves one parsed request. It reports whether the connection
// stays open for another.
func (c *conn) handle() bool {
	if c.settleWrite() != nil {
		return false // the last response did not go out
	}
	p := c.h.p
	r := c.req
	r.reset()
	r.remote = c.remote
	r.reqLen = int64(r.h1.HeadLen)
	var sm route.ServerMatch
	if r.h1.Host == nil {
		sm = c.h.addr.NoHost()
	} else {
		var ok bool
		sm, ok = c.h.addr.Find(bstr(r.h1.Host))
		if !ok {
			r.srv, r.loc = c.h.def, c.h.def.def
			c.logf(r.srv, errlog.LevelInfo, "client sent invalid host header while reading client request headers")
			return c.finish(r, c.sendError(r, 400))
		}
	}
	r.sm = sm
	r.host = r.h1.HostName
	r.srv = p.serverOf(sm.Server)
	r.loc = r.srv.def
	r.keepAlive = r.h1.KeepAlive
	if c.h.tls != nil && !c.checkTLS(r) {
		return c.finish(r, false)
	}
	if l := r.srv.def; l.set.RealIPFrom != nil {
		c.realIP(r, l) // nginx's post-read phase: the server's settings
	}
	c.serverCaptures(r)
	if answered, ok := c.serverRewrite(r); answered {
		return c.finish(r, ok)
	}
	var l *location
	for {
		r.m = sm.Server.Match(bstr(r.h1.URI))
		r.loc = r.srv.def
		if r.m.Location != nil {
			r.loc = p.locs[r.m.Location.Conf]
		}
		l = r.loc
		c.matchedCaptures(r)
		if !r.realSet && l.set.RealIPFrom != nil {
			c.realIP(r, l) // the preaccess phase: the location's
		}
		if l.internal && !r.rw.internal {
			// nginx's "internal": not for the client's own requests
			c.discardBody(r)
			return c.finish(r, c.sendError(r, 404))
		}
		if r.m.Redirect {
			c.discardBody(r)
			return c.finish(r, c.redirectSlash(r))
		}
		if max := l.set.ClientMaxBodySize; max > 0 && r.h1.ContentLength > max {
			c.logf(r.srv, errlog.LevelError, fmt.Sprintf("client intended to send too large body: %d bytes", r.h1.ContentLength))
			r.keepAlive = false
			c.unread = true
			return c.finish(r, c.sendError(r, 413))
		}
		answered, ok, again := c.locationRewrite(r)
		if answered {
			return c.finish(r, ok)
		}
		if !again {
			l = r.loc // an if block may have changed it
			break
		}
	}
	if status := c.accessPhase(r, l); status != 0 {
		c.discardBody(r)
		return c.finish(r, c.sendError(r, status))
	}
	for _, lc := range l.connLimits {
		key := lc.z.key.Append(r.scratch[:0], r)
		r.scratch = key
		if len(key) == 0 {
			continue
		}
		if !lc.z.acquire(key, lc.n) {
			r.limitConn = "REJECTED"
			c.logf(r.srv, errlog.LevelError, fmt.Sprintf("limiting connections by zone %q", lc.z.name))
			c.discardBody(r)
			return c.finish(r, c.sendError(r, l.set.LimitConnStatus))
		}
		r.limitConn = "PASSED"
		defer lc.z.release(string(key))
	}
	var delay time.Duration // nginx waits for the longest delay of all limits
	for _, lr := range l.reqLimits {
		key := lr.z.key.Append(r.scratch[:0], r)
		r.scratch = key
		if len(key) == 0 {
			continue
		}
		d, excess, ok := lr.z.take(key, p.now(), lr)
		if !ok {
			r.limitReq = "REJECTED"
			c.logf(r.srv, errlog.LevelError, fmt.Sprintf("limiting requests, excess: %s by zone %q", excessText(excess), lr.z.name))
			c.discardBody(r)
			return c.finish(r, c.sendError(r, l.set.LimitReqStatus))
		}
		if d > delay {
			delay = d
			c.logf(r.srv, errlog.LevelWarn, fmt.Sprintf("delaying request, excess: %s, by zone %q", excessText(excess), lr.z.name))
		}
	}
	switch {
	case delay > 0:
		r.limitReq = "DELAYED"
		p.sleep(delay)
	case len(l.reqLimits) > 0:
		r.limitReq = "PASSED"
	}
	if l.mirror != nil && !c.startMirrors(r, l) { // subrequest.go
		return c.finish(r, false)
	}
	// The content phase, as content runs it, written out here: one frame
	// less on the way to proxyPass keeps the goroutine's stack of a
	// proxied request within 4 KB, which idle keep-alive connections
	// keep (an extra frame made it 8 KB on most of them).
	if l.static.try != nil {
		if done, ok := c.tryFiles(r); done {
			return c.finish(r, ok)
		}
	}
	switch {
	case l.gif:
		return c.finish(r, c.sendEmptyGIF(r))
	case l.stub:
		c.discardBody(r)
		body := appendStubStatus(r.scratch[:0])
		r.scratch = body
		return c.finish(r, c.sendSimple(r, 200, "text/plain", body, nil))
	case l.api != nil:
		return c.finish(r, c.serveAPI(r, l)) // api.go
	case l.metrics != nil:
		return c.finish(r, c.serveMetrics(r, l)) // metrics.go
	case l.dashboard != nil:
		return c.finish(r, c.serveDashboard(r, l)) // dashboard.go
	case l.grpc != nil:
		return c.finish(r, c.grpcPass(r))
	case l.pass != nil:
		return c.finish(r, c.proxyPass(r))
	case l.cgi != nil:
		return c.finish(r, c.cgiPass(r))
	}
	return c.finish(r, c.serveStatic(r))
}

// content runs try_files and then the handler of l for a request an
// error page redirected: stub_status, proxy_pass, fastcgi_pass (and
// uwsgi_pass, scgi_pass), or files; grpc_pass
// answers 404 there (it needs the client's own stream). It reports
// whether the connection stays open. handle has its own copy, for the
// client's requests.
func (c *conn) content(r *request, l *location) bool {
	if l.static.try != nil {
		if done, ok := c.tryFiles(r); done {
			return ok
		}
	}
	switch {
	case l.gif:
		return c.sendEmptyGIF(r)
	case l.stub:
		c.discardBody(r)
		body := appendStubStatus(r.scratch[:0])
		r.scratch = body
		return c.sendSimple(r, 200, "text/plain", body, nil)
	case l.api != nil:
		return c.serveAPI(r, l)
	case l.metrics != nil:
		return c.serveMetrics(r, l)
	case l.dashboard != nil:
		return c.serveDashboard(r, l)
	case l.grpc != nil:
		c.discardBody(r)
		return c.sendError(r, 404)
	case l.pass != nil:
		return c.proxyPass(r)
	case l.cgi != nil:
		return c.cgiPass(r)
	}
	return c.serveStatic(r)
}

// finish logs the request and decides whether the connection stays open.
func (c *conn) finish(r *request, ok bool) bool {
	c.writeLogs(r)
	if c.up != nil {
		c.up.track(nil) // the request's upstream connection is no longer its own
	}
	c.kaTimeout = r.loc.set.KeepaliveTimeout
	return ok && r.keepAlive
}

func (c *conn) writeLogs(r *request) {
	for _, lg := range r.loc.logs {
		lg.Write(r)
	}
}

// serverOf returns the compiled server of a route server.
func (p *proxy) serverOf(s *route.Server) *server { return p.servers[s.Conf] }

// matchAccessRule applies allow/deny rules: it reports whether a rule
// matched the client and whether that rule allows it.
func matchAccessRule(rules []config.StreamAccessRule, addr netip.Addr, unix bool) (allow, matched bool) {
	for _, r := range rules {
		switch {
		case r.All:
			return r.Allow, true
		case r.Unix:
			if unix {
				return r.Allow, true
			}
		case !unix && addr.IsValid() && r.Net.Contains(addr.Unmap()):
			return r.Allow, true
		}
	}
	return false, false
}

// realIP replaces the client address with the one the real_ip_header of
// l gives when the connection comes from an address l trusts
// (set_real_ip_from). As in nginx it runs with the server's settings
// before the server's rewrite directives, and with the location's once
// one is chosen unless the address was already replaced; $remote_port is
// the header's port for proxy_protocol and empty for other headers.
func (c *conn) realIP(r *request, l *location) {
	s := l.set
	trusted := func(a netip.Addr) bool {
		for _, f := range s.RealIPFrom {
			if f.Unix && c.unix || !f.Unix && a.IsValid() && f.Net.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	if !trusted(c.remote.Addr()) {
		return
	}
	if l.realHeader == "proxy_protocol" {
		if c.pp != nil {
			r.remote, r.realSet = c.pp.Source, true
		}
		return
	}
	var val []byte
	var ok bool
	val, ok = findHeader(r.scratch[:0], r.h1.Headers, l.realHeader)
	r.scratch = val
	if !ok {
		return
	}
	if l.realHeader != "x-forwarded-for" && l.realHeader != "x-real-ip" {
		if a, err := netip.ParseAddr(strings.TrimSpace(string(val))); err == nil {
			r.remote, r.realSet = netip.AddrPortFrom(a, 0), true
		}
		return
	}
	// a list: the last address, or with real_ip_recursive the last one
	// that is not trusted
	items := strings.Split(string(val), ",")
	for i := len(items) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(items[i]))
		if err != nil {
			return
		}
		r.remote, r.realSet = netip.AddrPortFrom(a, 0), true
		if !s.RealIPRecursive || !trusted(a) {
			return
		}
	}
}

// discardBody skips a request body the handler does not read: one already
// in the buffer is skipped; otherwise the connection closes after the
// response.
func (c *conn) discardBody(r *request) {
	if r.bodyDone {
		return
	}
	r.bodyDone = true
	switch {
	case r.bodyRead: // read whole for the mirrors
	case r.h1.Chunked:
		r.keepAlive = false
		c.unread = true
	case r.h1.ContentLength > 0:
		if int64(c.r1-c.r0) >= r.h1.ContentLength {
			c.r0 += int(r.h1.ContentLength)
			r.reqLen += r.h1.ContentLength
		} else {
			r.keepAlive = false
			c.unread = true
		}
	}
}

// keepAliveOK applies keepalive_timeout, keepalive_requests,
// keepalive_time and reloads to r.keepAlive.
func (c *conn) keepAliveOK(r *request) bool {
	s := r.loc.set
	if !r.keepAlive || s.KeepaliveTimeout <= 0 || c.requests >= s.KeepaliveRequests ||
		c.now(r).Sub(c.opened) >= s.KeepaliveTime || c.h.superseded() {
		r.keepAlive = false
	}
	return r.keepAlive
}

// now is the time for the response to r: when its upstream response head
// arrived, read then (a proxied response is sent at once), or the clock.
func (c *conn) now(r *request) time.Time {
	if !r.clock.IsZero() {
		return r.clock
	}
	return c.h.p.now()
}

// appendHeadStart appends the status line, Server and Date.
func (c *conn) appendHeadStart(dst []byte, r *request, status int, line []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	if line != nil {
		dst = append(dst, line...)
	} else {
		dst = append(dst, statusLine(status)...)
	}
	dst = append(dst, "\r\nServer: "...)
	dst = append(dst, r.loc.tokens...)
	dst = append(dst, "\r\nDate: "...)
	dst = append(dst, httpDate(c.now(r))...)
	return append(dst, '\r', '\n')
}

// appendHeadEnd appends Connection, the Expires and Cache-Control of
// expires (r.exp, set by setExpires) not yet sent, the add_header headers,
// the userid cookie and the blank line.
func (c *conn) appendHeadEnd(dst []byte, r *request, status int) []byte {
	if r.keepAlive {
		dst = append(dst, "Connection: keep-alive\r\n"...)
		if t := r.loc.set.KeepaliveHeaderTimeout; t > 0 {
			dst = append(dst, "Keep-Alive: timeout="...)
			dst = strconv.AppendInt(dst, int64(t/time.Second), 10)
			dst = append(dst, '\r', '\n')
		}
	} else {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = appendErrorPageHeaders(dst, r)
	dst = appendExpires(dst, &r.exp)
	if len(r.loc.addHeaders) > 0 {
		add := safeStatus(status)
		for i := range r.loc.addHeaders {
			ah := &r.loc.addHeaders[i]
			if !add && !ah.always {
				continue
			}
			start := len(dst)
			dst = append(dst, ah.name...)
			dst = append(dst, ':', ' ')
			vs := len(dst)
			dst = ah.value.Append(dst, r)
			if len(dst) == vs {
				dst = dst[:start]
				continue
			}
			dst = append(dst, '\r', '\n')
		}
	}
	if m := r.loc.mods; m != nil && m.uid != nil {
		dst = c.appendUserID(dst, r, m.uid) // userid.go
	}
	if r.sticky != nil {
		dst = c.appendStickyCookie(dst, r) // sticky.go
	}
	return append(dst, '\r', '\n')
}

// sendSimple sends a complete response generated by the proxy itself.
func (c *conn) sendSimple(r *request, status int, ctype string, body []byte, location []byte) bool {
	if r.ep.errStatus != 0 {
		status = r.ep.errStatus // error_page
	}
	c.keepAliveOK(r)
	r.status = status
	c.setExpires(r, r.loc.exp, status, nil)
	clen := int64(len(body))
	var sf *subFilter
	if r.loc.sub != nil { // sub_filter (subfilter.go)
		if sf = c.subStart(r, r.loc.sub, []byte(ctype), clen); sf != nil {
			clen = -1
		}
	}
	var gzVary, gz bool
	if g := r.loc.gz; g != nil {
		rh := respHeaders{ctype: []byte(ctype)}
		r.exp.patch(&rh)
		gzVary, gz = c.gzipCheck(r, g, status, &rh, clen)
	}
	if (gz || sf != nil) && !c.chunked(r, r.loc) && !r.h1.IsHead() {
		r.keepAlive = false // close-delimited
	}
	out := c.appendHeadStart(c.req.out[:0], r, status, nil)
	if ctype != "" {
		out = append(out, "Content-Type: "...)
		if cs := r.loc.charset; cs != nil {
			if v, ok := c.charsetCT(r, cs, status, []byte(ctype), false); ok {
				out = append(out, v...)
			} else {
				out = append(out, ctype...)
			}
		} else {
			out = append(out, ctype...)
		}
		out = append(out, '\r', '\n')
	}
	if gz || sf != nil {
		if c.chunked(r, r.loc) && !r.h1.IsHead() {
			out = append(out, "Transfer-Encoding: chunked\r\n"...)
		}
	} else if status != 204 && status != 304 {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, int64(len(body)), 10)
		out = append(out, '\r', '\n')
	}
	if location != nil {
		out = append(out, "Location: "...)
		out = append(out, location...)
		out = append(out, '\r', '\n')
	}
	out = appendGzipHeaders(out, gzVary, gz)
	r.outHead = r.outHead[:0]
	out = c.appendHeadEnd(out, r, status)
	head := len(out)
	r.outHead = append(r.outHead, out...)
	switch {
	case r.h1.IsHead() || status == 204 || status == 304:
	case sf != nil:
		out = c.subBody(r, sf, out, body, gz)
	case gz:
		out = gzipBody(r, out, body, r.loc.gz.level, c.chunked(r, r.loc))
	default:
		out = append(out, body...)
	}
	return c.writeWhole(r, out, head)
}

// writeWhole sends a response held whole, out, whose first head bytes
// are its head, and accounts what was sent of each. It reports whether
// the client took it all.
func (c *conn) writeWhole(r *request, out []byte, head int) bool {
	c.req.out = out
	c.lastWrite = true
	n, err := c.write(r, out)
	if n > head {
		r.headSent, r.bodySent = int64(head), int64(n-head)
	} else {
		r.headSent = int64(n)
	}
	return err == nil
}

// sendError sends nginx's built-in page for status (494 goes out as 400).
func (c *conn) sendError(r *request, status int) bool {
	if status == 444 {
		r.status = 444
		r.keepAlive = false
		return false
	}
	if closesConnection(status) {
		r.keepAlive = false
	}
	if ok, handled := c.tryErrorPage(r, status); handled {
		return ok
	}
	r.ep.errStatus = 0
	page := appendErrorPage(r.scratch[:0], status, r.loc.tokens)
	r.scratch = page
	wire := status
	if status == 494 {
		wire = 400
	}
	ok := c.sendSimple(r, wire, "text/html", page, nil)
	r.status = status
	if status == 494 {
		r.status = 400
	}
	return ok
}

// write writes b to the client under send_timeout. When the caller set
// lastWrite (b ends a response after which the connection waits for its
// next request), the write may be deferred (wbatch.go): it then reports
// all of b written.
func (c *conn) write(r *request, b []byte) (int, error) {
	last := c.lastWrite
	c.lastWrite = false
	c.writeDeadline(r)
	var n int
	var err error
	switch {
	case c.rc == nil:
		n, err = c.nc.Write(b)
	case c.ws.pending():
		if err = c.settleWrite(); err == nil {
			n, err = c.writeRaw(b)
		}
	case last && r.keepAlive && c.ws.deferWrite(c.rc, b):
		n = len(b)
	default:
		n, err = c.writeRaw(b)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.timedOut(r) // send_timeout
	}
	return n, err
}

// writeRaw writes b to the client's socket under the write deadline set.
func (c *conn) writeRaw(b []byte) (int, error) {
	if c.wfn == nil {
		c.wfn = c.w.step
	}
	c.w = rawWrite{b: b}
	err := c.rc.Write(c.wfn)
	n := c.w.n
	if err == nil {
		err = c.w.err
	}
	c.w = rawWrite{}
	return n, err
}

// settleWrite ends the write that write deferred, if any: it makes what
// the batch did not, and returns the error that ended it.
func (c *conn) settleWrite() error {
	if !c.ws.pending() {
		return nil
	}
	rest, _, err := c.ws.settle()
	if err == nil && len(rest) > 0 {
		_, err = c.writeRaw(rest)
	}
	c.ws.recycle()
	return err
}

// rawWrite is a write of b made from a raw connection's Write: n bytes
// went out, and err is the error that ended it.
type rawWrite struct {
	b   []byte
	n   int
	err error
}

// step is the function run on the socket: write(2) until all of b is
// out, or false to wait until the socket takes more.
func (w *rawWrite) step(fd uintptr) bool {
	m, err := writeAll(int(fd), w.b[w.n:])
	w.n += m
	if err == syscall.EAGAIN {
		return false
	}
	w.err = err
	return true
}

// writeAll writes b to the non-blocking socket fd until all of it is out
// or the socket is full. It returns how much went out, and syscall.EAGAIN
// when that is not all of b, or another error as a write error.
func writeAll(fd int, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := sysWrite(fd, b[n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return n, err
		case err != nil:
			return n, os.NewSyscallError("write", err)
		}
		n += m
	}
	return n, nil
}

// writeDeadline sets the client write deadline (send_timeout) unless one
// set less than a second ago still covers it.
func (c *conn) writeDeadline(r *request) {
	c.wdl.set(c.nc, false, r.loc.set.SendTimeout)
}

// doReturn answers a return directive.
func (c *conn) doReturn(r *request, rc *retConf) bool {
	code := rc.code
	if code == 444 {
		r.status = 444
		r.keepAlive = false
		c.timedOut(r)
		return false
	}
	var text []byte
	if rc.text != nil {
		text = rc.text.Append(r.scratch[:0], r)
		r.scratch = text
	}
	switch code {
	case 301, 302, 303, 307, 308:
		loc := text
		if len(loc) > 0 && loc[0] == '/' {
			loc = c.absolute(r, loc)
		}
		page := appendErrorPage(nil, code, r.loc.tokens)
		return c.sendSimple(r, code, "text/html", page, loc)
	}
	if rc.text == nil {
		if hasErrorPage(code) {
			return c.sendError(r, code)
		}
		return c.sendSimple(r, code, "", nil, nil)
	}
	return c.sendSimple(r, code, "text/plain", text, nil)
}

// absolute makes a redirect target absolute as nginx's absolute_redirect:
// scheme://host[:port]path. The host is the server's name with
// server_name_in_redirect on, else the request's (Host), else the local
// address; the port is left out when it is the scheme's, or with
// port_in_redirect off.
// With absolute_redirect off the path is left as it is.
func (c *conn) absolute(r *request, path []byte) []byte {
	set := r.loc.set
	if !set.AbsoluteRedirect {
		return path
	}
	out := make([]byte, 0, 64+len(path))
	out = append(out, c.scheme()...)
	out = append(out, "://"...)
	switch {
	case set.ServerNameInRedirect:
		out = append(out, r.srv.name...)
	case len(r.host) > 0:
		out = append(out, r.host...)
	case c.unix:
		out = append(out, r.srv.name...)
	default:
		out = c.local.Addr().AppendTo(out) // nginx: the local address, IPv6 without brackets
	}
	if set.PortInRedirect && !c.unix && c.local.Port() != c.defaultPort() {
		out = append(out, ':')
		out = strconv.AppendUint(out, uint64(c.local.Port()), 10)
	}
	return append(out, path...)
}

// redirectSlash answers nginx's auto_redirect: 301 to the path with "/".
func (c *conn) redirectSlash(r *request) bool {
	path := make([]byte, 0, len(r.h1.URI)+len(r.h1.Args)+2)
	path = append(path, r.h1.URI...)
	path = append(path, '/')
	if len(r.h1.Args) > 0 {
		path = append(path, '?')
		path = append(path, r.h1.Args...)
	}
	page := appendErrorPage(nil, 301, r.loc.tokens)
	return c.sendSimple(r, 301, "text/html", page, c.absolute(r, path))
}

// logf writes an error log message with nginx's request context.
func (c *conn) logf(s *server, level slog.Level, msg string) {
	log := c.h.p.opts.Log
	if s != nil {
		log = s.log
		if r := c.req; r != nil && r.loc != nil && r.loc.log != nil && r.loc.srv == s {
			log = r.loc.log // error_log of the matched location
		}
	}
	if !log.Enabled(context.Background(), level) {
		return
	}
	r := c.req
	var b strings.Builder
	b.WriteString(msg)
	b.WriteString(", client: ")
	switch {
	case r != nil && r.realSet: // realip replaced the address, as nginx logs it
		b.WriteString(r.remote.Addr().Unmap().String())
	case c.unix:
		b.WriteString("unix:")
	default:
		b.WriteString(c.remote.Addr().Unmap().String())
	}
	b.WriteString(", server: ")
	if s != nil {
		b.WriteString(s.name)
	}
	if r != nil && len(r.h1.Method) > 0 {
		m := r.h1.Method
		if r.origMethod != nil {
			m = r.origMethod
		}
		fmt.Fprintf(&b, ", request: \"%s %s %s\"", m, r.h1.Target, r.h1.Proto)
	}
	if r != nil && c.sub {
		fmt.Fprintf(&b, ", subrequest: \"%s\"", r.h1.URI)
	}
	if r != nil && len(r.tries) > 0 {
		uri := r.h1.RequestURI
		if c.sub {
			uri = internalURI(r)
		}
		if r.loc != nil && r.loc.cgi != nil {
			addr := r.tries[len(r.tries)-1].addr
			sep := "" // nginx ends a unix socket's path with ":" (before the URI)
			if strings.HasPrefix(addr, "unix:") {
				sep = ":"
			}
			fmt.Fprintf(&b, ", upstream: \"%s://%s%s\"", r.loc.cgi.proto, addr, sep)
		} else {
			fmt.Fprintf(&b, ", upstream: \"http://%s%s\"", r.tries[len(r.tries)-1].addr, uri)
		}
	}
	if r != nil && len(r.h1.Host) > 0 {
		fmt.Fprintf(&b, ", host: \"%s\"", r.h1.Host)
	}
	log.Log(context.Background(), level, b.String(), "cid", c.id)
}

// errText renders a network error as nginx does: "(111: Connection
// refused)".
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		t := errno.Error()
		return fmt.Sprintf("(%d: %s)", int(errno), strings.ToUpper(t[:1])+t[1:])
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "(110: Connection timed out)"
	}
	if errors.Is(err, io.EOF) {
		return "(104: Connection reset by peer)"
	}
	return "(" + err.Error() + ")"
}
