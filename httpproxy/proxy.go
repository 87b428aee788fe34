package httpproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/httpproxy/h1"
	"github.com/sluicelb/sluice/internal/loopbulk"
	"github.com/sluicelb/sluice/internal/splice"
)

// Request body modes.
const (
	bodyNone          = iota // no body is sent
	bodyMem                  // the whole body is in memory
	bodyStreamLength         // Content-Length body streamed from the client
	bodyStreamChunked        // chunked body re-framed as it arrives
)

// upBufSize is the size of the buffer an upstream response is read with.
const upBufSize = 16 << 10

// spliceMin is the body size from which a Content-Length response body is
// moved with splice(2) rather than through the buffer.
const spliceMin = 64 << 10

// proxyPass forwards the request to an upstream server and the response
// back, retrying per proxy_next_upstream. It reports whether the client
// connection may be kept.
func (c *conn) proxyPass(r *request) bool {
	l := r.loc
	if l.cache != nil && r.cache == nil {
		return c.cachePass(r) // cache.go
	}
	pc := l.pass
	up := pc.up
	r.proxyHost = pc.hostName
	r.upTLS = pc.tls // resolvePass decides for a URL with variables
	var uri []byte
	if pc.url != nil {
		var ok bool
		up, uri, ok = c.resolvePass(r, pc)
		if !ok {
			c.discardBody(r)
			return c.sendError(r, 502)
		}
	} else if pc.hasURI {
		uri = c.replaceURI(r, l, pc)
	}
	if uri == nil && (r.ep.internal || r.rw.internal) {
		uri = internalURI(r) // error_page: the new URI, not the client's
	}
	mode, body, ok := bodyNone, []byte(nil), true
	// an error page's request sends no body (it was discarded, or sent
	// to the upstream that failed); one redirected by try_files or index
	// sends it
	if !r.bodyDone {
		r.bodyDone = true
		mode, body, ok = c.prepareBody(r, l)
	}
	if !ok {
		return false
	}
	c.buildUpstreamHead(r, l, uri, mode, body)
	if up.queue != nil {
		r.queued = true
		defer up.queue.release() // queue.go
	}
	if r.tb == nil {
		r.tb = getBuf(upBufSize) // kept while the request is pooled
	}
	tb := r.tb
	bodyGone := false // streamed body bytes were read from the client: no replay
	lastStatus := 502
	var pending *balance.Selection
	var next balance.Selection
	for {
		sel, t, tStart, ok := c.beginTry(r, l, up, &pending, bodyGone)
		if !ok {
			break
		}
		peer := sel.Peer
		fresh := false
	attempt:
		uc, reused, err := c.upstreamConn(r, up, peer, l, fresh, tStart)
		if err == nil && c.up != nil && !c.up.track(uc.nc) {
			uc.nc.Close() // the subrequest was stopped (subrequest.go)
			err = net.ErrClosed
		}
		if err == nil && !reused && r.upTLS != nil {
			if err = c.upstreamHandshake(r, l, uc); err != nil { // upstream_tls.go
				uc.nc.Close()
			}
		}
		if err != nil {
			var retry bool
			if lastStatus, retry = c.connectFailed(r, l, sel, t, tStart, err, bodyGone); retry {
				continue
			}
			break
		}
		if reused {
			t.connect = 0 // nothing to wait for: not worth a clock read
		} else {
			t.connect = c.h.p.now().Sub(tStart)
		}
		// proxy_ignore_client_abort off: a client that goes away while
		// the response head is awaited ends the request (499). The watch
		// starts once the request body, if streamed, has been read.
		var hw *headWatch
		watchHead := !l.set.ProxyIgnoreClientAbort
		if watchHead && (mode == bodyNone || mode == bodyMem) {
			hw = c.watchHead(uc)
		}
		sent, gone, got, rerr, err := c.sendRequest(r, l, uc, mode, body, tb)
		bodyGone = bodyGone || gone
		if err == nil && watchHead && hw == nil {
			hw = c.watchHead(uc)
		}
		if err != nil {
			if hw.stop(c) {
				return c.clientAborted(r, uc, sel, t, tStart)
			}
			uc.nc.Close()
			if reused && !bodyGone {
				fresh = true
				goto attempt
			}
			if isDialError(err) { // a lazy connection's handshake failed
				var retry bool
				if lastStatus, retry = c.connectFailed(r, l, sel, t, tStart, err, bodyGone); retry {
					continue
				}
				break
			}
			if errors.Is(err, errClientBody) {
				// the client failed, not the server
				sel.Done(balance.Outcome{})
				t.status = 0
				r.keepAlive = false
				if r.status == 0 {
					r.status = 400
				}
				return false
			}
			var retry bool
			if lastStatus, retry = c.upSendFailed(r, l, sel, t, tStart, err, sent, bodyGone); retry {
				continue
			}
			break
		}
		n, have, err := c.readResponseHead(r, l, uc, tb, got, rerr)
		if hw.stop(c) {
			return c.clientAborted(r, uc, sel, t, tStart)
		}
		if err != nil {
			uc.nc.Close()
			if reused && have == 0 && !bodyGone && !isTimeout(err) {
				// a pooled connection the server had closed
				fresh = true
				goto attempt
			}
			var retry bool
			if lastStatus, retry = c.headFailed(r, l, sel, t, tStart, err, bodyGone); retry {
				continue
			}
			break
		}
		uc.requests++
		r.clock = c.h.p.now()
		t.header = r.clock.Sub(tStart)
		t.status = r.resp.Status
		if cond := statusCond(r.resp.Status); cond != 0 && c.retryStatus(r, l, up, uc, sel, t, tStart, cond, bodyGone, &next) {
			pending = &next
			continue
		}
		if r.learning != nil {
			c.stickyHead(r, up, sel.Peer) // sticky.go
		}
		if r.cache != nil && r.cache.on {
			if done, ka := c.cacheResponse(r, uc, tb, n, have); done {
				uc.nc.Close()
				t.response = c.h.p.now().Sub(tStart)
				sel.Done(balance.Outcome{Latency: t.header})
				return ka
			}
		}
		if interceptable(l, r.resp.Status) {
			// proxy_intercept_errors: the error_page replaces the response
			intercept(r)
			uc.nc.Close()
			t.response = c.h.p.now().Sub(tStart)
			sel.Done(balance.Outcome{Latency: t.header})
			return c.sendError(r, r.resp.Status)
		}
		r.haveResp = true
		reusable, clientOK, upErr := c.sendResponse(r, l, uc, tb, n, have)
		if r.cache != nil && r.cache.on {
			reusable, upErr = c.cacheFinish(r, l, uc, tb, reusable, clientOK, upErr)
		}
		return c.responseDone(r, up, uc, sel, t, tStart, reusable && l.keepalive && up.pool != nil && !r.sentClose, clientOK, upErr)
	}
	if r.queueGone {
		return c.queueAborted(r) // queue.go
	}
	if bodyGone || mode == bodyStreamLength || mode == bodyStreamChunked {
		// a streamed body may be left unread: the connection cannot
		// carry another request (the error page, if any, is sent first)
		r.keepAlive = false
	}
	if r.cache != nil && r.cache.on {
		if handled, ka := c.cacheStaleOnError(r, lastStatus); handled {
			return ka
		}
	}
	return c.sendError(r, lastStatus)
}

// pickServer chooses the server of the next try, or reports false when
// none may be tried (the limits of *_next_upstream, or no live server).
func (c *conn) pickServer(r *request, l *location, up *upstream, bodyGone bool) (balance.Selection, bool) {
	if len(r.tries) > 0 && !c.mayRetry(r, l, 0, false, bodyGone) {
		return balance.Selection{}, false
	}
	return c.pick(r, up)
}

