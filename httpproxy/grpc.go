package httpproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/tlsconf"
	"github.com/sluicelb/sluice/vars"
)

// grpcConf is a compiled grpc_pass with the location's grpc_* settings.
type grpcConf struct {
	up        *upstream
	scheme    string // "http" (grpc://) or "https" (grpcs://)
	set       *config.HTTPGRPCSettings
	sets      []grpcHeader
	authority *vars.Template[*request] // grpc_set_header Host, or nil
	hide      map[string]bool          // response headers not passed (canonical form)
	next      nextUpstream
	tr        *http2.Transport // one pool of HTTP/2 connections per server
	bind      net.Addr

	// unix sockets go by a made-up host name in the URL, which the dialer
	// maps back to the path
	unixMu    sync.Mutex
	unixHosts map[string]string // path -> host
	unixPaths sync.Map          // host:port -> path
}

// urlHost returns the host of the request URL for a peer.
func (g *grpcConf) urlHost(peer *balance.Peer) string {
	if peer.Network() != "unix" {
		return peer.DialAddr()
	}
	path := peer.DialAddr()
	g.unixMu.Lock()
	defer g.unixMu.Unlock()
	if h, ok := g.unixHosts[path]; ok {
		return h
	}
	if g.unixHosts == nil {
		g.unixHosts = map[string]string{}
	}
	h := fmt.Sprintf("unix%d.invalid:1", len(g.unixHosts))
	g.unixHosts[path] = h
	g.unixPaths.Store(h, path)
	return h
}

type grpcHeader struct {
	name  string // canonical
	value *vars.Template[*request]
}

// grpcDefaultHidden are the response headers nginx's grpc module does not
// pass by default.
var grpcDefaultHidden = []string{"Date", "Server", "X-Accel-Expires", "X-Accel-Redirect",
	"X-Accel-Limit-Rate", "X-Accel-Buffering", "X-Accel-Charset"}

// buildGRPC compiles the grpc_pass of a location.
func (p *proxy) buildGRPC(pp *config.HTTPProxyPass, st *config.HTTPSettings, pos string) (*grpcConf, error) {
	set := st.GRPC
	if set == nil {
		d := config.DefaultHTTPGRPCSettings
		set = &d
	}
	g := &grpcConf{set: set, scheme: "http", hide: map[string]bool{}}
	g.up = p.groups[strings.ToLower(pp.Upstream)]
	if g.up == nil {
		return nil, fmt.Errorf("httpproxy: no upstream %q in %s", pp.Upstream, pp.Pos)
	}
	for _, h := range set.SetHeaders {
		t, err := p.tab.Compile(h.Value, pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		name := http.CanonicalHeaderKey(h.Name)
		if name == "Host" {
			g.authority = t
			continue
		}
		g.sets = append(g.sets, grpcHeader{name: name, value: t})
	}
	pass := map[string]bool{}
	for _, h := range set.PassHeaders {
		pass[http.CanonicalHeaderKey(h)] = true
	}
	for _, h := range grpcDefaultHidden {
		if !pass[h] {
			g.hide[h] = true
		}
	}
	for _, h := range set.HideHeaders {
		g.hide[http.CanonicalHeaderKey(h)] = true
	}
	for _, c := range set.NextUpstream {
		if c == "off" {
			g.next.mask = 0
			break
		}
		g.next.mask |= nuNames[c]
	}
	g.next.tries, g.next.timeout = set.NextUpstreamTries, set.NextUpstreamTimeout
	if set.Bind != "" && set.Bind != "off" {
		ip, err := netip.ParseAddr(set.Bind)
		if err != nil {
			return nil, fmt.Errorf("httpproxy: grpc_bind %q: only a constant IP address is supported by sluice yet in %s", set.Bind, pos)
		}
		g.bind = &net.TCPAddr{IP: ip.AsSlice()}
	}
	var tcfg *tls.Config
	if pp.Scheme == "grpcs" {
		g.scheme = "https"
		var err error
		if tcfg, err = grpcTLSConfig(set, pp.Host, pos); err != nil {
			return nil, err
		}
	}
	idle := 60 * time.Second
	if g.up.cfg != nil && g.up.cfg.KeepaliveTimeout > 0 {
		idle = g.up.cfg.KeepaliveTimeout
	}
	dial := p.opts.Dial
	timeout := set.ConnectTimeout
	bind := g.bind
	g.tr = &http2.Transport{
		AllowHTTP:        true,
		IdleConnTimeout:  idle,
		WriteByteTimeout: set.SendTimeout,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			network = "tcp"
			if p, ok := g.unixPaths.Load(addr); ok {
				network, addr = "unix", p.(string)
			}
			nc, err := grpcDial(ctx, dial, network, addr, timeout, bind)
			if err != nil {
				return nil, &dialError{err}
			}
			if tcfg == nil {
				return nc, nil
			}
			tc := tls.Client(nc, tcfg)
			hctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if err := tc.HandshakeContext(hctx); err != nil {
				nc.Close()
				return nil, &dialError{err}
			}
			return tc, nil
		},
	}
	return g, nil
}

