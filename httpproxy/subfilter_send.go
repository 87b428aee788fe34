package httpproxy

import (
	"github.com/sluicelb/sluice/httpproxy/h1"
)

// subProxied runs the sub header filter for a proxied (or cached)
// response: r.sub is set when its body is to be filtered, which then
// goes out chunked, or ends the connection. It reports whether it is.
func (c *conn) subProxied(r *request, l *location) bool {
	resp := &r.resp
	var ct []byte
	for i := range resp.Headers {
		h := &resp.Headers[i]
		if len(h.Name) == 12 && equalFoldLower(h.Name, "content-type") {
			ct = h.Value
			break
		}
	}
	clen := int64(-1)
	if resp.Body == h1.BodyLength || resp.ContentLength >= 0 {
		clen = resp.ContentLength
	}
	f := c.subStart(r, l.sub, ct, clen)
	if f == nil {
		return false
	}
	if resp.Body != h1.BodyNone && !c.chunked(r, l) {
		r.keepAlive = false // close-delimited
	}
	f.noRanges = cacheOwnsRanges(r)
	return true
}

// cacheOwnsRanges reports whether the Accept-Ranges of a response to r is
// nginx's range filter's, not the upstream's: a response served from the
// cache or being stored (ngx_http_upstream_copy_allow_ranges). The range
// filter says nothing of a response of unknown length, such as a
// filtered one.
func cacheOwnsRanges(r *request) bool {
	rc := r.cache
	if rc == nil || !rc.on {
		return false
	}
	if rc.orig != nil {
		return true
	}
	switch rc.status {
	case "HIT", "STALE", "UPDATING", "REVALIDATED":
		return true
	}
	return false
}

// subSkipHeader drops or changes an upstream header of a response f
// filters: Last-Modified and ETag are dropped, or with
// sub_filter_last_modified on a strong ETag is made weak (and one that is
// not quoted dropped), as nginx's sub filter does; so is the
// Accept-Ranges of a cached response (cacheOwnsRanges).
func subSkipHeader(h *h1.Header, out []byte, f *subFilter) ([]byte, bool) {
	lastModified := f.conf.lastModified
	switch len(h.Name) {
	case 13:
		if !lastModified && equalFoldLower(h.Name, "last-modified") {
			return out, true
		}
		if f.noRanges && equalFoldLower(h.Name, "accept-ranges") {
			return out, true
		}
	case 4:
		if !equalFoldLower(h.Name, "etag") {
			return out, false
		}
		if !lastModified {
			return out, true
		}
		return gzipSkipHeader(h, out)
	}
	return out, false
}

// bodyWriter passes a response body through the sub filter and gzip, in
// nginx's order, and frames it for the client: chunked, or bare (the
// connection then closes at its end).
type bodyWriter struct {
	c       *conn
	r       *request
	sub     *subFilter  // nil: no sub filter
	z       *gzipStream // nil: not compressed
	chunked bool
	// stream flushes the compressor after each write (a proxied body,
	// whose pieces go out as they arrive); else compressed output is
	// sent when fileBufSize of it is gathered.
	stream bool
	// collect, when set, gathers the output instead (a body held whole).
	collect *[]byte
}

// write passes p on; last says it ends the body. It reports false when
// the client failed.
func (w *bodyWriter) write(p []byte, last bool) bool {
	if w.sub != nil {
		if !w.sub.run(w.r, p, last, w) {
			return false
		}
	} else if !w.pass(p) {
		return false
	}
	switch {
	case w.z != nil:
		if last || w.stream {
			return w.c.emitGzip(w.r, w.z, w.chunked, last)
		}
	case last && w.chunked:
		w.c.req.out = append(w.c.req.out[:0], "0\r\n\r\n"...)
		return w.c.writeBody(w.r, w.c.req.out) == nil
	}
	return true
}

// pass takes the sub filter's output: to the compressor, or to the client.
func (w *bodyWriter) pass(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if w.collect != nil {
		*w.collect = append(*w.collect, p...)
		return true
	}
	c, r := w.c, w.r
	if w.z != nil {
		r.gzIn += int64(len(p))
		w.z.zw.Write(p)
		if !w.stream && len(w.z.buf) >= fileBufSize {
			return c.emitGzip(r, w.z, w.chunked, false)
		}
		return true
	}
	out := p
	if w.chunked {
		out = h1.AppendChunkHeader(c.req.out[:0], len(p))
		out = append(out, p...)
		out = append(out, '\r', '\n')
		c.req.out = out
	}
	if c.writeBody(r, out) != nil {
		return false
	}
	r.bodySent += int64(len(p))
	return true
}

// subBody filters a body held whole (a page Sluice generates), compresses
// it when gz says so, and appends it to dst framed for the client.
func (c *conn) subBody(r *request, sf *subFilter, dst, body []byte, gz bool) []byte {
	filtered := sf.filterAll(r, nil, body)
	chunked := c.chunked(r, r.loc)
	switch {
	case gz:
		return gzipBody(r, dst, filtered, r.loc.gz.level, chunked)
	case !chunked:
		return append(dst, filtered...)
	}
	if len(filtered) > 0 {
		dst = h1.AppendChunk(dst, filtered)
	}
	return append(dst, "0\r\n\r\n"...)
}