// pick asks up's balancer for a server, logging nginx's "no live
// upstreams" when the first try finds none.
func (c *conn) pick(r *request, up *upstream) (balance.Selection, bool) {
	r.bal.Client = r.remote.Addr()
	if up.key != nil {
		r.bal.Key = up.key.Append(r.bal.Key[:0], r)
	}
	var sel balance.Selection
	var err error
	if up.sticky == nil {
		sel, err = up.group.Pick(&r.bal)
	} else {
		sel, err = c.pickSticky(r, up) // sticky.go
	}
	if err != nil {
		if len(r.tries) == 0 {
			if up.queue != nil {
				return c.queuedPick(r, up) // queue.go
			}
			c.logf(r.srv, errlog.LevelError, "no live upstreams while connecting to upstream")
		}
		return balance.Selection{}, false
	}
	return sel, true
}

// upSendFailed logs and accounts a request that could not be sent to the
// server of sel; it returns the status to answer with and whether the
// next server may be tried. sent says no byte of it reached the server.
func (c *conn) upSendFailed(r *request, l *location, sel balance.Selection, t *try, tStart time.Time, err error, sent, bodyGone bool) (int, bool) {
	c.logf(r.srv, errlog.LevelError, "send() failed "+errText(err)+" while sending request to upstream")
	t.status, t.response = 502, c.h.p.now().Sub(tStart)
	sel.Done(balance.Outcome{Failed: true})
	return 502, c.mayRetry(r, l, nuError, !sent, bodyGone)
}

// headFailed logs and accounts a response head that could not be read
// from the server of sel (the connection is closed already); it returns
// the status to answer with and whether the next server may be tried.
func (c *conn) headFailed(r *request, l *location, sel balance.Selection, t *try, tStart time.Time, err error, bodyGone bool) (int, bool) {
	cond, status := nuError, 502
	switch {
	case isTimeout(err):
		cond, status = nuTimeout, 504
		c.logf(r.srv, errlog.LevelError, "upstream timed out (110: Connection timed out) while reading response header from upstream")
	case h1.IsInvalidHeader(err):
		cond = nuInvalidHeader
		var he *h1.Error
		errors.As(err, &he)
		c.logf(r.srv, errlog.LevelError, he.Reason+" while reading response header from upstream")
	case errors.Is(err, io.EOF):
		c.logf(r.srv, errlog.LevelError, "upstream prematurely closed connection while reading response header from upstream")
	default:
		c.logf(r.srv, errlog.LevelError, "recv() failed "+errText(err)+" while reading response header from upstream")
	}
	t.status, t.response = status, c.h.p.now().Sub(tStart)
	sel.Done(balance.Outcome{Failed: true})
	return status, c.mayRetry(r, l, cond, true, bodyGone)
}

// retryStatus drops a response whose status is the condition cond of
// *_next_upstream (its connection closed) when another server may be
// tried and one is left: it reports true with that server in next. If
// there is none, the response goes to the client.
func (c *conn) retryStatus(r *request, l *location, up *upstream, uc *upConn, sel balance.Selection, t *try, tStart time.Time, cond uint32, bodyGone bool, next *balance.Selection) bool {
	if !c.mayRetry(r, l, cond, true, bodyGone) {
		return false
	}
	r.bal.Client = r.remote.Addr()
	s, err := up.group.Pick(&r.bal)
	if err != nil {
		return false
	}
	if up.sticky != nil {
		up.sticky.bind(r, up.sticky.table(up.group), s.Peer) // sticky.go
	}
	uc.nc.Close()
	t.response = c.h.p.now().Sub(tStart)
	sel.Done(balance.Outcome{Failed: cond != nuHTTP403 && cond != nuHTTP404})
	*next = s
	return true
}

// responseDone ends a try whose response went to the client: it logs an
// upstream that failed meanwhile (upErr), accounts the try, pools the
// connection when keep says so or closes it, and reports whether the
// client connection stays open.
//
// Never inlined: see serve.
//
//go:noinline
func (c *conn) responseDone(r *request, up *upstream, uc *upConn, sel balance.Selection, t *try, tStart time.Time, keep, clientOK bool, upErr error) bool {
	t.response = c.h.p.now().Sub(tStart)
	lat := t.header
	if up.group.Metric() == balance.MetricLastByte {
		lat = t.response
	}
	switch {
	case upErr != nil && isTimeout(upErr):
		c.logf(r.srv, errlog.LevelError, "upstream timed out (110: Connection timed out) while reading upstream")
	case upErr != nil:
		c.logf(r.srv, errlog.LevelError, "upstream prematurely closed connection while reading upstream")
	}
	sel.Done(balance.Outcome{Failed: upErr != nil, Latency: lat})
	if r.learning != nil {
		c.stickyDone(r, up, sel.Peer, upErr == nil) // sticky.go
	}
	if keep {
		up.pool.put(uc, tStart.Add(t.response))
	} else {
		uc.nc.Close()
	}
	if !clientOK {
		r.keepAlive = false
		return false
	}
	return r.keepAlive
}

var errClientBody = errors.New("httpproxy: client body read failed")

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// idempotent reports whether nginx may resend a request with this method
// after it reached a server (all but POST, LOCK and PATCH).
func idempotent(m []byte) bool {
	switch string(m) {
	case "POST", "LOCK", "PATCH":
		return false
	}
	return true
}

// mayRetry reports whether another server may be tried after a failure of
// condition cond (0: only the limits are checked). reached says the
// request may have reached the server.
func (c *conn) mayRetry(r *request, l *location, cond uint32, reached, bodyGone bool) bool {
	if bodyGone {
		return false
	}
	if cond != 0 && l.next.mask&cond == 0 {
		return false
	}
	if reached && l.next.mask&nuNonIdempotent == 0 && !idempotent(r.h1.Method) {
		return false
	}
	if l.next.tries > 0 && len(r.tries) >= l.next.tries {
		return false
	}
	if l.next.timeout > 0 && c.h.p.now().Sub(r.start) >= l.next.timeout {
		return false
	}
	return true
}

// connectFailed logs and accounts a failed connection to the upstream
// server of sel; it returns the status to answer with and whether the
// next server may be tried.
func (c *conn) connectFailed(r *request, l *location, sel balance.Selection, t *try, tStart time.Time, err error, bodyGone bool) (int, bool) {
	timeout := errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err)
	cond, status := nuError, 502
	if timeout {
		cond, status = nuTimeout, 504
	}
	if a := t.addr; strings.HasPrefix(a, "unix:") && !timeout && !errors.As(err, new(*upTLSError)) {
		// a unix socket's connect() fails at once: nginx names the
		// socket, at crit unless the error is of the expected kind
		level := errlog.LevelCrit
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ECONNRESET) {
			level = errlog.LevelError
		}
		c.logf(r.srv, level, "connect() to "+a+" failed "+errText(err)+" while connecting to upstream")
	} else {
		c.logf(r.srv, errlog.LevelError, connectErrorText(err, timeout))
	}
	t.connect = -1
	t.status, t.response = status, c.h.p.now().Sub(tStart)
	sel.Done(balance.Outcome{Failed: true})
	return status, c.mayRetry(r, l, cond, false, bodyGone)
}

// beginTry starts the next try of a request to up: its server is the
// selection kept in *pending (a retry on the same server), or the next
// pick (pickServer), and the try is recorded in r.tries. It returns
// false when no server is left. tStart is when the try began.
func (c *conn) beginTry(r *request, l *location, up *upstream, pending **balance.Selection, bodyGone bool) (sel balance.Selection, t *try, tStart time.Time, ok bool) {
	if *pending != nil {
		sel, *pending = **pending, nil
	} else if sel, ok = c.pickServer(r, l, up, bodyGone); !ok {
		return sel, nil, time.Time{}, false
	}
	r.tries = append(r.tries, try{addr: sel.Peer.Addr(), connect: -1, header: -1, response: -1})
	r.clock = time.Time{} // a response dropped for a retry dates nothing
	return sel, &r.tries[len(r.tries)-1], c.h.p.now(), true
}

