package httpproxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/errlog"
)

// The response of a static file, with nginx's filters in their order:
// not_modified (If-Unmodified-Since, If-Match, If-Modified-Since,
// If-None-Match), headers (expires, add_header), charset, gzip, range
// (206, multipart/byteranges, 416, Accept-Ranges).

// byteRange is one range of a file, [start, end).
type byteRange struct{ start, end int64 }

// boundarySeq numbers multipart/byteranges boundaries, as nginx's
// ngx_next_temp_number.
var boundarySeq atomic.Uint64

// fileBufSize is the size of the buffer a file is read into when it
// cannot be sent with sendfile(2).
const fileBufSize = 32 << 10

// sendFile answers r with the file f.
func (c *conn) sendFile(r *request, sc *staticConf, f *os.File, fi os.FileInfo) bool {
	size := fi.Size()
	mtime := fi.ModTime().Unix()
	lastMod := []byte(time.Unix(mtime, 0).UTC().Format(http.TimeFormat))
	var etag []byte
	if sc.etag {
		etag = append(etag, '"')
		etag = strconv.AppendInt(etag, mtime, 16)
		etag = append(etag, '-')
		etag = strconv.AppendInt(etag, size, 16)
		etag = append(etag, '"')
	}
	status := 200
	if r.ep.errStatus != 0 {
		status = r.ep.errStatus
	}
	if status == 200 {
		switch conditional(r, sc.ims, mtime, etag) {
		case 412:
			return c.sendError(r, 412)
		case 304:
			return c.sendNotModified(r, lastMod, etag)
		}
	}
	ctype := c.contentType(r, sc)
	c.keepAliveOK(r)
	c.setExpires(r, r.loc.exp, status, lastMod)
	if cs := r.loc.charset; cs != nil {
		if v, ok := c.charsetCT(r, cs, status, ctype, false); ok {
			ctype = append([]byte(nil), v...)
		}
	}
	gzLen := size
	var sf *subFilter
	keepLM := true        // Last-Modified and ETag are sent
	if r.loc.sub != nil { // sub_filter (subfilter.go)
		if sf = c.subStart(r, r.loc.sub, ctype, size); sf != nil {
			gzLen, keepLM = -1, r.loc.sub.lastModified
		}
	}
	var gzVary, gz bool
	if g := r.loc.gz; g != nil {
		rh := respHeaders{ctype: ctype, lastMod: lastMod, hasLastMod: keepLM, etag: etag, hasETag: etag != nil && keepLM}
		r.exp.patch(&rh)
		gzVary, gz = c.gzipCheck(r, g, status, &rh, gzLen)
	}
	if (gz || sf != nil) && !c.chunked(r, r.loc) && !r.h1.IsHead() {
		r.keepAlive = false // close-delimited
	}
	var ranges []byteRange
	acceptRanges := false
	if status == 200 && !gz && sf == nil && sc.maxRanges != 0 {
		var ok bool
		ranges, ok = c.parseRanges(r, sc, size, lastMod, etag)
		if !ok {
			r.ep.extra = append(r.ep.extra[:0], "Content-Range: bytes */"...)
			r.ep.extra = strconv.AppendInt(r.ep.extra, size, 10)
			r.ep.extra = append(r.ep.extra, '\r', '\n')
			return c.sendError(r, 416)
		}
		acceptRanges = ranges == nil
	}
	var boundary []byte
	clen := size
	switch {
	case len(ranges) == 1:
		status = 206
		clen = ranges[0].end - ranges[0].start
	case len(ranges) > 1:
		status = 206
		n := boundarySeq.Add(1)
		boundary = strconv.AppendUint(boundary, n, 10)
		for len(boundary) < 20 {
			boundary = append([]byte{'0'}, boundary...)
		}
		clen = 0
		for _, rg := range ranges {
			clen += int64(len(partHeader(nil, boundary, ctype, rg, size))) + rg.end - rg.start
		}
		clen += int64(len(boundary)) + 8
	}
	r.status = status
	out := c.appendHeadStart(c.req.out[:0], r, status, nil)
	out = append(out, "Content-Type: "...)
	if boundary != nil {
		out = append(out, "multipart/byteranges; boundary="...)
		out = append(out, boundary...)
	} else {
		out = append(out, ctype...)
	}
	out = append(out, '\r', '\n')
	if gz || sf != nil {
		if c.chunked(r, r.loc) && !r.h1.IsHead() {
			out = append(out, "Transfer-Encoding: chunked\r\n"...)
		}
	} else {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, clen, 10)
		out = append(out, '\r', '\n')
	}
	if (status == 200 || status == 206) && keepLM {
		// nginx's header filter drops it for other statuses (error pages)
		out = append(out, "Last-Modified: "...)
		out = append(out, lastMod...)
		out = append(out, '\r', '\n')
	}
	if len(ranges) == 1 {
		out = append(out, "Content-Range: bytes "...)
		out = appendRange(out, ranges[0], size)
		out = append(out, '\r', '\n')
	}
	if etag != nil && keepLM {
		out = append(out, "ETag: "...)
		if gz || sf != nil {
			out = append(out, "W/"...)
		}
		out = append(out, etag...)
		out = append(out, '\r', '\n')
	}
	if acceptRanges {
		out = append(out, "Accept-Ranges: bytes\r\n"...)
	}
	out = appendGzipHeaders(out, gzVary, gz)
	out = c.appendHeadEnd(out, r, status)
	r.outHead = append(r.outHead[:0], out...)
	if !r.h1.IsHead() {
		c.startRate(r, r.loc)
	}
	if !r.h1.IsHead() && !gz && sf == nil && len(ranges) <= 1 && clen <= smallFile && r.rate.rate == 0 {
		var off int64
		if len(ranges) == 1 {
			off = ranges[0].start
		}
		return c.sendSmallFile(r, f, out, off, clen)
	}
	c.req.out = out
	if _, err := c.write(r, out); err != nil {
		return false
	}
	r.headSent = int64(len(out))
	if r.h1.IsHead() {
		return true
	}
	switch {
	case gz || sf != nil:
		return c.sendFileFiltered(r, f, size, gz)
	case len(ranges) == 0:
		return c.sendFileRange(r, f, 0, size)
	case len(ranges) == 1:
		return c.sendFileRange(r, f, ranges[0].start, ranges[0].end-ranges[0].start)
	}
	for _, rg := range ranges {
		part := partHeader(c.req.out[:0], boundary, ctype, rg, size)
		c.req.out = part
		if err := c.writeBody(r, part); err != nil {
			return false
		}
		r.bodySent += int64(len(part))
		if !c.sendFileRange(r, f, rg.start, rg.end-rg.start) {
			return false
		}
	}
	end := append(c.req.out[:0], "\r\n--"...)
	end = append(end, boundary...)
	end = append(end, "--\r\n"...)
	c.req.out = end
	if err := c.writeBody(r, end); err != nil {
		return false
	}
	r.bodySent += int64(len(end))
	return true
}

