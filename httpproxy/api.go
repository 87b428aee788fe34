package httpproxy

import (
	"strconv"
	"strings"

	"github.com/sluicelb/sluice/admin"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
)

// newAPI builds the NGINX Plus REST API of a location with the api
// directive (package admin answers; this file hands it the requests).
func (p *proxy) newAPI(a *config.HTTPAPI) *admin.API {
	return &admin.API{
		Write:      a.Write,
		Upstreams:  p.opts.Upstreams,
		Version:    p.opts.Version,
		Build:      "sluice",
		Generation: p.opts.Generation,
		Loaded:     p.opts.LoadTime,
		Now:        p.now,
		Counters:   apiCounters,
	}
}

// apiCounters returns the counters stub_status shows.
func apiCounters() admin.Counters {
	return admin.Counters{
		Accepted: stats.accepted.Load(),
		Handled:  stats.handled.Load(),
		Active:   stats.active.Load(),
		Reading:  stats.reading.Load(),
		Writing:  stats.writing.Load(),
		Requests: stats.requests.Load(),
	}
}

// serveAPI answers r from the API of l: the path below the location's
// prefix names the API element. A POST or PATCH body is read whole; as in
// NGINX Plus, one larger than client_body_buffer_size gets 413. It
// reports whether the connection stays open.
//
//go:noinline
func (c *conn) serveAPI(r *request, l *location) bool {
	req := admin.Request{Method: string(r.h1.Method), Args: string(r.h1.Args)}
	uri := string(r.h1.URI)
	if lc := l.cfg; lc != nil && !lc.IsRegex() && lc.Modifier != config.LocNamed {
		uri = strings.TrimPrefix(uri, lc.Name)
	}
	req.Path = uri
	if req.Method == "POST" || req.Method == "PATCH" {
		body, ok := c.apiBody(r, l)
		if !ok {
			return false
		}
		req.Body = body
	} else {
		c.discardBody(r)
	}
	req.RequestID = string(appendRequestID(nil, r))
	if c.local.IsValid() {
		req.Addr = c.local.String()
	}
	status, body := l.api.Serve(&req)
	r.scratch = append(r.scratch[:0], body...)
	return c.sendSimple(r, status, "application/json", r.scratch, nil)
}

// apiBody reads the request body whole. ok is false when the client was
// answered (413) or is gone.
func (c *conn) apiBody(r *request, l *location) (body []byte, ok bool) {
	r.bodyDone = true
	switch {
	case r.bodyRead:
		return r.preBody, true
	case r.h1.Chunked:
		body, ok = c.readChunkedWhole(r, l)
		if ok && int64(len(body)) > l.set.ClientBodyBufferSize {
			r.keepAlive = false
			return nil, c.apiTooLarge(r, int64(len(body)))
		}
		return body, ok
	case r.h1.ContentLength <= 0:
		return nil, true
	case r.h1.ContentLength > l.set.ClientBodyBufferSize:
		r.keepAlive = false
		c.unread = true
		return nil, c.apiTooLarge(r, r.h1.ContentLength)
	case int64(c.r1-c.r0) >= r.h1.ContentLength:
		cl := int(r.h1.ContentLength)
		body = c.buf[c.r0 : c.r0+cl]
		c.r0 += cl
		r.reqLen += int64(cl)
		return body, true
	}
	return c.readBodyWhole(r, l, r.h1.ContentLength)
}

func (c *conn) apiTooLarge(r *request, n int64) bool {
	c.logf(r.srv, errlog.LevelError, "api: request body of "+strconv.FormatInt(n, 10)+" bytes exceeds client_body_buffer_size")
	c.sendError(r, 413)
	return false
}