// upstreamConn returns a pooled connection to peer, or a new one; now is
// the time of the attempt.
func (c *conn) upstreamConn(r *request, up *upstream, peer *balance.Peer, l *location, fresh bool, now time.Time) (*upConn, bool, error) {
	key := poolKey{addr: peer.Addr()}
	if r.upTLS != nil {
		key.tls, key.name = r.upTLS, upstreamTLSName(r)
	}
	if l.keepalive && up.pool != nil && !fresh {
		if uc := up.pool.get(key, now); uc != nil {
			return uc, true, nil
		}
	}
	var nc net.Conn
	var err error
	var lazy *upSock
	if d := c.h.p.opts.Dial; d != nil {
		nc, err = d(peer.Network(), peer.DialAddr(), l.set.ProxyConnectTimeout, l.bind)
	} else if ap, ok := sockAddr(peer, l); ok {
		// A plain connection is lazy: sendRequest's first write learns
		// how the handshake ended.
		var s *upSock
		if s, err = dialSock(ap, l.set.ProxyConnectTimeout, l.set.ProxySocketKeepalive, r.upTLS == nil); err == nil {
			nc = s
			if s.connecting {
				lazy = s
			}
		}
	} else {
		// KeepAlive -1: the net package leaves SO_KEEPALIVE alone, off
		// unless proxy_socket_keepalive turns it on with the system's
		// timers, as nginx does.
		d := net.Dialer{Timeout: l.set.ProxyConnectTimeout, KeepAlive: -1}
		if l.bind != nil && peer.Network() == "tcp" {
			d.LocalAddr = l.bind // bound after Control runs: no early connect
		} else {
			d.Control = startConnect
		}
		if l.set.ProxySocketKeepalive && peer.Network() == "tcp" {
			d.Control = withKeepAlive(d.Control)
		}
		nc, err = d.Dial(peer.Network(), peer.DialAddr())
	}
	if err != nil {
		return nil, false, err
	}
	uc := &upConn{nc: nc, key: key, created: now, lazy: lazy}
	switch nc.(type) {
	case *net.TCPConn, *upSock:
		if rc := rawConn(nc); rc != nil {
			uc.sock, uc.rc = nc, rc
		}
	}
	return uc, false, nil
}

// sockAddr returns the address of peer when dialSock can connect to it: a
// TCP server given by IP address, without proxy_bind.
func sockAddr(peer *balance.Peer, l *location) (netip.AddrPort, bool) {
	if !haveSock || peer.Network() != "tcp" || l.bind != nil {
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(peer.DialAddr())
	if err != nil || ap.Addr().Zone() != "" {
		return netip.AddrPort{}, false
	}
	return ap, true
}

// withKeepAlive returns a net.Dialer Control function that turns
// SO_KEEPALIVE on, then runs next (if any).
func withKeepAlive(next func(network, address string, rc syscall.RawConn) error) func(network, address string, rc syscall.RawConn) error {
	return func(network, address string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
		})
		if next != nil {
			return next(network, address, rc)
		}
		return nil
	}
}

// startConnect is the net.Dialer's Control function: it starts the
// connection of a TCP socket before the net package does. Over loopback
// the handshake is complete by the time connect(2) returns EINPROGRESS,
// so the net package's own connect(2) then finds the socket connected and
// returns at once, without parking the goroutine until the poller reports
// the socket writable and without arming a write deadline for that wait.
// When the handshake is still under way (a remote server) that connect(2)
// reports EALREADY and the net package waits as it always does, under the
// same timeout; a refused connection is reported by it as before.
func startConnect(network, address string, rc syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || ap.Addr().Zone() != "" {
		return nil
	}
	var v6 bool
	switch a := ap.Addr(); {
	case network == "tcp4" && a.Unmap().Is4():
		ap = netip.AddrPortFrom(a.Unmap(), ap.Port())
	case network == "tcp6":
		v6 = true
	default:
		return nil
	}
	var cerr error
	if err := rc.Control(func(fd uintptr) { cerr = sysConnect(int(fd), ap, v6) }); err != nil {
		return nil
	}
	switch cerr {
	case nil, syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
		return nil
	}
	return os.NewSyscallError("connect", cerr)
}

// exchange writes a request that is whole in req to a plain TCP upstream
// and reads the first bytes of the response into buf, under the read
// deadline already set. The request is written from inside the read, after
// the socket's readiness was reset: the read then waits for the answer at
// once instead of first trying a read(2) that can only find nothing (no
// byte of a response comes before its request). Bytes the server sent
// before the request (an idle connection it closed) still end the wait:
// its answer to the request (a reset, or the response) wakes the read.
// written is how much of req went out, and whole says it all did (err is
// then a read error). When it is short (a full socket buffer) and err is
// nil, nothing was read and the caller writes the rest.
//
// With mayDefer (the write deadline is set), the write may be deferred
// (wbatch.go): the read then waits at once, and the write is settled when
// the wait ends. A write taken back because the wait ended before it was
// made (the server closed an idle connection) is reported as none of req
// written.
func (uc *upConn) exchange(req, buf []byte, mayDefer bool) (written, n int, whole bool, err error) {
	if uc.xfn == nil {
		uc.xfn = uc.exchangeStep
	}
	uc.xreq, uc.xbuf, uc.xwrit, uc.xn, uc.xerr, uc.xdefer = req, buf, -1, 0, nil, mayDefer
	perr := uc.rc.Read(uc.xfn)
	written, n, err = uc.xwrit, uc.xn, uc.xerr
	uc.xreq, uc.xbuf, uc.xerr = nil, nil, nil
	if written < 0 {
		written = 0
	}
	if err == nil && perr != nil {
		err = perr
	}
	if uc.ws.pending() {
		rest, sent, werr := uc.ws.settle()
		uc.ws.recycle()
		switch {
		case werr != nil:
			return sent, 0, false, werr
		case len(rest) > 0:
			if err == nil {
				err = errEarlyResponse
			}
			return 0, 0, false, err
		}
	}
	return written, n, written == len(req), err
}

// errEarlyResponse reports an upstream that sent bytes before the request
// it answers went out.
var errEarlyResponse = errors.New("upstream sent data before the request")

// exchangeStep is the function exchange runs on the socket: first the
// write, then one read(2) per readiness.
func (uc *upConn) exchangeStep(fd uintptr) bool {
	if uc.xwrit < 0 && uc.xdefer && uc.lazy == nil && uc.ws.deferWrite(uc.rc, uc.xreq) {
		uc.xwrit = len(uc.xreq)
		return false // wait for the response
	}
	if uc.xwrit < 0 {
		m, err := writeAll(int(fd), uc.xreq)
		uc.xwrit = m
		if s := uc.lazy; s != nil {
			underWay, derr := s.firstWrite(m, err)
			if underWay {
				return true // sendRequest waits for the handshake
			}
			uc.lazy = nil
			if derr != nil {
				uc.xerr = derr
				return true
			}
		}
		switch {
		case err == syscall.EAGAIN:
			return true // the caller writes the rest
		case err != nil:
			uc.xerr = err
			return true
		}
		return false // wait for the response
	}
	m, err := sysRead(int(fd), uc.xbuf)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return false
	case err != nil:
		uc.xerr = os.NewSyscallError("read", err)
	case m == 0:
		uc.xerr = io.EOF
	default:
		uc.xn = m
	}
	return true
}

