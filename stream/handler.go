package stream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/internal/listen"
	"github.com/sluicelb/sluice/internal/loopbulk"
	"github.com/sluicelb/sluice/proxyproto"
)

// nginx's stream session statuses ($status).
const (
	statusOK          = 200
	statusBadRequest  = 400
	statusForbidden   = 403
	statusInternal    = 500
	statusBadGateway  = 502
	statusUnavailable = 503
)

// Handler serves the client connections of one listen address of one
// stream server. It is immutable and safe for concurrent use; it
// implements the runtime's connection handler interface.
type Handler struct {
	s          *server
	listen     config.StreamListen
	serverName string // the listen address, for error messages
}

// ServeConn runs one client session to its end and closes c.
//
// The phases before the copy (PROXY protocol, access, TLS, preread,
// connecting) need a deep stack; they run on a short-lived goroutine, so
// that the goroutine of ServeConn, which waits for the whole session,
// keeps the smallest stack: Go gives a stack back only in part and only
// at a garbage collection, and an idle session would otherwise hold an
// 8 KB stack for its whole life.
func (h *Handler) ServeConn(ctx context.Context, c net.Conn) {
	s := &session{h: h, id: connSeq.Add(1), client: c, start: h.s.p.now(), status: statusOK}
	defer c.Close()
	var p *pipe
	if _, udp := c.RemoteAddr().(*net.UDPAddr); udp {
		// A UDP session copies with goroutines of its own.
		p = s.begin(ctx)
	} else {
		p = s.beginAside(ctx)
	}
	if p != nil {
		p.wait(ctx)
	}
	s.end()
	h.s.writeLog(s)
}

// beginAside runs begin on a goroutine of its own.
func (s *session) beginAside(ctx context.Context) (p *pipe) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		p = s.begin(ctx)
		wg.Done()
	}()
	wg.Wait()
	return p
}

// begin runs the session up to the copy, which it returns, or nil when
// the session is over.
func (s *session) begin(ctx context.Context) *pipe {
	h, c := s.h, s.client
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		s.remote = a.AddrPort()
		if l, ok := c.LocalAddr().(*net.TCPAddr); ok {
			s.local = l.AddrPort()
		}
	case *net.UDPAddr:
		s.remote, s.udp = a.AddrPort(), true
		if l, ok := c.LocalAddr().(*net.UDPAddr); ok {
			s.local = l.AddrPort()
		}
	default:
		s.unix = true
	}
	if tc, ok := c.(*net.TCPConn); ok {
		if !h.s.cfg.TCPNodelay {
			tc.SetNoDelay(false)
		}
		h.keepalive(tc)
	}
	s.info("client %s connected to %s", h.clientText(s), h.serverName)
	return s.run(ctx)
}

// end runs, once the session is over, what its phases left to be done
// then, in reverse order.
func (s *session) end() {
	f := s.fin
	if f == nil {
		return
	}
	if f.prereadN > 0 {
		// nginx 1.22 does not count prereaded bytes in $bytes_received.
		s.bytesRecvd = max(s.bytesRecvd-f.prereadN, 0)
	}
	for i := len(f.held) - 1; i >= 0; i-- {
		f.held[i].z.release(f.held[i].key)
	}
}

func (h *Handler) clientText(s *session) string {
	if s.unix {
		return "unix:"
	}
	return netip.AddrPortFrom(s.remote.Addr().Unmap(), s.remote.Port()).String()
}

func (h *Handler) keepalive(tc *net.TCPConn) {
	l := h.listen
	listen.KeepAlive(tc, l.SoKeepalive, l.KeepIdle, l.KeepIntvl, l.KeepCnt)
}