// grpcTLSConfig builds the client TLS settings of grpcs:// from the
// grpc_ssl_* directives.
func grpcTLSConfig(set *config.HTTPGRPCSettings, host, pos string) (*tls.Config, error) {
	cfg := &tls.Config{NextProtos: []string{"h2"}, InsecureSkipVerify: !set.SSLVerify}
	name := set.SSLName
	if name == "" {
		name = host
		if h, _, err := net.SplitHostPort(host); err == nil {
			name = h
		}
		name = strings.Trim(name, "[]")
	}
	if set.SSLServerName || set.SSLVerify {
		cfg.ServerName = name
	}
	if lo, hi, err := tlsconf.VersionRange(set.SSLProtocols); err == nil {
		cfg.MinVersion, cfg.MaxVersion = lo, hi
	}
	if ids, err := tlsconf.ParseCiphers(set.SSLCiphers); err == nil && len(ids) > 0 {
		cfg.CipherSuites = ids
	}
	if set.SSLVerify {
		if set.SSLTrustedCertificate == "" {
			return nil, fmt.Errorf("httpproxy: no grpc_ssl_trusted_certificate for grpc_ssl_verify in %s", pos)
		}
		pool, err := tlsconf.LoadCertPool(set.SSLTrustedCertificate)
		if err != nil {
			return nil, fmt.Errorf("httpproxy: grpc_ssl_trusted_certificate: %v in %s", err, pos)
		}
		cfg.RootCAs = pool
		cfg.ServerName = name
	}
	if set.SSLCertificate != "" {
		var pw []string
		if set.SSLPasswordFile != "" {
			var err error
			if pw, err = tlsconf.ReadPasswordFile(set.SSLPasswordFile); err != nil {
				return nil, fmt.Errorf("httpproxy: grpc_ssl_password_file: %v in %s", err, pos)
			}
		}
		cert, err := tlsconf.LoadKeyPair(set.SSLCertificate, set.SSLCertificateKey, pw)
		if err != nil {
			return nil, fmt.Errorf("httpproxy: grpc_ssl_certificate: %v in %s", err, pos)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if !set.SSLSessionReuse {
		cfg.SessionTicketsDisabled = true
	} else {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}
	return cfg, nil
}

// dialError marks a failure to connect: the request never reached the
// server, so it may be sent to the next one whatever its method.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func grpcDial(ctx context.Context, dial func(network, address string, timeout time.Duration, local net.Addr) (net.Conn, error), network, addr string, timeout time.Duration, bind net.Addr) (net.Conn, error) {
	if dial != nil {
		return dial(network, addr, timeout, bind)
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	if bind != nil && network == "tcp" {
		d.LocalAddr = bind
	}
	return d.DialContext(ctx, network, addr)
}

// grpcPass sends a gRPC call to a server of the upstream, picked per call,
// over the pooled HTTP/2 connection to that server, and streams the
// response, its messages and its trailers back to the client's stream. A
// failure before the response headers arrive is retried on the next server
// as grpc_next_upstream allows; then, and with no server, the client gets
// 502 as from nginx (gRPC clients read it as UNAVAILABLE).
func (c *conn) grpcPass(r *request) bool {
	l := r.loc
	g := l.grpc
	sc := streamOf(c.nc)
	if sc == nil {
		// gRPC needs HTTP/2 trailers: an HTTP/1.x client cannot carry it
		c.logf(r.srv, errlog.LevelError, "grpc_pass needs an HTTP/2 client connection")
		c.discardBody(r)
		return c.sendError(r, 502)
	}
	rq := sc.rq
	r.bodyDone = true // the stream's body goes to the upstream
	p := c.h.p
	up := g.up
	if up.queue != nil {
		r.queued = true
		defer up.queue.release() // queue.go
	}
	var body *replayBody
	if rq.Body != nil && rq.Body != http.NoBody {
		body = &replayBody{src: rq.Body, limit: int(l.set.ClientBodyBufferSize)}
	}
	authority := rq.Host
	if g.authority != nil {
		authority = string(g.authority.Append(nil, r))
	}
	hdr := grpcRequestHeader(rq.Header)
	for _, h := range g.sets {
		v := h.value.Append(nil, r)
		if len(v) == 0 {
			hdr.Del(h.name)
			continue
		}
		hdr.Set(h.name, string(v))
	}
	r.proxyHost = authority
	target := rq.RequestURI
	if r.rw.internal { // rewritten: the new URI, as nginx
		target = string(internalURI(r))
	}
	lastStatus := 502
	for {
		if len(r.tries) > 0 && !grpcMayRetry(c, r, g, 0, false, body) {
			break
		}
		sel, ok := c.pick(r, up)
		if !ok {
			break
		}
		peer := sel.Peer
		r.tries = append(r.tries, try{addr: peer.Addr(), connect: -1, header: -1, response: -1})
		t := &r.tries[len(r.tries)-1]
		start := p.now()
		ctx, cancel := context.WithCancel(rq.Context())
		rt := newReadTimer(g.set.ReadTimeout, cancel)
		out := &http.Request{
			Method:     rq.Method,
			URL:        &url.URL{Scheme: g.scheme, Host: g.urlHost(peer), Opaque: target},
			Proto:      "HTTP/2.0",
			ProtoMajor: 2,
			Header:     hdr,
			Host:       authority,
		}
		if body != nil {
			out.Body = body.attempt()
			out.ContentLength = rq.ContentLength
			out.GetBody = func() (io.ReadCloser, error) {
				if !body.replayable() {
					return nil, errors.New("httpproxy: request body already streamed")
				}
				return body.attempt(), nil
			}
		}
		out = out.WithContext(ctx)
		resp, err := g.tr.RoundTrip(out)
		if err != nil {
			rt.stop()
			cancel()
			var de *dialError
			notSent := errors.As(err, &de)
			timeout := rt.fired() || isTimeout(err)
			cond, status := nuError, 502
			switch {
			case rq.Context().Err() != nil:
				// the client left
				sel.Done(balance.Outcome{})
				r.status = 499
				sc.cancel(errStreamGone)
				return false
			case timeout:
				cond, status = nuTimeout, 504
				c.logf(r.srv, errlog.LevelError, "upstream timed out (110: Connection timed out) while reading response header from upstream")
			case notSent:
				c.logf(r.srv, errlog.LevelError, "connect() failed "+errText(de.err)+" while connecting to upstream")
			default:
				c.logf(r.srv, errlog.LevelError, "upstream sent invalid response or failed "+errText(err)+" while reading response header from upstream")
			}
			t.status, t.response = status, p.now().Sub(start)
			sel.Done(balance.Outcome{Failed: true})
			lastStatus = status
			if grpcMayRetry(c, r, g, cond, !notSent, body) {
				continue
			}
			break
		}
		t.connect = 0
		t.header = p.now().Sub(start)
		t.status = resp.StatusCode
		if cond := statusCond(resp.StatusCode); cond != 0 && grpcMayRetry(c, r, g, cond, true, body) {
			resp.Body.Close()
			rt.stop()
			cancel()
			t.response = p.now().Sub(start)
			sel.Done(balance.Outcome{Failed: cond != nuHTTP403 && cond != nuHTTP404})
			continue
		}
		upErr := c.grpcRespond(r, sc, g, resp, rt)
		rt.stop()
		cancel()
		t.response = p.now().Sub(start)
		lat := t.header
		if up.group.Metric() == balance.MetricLastByte {
			lat = t.response
		}
		sel.Done(balance.Outcome{Failed: upErr != nil && rq.Context().Err() == nil, Latency: lat})
		return false
	}
	return c.sendError(r, lastStatus)
}

// grpcMayRetry is mayRetry with grpc_next_upstream's settings; a body
// that was streamed beyond what was kept cannot be sent again.
func grpcMayRetry(c *conn, r *request, g *grpcConf, cond uint32, reached bool, body *replayBody) bool {
	if body != nil && !body.replayable() {
		return false
	}
	if cond != 0 && g.next.mask&cond == 0 {
		return false
	}
	if reached && g.next.mask&nuNonIdempotent == 0 && !idempotent(r.h1.Method) {
		return false
	}
	if g.next.tries > 0 && len(r.tries) >= g.next.tries {
		return false
	}
	if g.next.timeout > 0 && c.h.p.now().Sub(r.start) >= g.next.timeout {
		return false
	}
	return true
}

// grpcRespond passes the response on to the client's stream: headers,
// each body read flushed at once, then trailers. It returns the upstream
// error that cut the response short, if any; the client's stream is then
// reset rather than ended.
func (c *conn) grpcRespond(r *request, sc *streamConn, g *grpcConf, resp *http.Response, rt *readTimer) error {
	defer resp.Body.Close()
	w := sc.w
	sc.direct.Store(true)
	hdr := w.Header()
	for k, vv := range resp.Header {
		if g.hide[k] {
			continue
		}
		hdr[k] = vv
	}
	for _, k := range hopHeaders {
		hdr.Del(k)
	}
	delete(hdr, "Trailer")
	if r.sticky != nil {
		hdr.Add("Set-Cookie", string(c.appendStickyValue(nil, r))) // sticky.go
	}
	hdr.Set("Server", string(r.loc.tokens))
	hdr.Set("Date", string(httpDate(c.h.p.now())))
	r.status = resp.StatusCode
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := getBuf(16 << 10)
	defer putBuf(buf)
	send := r.loc.set.SendTimeout
	var wdl sendDeadline
	for {
		rt.reset()
		n, err := resp.Body.Read(buf)
		if n > 0 {
			wdl.set(rc, send)
			if _, werr := w.Write(buf[:n]); werr != nil {
				sc.aborted.Store(true)
				return nil
			}
			if werr := rc.Flush(); werr != nil {
				sc.aborted.Store(true)
				return nil
			}
			r.bodySent += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if rt.fired() {
				c.logf(r.srv, errlog.LevelError, "upstream timed out (110: Connection timed out) while reading upstream")
			} else if sc.rq.Context().Err() == nil {
				c.logf(r.srv, errlog.LevelError, "upstream prematurely closed connection while reading upstream")
			}
			sc.aborted.Store(true)
			return err
		}
	}
	for k, vv := range resp.Trailer {
		if len(vv) > 0 && !g.hide[k] {
			hdr[http.TrailerPrefix+k] = vv
		}
	}
	return nil
}

// grpcRequestHeader copies the client's headers for the upstream without
// those nginx's grpc module drops (its default grpc_set_header list).
func grpcRequestHeader(in http.Header) http.Header {
	out := make(http.Header, len(in))
	for k, vv := range in {
		switch k {
		case "Host", "Connection", "Transfer-Encoding", "Keep-Alive", "Expect", "Upgrade", "Proxy-Connection", "Content-Length":
			continue
		case "Te":
			// only "trailers" may go over HTTP/2
			for _, v := range vv {
				if strings.Contains(strings.ToLower(v), "trailers") {
					out["Te"] = []string{"trailers"}
				}
			}
			continue
		}
		out[k] = vv
	}
	return out
}

// streamOf returns the HTTP/2 stream a connection presents, or nil.
func streamOf(nc net.Conn) *streamConn {
	switch s := nc.(type) {
	case *streamConn:
		return s
	case tlsStreamConn:
		return s.streamConn
	}
	return nil
}

// readTimer is grpc_read_timeout: it cancels the call when the server
// sends nothing for the timeout, between the request and the headers and
// between two reads of the body.
type readTimer struct {
	d   time.Duration
	t   *time.Timer
	hit atomic.Bool
}

func newReadTimer(d time.Duration, cancel func()) *readTimer {
	rt := &readTimer{d: d}
	if d > 0 {
		rt.t = time.AfterFunc(d, func() {
			rt.hit.Store(true)
			cancel()
		})
	}
	return rt
}

func (rt *readTimer) reset() {
	if rt.t != nil && !rt.hit.Load() {
		rt.t.Reset(rt.d)
	}
}

func (rt *readTimer) stop() {
	if rt.t != nil {
		rt.t.Stop()
	}
}

func (rt *readTimer) fired() bool { return rt.hit.Load() }

// replayBody is a request body that can be sent again to the next server
// as long as what was read of it fits in limit bytes. Only the newest
// attempt reads it; an older attempt whose transport still reads gets an
// error, and what it read is kept for the newer one.
type replayBody struct {
	mu    sync.Mutex
	src   io.ReadCloser
	limit int
	kept  []byte
	over  atomic.Bool // more than limit bytes were read: no replay
	err   error
	gen   int
}

var errStaleAttempt = errors.New("httpproxy: request body taken by a later attempt")

func (b *replayBody) replayable() bool { return !b.over.Load() }

// attempt returns a reader of the body from its start for a new attempt.
func (b *replayBody) attempt() io.ReadCloser {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gen++
	return &bodyAttempt{b: b, gen: b.gen}
}

type bodyAttempt struct {
	b   *replayBody
	gen int
	off int
}

func (a *bodyAttempt) Read(p []byte) (int, error) {
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if a.gen != b.gen {
		return 0, errStaleAttempt
	}
	if !b.over.Load() && a.off < len(b.kept) {
		n := copy(p, b.kept[a.off:])
		a.off += n
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	if n > 0 {
		if !b.over.Load() && len(b.kept)+n <= b.limit {
			b.kept = append(b.kept, p[:n]...)
			a.off += n
		} else {
			b.over.Store(true)
			b.kept = nil
		}
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// Close does not close the client's body: a later attempt may read it.
func (a *bodyAttempt) Close() error { return nil }
