package httpproxy

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
)

// cgiPass sends the request to an application server over FastCGI, uwsgi
// or SCGI (fastcgi_pass, uwsgi_pass, scgi_pass) and the response back,
// retrying per *_next_upstream. The request goes out whole, encoded by
// the protocol; the response is read through a cgiConn, which presents it
// as an HTTP/1.1 response, so the response path of proxy_pass (headers,
// filters, error pages, streaming) serves it unchanged. It reports
// whether the client connection may be kept.
func (c *conn) cgiPass(r *request) bool {
	l := r.loc
	cc := l.cgi
	up := cc.pass.up
	r.upTLS = nil
	if cc.pass.url != nil {
		if up = c.resolveCGI(r, cc); up == nil {
			c.discardBody(r)
			return c.sendError(r, 502)
		}
	}
	var body []byte
	if !r.bodyDone {
		r.bodyDone = true
		var ok bool
		if body, ok = c.cgiBody(r, l); !ok {
			return false
		}
	}
	uh, err := c.appendCGIRequest(c.req.uh[:0], r, cc, body)
	c.req.uh = uh
	if err != nil {
		c.logf(r.srv, errlog.LevelAlert, err.Error())
		return c.sendError(r, 500)
	}
	if r.tb == nil {
		r.tb = getBuf(upBufSize)
	}
	if up.queue != nil {
		r.queued = true
		defer up.queue.release() // queue.go
	}
	tb := r.tb
	keep := cc.keepConn && up.pool != nil
	lastStatus := 502
	var pending *balance.Selection
	var next balance.Selection
	for {
		sel, t, tStart, ok := c.beginTry(r, l, up, &pending, false)
		if !ok {
			break
		}
		peer := sel.Peer
		fresh := false
	attempt:
		uc, reused, err := c.cgiUpstreamConn(r, up, peer, l, keep && !fresh, tStart)
		if err == nil && c.up != nil && !c.up.track(uc.nc) {
			uc.nc.Close() // the subrequest was stopped (subrequest.go)
			err = net.ErrClosed
		}
		if err != nil {
			var retry bool
			if lastStatus, retry = c.connectFailed(r, l, sel, t, tStart, err, false); retry {
				continue
			}
			break
		}
		if reused {
			t.connect = 0
		} else {
			t.connect = c.h.p.now().Sub(tStart)
		}
		cg := uc.nc.(*cgiConn)
		cg.start(c, r, keep && !r.h1.IsHead())
		var hw *headWatch
		if !l.set.ProxyIgnoreClientAbort {
			hw = c.watchHead(uc)
		}
		sent, _, got, rerr, err := c.sendRequest(r, l, uc, bodyNone, nil, tb)
		if err != nil {
			if hw.stop(c) {
				return c.clientAborted(r, uc, sel, t, tStart)
			}
			uc.nc.Close()
			if reused {
				fresh = true
				goto attempt
			}
			if isDialError(err) {
				var retry bool
				if lastStatus, retry = c.connectFailed(r, l, sel, t, tStart, err, false); retry {
					continue
				}
				break
			}
			var retry bool
			if lastStatus, retry = c.upSendFailed(r, l, sel, t, tStart, err, sent, false); retry {
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
			if reused && have == 0 && !cg.any && !isTimeout(err) {
				fresh = true // a pooled connection the server had closed
				goto attempt
			}
			var retry bool
			if lastStatus, retry = c.headFailed(r, l, sel, t, tStart, err, false); retry {
				continue
			}
			break
		}
		uc.requests++
		r.clock = c.h.p.now()
		t.header = r.clock.Sub(tStart)
		t.status = r.resp.Status
		if cond := statusCond(r.resp.Status); cond != 0 && c.retryStatus(r, l, up, uc, sel, t, tStart, cond, false, &next) {
			pending = &next
			continue
		}
		if interceptable(l, r.resp.Status) {
			intercept(r)
			uc.nc.Close()
			t.response = c.h.p.now().Sub(tStart)
			sel.Done(balance.Outcome{Latency: t.header})
			return c.sendError(r, r.resp.Status)
		}
		r.haveResp = true
		reusable, clientOK, upErr := c.sendResponse(r, l, uc, tb, n, have)
		cg.c, cg.r = nil, nil // not kept alive by a pooled connection
		return c.responseDone(r, up, uc, sel, t, tStart, reusable && keep && cg.done(), clientOK, upErr)
	}
	if r.queueGone {
		return c.queueAborted(r) // queue.go
	}
	return c.sendError(r, lastStatus)
}

// cgiPoolNames keep the pooled connections of each gateway protocol apart
// from one another and from proxy_pass's, in an upstream several of them
// use.
var cgiPoolNames = map[string]string{
	config.ProtoFastCGI: "\x00fastcgi", config.ProtoUWSGI: "\x00uwsgi", config.ProtoSCGI: "\x00scgi",
}

// cgiUpstreamConn returns a pooled FastCGI connection to peer (pooled
// says the pool may be used), or a new connection wrapped in a cgiConn.
func (c *conn) cgiUpstreamConn(r *request, up *upstream, peer *balance.Peer, l *location, pooled bool, now time.Time) (*upConn, bool, error) {
	key := poolKey{addr: peer.Addr(), name: cgiPoolNames[l.cgi.proto]}
	if pooled {
		if uc := up.pool.get(key, now); uc != nil {
			return uc, true, nil
		}
	}
	uc, _, err := c.upstreamConn(r, up, peer, l, true, now)
	if err != nil {
		return nil, false, err
	}
	uc.key = key
	uc.nc = &cgiConn{Conn: uc.nc, proto: l.cgi.proto}
	return uc, false, nil
}

// resolveCGI evaluates a *_pass with variables: an upstream name, or an
// address with a port.
func (c *conn) resolveCGI(r *request, cc *cgiConf) *upstream {
	p := c.h.p
	host := string(cc.pass.url.Append(nil, r))
	if cc.proto == config.ProtoUWSGI && len(host) > 8 && strings.EqualFold(host[:8], "uwsgi://") {
		host = host[8:]
	}
	if up := p.groups[strings.ToLower(host)]; up != nil {
		return up
	}
	ap, err := netip.ParseAddrPort(host)
	if err != nil {
		if _, _, serr := net.SplitHostPort(host); serr != nil {
			c.logf(r.srv, errlog.LevelError, fmt.Sprintf("no port in upstream %q", host))
		} else {
			c.logf(r.srv, errlog.LevelError, fmt.Sprintf("no resolver defined to resolve %s", host))
		}
		return nil
	}
	up, err := p.dynamicUpstream(ap.String())
	if err != nil {
		return nil
	}
	return up
}

// cgiBody reads the request body whole, as the protocols send it after
// the parameters (with *_request_buffering off too). It reports false
// when it has answered the client itself.
func (c *conn) cgiBody(r *request, l *location) ([]byte, bool) {
	if !l.cgi.passBody {
		c.discardBody(r)
		return nil, true
	}
	switch {
	case r.bodyRead:
		return r.preBody, true
	case r.h1.Chunked:
		body, ok := c.readChunkedWhole(r, l)
		if ok {
			// $content_length is the length read, as in nginx
			r.h1.ContentLength = int64(len(body))
		}
		return body, ok
	case r.h1.ContentLength > 0:
		cl := r.h1.ContentLength
		if avail := int64(c.r1 - c.r0); avail >= cl {
			body := c.buf[c.r0 : c.r0+int(cl)]
			c.r0 += int(cl)
			r.reqLen += cl
			return body, true
		}
		return c.readBodyWhole(r, l, cl)
	}
	return nil, true
}