// run goes through the phases of a session; it returns the copy that is
// left to wait for, if any.
func (s *session) run(ctx context.Context) (p *pipe) {
	h := s.h
	srv := h.s
	var pending []byte // bytes read past a PROXY protocol header
	if h.listen.ProxyProtocol {
		s.client.SetReadDeadline(srv.p.now().Add(srv.cfg.ProxyProtocolTimeout))
		br := bufio.NewReaderSize(s.client, 256)
		hdr, err := proxyproto.Read(br)
		s.client.SetReadDeadline(time.Time{})
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.logf(errlog.LevelInfo, "client timed out (110: Connection timed out) while reading PROXY protocol header")
			} else {
				s.logf(errlog.LevelError, "broken header: %v while reading PROXY protocol header", err)
			}
			s.status = statusBadRequest
			return
		}
		s.pp = &hdr
		if n := br.Buffered(); n > 0 {
			pending, _ = br.Peek(n)
			pending = append([]byte(nil), pending...)
		}
		// realip: a trusted peer's header gives the client address.
		if hdr.Source.IsValid() && trusted(srv.cfg.RealIPFrom, s.remote.Addr(), s.unix) {
			s.realip = &realIP{addr: s.remote, unix: s.unix}
			s.remote, s.unix = hdr.Source, false
		}
	}
	for _, op := range srv.sets {
		srv.p.tab.SetTemplate(s, op.v, op.tmpl)
	}
	// limit_conn (nginx's preaccess phase)
	for _, l := range srv.limits {
		if l.z == nil {
			continue
		}
		key := l.z.key.Append(nil, s)
		if len(key) == 0 {
			continue
		}
		if len(key) > 255 {
			s.logf(errlog.LevelError, "the value of the %q key is more than 255 bytes: %q", l.z.key.Raw(), key)
			s.status = statusInternal
			return
		}
		if !l.z.acquire(key, l.n) {
			if srv.cfg.LimitConnDryRun {
				s.logf(srv.limitLv, "limiting connections, dry run, by zone %q", l.z.name)
				s.limitState = "REJECTED_DRY_RUN"
				continue
			}
			s.logf(srv.limitLv, "limiting connections by zone %q", l.z.name)
			s.limitState = "REJECTED"
			s.status = statusUnavailable
			return
		}
		f := s.atEnd()
		f.held = append(f.held, heldConn{l.z, string(key)})
		s.limitState = "PASSED"
	}
	// access
	if !matchAccess(srv.access, s.remote.Addr(), s.unix) {
		s.logf(errlog.LevelError, "access forbidden by rule")
		s.status = statusForbidden
		return
	}
	// ssl (listen ... ssl)
	if h.listen.SSL && srv.tls != nil {
		if !s.handshake(ctx, pending) {
			return
		}
		pending = nil
	}
	// preread (ssl_preread)
	if srv.cfg.SSLPreread {
		var ok bool
		if pending, ok = s.preread(pending); !ok {
			return
		}
		// nginx 1.22 does not count prereaded bytes in $bytes_received:
		// end takes them off before the access log is written.
		if len(pending) > 0 {
			s.atEnd().prereadN = int64(len(pending))
		}
	}
	if srv.ret != nil {
		out := srv.ret.Append(nil, s)
		n, _ := s.client.Write(out)
		s.bytesSent += int64(n)
		return
	}
	return s.proxy(ctx, pending)
}