// resolvePass evaluates a proxy_pass with variables: the upstream it names
// (an upstream block, or an address), and the URI it gives, if any.
func (c *conn) resolvePass(r *request, pc *passConf) (*upstream, []byte, bool) {
	p := c.h.p
	u := pc.url.Append(nil, r)
	s := string(u)
	scheme := "http"
	switch {
	case strings.HasPrefix(strings.ToLower(s), "http://"):
		s = s[7:]
		r.upTLS = nil
	case strings.HasPrefix(strings.ToLower(s), "https://"):
		s, scheme = s[8:], "https"
		r.upTLS = pc.tls
	default:
		c.logf(r.srv, errlog.LevelError, fmt.Sprintf("invalid URL prefix in %q", u))
		return nil, nil, false
	}
	host, uri := s, ""
	if i := strings.IndexAny(s, "/?"); i >= 0 {
		host, uri = s[:i], s[i:]
	}
	r.proxyHost, _ = proxyHostPort(scheme, host)
	if up := p.groups[strings.ToLower(host)]; up != nil {
		return up, uriBytes(uri), true
	}
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		if scheme == "https" {
			addr = net.JoinHostPort(strings.Trim(host, "[]"), "443")
		} else {
			addr = net.JoinHostPort(strings.Trim(host, "[]"), "80")
		}
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		c.logf(r.srv, errlog.LevelError, fmt.Sprintf("no resolver defined to resolve %s", host))
		return nil, nil, false
	}
	up, err := p.dynamicUpstream(ap.String())
	if err != nil {
		return nil, nil, false
	}
	return up, uriBytes(uri), true
}

func uriBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// dynamicUpstream returns the one-server upstream for an address named by
// a proxy_pass with variables. Requests read the map of such upstreams
// without a lock; a new address publishes a copy.
func (p *proxy) dynamicUpstream(addr string) (*upstream, error) {
	if m := p.dyn.Load(); m != nil {
		if up := (*m)[addr]; up != nil {
			return up, nil
		}
	}
	p.dynMu.Lock()
	defer p.dynMu.Unlock()
	old := p.dyn.Load()
	if old != nil {
		if up := (*old)[addr]; up != nil {
			return up, nil
		}
	}
	g, err := p.opts.Registry.Build("http-dyn:"+addr, []balance.Server{{Addr: addr}}, balance.Config{})
	if err != nil {
		return nil, err
	}
	up := &upstream{name: addr, group: g}
	m := make(map[string]*upstream, 1)
	if old != nil {
		m = make(map[string]*upstream, len(*old)+1)
		for k, v := range *old {
			m[k] = v
		}
	}
	m[addr] = up
	p.dyn.Store(&m)
	return up, nil
}

// replaceURI applies nginx's rule for proxy_pass with a URI part: the part
// of the normalised URI matching the location prefix is replaced by it.
func (c *conn) replaceURI(r *request, l *location, pc *passConf) []byte {
	uri := r.h1.URI
	if r.rw.noLocation {
		// after rewrite ... break nginx ignores the URI part and sends
		// the new URI whole
		return internalURI(r)
	}
	out := make([]byte, 0, len(pc.uri)+len(uri)+len(r.h1.Args)+8)
	out = append(out, pc.uri...)
	if l.cfg != nil && !l.exact && len(uri) >= len(l.name) && string(uri[:len(l.name)]) == l.name {
		out = appendEscapedURI(out, uri[len(l.name):])
	} else if l.cfg == nil {
		out = appendEscapedURI(out, uri)
	}
	if len(r.h1.Args) > 0 {
		out = append(out, '?')
		out = append(out, r.h1.Args...)
	}
	return out
}

// appendEscapedURI escapes a decoded path as nginx's NGX_ESCAPE_URI.
func appendEscapedURI(dst, p []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, b := range p {
		if b <= ' ' || b >= 0x7f || b == '#' || b == '%' || b == '?' {
			dst = append(dst, '%', hex[b>>4], hex[b&15])
			continue
		}
		dst = append(dst, b)
	}
	return dst
}

// prepareBody decides how the request body goes upstream, reading it whole
// when it is to be buffered. It reports false when it has answered the
// client itself (413, or a client that failed).
func (c *conn) prepareBody(r *request, l *location) (int, []byte, bool) {
	if !l.set.ProxyPassRequestBody {
		c.discardBody(r)
		return bodyNone, nil, true
	}
	switch {
	case r.bodyRead: // read whole for the mirrors
		return bodyMem, r.preBody, true
	case r.h1.Chunked:
		if l.set.ProxyRequestBuffering || l.http10 {
			body, ok := c.readChunkedWhole(r, l)
			return bodyMem, body, ok
		}
		return bodyStreamChunked, nil, true
	case r.h1.ContentLength == 0:
		return bodyMem, nil, true
	case r.h1.ContentLength > 0:
		cl := r.h1.ContentLength
		if avail := int64(c.r1 - c.r0); avail >= cl {
			body := c.buf[c.r0 : c.r0+int(cl)]
			c.r0 += int(cl)
			r.reqLen += cl
			return bodyMem, body, true
		}
		if l.set.ProxyRequestBuffering && cl <= l.set.ClientBodyBufferSize {
			body, ok := c.readBodyWhole(r, l, cl)
			return bodyMem, body, ok
		}
		return bodyStreamLength, nil, true
	}
	return bodyNone, nil, true
}

// continue100 sends "100 Continue" when the client asked for it and no
// body byte has arrived yet.
func (c *conn) continue100(r *request) {
	if r.h1.ExpectContinue && c.r0 == c.r1 {
		r.h1.ExpectContinue = false
		c.write(r, []byte("HTTP/1.1 100 Continue\r\n\r\n"))
	}
}

