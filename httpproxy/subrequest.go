package httpproxy

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/vars"
)

// Subrequests (auth_request, mirror) are served by the engine as requests
// of a conn of their own (newSub) whose client is a sinkConn, which takes
// every byte of the response and sends none, so that the location's
// rewrite directives, handler and error pages run unchanged and only the
// status and upstream response head are kept. A subrequest starts at the
// server's rewrite directives, as nginx's, and skips the access phase and
// the limits, which nginx runs for the main request only.

// authRequestConf is a compiled auth_request and its auth_request_set
// directives.
type authRequestConf struct {
	uri  []byte
	sets []authSet
}

// authSet is one auth_request_set: val is evaluated in the subrequest and
// assigned to v in the main request.
type authSet struct {
	v   vars.Var
	val *vars.Template[*request]
}

// mirrorConf is a compiled mirror list with mirror_request_body.
type mirrorConf struct {
	uris [][]byte
	body bool
}

// buildAuthRequest compiles auth_request and auth_request_set of st; nil
// without auth_request. The auth_request_set values are compiled even
// then, so that a bad one is refused as nginx refuses it.
func (p *proxy) buildAuthRequest(st *config.HTTPSettings) (*authRequestConf, error) {
	ar := &authRequestConf{uri: []byte(st.Sub.AuthRequest)}
	for _, s := range st.Sub.AuthRequestSet {
		v, err := p.tab.SettableNotFound(s.Var, s.Pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		t, err := p.tab.Compile(s.Value, s.Pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		ar.sets = append(ar.sets, authSet{v: v, val: t})
	}
	if st.Sub.AuthRequest == "" {
		return nil, nil
	}
	return ar, nil
}

// buildMirror compiles the mirror directives of st; nil for none.
func buildMirror(st *config.HTTPSettings) *mirrorConf {
	if len(st.Sub.Mirrors) == 0 {
		return nil
	}
	m := &mirrorConf{body: !st.Sub.MirrorNoBody}
	for _, u := range st.Sub.Mirrors {
		m.uris = append(m.uris, []byte(u))
	}
	return m
}

// authRequest is ngx_http_auth_request_module's access handler: a GET
// subrequest to the URI with the request's headers and no body. A 2xx
// answer lets the request through; 401 (with the subrequest's
// WWW-Authenticate) and 403 are the answer; any other status gives 500.
// The auth_request_set variables are set whatever the status.
func (c *conn) authRequest(r *request, ar *authRequestConf) int {
	if ar == nil {
		return accessDeclined
	}
	sc := c.newSub(r, ar.uri, nil)
	sr := sc.req
	sr.h1.SetGet()
	sr.h1.ContentLength, sr.h1.Chunked = -1, false
	var stop func() bool
	if c.ctx != nil {
		stop = context.AfterFunc(c.ctx, sc.up.stop)
	}
	proxied := sc.serveSub(sr)
	if stop != nil {
		stop()
	}
	tab := c.h.p.tab
	for i := range ar.sets {
		s := &ar.sets[i]
		val := s.val.Append(nil, sr)
		tab.Set(r, s.v, val)
	}
	status := sr.status
	var wwwAuth []byte
	if status == 401 && sr.haveResp {
		if v, ok := findHeader(nil, sr.resp.Headers, "www-authenticate"); ok {
			wwwAuth = v
		}
	}
	sc.releaseSub()
	switch {
	case status == 403:
		return 403
	case status == 401:
		if wwwAuth != nil {
			if r.ep.wwwAuth != nil {
				// satisfy any: auth_basic's challenge, then this one
				wwwAuth = append(append(r.ep.wwwAuth, "\r\nWWW-Authenticate: "...), wwwAuth...)
			}
			r.ep.wwwAuth = wwwAuth
		}
		return 401
	case status >= 200 && status < 300:
		return accessOK
	}
	msg := fmt.Sprintf("auth request unexpected status: %d", status)
	if proxied {
		msg += " while sending to client" // the upstream module's log action, as nginx
	}
	c.logf(r.srv, errlog.LevelError, msg)
	return 500
}

// startMirrors sends the mirror subrequests of l in the background, with
// the request's method, headers and (mirror_request_body on) body, which
// is then read whole first. It reports false when the body could not be
// read (the client has been answered or is gone).
func (c *conn) startMirrors(r *request, l *location) bool {
	m := l.mirror
	var body []byte
	withBody := m.body && l.grpc == nil && (r.h1.Chunked || r.h1.ContentLength > 0)
	if withBody {
		var ok bool
		switch {
		case r.h1.Chunked:
			body, ok = c.readChunkedWhole(r, l)
		case int64(c.r1-c.r0) >= r.h1.ContentLength:
			cl := r.h1.ContentLength
			body, ok = c.buf[c.r0:c.r0+int(cl)], true
			c.r0 += int(cl)
			r.reqLen += cl
		default:
			body, ok = c.readBodyWhole(r, l, r.h1.ContentLength)
		}
		if !ok {
			return false
		}
		r.preBody, r.bodyRead = body, true
		body = append([]byte(nil), body...) // the mirrors' copy outlives the request
	}
	p := c.h.p
	for _, uri := range m.uris {
		sc := c.newSub(r, uri, r.h1.Args)
		sr := sc.req
		sr.h1.Chunked = false
		sr.h1.ContentLength = -1
		switch {
		case withBody:
			sc.buf, sc.r0, sc.r1 = body, 0, len(body)
			sr.h1.ContentLength = int64(len(body))
		case m.body && r.h1.ContentLength == 0:
			sr.h1.ContentLength = 0 // passed on as "Content-Length: 0"
		}
		p.bg.Add(1)
		go func() {
			defer p.bg.Done()
			if sc.ctx != nil {
				// a fast stop (the context done) ends the mirror at once
				defer context.AfterFunc(sc.ctx, sc.up.stop)()
			}
			sc.serveSub(sr)
			sc.releaseSub()
		}()
	}
	return true
}

// newSub returns a connection serving a subrequest of r for uri and args:
// a copy of r's request (headers, method, $request_uri) that shares no
// memory with r, so that it may outlive r.
func (c *conn) newSub(r *request, uri, args []byte) *conn {
	sc := connPool.Get().(*conn)
	sc.h = c.h
	sc.nc = &sinkConn{local: c.nc.LocalAddr(), remote: c.nc.RemoteAddr()}
	sc.rc = nil
	sc.id, sc.unix, sc.remote, sc.local, sc.opened, sc.proto, sc.pp = c.id, c.unix, c.remote, c.local, c.opened, c.proto, c.pp
	c.tlsState() // looked up once, for the subrequest's $https and $ssl_*
	sc.tls = c.tls
	sc.tls.raw = nil // the client's socket is not watched from here
	sc.sub, sc.up, sc.ctx = true, &upstreamInUse{}, c.ctx
	sr := sc.getRequest()
	r.h1.CopyTo(&sr.h1)
	sr.h1.ExpectContinue = false
	sr.origMethod = sr.h1.Method
	sr.h1.URI = append([]byte(nil), uri...)
	sr.h1.Args = nil
	if len(args) > 0 {
		sr.h1.Args = append([]byte(nil), args...)
	}
	sr.remote, sr.realSet = r.remote, r.realSet
	sr.srv, sr.sm = r.srv, r.sm
	return sc
}

// releaseSub returns a subrequest connection to the pool.
func (c *conn) releaseSub() {
	c.buf, c.r0, c.r1 = nil, 0, 0 // a mirror body, not a pooled buffer
	c.sub, c.up = false, nil
	c.release()
	connPool.Put(c)
}

// serveSub serves a subrequest: the server's rewrite directives, the
// location's, then its handler, without access checks or limits. The
// response goes to the sink; r.status and r.resp are what is kept. It
// reports whether the handler was proxy_pass.
func (c *conn) serveSub(r *request) (proxied bool) {
	p := c.h.p
	srv, sm, remote, realSet := r.srv, r.sm, r.remote, r.realSet
	uri, args := r.h1.URI, r.h1.Args
	r.reset()
	r.h1.URI, r.h1.Args = uri, args
	r.srv, r.sm, r.remote, r.realSet = srv, sm, remote, realSet
	r.start = p.now()
	r.host = r.h1.HostName
	r.loc = r.srv.def
	r.keepAlive = true
	r.rw.internal = true // proxy_pass sends the subrequest's URI
	c.serverCaptures(r)
	if answered, _ := c.serverRewrite(r); answered {
		return false
	}
	var l *location
	for {
		r.m = sm.Server.Match(bstr(r.h1.URI))
		r.loc = r.srv.def
		if r.m.Location != nil {
			r.loc = p.locs[r.m.Location.Conf]
		}
		c.matchedCaptures(r)
		if r.m.Redirect {
			c.redirectSlash(r)
			return false
		}
		answered, _, again := c.locationRewrite(r)
		if answered {
			return false
		}
		if !again {
			l = r.loc
			break
		}
	}
	if l.static.try != nil {
		if done, _ := c.tryFiles(r); done {
			return false
		}
	}
	switch {
	case l.gif:
		c.sendEmptyGIF(r)
	case l.stub:
		body := appendStubStatus(r.scratch[:0])
		r.scratch = body
		c.sendSimple(r, 200, "text/plain", body, nil)
	case l.api != nil:
		c.serveAPI(r, l)
	case l.metrics != nil:
		c.serveMetrics(r, l)
	case l.dashboard != nil:
		c.serveDashboard(r, l)
	case l.pass != nil:
		c.proxyPass(r)
		c.up.track(nil)
		return true
	case l.cgi != nil:
		c.cgiPass(r)
		c.up.track(nil)
		return true
	case l.grpc != nil:
		// grpc_pass needs a stream of the client's: not for subrequests
		c.sendError(r, 404)
	default:
		c.serveStatic(r) // a file answers, as in nginx
	}
	return false
}

// upstreamInUse is the upstream connection a request (a client's or a
// subrequest) is using, so that another goroutine can stop the request by
// closing it. It is safe for concurrent use.
type upstreamInUse struct {
	mu      sync.Mutex
	nc      net.Conn
	stopped bool
}

// track records nc (nil: none) as the connection in use; it reports false
// when the subrequest was stopped, nc is then not to be used.
func (s *upstreamInUse) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nc = nc
	return !s.stopped
}

// stop closes the connection in use and makes the next track fail.
func (s *upstreamInUse) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.nc != nil {
		s.nc.Close()
	}
}

// sinkConn is the client side of a subrequest: it takes whatever is
// written and has nothing to read.
type sinkConn struct {
	local, remote net.Addr
}

func (s *sinkConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (s *sinkConn) Write(b []byte) (int, error)      { return len(b), nil }
func (s *sinkConn) Close() error                     { return nil }
func (s *sinkConn) LocalAddr() net.Addr              { return s.local }
func (s *sinkConn) RemoteAddr() net.Addr             { return s.remote }
func (s *sinkConn) SetDeadline(time.Time) error      { return nil }
func (s *sinkConn) SetReadDeadline(time.Time) error  { return nil }
func (s *sinkConn) SetWriteDeadline(time.Time) error { return nil }

var _ net.Conn = (*sinkConn)(nil)
