package httpproxy

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/sluicelb/sluice/httpproxy/h1"
)

// This file is nginx's range filter for responses of a location with a
// cache. nginx lets ranges be cut from a response whose upstream sent
// Accept-Ranges when it comes from the cache (any number of ranges, as
// multipart/byteranges) or is being stored (one range); the client's
// Range is never sent upstream from such a location.

// parseRanges is ngx_http_range_parse: ok false means the header is
// ignored (the whole response is sent), none that no range is
// satisfiable (416).
func parseRanges(v []byte, size int64, max int) (rs []byteRange, ok, none bool) {
	rs, res := parseRangeSpec(v[len("bytes="):], size, max) // static_cond.go
	switch res {
	case rangeOK:
		return rs, true, false
	case rangeUnsatisfiable:
		return nil, true, true
	}
	return nil, false, false
}

// errorResponse turns the cached response in r.resp into nginx's error
// page of status, as the range filter does for a 416: the headers stay
// but for the body's type, validators and Accept-Ranges, and extra is
// added. It returns the reader of the page.
func errorResponse(r *request, f *os.File, status int, extra ...h1.Header) *rangeReader {
	resp := &r.resp
	page := appendErrorPage(nil, status, r.loc.tokens)
	out := resp.Headers[:0]
	for _, h := range resp.Headers {
		if equalFoldLower(h.Name, "content-type") || equalFoldLower(h.Name, "etag") ||
			equalFoldLower(h.Name, "last-modified") || equalFoldLower(h.Name, "accept-ranges") {
			continue
		}
		out = append(out, h)
	}
	out = append(out, h1.Header{Name: []byte("Content-Type"), Value: []byte("text/html")})
	resp.Headers = append(out, extra...)
	resp.Status, resp.Reason = status, nil
	resp.ContentLength = int64(len(page))
	if resp.Body != h1.BodyNone {
		resp.Body = h1.BodyLength
	}
	return &rangeReader{fileConn: fileConn{f: f}, segs: []rangeSeg{{lit: page}}}
}

// preconditionFailed is the first check of nginx's not_modified filter:
// a 200 fails the client's If-Unmodified-Since when its Last-Modified is
// missing or later, and If-Match when its ETag is missing, weak or not
// listed (412, an error page without the response's headers).
func preconditionFailed(r *request) bool { return cachedConditional(r) == 412 }

// cachedConditional runs nginx's not_modified filter (conditional) on the
// cached or stored response in r.resp.
func cachedConditional(r *request) int {
	resp := &r.resp
	if resp.Status != 200 || r.ep.internal {
		return 0
	}
	mtime := int64(-1)
	var etag []byte
	for i := range resp.Headers {
		h := &resp.Headers[i]
		switch {
		case equalFoldLower(h.Name, "last-modified"):
			if t, ok := parseHTTPTime(h.Value); ok {
				mtime = t
			}
		case equalFoldLower(h.Name, "etag"):
			etag = h.Value
		}
	}
	ims := "exact"
	if sc := r.loc.static; sc != nil {
		ims = sc.ims
	}
	return conditional(r, ims, mtime, etag)
}

// rangeBoundary numbers multipart boundaries, as nginx's temp numbers.
var rangeBoundary atomic.Uint64

// rangeSeg is one piece of a response body made of ranges: literal
// bytes, then n bytes of the file from off.
type rangeSeg struct {
	lit    []byte
	off, n int64
}

// rangeReader reads a body made of segments; it stands for the upstream
// connection of a cached response cut into ranges.
type rangeReader struct {
	fileConn
	segs []rangeSeg
}