// clientRead reads body bytes: first those already buffered, then from the
// socket under client_body_timeout.
func (c *conn) clientRead(r *request, p []byte) (int, error) {
	if c.r0 < c.r1 {
		n := copy(p, c.buf[c.r0:c.r1])
		c.r0 += n
		return n, nil
	}
	c.continue100(r)
	c.rdl.set(c.nc, true, r.loc.set.ClientBodyTimeout)
	n, err := c.nc.Read(p)
	if n > 0 {
		return n, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return 0, err
}

func (c *conn) bodyReadFailed(r *request, err error) {
	if isTimeout(err) {
		c.logf(r.srv, errlog.LevelInfo, "client timed out (110: Connection timed out) while reading client request body")
		r.status = 408
		c.timedOut(r)
	} else {
		c.logf(r.srv, errlog.LevelInfo, "client prematurely closed connection while reading client request body")
		r.status = 400
		c.noLinger = true
	}
	r.keepAlive = false
}

// readBodyWhole reads a Content-Length body into memory.
func (c *conn) readBodyWhole(r *request, l *location, cl int64) ([]byte, bool) {
	if int64(cap(c.req.body)) < cl {
		c.req.body = make([]byte, cl)
	}
	body := c.req.body[:cl]
	got := 0
	for int64(got) < cl {
		n, err := c.clientRead(r, body[got:])
		if err != nil {
			c.bodyReadFailed(r, err)
			return nil, false
		}
		got += n
	}
	r.reqLen += cl
	return body, true
}

// readChunked decodes a chunked request body, passing each run of data to
// sink. Bytes read past the body's end are kept for the next request.
func (c *conn) readChunked(r *request, l *location, sink func([]byte) error) (ok bool) {
	var dec h1.ChunkedDecoder
	var total int64
	max := l.set.ClientMaxBodySize
	// first what is buffered, then the socket through a scratch buffer
	feed := func(src []byte) (consumed int, err error) {
		for consumed < len(src) && !dec.Done() {
			n, data, err := dec.Decode(src[consumed:])
			consumed += n
			if err != nil {
				return consumed, err
			}
			if len(data) > 0 {
				total += int64(len(data))
				if max > 0 && total > max {
					return consumed, errTooLarge
				}
				if err := sink(data); err != nil {
					return consumed, err
				}
			}
		}
		return consumed, nil
	}
	fail := func(err error) bool {
		switch {
		case errors.Is(err, errTooLarge):
			c.logf(r.srv, errlog.LevelError, fmt.Sprintf("client intended to send too large chunked body: %d bytes", total))
			r.keepAlive = false
			c.unread = true
			c.sendError(r, 413)
		case errors.Is(err, errSink):
			r.keepAlive = false
		default:
			var he *h1.Error
			if errors.As(err, &he) {
				c.logf(r.srv, errlog.LevelInfo, "client sent invalid chunked body")
				r.keepAlive = false
				c.sendError(r, 400)
			} else {
				c.bodyReadFailed(r, err)
			}
		}
		return false
	}
	n, err := feed(c.buf[c.r0:c.r1])
	c.r0 += n
	r.reqLen += int64(n)
	if err != nil {
		return fail(err)
	}
	if dec.Done() {
		return true
	}
	c.continue100(r)
	tmp := getBuf(16 << 10)
	defer putBuf(tmp)
	for !dec.Done() {
		m, err := c.clientRead(r, tmp)
		if err != nil {
			return fail(err)
		}
		n, err := feed(tmp[:m])
		r.reqLen += int64(n)
		if err != nil {
			return fail(err)
		}
		if dec.Done() && n < m {
			c.carry = append(c.carry[:0], tmp[n:m]...)
		}
	}
	return true
}

var (
	errTooLarge = errors.New("httpproxy: body too large")
	errSink     = errors.New("httpproxy: upstream write failed")
)

// readChunkedWhole reads a chunked body into memory.
func (c *conn) readChunkedWhole(r *request, l *location) ([]byte, bool) {
	body := c.req.body[:0]
	ok := c.readChunked(r, l, func(d []byte) error {
		body = append(body, d...)
		return nil
	})
	c.req.body = body
	return body, ok
}

// buildUpstreamHead writes the request head for the upstream into c.req.uh,
// followed by the body when it is in memory and small.
//
// Never inlined: see serve.
//
//go:noinline
func (c *conn) buildUpstreamHead(r *request, l *location, uri []byte, mode int, body []byte) {
	f := h1.Forward{URI: uri, HTTP10: l.http10, NoClientHeaders: !l.set.ProxyPassRequestHeaders}
	// evaluate the header values into setBuf first, then slice it
	sb := c.req.setBuf[:0]
	var hostOff, hostEnd, connOff, connEnd int
	hostOff = len(sb)
	if l.hostVar {
		sb = l.hostTmpl.Append(sb, r)
	} else {
		sb = append(sb, l.hostConst...)
	}
	hostEnd = len(sb)
	connOff = len(sb)
	if l.connVar {
		sb = l.connTmpl.Append(sb, r)
	} else {
		sb = append(sb, l.connConst...)
	}
	connEnd = len(sb)
	type span struct{ a, b int }
	var spansArr [16]span
	spans := spansArr[:0]
	for i := range l.sets {
		s := &l.sets[i]
		a := len(sb)
		sb = s.appendValue(sb, r)
		spans = append(spans, span{a, len(sb)})
	}
	c.req.setBuf = sb
	if hostEnd > hostOff {
		f.Host = sb[hostOff:hostEnd]
	}
	f.Connection = sb[connOff:connEnd:connEnd]
	r.sentClose = containsToken(f.Connection, "close")
	sets := c.req.sets[:0]
	for i := range l.sets {
		sets = append(sets, h1.Header{Name: l.sets[i].name, Value: sb[spans[i].a:spans[i].b]})
	}
	c.req.sets = sets
	f.Set = sets
	switch mode {
	case bodyMem:
		f.Framing, f.ContentLength = h1.BodyLength, int64(len(body))
	case bodyStreamLength:
		f.Framing, f.ContentLength = h1.BodyLength, r.h1.ContentLength
	case bodyStreamChunked:
		f.Framing = h1.BodyChunked
	}
	if r.cache != nil && r.cache.on {
		c.cacheForward(r, &f) // cache.go
	}
	c.req.uh = h1.AppendRequestHead(c.req.uh[:0], &r.h1, &f)
	if mode == bodyMem && len(body) <= 64<<10 {
		c.req.uh = append(c.req.uh, body...)
	}
}

// sendRequest writes the request to the upstream. sent reports whether any
// byte was written; gone whether streamed body bytes were consumed from
// the client (the request cannot be sent again); err is a failure to send.
// A request sent whole by exchange also has the first got bytes of the
// response in tb, or the error that reading them met in rerr, for
// readResponseHead.
//
// Never inlined: see serve.
//
//go:noinline
func (c *conn) sendRequest(r *request, l *location, uc *upConn, mode int, body []byte, tb []byte) (sent, gone bool, got int, rerr, err error) {
	uh := c.req.uh
	if uc.rc != nil && uc.nc == uc.sock && (mode == bodyNone || mode == bodyMem && len(body) <= 64<<10) {
		uc.rdl.set(uc.nc, true, l.set.ProxyReadTimeout)
		mayDefer := uc.lazy == nil && len(uh) <= wbMax
		if mayDefer {
			uc.wdl.set(uc.nc, false, l.set.ProxySendTimeout) // for a write the batch leaves unfinished
		}
		w, n, whole, xerr := uc.exchange(uh, tb, mayDefer)
		switch {
		case whole:
			return true, false, n, xerr, nil
		case xerr != nil:
			return w > 0, false, 0, nil, xerr
		}
		uh = uh[w:] // a full socket buffer: the rest as usual
		sent = w > 0
	}
	if s := uc.lazy; s != nil {
		uc.lazy = nil
		t := &r.tries[len(r.tries)-1]
		start := c.h.p.now()
		if err := s.finishConnect(l.set.ProxyConnectTimeout); err != nil {
			return false, false, 0, nil, err
		}
		t.connect += c.h.p.now().Sub(start)
	}
	uc.noDelay() // writes may follow one another
	uc.wdl.set(uc.nc, false, l.set.ProxySendTimeout)
	n, err := uc.nc.Write(uh)
	if n > 0 {
		sent = true
	}
	if err != nil {
		return sent, false, 0, nil, err
	}
	switch mode {
	case bodyMem:
		if len(body) > 64<<10 {
			if _, err := uc.nc.Write(body); err != nil {
				return true, false, 0, nil, err
			}
		}
	case bodyStreamLength:
		rem := r.h1.ContentLength
		for rem > 0 {
			buf := tb
			if int64(len(buf)) > rem {
				buf = buf[:rem]
			}
			m, err := c.clientRead(r, buf)
			if err != nil {
				c.bodyReadFailed(r, err)
				return true, true, 0, nil, errClientBody
			}
			// Bytes taken from the read buffer are consumed as well as
			// those read from the socket: either way a retry could not
			// send the whole body again.
			gone = true
			rem -= int64(m)
			r.reqLen += int64(m)
			uc.wdl.set(uc.nc, false, l.set.ProxySendTimeout)
			if _, err := uc.nc.Write(buf[:m]); err != nil {
				return true, gone, 0, nil, err
			}
		}
	case bodyStreamChunked:
		gone = true
		var werr error
		var hdr [20]byte
		ok := c.readChunked(r, l, func(d []byte) error {
			uc.wdl.set(uc.nc, false, l.set.ProxySendTimeout)
			bufs := net.Buffers{h1.AppendChunkHeader(hdr[:0], len(d)), d, []byte("\r\n")}
			if _, err := bufs.WriteTo(uc.nc); err != nil {
				werr = err
				return errSink
			}
			return nil
		})
		if werr != nil {
			return true, true, 0, nil, werr
		}
		if !ok {
			return true, true, 0, nil, errClientBody
		}
		if _, err := uc.nc.Write([]byte("0\r\n\r\n")); err != nil {
			return true, true, 0, nil, err
		}
	}
	return true, gone, 0, nil, nil
}

// readResponseHead reads the upstream response head into tb, where the
// first got bytes may be already (or rerr, the error met reading them:
// see sendRequest); it returns the head's length and the bytes read.
// Interim 1xx responses other than 101 are skipped.
func (c *conn) readResponseHead(r *request, l *location, uc *upConn, tb []byte, got int, rerr error) (n, have int, err error) {
	if rerr != nil {
		return 0, got, rerr
	}
	have = got
	opt := h1.ResponseOptions{MaxHeadSize: int(l.set.ProxyBufferSize), HeadRequest: r.h1.IsHead() && (r.cache == nil || !r.cache.getForHead)}
	if opt.MaxHeadSize > len(tb) {
		opt.MaxHeadSize = len(tb)
	}
	uc.rdl.set(uc.nc, true, l.set.ProxyReadTimeout)
	for {
		if have > 0 {
			n, err := h1.ParseResponse(tb[:have], &r.resp, opt)
			if err == nil {
				if r.resp.Interim() {
					have = copy(tb, tb[n:have])
					continue
				}
				return n, have, nil
			}
			if err != h1.ErrNeedMore {
				return 0, have, err
			}
		}
		if have == len(tb) {
			return 0, have, &h1.Error{Status: 502, Reason: "upstream sent too big header"}
		}
		m, err := uc.nc.Read(tb[have:])
		have += m
		if err != nil && m == 0 {
			return 0, have, err
		}
	}
}

// sendResponse writes the upstream response to the client, streaming the
// body. reusable says the upstream connection can be pooled; clientOK that
// the client connection is intact; upErr is a failure of the upstream in
// the middle of the body.
func (c *conn) sendResponse(r *request, l *location, uc *upConn, tb []byte, n, have int) (reusable, clientOK bool, upErr error) {
	resp := &r.resp
	status := resp.Status
	upgrade := status == 101 && r.h1.Upgrade != nil
	clientChunked := false
	switch resp.Body {
	case h1.BodyChunked, h1.BodyUntilClose:
		if upgrade {
			break
		}
		if c.chunked(r, l) {
			clientChunked = true
		} else {
			r.keepAlive = false // close-delimited
		}
	}
	if upgrade {
		r.keepAlive = false
	} else {
		c.keepAliveOK(r)
	}
	// the status line as the upstream sent it, or the error_page status
	var lineArr [64]byte
	line := appendStatus(lineArr[:0], status)
	line = append(line, ' ')
	if e := r.ep.errStatus; e != 0 && !upgrade {
		status = e
		line = append(line[:0], statusLine(status)...)
	} else if len(resp.Reason) > 0 && len(resp.Reason) < 48 {
		line = append(line, resp.Reason...)
	} else if s, ok := statusLines[status]; ok {
		line = append(line[:0], s...)
	}
	r.status = status
	out, gz := c.responseHead(r, l, status, line, upgrade, clientChunked)
	head := len(out)
	r.outHead = append(r.outHead[:0], out...)
	r.headSent = int64(head)
	t := &r.tries[len(r.tries)-1]
	if upgrade {
		out = append(out, tb[n:have]...)
		c.req.out = out
		if _, err := c.write(r, out); err != nil {
			return false, false, nil
		}
		r.bodySent = int64(have - n)
		c.tunnel(r, l, uc)
		return false, false, nil
	}
	c.startRate(r, l)
	if r.mods.gunzip && resp.Body != h1.BodyNone {
		return c.sendGunzipped(r, l, uc, tb, n, have, out) // gunzip.go (and sub_filter)
	}
	if resp.Body != h1.BodyNone && (gz || r.sub != nil) {
		c.req.out = out                                  // the head
		return c.sendFiltered(r, l, uc, tb, n, have, gz) // gzip.go
	}
	switch resp.Body {
	case h1.BodyNone:
		c.req.out = out
		c.lastWrite = true
		_, err := c.write(r, out)
		return resp.KeepAlive && have == n, err == nil, nil
	case h1.BodyLength:
		rem := resp.ContentLength
		b := tb[n:have]
		reusable = resp.KeepAlive
		if int64(len(b)) > rem {
			b, reusable = b[:rem], false
		}
		rem -= int64(len(b))
		t.length += int64(len(b))
		out = append(out, b...)
		c.req.out = out
		c.lastWrite = rem == 0 && r.rate.rate == 0 // write, which writeFirst calls first, clears it
		if err := c.writeFirst(r, out, head); err != nil {
			return false, false, nil
		}
		r.bodySent += int64(len(b))
		for rem > 0 {
			if k := rem; k >= spliceMin && (r.rate.rate == 0 || r.rate.free() >= spliceMin) {
				if r.rate.rate != 0 {
					k = min(k, r.rate.free()) // limit_rate_after
				}
				nn, err, client := c.copyN(r, l, uc, k)
				r.rate.sent += nn
				rem -= nn
				t.length += nn
				r.bodySent += nn
				if err != nil {
					if client {
						return false, false, nil
					}
					return false, false, err
				}
				continue
			}
			buf := tb
			if int64(len(buf)) > rem {
				buf = buf[:rem]
			}
			m, err := c.upRead(l, uc, buf)
			if m > 0 {
				rem -= int64(m)
				t.length += int64(m)
				if werr := c.writeBody(r, buf[:m]); werr != nil {
					return false, false, nil
				}
				r.bodySent += int64(m)
			}
			if err != nil && rem > 0 {
				return false, false, err
			}
		}
		return reusable, true, nil
	case h1.BodyChunked:
		var watch clientWatch
		defer watch.stop(c)
		var dec h1.ChunkedDecoder
		b := tb[n:have]
		first := true
		for {
			k, w, err := decodeChunks(&dec, b, clientChunked)
			t.length += int64(k)
			if err != nil {
				return false, false, err
			}
			if first {
				out = append(out, b[:w]...)
				c.req.out = out
				c.lastWrite = dec.Done() && r.rate.rate == 0 // write, which writeFirst calls first, clears it
				if err := c.writeFirst(r, out, head); err != nil {
					return false, false, nil
				}
				first = false
			} else if w > 0 {
				if err := c.writeBody(r, b[:w]); err != nil {
					return false, false, nil
				}
			}
			r.bodySent += int64(w)
			if dec.Done() {
				return resp.KeepAlive && k == len(b), clientChunked, nil
			}
			if !l.set.ProxyIgnoreClientAbort {
				watch.start(c, uc)
			}
			m, err := c.upRead(l, uc, tb)
			if m == 0 && err != nil {
				if watch.aborted() {
					return false, false, nil
				}
				return false, false, err
			}
			b = tb[:m]
		}
	default: // until close
		var watch clientWatch
		defer watch.stop(c)
		b := tb[n:have]
		first := true
		var hdr [20]byte
		for {
			if len(b) > 0 || first {
				t.length += int64(len(b))
				var err error
				switch {
				case first:
					if clientChunked && len(b) > 0 {
						out = h1.AppendChunk(out, b)
					} else if !clientChunked {
						out = append(out, b...)
					}
					c.req.out = out
					err = c.writeFirst(r, out, head)
					first = false
				case clientChunked:
					c.limit(r, len(b))
					c.writeDeadline(r)
					bufs := net.Buffers{h1.AppendChunkHeader(hdr[:0], len(b)), b, []byte("\r\n")}
					_, err = bufs.WriteTo(c.nc)
				default:
					err = c.writeBody(r, b)
				}
				if err != nil {
					return false, false, nil
				}
				r.bodySent += int64(len(b))
			}
			if !l.set.ProxyIgnoreClientAbort {
				watch.start(c, uc)
			}
			m, err := c.upRead(l, uc, tb)
			b = tb[:m]
			if m == 0 && err != nil {
				if watch.aborted() {
					return false, false, nil
				}
				if errors.Is(err, io.EOF) {
					if clientChunked {
						if _, err := c.write(r, []byte("0\r\n\r\n")); err != nil {
							return false, false, nil
						}
						return false, true, nil
					}
					return false, false, nil // close-delimited: the close ends it
				}
				return false, false, err
			}
		}
	}
}

// responseHead builds the head of a proxied response for the client:
// the status line, the upstream headers as the location's filters
// (proxy_hide_header, proxy_redirect, proxy_cookie_*, gzip, gunzip,
// charset, expires) leave them, the framing and the final headers. It
// reports whether the body is to be compressed (and sets r.mods.gunzip
// when it is to be decompressed). It is a function of its own so
// that its working state is off the stack while the body is copied: a
// goroutine that grows past its first stack keeps the larger one while
// its connection waits idle.
func (c *conn) responseHead(r *request, l *location, status int, line []byte, upgrade, clientChunked bool) (out []byte, gz bool) {
	resp := &r.resp
	// charset and expires (headers.go)
	hdr := !upgrade && (l.charset != nil || l.exp != nil)
	var uh upHeaders
	if hdr {
		uh = scanUpHeaders(resp.Headers, l, upgrade)
	}
	c.setExpires(r, l.exp, status, uh.lastMod)
	// sub_filter (subfilter.go): before gzip, as in nginx; it sets r.sub
	if l.sub != nil && !upgrade {
		c.subProxied(r, l)
	}
	// gzip (gzip.go)
	var gzVary bool
	if l.gz != nil && !upgrade {
		var rh respHeaders
		scanRespHeaders(resp.Headers, &rh)
		r.exp.patch(&rh)
		clen := int64(-1)
		if (resp.Body == h1.BodyLength || resp.ContentLength >= 0) && r.sub == nil {
			clen = resp.ContentLength
		}
		if r.sub != nil && !l.sub.lastModified {
			rh.hasLastMod, rh.hasETag = false, false
		}
		gzVary, gz = c.gzipCheck(r, l.gz, status, &rh, clen)
		if gz && resp.Body != h1.BodyNone && !c.chunked(r, l) {
			r.keepAlive = false // close-delimited
		}
	}
	var gunz bool
	if l.mods != nil && l.mods.gunzip != nil && !upgrade {
		var v bool
		v, gunz = c.gunzipCheck(r, l, l.mods.gunzip) // gunzip.go
		gzVary = gzVary || v
	}
	out = c.appendHeadStart(c.req.out[:0], r, status, line)
	for i := range resp.Headers {
		h := &resp.Headers[i]
		if len(h.Name) == 18 && equalFoldLower(h.Name, "x-accel-limit-rate") {
			xAccelLimitRate(r, h.Value)
		}
		if skipResponseHeader(h.Name, l, upgrade) {
			continue
		}
		if len(l.redirects) > 0 && (len(h.Name) == 8 || len(h.Name) == 7) &&
			(equalFoldLower(h.Name, "location") || equalFoldLower(h.Name, "refresh")) {
			out = c.appendRedirected(out, r, h, l)
			continue
		}
		if l.cookies != nil && len(h.Name) == 10 && equalFoldLower(h.Name, "set-cookie") {
			out = append(out, h.Name...)
			out = append(out, ':', ' ')
			out = append(out, c.rewriteCookie(r, l.cookies, h.Value)...)
			out = append(out, '\r', '\n')
			continue
		}
		if r.sub != nil {
			var skip bool
			if out, skip = subSkipHeader(h, out, r.sub); skip {
				continue
			}
		}
		if gz || gunz {
			var skip bool
			if out, skip = gzipSkipHeader(h, out); skip {
				continue
			}
			if gunz && len(h.Name) == 16 && equalFoldLower(h.Name, "content-encoding") {
				continue
			}
		}
		if hdr {
			var done bool
			if out, done = c.rewriteUpHeader(out, r, l, i, &uh, status); done {
				continue
			}
		}
		out = append(out, h.Name...)
		out = append(out, ':', ' ')
		out = append(out, h.Value...)
		out = append(out, '\r', '\n')
	}
	if upgrade {
		out = append(out, "Connection: upgrade\r\n"...)
	}
	out = appendGzipHeaders(out, gzVary, gz)
	switch {
	case gz || gunz || r.sub != nil:
		if resp.Body != h1.BodyNone && c.chunked(r, l) {
			out = append(out, "Transfer-Encoding: chunked\r\n"...)
		}
	case resp.Body == h1.BodyLength || (resp.Body == h1.BodyNone && resp.ContentLength >= 0 && r.h1.IsHead()):
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, resp.ContentLength, 10)
		out = append(out, '\r', '\n')
	case clientChunked:
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	}
	if upgrade {
		if r.sticky != nil {
			out = c.appendStickyCookie(out, r) // sticky.go
		}
		out = append(out, "\r\n"...)
	} else {
		out = c.appendHeadEnd(out, r, status)
	}
	return out, gz
}