// trusted reports whether a peer is in set_real_ip_from.
func trusted(rules []config.StreamAccessRule, addr netip.Addr, unix bool) bool {
	for _, r := range rules {
		if r.Unix && unix || !r.Unix && !unix && addr.IsValid() && r.Net.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// logf writes an error log message with nginx's context: client, server,
// and, once proxying has begun, the upstream and the byte counts.
func (s *session) logf(level slog.Level, format string, args ...any) {
	log := s.h.s.log
	if !log.Enabled(context.Background(), level) {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, format, args...)
	b.WriteString(", client: ")
	if s.unix {
		b.WriteString("unix:")
	} else {
		b.WriteString(s.remote.Addr().Unmap().String())
	}
	b.WriteString(", server: ")
	b.WriteString(s.h.serverName)
	if n := len(s.tries); n > 0 {
		fmt.Fprintf(&b, ", upstream: %q, bytes from/to client:%d/%d, bytes from/to upstream:%d/%d",
			s.tries[n-1].addr, s.bytesRecvd, s.bytesSent, s.tries[n-1].received, s.tries[n-1].sent)
	}
	log.Log(context.Background(), level, b.String(), "cid", s.id)
}

// info writes an info message without the session context.
func (s *session) info(format string, args ...any) {
	log := s.h.s.log
	if !log.Enabled(context.Background(), errlog.LevelInfo) {
		return
	}
	log.Log(context.Background(), errlog.LevelInfo, fmt.Sprintf(format, args...), "cid", s.id)
}

// target is where one session's proxy_pass leads: a group, or a single
// address from a proxy_pass with variables.
type target struct {
	up   *upstream
	addr string // "ip:port" or "unix:/path" when up is nil
	name string // what $upstream_addr shows when no server can be picked
}

func (s *session) resolveTarget(ctx context.Context) (target, bool) {
	srv := s.h.s
	if srv.target != nil {
		return target{up: srv.target, name: srv.target.name}, true
	}
	v := string(srv.pass.Append(nil, s))
	if up := srv.p.groups[v]; up != nil {
		return target{up: up, name: v}, true
	}
	if strings.HasPrefix(v, "unix:") && len(v) > 5 {
		return target{addr: v, name: v}, true
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		s.logf(errlog.LevelError, "no port in upstream %q", v)
		return target{}, false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return target{addr: net.JoinHostPort(a.String(), port), name: v}, true
	}
	if len(srv.cfg.Resolver) == 0 {
		s.logf(errlog.LevelError, "no resolver defined to resolve %s", host)
		return target{}, false
	}
	r := resolverFor(srv.cfg.Resolver)
	rctx, cancel := context.WithTimeout(ctx, srv.cfg.ResolverTimeout)
	defer cancel()
	ips, err := r.LookupHost(rctx, host)
	if err != nil || len(ips) == 0 {
		s.logf(errlog.LevelError, "%s could not be resolved (3: Host not found)", host)
		return target{}, false
	}
	return target{addr: net.JoinHostPort(ips[0], port), name: v}, true
}

// resolverFor returns a resolver that asks the first server of a resolver
// directive.
func resolverFor(args []string) *net.Resolver {
	server := ""
	for _, a := range args {
		if !strings.Contains(a, "=") {
			server = a
			break
		}
	}
	if server == "" {
		return net.DefaultResolver
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(strings.Trim(server, "[]"), "53")
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}

// proxy connects to an upstream server, trying others as
// proxy_next_upstream allows, then starts copying the session: it
// returns the copy to wait for, or nil when the session is over.
func (s *session) proxy(ctx context.Context, pending []byte) (p *pipe) {
	srv := s.h.s
	cfg := srv.cfg
	t, ok := s.resolveTarget(ctx)
	if !ok {
		s.status = statusBadGateway
		return
	}
	var local net.Addr
	if srv.bind != nil {
		if b := string(srv.bind.Append(nil, s)); b != "" {
			a, err := netip.ParseAddr(b)
			if err != nil {
				s.logf(errlog.LevelError, "invalid local address %q", b)
				s.status = statusInternal
				return
			}
			local = &net.TCPAddr{IP: a.AsSlice()}
		}
	}
	start := srv.p.now()
	var req balance.Request
	if t.up != nil {
		if !s.unix {
			req.Client = s.remote.Addr().Unmap()
		}
		if t.up.key != nil {
			req.Key = t.up.key.Append(nil, s)
		}
	}
	var us *udpSession // a UDP session's state across tries
	for {
		var sel balance.Selection
		network, addr, shown := "tcp", t.addr, t.addr
		if t.up != nil {
			var err error
			sel, err = t.up.group.Pick(&req)
			if err != nil {
				s.tries = append(s.tries, try{addr: t.name, connect: -1, firstByte: -1})
				s.logf(errlog.LevelError, "no live upstreams while connecting to upstream")
				s.status = statusBadGateway
				return
			}
			network, addr, shown = sel.Peer.Network(), sel.Peer.DialAddr(), sel.Peer.Addr()
		} else if strings.HasPrefix(addr, "unix:") {
			network, addr = "unix", addr[5:]
		}
		if s.udp {
			network = map[string]string{"tcp": "udp", "unix": "unixgram"}[network]
		}
		s.tries = append(s.tries, try{addr: shown, connect: -1, firstByte: -1, session: -1})
		tr := &s.tries[len(s.tries)-1]
		tryStart := srv.p.now()
		up, err := s.dial(ctx, network, addr, cfg.ProxyConnectTimeout, local)
		if err != nil {
			tr.session = srv.p.now().Sub(tryStart)
			s.logConnectError(err)
			if t.up != nil {
				sel.Done(balance.Outcome{Failed: true})
			}
			if ctx.Err() != nil {
				s.status = statusBadGateway
				return
			}
			if !s.canRetry(t, start) {
				s.status = statusBadGateway
				return
			}
			continue
		}
		tr.connect = srv.p.now().Sub(tryStart)
		s.info("proxy %s connected to %s", up.LocalAddr(), up.RemoteAddr())
		if tc, ok := up.(*net.TCPConn); ok && !cfg.TCPNodelay {
			tc.SetNoDelay(false)
		}
		if s.udp {
			if us == nil {
				us = s.newUDPSession()
				defer us.close(s)
			}
			next := s.udpPipe(ctx, us, up, tr)
			tr.session = srv.p.now().Sub(tryStart)
			up.Close()
			if t.up != nil {
				sel.Done(balance.Outcome{Failed: next || s.status == statusBadGateway})
			}
			if next {
				if ctx.Err() == nil && s.canRetry(t, start) {
					continue
				}
				s.status = statusBadGateway
			}
			return
		}
		if cfg.ProxyProtocol > 0 {
			hdr := s.proxyHeader(cfg.ProxyProtocol)
			n, err := hdr.WriteTo(up)
			tr.sent += n
			if err != nil {
				s.logf(errlog.LevelError, "could not send PROXY protocol header: %v", err)
				up.Close()
				if t.up != nil {
					sel.Done(balance.Outcome{Failed: true})
				}
				s.status = statusInternal
				return
			}
		}
		if srv.upTLS != nil {
			tup, err := s.upstreamHandshake(ctx, up, t, cfg.ProxyConnectTimeout)
			if err != nil {
				up.Close()
				s.logf(errlog.LevelError, "%s while SSL handshaking to upstream", upstreamTLSErrText(err))
				if t.up != nil {
					sel.Done(balance.Outcome{Failed: true})
				}
				if ctx.Err() == nil && s.canRetry(t, start) {
					continue
				}
				s.status = statusBadGateway
				return
			}
			up = tup
		}
		p = s.pipe(ctx, up, tr, pending)
		p.dialDelta, p.group, p.sel = tryStart.Sub(p.tryStart), t.up, sel
		return p
	}
}

// proxyHeader is the PROXY protocol header of the given version (1 or 2)
// that goes first to the upstream: the client's addresses, or those of
// the header the client's connection came with (listen ...
// proxy_protocol). Version 1 says UNKNOWN for what it cannot carry (a
// LOCAL header, unix sockets); version 2 carries unix sockets and LOCAL,
// and datagram sessions as such.
func (s *session) proxyHeader(version int) proxyproto.Header {
	hdr := proxyproto.FromAddrs(version, s.client.RemoteAddr(), s.client.LocalAddr())
	if s.pp == nil {
		return hdr
	}
	hdr.Transport, hdr.Source, hdr.Destination = s.pp.Transport, s.pp.Source, s.pp.Destination
	hdr.SourcePath, hdr.DestinationPath = s.pp.SourcePath, s.pp.DestinationPath
	switch {
	case version == 2 && s.pp.IsLocal():
		return proxyproto.Header{Version: 2, Command: proxyproto.Local}
	case version == 2:
	case s.pp.IsLocal() || !hdr.Transport.IsIP():
		return proxyproto.Header{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.Unknown}
	case !hdr.Transport.IsStream():
		hdr.Transport = hdr.Transport&0xf0 | 0x01
	}
	return hdr
}

// canRetry reports whether proxy_next_upstream lets the session try
// another server after a failure.
func (s *session) canRetry(t target, start time.Time) bool {
	cfg := s.h.s.cfg
	tries := len(s.tries)
	// As nginx, a session tries each server of the upstream at most once.
	return t.up != nil && cfg.ProxyNextUpstream && tries < len(t.up.group.Peers()) &&
		(cfg.ProxyNextUpstreamTries == 0 || tries < cfg.ProxyNextUpstreamTries) &&
		(cfg.ProxyNextUpstreamTimeout == 0 || s.h.s.p.now().Sub(start) < cfg.ProxyNextUpstreamTimeout)
}

// upstreamTLSErrText words a failed upstream handshake as nginx does.
func upstreamTLSErrText(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "upstream timed out (110: Connection timed out)"
	}
	if m := err.Error(); strings.Contains(m, "upstream SSL certificate") {
		if i := strings.Index(m, "upstream SSL certificate"); i >= 0 {
			return m[i:]
		}
	}
	return "SSL_do_handshake() failed (" + err.Error() + ")"
}

func (s *session) dial(ctx context.Context, network, addr string, timeout time.Duration, local net.Addr) (net.Conn, error) {
	p := s.h.s.p
	if p.opts.Dial != nil {
		return p.opts.Dial(network, addr, timeout, local)
	}
	d := net.Dialer{Timeout: timeout, LocalAddr: local}
	switch network {
	case "unix", "unixgram":
		d.LocalAddr = nil
	case "udp":
		if ta, ok := local.(*net.TCPAddr); ok {
			d.LocalAddr = &net.UDPAddr{IP: ta.IP}
		}
	}
	if !s.h.s.cfg.ProxySocketKeepalive {
		d.KeepAlive = -1
	}
	if network == "tcp" {
		// An upstream on a loopback address: no pacing (package
		// loopbulk).
		d.Control = unpaceLoopback
	}
	if s.udp {
		return dialAside(ctx, &d, network, addr)
	}
	return d.DialContext(ctx, network, addr)
}

// unpaceLoopback is a net.Dialer's Control: loopbulk.UnpaceLoopback.
func unpaceLoopback(_, address string, rc syscall.RawConn) error {
	return rc.Control(func(fd uintptr) { loopbulk.UnpaceLoopback(fd, address) })
}

type dialResult struct {
	c   net.Conn
	err error
}

// dialAside dials on a short-lived goroutine, for a UDP session, whose
// phases run on the goroutine of ServeConn: dialing needs a deep stack,
// which that goroutine would otherwise keep for the whole session.
func dialAside(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	ch := make(chan dialResult, 1)
	go func() {
		c, err := d.DialContext(ctx, network, addr)
		ch <- dialResult{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func (s *session) logConnectError(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.logf(errlog.LevelError, "upstream timed out (110: Connection timed out) while connecting to upstream")
		return
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s.logf(errlog.LevelError, "connect() failed (%s) while connecting to upstream", errnoText(errno))
		return
	}
	s.logf(errlog.LevelError, "connect() failed (%v) while connecting to upstream", err)
}

func errnoText(e syscall.Errno) string {
	t := e.Error()
	if t != "" {
		t = strings.ToUpper(t[:1]) + t[1:]
	}
	return strconv.Itoa(int(e)) + ": " + t
}

// writeLog writes the session's access log lines.
func (srv *server) writeLog(s *session) {
	for _, l := range srv.logs {
		if l.cond != nil {
			var ok bool
			if ok, s.logBuf = l.cond.Truthy(s, s.logBuf); !ok {
				continue
			}
		}
		if l.sys != nil {
			s.logBuf = l.sys.AppendHeader(s.logBuf[:0], l.sys.Severity())
			s.logBuf = l.format.Append(s.logBuf, s)
			l.sys.Write(s.logBuf)
			continue
		}
		s.logBuf = l.format.AppendLine(s.logBuf[:0], s)
		l.f.Write(s.logBuf)
	}
}

var _ io.Closer = (*net.TCPConn)(nil)