func (rr *rangeReader) Read(p []byte) (int, error) {
	for len(rr.segs) > 0 {
		s := &rr.segs[0]
		if len(s.lit) > 0 {
			n := copy(p, s.lit)
			s.lit = s.lit[n:]
			return n, nil
		}
		if s.n > 0 {
			if int64(len(p)) > s.n {
				p = p[:s.n]
			}
			n, err := rr.f.ReadAt(p, s.off)
			s.off += int64(n)
			s.n -= int64(n)
			if n > 0 {
				return n, nil
			}
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		rr.segs = rr.segs[1:]
	}
	return 0, io.EOF
}

// applyRanges answers a Range request from a cached response whose head
// is in r.resp and whose body starts at bodyOff in f: it rewrites the
// response into a 206 (or a 416) and returns the reader of its body, or
// nil to send the response as it is. multi allows several ranges.
func applyRanges(r *request, f *os.File, bodyOff int64, multi bool) *rangeReader {
	resp := &r.resp
	if resp.Status != 200 || resp.ContentLength < 0 || (resp.Body != h1.BodyLength && !(resp.Body == h1.BodyNone && r.h1.IsHead())) {
		return nil
	}
	ar := -1
	var etag, lastMod, ctype []byte
	for i := range resp.Headers {
		h := &resp.Headers[i]
		switch {
		case equalFoldLower(h.Name, "accept-ranges"):
			ar = i
		case equalFoldLower(h.Name, "etag"):
			etag = h.Value
		case equalFoldLower(h.Name, "last-modified"):
			lastMod = h.Value
		case equalFoldLower(h.Name, "content-type"):
			ctype = h.Value
		}
	}
	if ar < 0 {
		return nil // the upstream does not allow ranges
	}
	// nginx does not pass the upstream's Accept-Ranges: it says "bytes"
	// itself on a whole response
	resp.Headers[ar].Value = []byte("bytes")
	rv, ok := findHeader(nil, r.h1.Headers, "range")
	if !ok || len(rv) < 7 || !bytes.EqualFold(rv[:6], []byte("bytes=")) {
		return nil
	}
	if !ifRange(r, etag, lastMod) { // static_cond.go
		return nil
	}
	size := resp.ContentLength
	max := 1
	if multi {
		max = 1 << 30
	}
	rs, ok, none := parseRanges(rv, size, max)
	if !ok {
		return nil
	}
	hs := resp.Headers[:ar]
	hs = append(hs, resp.Headers[ar+1:]...)
	resp.Headers = hs
	resp.Reason = nil
	if none {
		return errorResponse(r, f, 416, h1.Header{Name: []byte("Content-Range"), Value: []byte("bytes */" + strconv.FormatInt(size, 10))})
	}
	rr := &rangeReader{fileConn: fileConn{f: f}}
	resp.Status = 206
	if len(rs) == 1 {
		cr := "bytes " + strconv.FormatInt(rs[0].start, 10) + "-" + strconv.FormatInt(rs[0].end-1, 10) + "/" + strconv.FormatInt(size, 10)
		resp.Headers = append(resp.Headers, h1.Header{Name: []byte("Content-Range"), Value: []byte(cr)})
		resp.ContentLength = rs[0].end - rs[0].start
		rr.segs = []rangeSeg{{off: bodyOff + rs[0].start, n: resp.ContentLength}}
		return rr
	}
	// multipart/byteranges
	boundary := strconv.FormatUint(rangeBoundary.Add(1), 10)
	boundary = "00000000000000000000"[len(boundary):] + boundary
	var total int64
	for _, br := range rs {
		part := "\r\n--" + boundary + "\r\n"
		if ctype != nil {
			part += "Content-Type: " + string(ctype) + "\r\n"
		}
		part += "Content-Range: bytes " + strconv.FormatInt(br.start, 10) + "-" + strconv.FormatInt(br.end-1, 10) + "/" + strconv.FormatInt(size, 10) + "\r\n\r\n"
		rr.segs = append(rr.segs, rangeSeg{lit: []byte(part), off: bodyOff + br.start, n: br.end - br.start})
		total += int64(len(part)) + br.end - br.start
	}
	tail := "\r\n--" + boundary + "--\r\n"
	rr.segs = append(rr.segs, rangeSeg{lit: []byte(tail)})
	total += int64(len(tail))
	out := resp.Headers[:0]
	for _, h := range resp.Headers {
		if !equalFoldLower(h.Name, "content-type") {
			out = append(out, h)
		}
	}
	resp.Headers = append(out, h1.Header{Name: []byte("Content-Type"), Value: []byte("multipart/byteranges; boundary=" + boundary)})
	resp.ContentLength = total
	return rr
}