// chunked reports whether a response body of unknown length goes to the
// client chunked: to an HTTP/1.1 client unless chunked_transfer_encoding
// is off, when it is sent as it is and the connection closes at its end,
// as nginx does. An HTTP/2 stream is always chunked towards its bridge
// (h2.go), which frames the body itself.
func (c *conn) chunked(r *request, l *location) bool {
	return r.h1.Minor >= 1 && (l.set.ChunkedTransferEncoding || c.proto != nil)
}

// decodeChunks runs the chunked decoder over b. It returns how many bytes
// it consumed and how many of b's first bytes are to be written: the raw
// chunked bytes when the client gets chunked, else the data moved to the
// front of b.
func decodeChunks(dec *h1.ChunkedDecoder, b []byte, raw bool) (consumed, w int, err error) {
	for consumed < len(b) && !dec.Done() {
		n, data, err := dec.Decode(b[consumed:])
		consumed += n
		if err != nil {
			return consumed, 0, err
		}
		if !raw && len(data) > 0 {
			w += copy(b[w:], data)
		}
	}
	if raw {
		w = consumed
	}
	return consumed, w, nil
}

// upRead reads from the upstream under proxy_read_timeout.
func (c *conn) upRead(l *location, uc *upConn, b []byte) (int, error) {
	uc.rdl.set(uc.nc, true, l.set.ProxyReadTimeout)
	return uc.nc.Read(b)
}