// smallFile is the largest body sent in one write with its head.
const smallFile = 16 << 10

// sendSmallFile sends the head and n bytes of f from off in one write.
func (c *conn) sendSmallFile(r *request, f *os.File, head []byte, off, n int64) bool {
	h := len(head)
	out := slices.Grow(head, int(n))[:h+int(n)]
	m, err := f.ReadAt(out[h:], off)
	c.req.out = out
	if int64(m) < n {
		if err == io.EOF {
			c.logf(r.srv, errlog.LevelCrit, fmt.Sprintf("read only %d of %d from %q", m, n, f.Name()))
		} else {
			c.logf(r.srv, errlog.LevelCrit, "pread() "+strconv.Quote(f.Name())+" failed "+errText(err))
		}
		out = out[:h+m] // what there is, then the connection closes
	}
	w, werr := c.write(r, out)
	r.headSent = int64(min(w, h))
	r.bodySent = int64(max(w-h, 0))
	return werr == nil && int64(m) == n
}

// partHeader appends the header of one part of a multipart/byteranges
// body, as nginx writes it.
func partHeader(dst, boundary, ctype []byte, rg byteRange, size int64) []byte {
	dst = append(dst, "\r\n--"...)
	dst = append(dst, boundary...)
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, ctype...)
	dst = append(dst, "\r\nContent-Range: bytes "...)
	dst = appendRange(dst, rg, size)
	return append(dst, "\r\n\r\n"...)
}

// appendRange appends "start-last/size".
func appendRange(dst []byte, rg byteRange, size int64) []byte {
	dst = strconv.AppendInt(dst, rg.start, 10)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, rg.end-1, 10)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, size, 10)
}