// copyN moves up to n body bytes from the upstream to the client with
// splice(2) when both are plain sockets (package splice, or the net
// package's), in steps under the timeouts. client reports that a failure
// was on the client side.
func (c *conn) copyN(r *request, l *location, uc *upConn, n int64) (int64, error, bool) {
	const step = 4 << 20
	var done int64
	for done < n {
		k := n - done
		if k > step {
			k = step
		}
		uc.rdl.set(uc.nc, true, l.set.ProxyReadTimeout)
		c.writeDeadline(r)
		if c.rc != nil && uc.rc != nil && uc.nc == uc.sock {
			if !c.bulk {
				c.bulk = true
				loopbulk.Unpace(c.nc)
			}
			m, rerr, werr, ok := splice.Move(c.rc, uc.rc, k, true)
			if ok {
				done += m
				switch {
				case werr != nil:
					if errors.Is(werr, os.ErrDeadlineExceeded) {
						c.timedOut(r) // send_timeout
					}
					return done, werr, true
				case rerr != nil:
					return done, rerr, false
				case m < k:
					return done, io.ErrUnexpectedEOF, false
				}
				continue
			}
		}
		lr := io.LimitedReader{R: uc.nc, N: k}
		var m int64
		var err error
		if rf, ok := c.nc.(io.ReaderFrom); ok {
			m, err = rf.ReadFrom(&lr)
		} else {
			m, err = io.Copy(c.nc, &lr)
		}
		done += m
		if err != nil {
			var oe *net.OpError
			client := errors.As(err, &oe) && (oe.Op == "write" || oe.Op == "splice" && !isTimeout(err) && oe.Err != nil && errors.Is(oe.Err, syscall.EPIPE))
			return done, err, client
		}
		if m < k {
			return done, io.ErrUnexpectedEOF, false
		}
	}
	return done, nil, false
}

// skipResponseHeader reports whether an upstream response header is not
// passed to the client: hop-by-hop headers, the framing the proxy sets
// itself, and proxy_hide_header (with nginx's default list).
func skipResponseHeader(name []byte, l *location, upgrade bool) bool {
	switch len(name) {
	case 7:
		if equalFoldLower(name, "upgrade") {
			return !upgrade
		}
		if equalFoldLower(name, "trailer") {
			return true
		}
	case 10:
		if equalFoldLower(name, "connection") || equalFoldLower(name, "keep-alive") {
			return true
		}
	case 14:
		if equalFoldLower(name, "content-length") {
			return true
		}
	case 17:
		if equalFoldLower(name, "transfer-encoding") {
			return true
		}
	case 2:
		if equalFoldLower(name, "te") {
			return true
		}
	case 16:
		if equalFoldLower(name, "proxy-connection") {
			return true
		}
	}
	for _, h := range l.hide {
		if len(h) == len(name) && equalFoldLower(name, h) {
			return true
		}
	}
	return false
}

// tunnel copies both directions of an upgraded connection until each side
// has closed, passing half-closes on.
func (c *conn) tunnel(r *request, l *location, uc *upConn) {
	uc.noDelay()
	// client bytes that arrived after the request head
	if c.r0 < c.r1 {
		uc.nc.Write(c.buf[c.r0:c.r1])
		c.r0 = c.r1
	}
	timeout := l.set.ProxyReadTimeout
	var wg sync.WaitGroup
	wg.Add(1)
	var up int64
	go func() {
		defer wg.Done()
		up = pump(uc.nc, c.nc, timeout)
	}()
	down := pump(c.nc, uc.nc, timeout)
	r.bodySent += down
	wg.Wait()
	r.reqLen += up
	uc.nc.Close()
}

// pump copies from src to dst until EOF or an error, then half-closes dst
// (or closes it when it cannot half-close). A read waits at most timeout.
func pump(dst, src net.Conn, timeout time.Duration) int64 {
	buf := getBuf(16 << 10)
	defer putBuf(buf)
	var total int64
	for {
		if timeout > 0 {
			src.SetReadDeadline(time.Now().Add(timeout))
		}
		n, err := src.Read(buf)
		if n > 0 {
			if timeout > 0 {
				dst.SetWriteDeadline(time.Now().Add(timeout))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				dst.Close()
				return total
			}
			total += int64(n)
		}
		if err != nil {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && errors.Is(err, io.EOF) {
				cw.CloseWrite()
			} else {
				dst.Close()
				src.Close()
			}
			return total
		}
	}
}

// containsToken reports whether the comma-separated list v holds tok
// (lower case), compared without regard to case.
func containsToken(v []byte, tok string) bool {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		item := v[:i]
		for len(item) > 0 && (item[0] == ' ' || item[0] == '\t') {
			item = item[1:]
		}
		for len(item) > 0 && (item[len(item)-1] == ' ' || item[len(item)-1] == '\t') {
			item = item[:len(item)-1]
		}
		if equalFoldLower(item, tok) {
			return true
		}
		if i == len(v) {
			break
		}
		v = v[i+1:]
	}
	return false
}

// headWatchDelay is how long a response head is awaited before the
// client connection is watched (headWatch): most heads come sooner, and
// need no watch.
const headWatchDelay = 20 * time.Millisecond

// headWatch runs a clientWatch while the response head is awaited, from
// headWatchDelay on: a client that closes its connection then ends the
// request, the upstream connection closed, as nginx does with
// proxy_ignore_client_abort off. Each connection has one, armed for each
// request and stopped before the connection is used again; its timer is
// made once. A head that comes before the timer fires (the common case)
// costs a timer reset and stop, and no lock: the timer's function runs
// only when Stop fails, and stop then waits for it to finish (fired), so
// no run of it outlives the request it was armed for. A nil *headWatch
// watches nothing.
type headWatch struct {
	armed   bool // a response head is awaited
	c       *conn
	uc      *upConn
	t       *time.Timer
	fired   chan struct{} // fire has done its work
	w       clientWatch
	aborted bool
}

// watchHead arms the watch of c while uc is awaited (nil when c cannot be
// watched: an HTTP/2 stream, or a platform without it).
func (c *conn) watchHead(uc *upConn) *headWatch {
	if c.rc == nil && c.tls.raw == nil {
		return nil
	}
	hw := &c.hw
	hw.armed, hw.aborted = true, false
	hw.c, hw.uc = c, uc
	hw.w = clientWatch{}
	if hw.t == nil {
		hw.fired = make(chan struct{}, 1)
		hw.t = time.AfterFunc(headWatchDelay, hw.fire)
	} else {
		hw.t.Reset(headWatchDelay)
	}
	return hw
}

// fire starts the watch: the head has not come within headWatchDelay.
func (hw *headWatch) fire() {
	hw.w.start(hw.c, hw.uc)
	hw.fired <- struct{}{}
}

// stop ends the watch (if it runs, it is woken and waited for) and
// reports whether the client went away, the upstream connection then
// closed. It may be called again.
func (hw *headWatch) stop(c *conn) bool {
	if hw == nil {
		return false
	}
	if !hw.armed {
		return hw.aborted
	}
	hw.armed = false
	if hw.t.Stop() {
		hw.uc = nil
		return false
	}
	<-hw.fired
	hw.w.stop(c)
	hw.aborted = hw.w.aborted()
	hw.uc = nil
	return hw.aborted
}

// clientAborted ends a request whose client closed its connection while
// the response head was awaited: the upstream connection is closed and
// 499 logged, as nginx does.
func (c *conn) clientAborted(r *request, uc *upConn, sel balance.Selection, t *try, tStart time.Time) bool {
	uc.nc.Close()
	c.logf(r.srv, errlog.LevelInfo, "epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while sending request to upstream")
	t.status, t.response = 0, c.h.p.now().Sub(tStart)
	sel.Done(balance.Outcome{})
	r.status = 499
	r.keepAlive = false
	return false
}

// clientWatch notices a client that goes away while a streamed response
// waits for its upstream (server-sent events, token streams): the
// upstream connection is then closed at once, as nginx does, instead of
// when the upstream next writes. It runs only once a response has had to
// wait for the upstream, and stops before the connection reads again.
type clientWatch struct {
	done    chan struct{}
	gone    atomic.Bool
	running bool
}

// start begins watching c (once) while uc is being read.
func (w *clientWatch) start(c *conn, uc *upConn) {
	rc, overTLS := c.rc, false
	if rc == nil && c.tls.raw != nil {
		// a TLS client: its socket is watched for its shutdown (tls.go)
		rc, overTLS = c.tls.raw, true
	}
	if w.running || rc == nil {
		return
	}
	w.running = true
	w.done = make(chan struct{})
	c.nc.SetReadDeadline(time.Time{})
	go func() {
		defer close(w.done)
		var closed bool
		err := rc.Read(func(fd uintptr) bool {
			if overTLS {
				closed = peerClosed(fd)
				return closed // else wait for the next event on the socket
			}
			var b [1]byte
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EAGAIN || err == syscall.EINTR:
				return false
			case err != nil || n == 0:
				closed = true
			}
			return true // closed, or pipelined bytes: stop watching
		})
		if err == nil && closed {
			w.gone.Store(true)
			uc.nc.Close()
		}
	}()
}

// aborted reports whether the watch closed the upstream because the client
// went away.
func (w *clientWatch) aborted() bool { return w.gone.Load() }

// stop ends the watch and waits for it.
func (w *clientWatch) stop(c *conn) {
	if !w.running {
		return
	}
	c.nc.SetReadDeadline(time.Unix(1, 0)) // wakes the watcher
	<-w.done
	c.rdl = deadline{} // the next read sets its own deadline
	c.nc.SetReadDeadline(time.Time{})
}