// contentType returns the MIME type of r's URI by its extension (types),
// or default_type.
func (c *conn) contentType(r *request, sc *staticConf) []byte {
	uri := r.h1.URI
	for i := len(uri) - 1; i > 1; i-- {
		if uri[i] == '.' && uri[i-1] != '/' {
			if t, ok := sc.types[strings.ToLower(bstr(uri[i+1:]))]; ok {
				return []byte(t)
			}
			break
		}
		if uri[i] == '/' {
			break
		}
	}
	return []byte(sc.defType)
}

// sendNotModified answers 304 as nginx's not_modified filter leaves the
// response: no Content-Type, Content-Length or Accept-Ranges.
func (c *conn) sendNotModified(r *request, lastMod, etag []byte) bool {
	c.keepAliveOK(r)
	r.status = 304
	c.setExpires(r, r.loc.exp, 304, lastMod)
	if sc := r.loc.sub; sc != nil && sc.anyType && c.subStart(r, sc, nil, -1) != nil {
		// sub_filter_types * takes the 304 too, as in nginx
		if !sc.lastModified {
			lastMod, etag = nil, nil
		} else if etag != nil {
			etag = append([]byte("W/"), etag...)
		}
	}
	out := c.appendHeadStart(c.req.out[:0], r, 304, nil)
	if lastMod != nil {
		out = append(out, "Last-Modified: "...)
		out = append(out, lastMod...)
		out = append(out, '\r', '\n')
	}
	if etag != nil {
		out = append(out, "ETag: "...)
		out = append(out, etag...)
		out = append(out, '\r', '\n')
	}
	out = c.appendHeadEnd(out, r, 304)
	r.outHead = append(r.outHead[:0], out...)
	c.req.out = out
	n, err := c.write(r, out)
	r.headSent = int64(n)
	return err == nil
}

// sendFileRange sends n bytes of f from off: with sendfile(2) on a plain
// socket without a rate limit, else through a pooled buffer.
func (c *conn) sendFileRange(r *request, f *os.File, off, n int64) bool {
	if n == 0 {
		return true
	}
	if c.rc != nil && r.rate.rate == 0 {
		m, err, ok := sendfile(c.rc, f, off, n, func() { c.writeDeadline(r) })
		r.bodySent += m
		if ok {
			if err == errTruncated {
				c.logf(r.srv, errlog.LevelAlert, "sendfile() reported that \""+f.Name()+"\" was truncated at "+strconv.FormatInt(off+m, 10))
			}
			if err != nil {
				c.sendFailed(r, err)
				return false
			}
			return true
		}
	}
	buf := getBuf(fileBufSize)
	defer putBuf(buf)
	for n > 0 {
		k := min(int64(len(buf)), n)
		m, err := f.ReadAt(buf[:k], off)
		if m > 0 {
			if werr := c.writeBody(r, buf[:m]); werr != nil {
				return false
			}
			r.bodySent += int64(m)
			off += int64(m)
			n -= int64(m)
		}
		if err != nil && n > 0 {
			if err == io.EOF {
				c.logf(r.srv, errlog.LevelCrit, fmt.Sprintf("read only %d of %d from %q", m, k, f.Name()))
			} else {
				c.logf(r.srv, errlog.LevelCrit, "pread() "+strconv.Quote(f.Name())+" failed "+errText(err))
			}
			return false
		}
	}
	return true
}

// errTruncated is the error of a file that ended before its size.
var errTruncated = errors.New("file truncated")

// sendFailed notes a failed write of a file body (send_timeout).
func (c *conn) sendFailed(r *request, err error) {
	if isTimeout(err) {
		c.timedOut(r)
	}
}

// sendFileFiltered sends f through the sub filter (r.sub, if any) and
// compressed when gz says so (gzip_types).
func (c *conn) sendFileFiltered(r *request, f *os.File, size int64, gz bool) bool {
	w := bodyWriter{c: c, r: r, sub: r.sub, chunked: c.chunked(r, r.loc)}
	if gz {
		level := r.loc.gz.level
		w.z = getGzip(level)
		defer putGzip(level, w.z)
	}
	buf := getBuf(fileBufSize)
	defer putBuf(buf)
	var off int64
	for off < size {
		k := min(int64(len(buf)), size-off)
		m, err := f.ReadAt(buf[:k], off)
		if m > 0 {
			off += int64(m)
			if !w.write(buf[:m], off == size) {
				return false
			}
		}
		if err != nil && off < size {
			return false
		}
	}
	return size > 0 || w.write(nil, true)
}
