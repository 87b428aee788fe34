package httpproxy

import (
	"compress/gzip"
	"errors"
	"fmt"
	"github.com/sluicelb/sluice/internal/pcre"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/httpproxy/h1"
	"github.com/sluicelb/sluice/vars"
)

// gzipConf is a location's compiled gzip settings (nil when gzip is off).
type gzipConf struct {
	types     map[string]bool
	anyType   bool
	minLength int64
	level     int
	proxied   uint16
	vary      bool
	http10    bool // gzip_http_version 1.0: HTTP/1.0 requests too
	disable   []*pcre.Regexp
	msie6     bool
}

// gzip_proxied bits.
const (
	gpOff uint16 = 1 << iota
	gpExpired
	gpNoCache
	gpNoStore
	gpPrivate
	gpNoLM
	gpNoETag
	gpAuth
	gpAny
)

var gzipProxiedBits = map[string]uint16{
	"off": gpOff, "expired": gpExpired, "no-cache": gpNoCache, "no-store": gpNoStore,
	"private": gpPrivate, "no_last_modified": gpNoLM, "no_etag": gpNoETag, "auth": gpAuth, "any": gpAny,
}

// buildGzip compiles the gzip settings of a level.
func buildGzip(g *config.HTTPGzip, pos string) (*gzipConf, error) {
	if !g.On {
		return nil, nil
	}
	gc := &gzipConf{types: map[string]bool{"text/html": true}, anyType: g.AnyType, minLength: g.MinLength,
		level: g.Level, vary: g.Vary, http10: g.HTTPVersion == 10, msie6: g.DisableMSIE6}
	if gc.level < 1 || gc.level > 9 {
		gc.level = 1
	}
	for _, t := range g.Types {
		gc.types[strings.ToLower(t)] = true
	}
	for _, v := range g.Proxied {
		gc.proxied |= gzipProxiedBits[v]
	}
	for _, d := range g.Disable {
		re, err := config.CompileRegex(d, true)
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression %q: %v in %s", d, err, pos)
		}
		gc.disable = append(gc.disable, re)
	}
	return gc, nil
}

// respHeaders gives gzipCheck the response headers it looks at.
type respHeaders struct {
	ctype, cenc              []byte
	expires, date, lastMod   []byte
	etag                     []byte
	hasExpires, hasDate      bool
	hasLastMod, hasETag      bool
	cacheControl             []h1.Header // every Cache-Control line
	hasCacheControl, hasCEnc bool
}

// scanRespHeaders collects the headers gzip needs from an upstream
// response (the first of each, as nginx keeps them).
func scanRespHeaders(hs []h1.Header, rh *respHeaders) {
	for i := range hs {
		h := &hs[i]
		switch len(h.Name) {
		case 12:
			if rh.ctype == nil && equalFoldLower(h.Name, "content-type") {
				rh.ctype = h.Value
			}
		case 16:
			if equalFoldLower(h.Name, "content-encoding") && !rh.hasCEnc {
				rh.cenc, rh.hasCEnc = h.Value, true
			}
		case 7:
			if equalFoldLower(h.Name, "expires") && !rh.hasExpires {
				rh.expires, rh.hasExpires = h.Value, true
			}
		case 4:
			if equalFoldLower(h.Name, "date") && !rh.hasDate {
				rh.date, rh.hasDate = h.Value, true
			} else if equalFoldLower(h.Name, "etag") && !rh.hasETag {
				rh.etag, rh.hasETag = h.Value, true
			}
		case 13:
			if equalFoldLower(h.Name, "last-modified") && !rh.hasLastMod {
				rh.lastMod, rh.hasLastMod = h.Value, true
			} else if equalFoldLower(h.Name, "cache-control") {
				rh.cacheControl = append(rh.cacheControl, *h)
			}
		}
	}
	rh.hasCacheControl = len(rh.cacheControl) > 0
}

// gzipCheck decides, as nginx's gzip header filter, whether a response is
// compressed. vary says "Vary: Accept-Encoding" is added (gzip_vary on
// and the response is one gzip would compress for a client that asks).
// clen is the Content-Length, -1 when unknown.
func (c *conn) gzipCheck(r *request, g *gzipConf, status int, rh *respHeaders, clen int64) (vary, compress bool) {
	if g == nil || (status != 200 && status != 403 && status != 404) ||
		(rh.hasCEnc && len(rh.cenc) > 0) || (clen >= 0 && clen < g.minLength) || !g.typeOK(rh.ctype) {
		return false, false
	}
	return g.vary, c.gzipOK(r, g, rh)
}

// typeOK reports whether the content type (without parameters) is in
// gzip_types.
func (g *gzipConf) typeOK(ct []byte) bool {
	if len(ct) == 0 {
		return false
	}
	if g.anyType {
		return true
	}
	if i := strings.IndexByte(bstr(ct), ';'); i >= 0 {
		ct = ct[:i]
	}
	for len(ct) > 0 && (ct[len(ct)-1] == ' ' || ct[len(ct)-1] == '\t') {
		ct = ct[:len(ct)-1]
	}
	var low [128]byte
	if len(ct) > len(low) {
		return g.types[strings.ToLower(string(ct))]
	}
	for i, b := range ct {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		low[i] = b
	}
	return g.types[string(low[:len(ct)])]
}

// gzipOK is nginx's ngx_http_gzip_ok: the request side (Accept-Encoding,
// HTTP version, User-Agent) and gzip_proxied for requests with Via.
func (c *conn) gzipOK(r *request, g *gzipConf, rh *respHeaders) bool {
	var ae, ua []byte
	var hasVia, hasAuth, hasUA, hasAE bool
	for i := range r.h1.Headers {
		h := &r.h1.Headers[i]
		switch len(h.Name) {
		case 15:
			if !hasAE && equalFoldLower(h.Name, "accept-encoding") {
				ae, hasAE = h.Value, true
			}
		case 3:
			if equalFoldLower(h.Name, "via") {
				hasVia = true
			}
		case 13:
			if equalFoldLower(h.Name, "authorization") {
				hasAuth = true
			}
		case 10:
			if !hasUA && equalFoldLower(h.Name, "user-agent") {
				ua, hasUA = h.Value, true
			}
		}
	}
	if !hasAE || !acceptsGzip(ae) {
		return false
	}
	if g.msie6 && hasUA && isMSIE6(ua) {
		return false
	}
	if !g.http10 && (r.h1.Major < 1 || r.h1.Major == 1 && r.h1.Minor < 1) {
		return false
	}
	if hasVia && !proxiedOK(g.proxied, hasAuth, rh, c.h.p.now()) {
		return false
	}
	if hasUA {
		for _, re := range g.disable {
			if re.Match(ua) {
				return false
			}
		}
	}
	return true
}

// proxiedOK applies gzip_proxied to a request that came through a proxy.
func proxiedOK(p uint16, auth bool, rh *respHeaders, now time.Time) bool {
	switch {
	case p&gpOff != 0:
		return false
	case p&gpAny != 0:
		return true
	case auth && p&gpAuth != 0:
		return true
	}
	if rh.hasExpires {
		if p&gpExpired == 0 {
			return false
		}
		exp, err := http.ParseTime(string(rh.expires))
		if err != nil {
			return false
		}
		date := now
		if rh.hasDate {
			if date, err = http.ParseTime(string(rh.date)); err != nil {
				return false
			}
		}
		return exp.Before(date)
	}
	if rh.hasCacheControl {
		for _, tok := range [...]struct {
			bit  uint16
			name string
		}{{gpNoCache, "no-cache"}, {gpNoStore, "no-store"}, {gpPrivate, "private"}} {
			if p&tok.bit == 0 {
				continue
			}
			for i := range rh.cacheControl {
				if containsToken(rh.cacheControl[i].Value, tok.name) {
					return true
				}
			}
		}
		return false
	}
	if p&gpNoLM != 0 && rh.hasLastMod {
		return false
	}
	if p&gpNoETag != 0 && rh.hasETag {
		return false
	}
	return true
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip, as
// nginx reads it: "gzip" as a token, with a q value other than 0.
func acceptsGzip(ae []byte) bool {
	if len(ae) < 4 {
		return false
	}
	if len(ae) >= 5 && string(ae[:5]) == "gzip," {
		return true
	}
	start := 0
	p := -1
	for {
		i := indexFold(ae[start:], "gzip")
		if i < 0 {
			return false
		}
		i += start
		if i == 0 || ae[i-1] == ',' || ae[i-1] == ' ' {
			p = i + 4
			break
		}
		start = i + 4
	}
	for p < len(ae) {
		ch := ae[p]
		p++
		switch ch {
		case ',':
			return true
		case ';':
			return gzipQuality(ae, p)
		case ' ':
			continue
		default:
			return false
		}
	}
	return true
}

// gzipQuality reads ";q=N" from p and reports whether N is above zero.
func gzipQuality(ae []byte, p int) bool {
	for p < len(ae) {
		ch := ae[p]
		p++
		switch ch {
		case 'q', 'Q':
			if p+2 > len(ae) || ae[p] != '=' {
				return false
			}
			return quality(ae[p+1:]) > 0
		case ' ':
			continue
		default:
			return false
		}
	}
	return true
}

// quality parses a q value as nginx's ngx_http_gzip_quantity (per mille
// of 100; 0 for anything invalid).
func quality(b []byte) int {
	if len(b) == 0 || (b[0] != '0' && b[0] != '1') {
		return 0
	}
	q := int(b[0]-'0') * 100
	b = b[1:]
	if len(b) == 0 || b[0] == ',' || b[0] == ' ' {
		return q
	}
	if b[0] != '.' {
		return 0
	}
	n := 0
	for _, ch := range b[1:] {
		if ch == ',' || ch == ' ' {
			break
		}
		if ch < '0' || ch > '9' {
			return 0
		}
		q += int(ch - '0')
		n++
	}
	if q > 100 || n > 3 {
		return 0
	}
	return q
}

// isMSIE6 reports whether a User-Agent is MSIE 4 to 6 (without SV1), as
// nginx's "msie6" mask.
func isMSIE6(ua []byte) bool {
	i := strings.Index(bstr(ua), "MSIE ")
	if i < 0 || i+7 >= len(ua) {
		return false
	}
	m := ua[i:]
	if m[6] != '.' {
		return false
	}
	switch m[5] {
	case '4', '5':
		return true
	case '6':
		return !strings.Contains(bstr(m[8:]), "SV1")
	}
	return false
}

// gzipStream is a pooled compressor writing into its own buffer.
type gzipStream struct {
	zw  *gzip.Writer
	buf []byte
}

func (z *gzipStream) Write(p []byte) (int, error) {
	z.buf = append(z.buf, p...)
	return len(p), nil
}

// gzipPools keep compressors per level: a compressor's state is large
// (hundreds of kilobytes), so each is reused.
var gzipPools [10]sync.Pool

func getGzip(level int) *gzipStream {
	if z, ok := gzipPools[level].Get().(*gzipStream); ok {
		z.buf = z.buf[:0]
		z.zw.Reset(z)
		return z
	}
	z := &gzipStream{}
	z.zw, _ = gzip.NewWriterLevel(z, level)
	return z
}

func putGzip(level int, z *gzipStream) {
	if cap(z.buf) > 64<<10 {
		z.buf = nil
	}
	gzipPools[level].Put(z)
}

// appendGzipHeaders appends the headers gzip adds.
func appendGzipHeaders(out []byte, vary, compress bool) []byte {
	if vary {
		out = append(out, "Vary: Accept-Encoding\r\n"...)
	}
	if compress {
		out = append(out, "Content-Encoding: gzip\r\n"...)
	}
	return out
}

// gzipSkipHeader reports whether an upstream response header is dropped
// or changed because the response is compressed: Accept-Ranges is
// dropped, a strong ETag becomes weak and any other is dropped. It
// returns the header to write instead, if any.
func gzipSkipHeader(h *h1.Header, out []byte) ([]byte, bool) {
	switch len(h.Name) {
	case 13:
		if equalFoldLower(h.Name, "accept-ranges") {
			return out, true
		}
	case 4:
		if equalFoldLower(h.Name, "etag") {
			v := h.Value
			switch {
			case len(v) >= 2 && v[0] == 'W' && v[1] == '/':
				return out, false
			case len(v) > 0 && v[0] == '"':
				out = append(out, h.Name...)
				out = append(out, ": W/"...)
				out = append(out, v...)
				return append(out, '\r', '\n'), true
			}
			return out, true
		}
	}
	return out, false
}

// gzipBody compresses a body held whole (a page Sluice generates) and
// frames it for the client: one chunk and the last chunk when chunked,
// else the bare stream.
func gzipBody(r *request, dst []byte, body []byte, level int, chunked bool) []byte {
	z := getGzip(level)
	z.zw.Write(body)
	z.zw.Close()
	if r != nil {
		r.gzIn, r.gzOut = int64(len(body)), int64(len(z.buf))
	}
	if chunked {
		dst = h1.AppendChunk(dst, z.buf)
		dst = append(dst, "0\r\n\r\n"...)
	} else {
		dst = append(dst, z.buf...)
	}
	putGzip(level, z)
	return dst
}

// sendFiltered streams an upstream body to the client through the sub
// filter and the compressor (either may be off: r.sub, gz), after writing
// the head, in c.req.out: each read from the upstream is filtered, compressed and flushed
// to the client at once, so that a stream of events is not held back.
func (c *conn) sendFiltered(r *request, l *location, uc *upConn, tb []byte, n, have int, gz bool) (reusable, clientOK bool, upErr error) {
	resp := &r.resp
	t := &r.tries[len(r.tries)-1]
	chunked := c.chunked(r, l)
	w := bodyWriter{c: c, r: r, sub: r.sub, chunked: chunked, stream: true}
	if gz {
		level := l.gz.level
		w.z = getGzip(level)
		defer putGzip(level, w.z)
	}
	if _, err := c.write(r, c.req.out); err != nil {
		return false, false, nil
	}
	var watch clientWatch
	defer watch.stop(c)
	var dec h1.ChunkedDecoder
	rem := resp.ContentLength
	reusable = resp.KeepAlive
	b := tb[n:have]
	for {
		var data []byte
		done := false
		switch resp.Body {
		case h1.BodyLength:
			if int64(len(b)) > rem {
				b, reusable = b[:rem], false
			}
			rem -= int64(len(b))
			t.length += int64(len(b))
			data, done = b, rem == 0
		case h1.BodyChunked:
			k, w, err := decodeChunks(&dec, b, false)
			t.length += int64(k)
			if err != nil {
				return false, false, err
			}
			data, done = b[:w], dec.Done()
			if done && k != len(b) {
				reusable = false
			}
		default:
			t.length += int64(len(b))
			data = b
		}
		if (len(data) > 0 || done) && !w.write(data, done) {
			return false, false, nil
		}
		if done {
			return reusable, chunked, nil
		}
		if !l.set.ProxyIgnoreClientAbort {
			watch.start(c, uc)
		}
		m, err := c.upRead(l, uc, tb)
		if m == 0 && err != nil {
			if watch.aborted() {
				return false, false, nil
			}
			if resp.Body == h1.BodyUntilClose && errors.Is(err, io.EOF) {
				if !w.write(nil, true) {
					return false, false, nil
				}
				return false, chunked, nil
			}
			return false, false, err
		}
		b = tb[:m]
	}
}

// emitGzip flushes the compressor (or ends its stream when final) and
// writes what it produced to the client, as a chunk when chunked.
func (c *conn) emitGzip(r *request, z *gzipStream, chunked, final bool) bool {
	if final {
		z.zw.Close()
	} else {
		z.zw.Flush()
	}
	if len(z.buf) == 0 && !final {
		return true
	}
	out := z.buf
	if chunked {
		out = h1.AppendChunkHeader(c.req.out[:0], len(z.buf))
		out = append(out, z.buf...)
		out = append(out, '\r', '\n')
		if final {
			out = append(out, "0\r\n\r\n"...)
		}
		c.req.out = out
	}
	r.bodySent += int64(len(z.buf))
	r.gzOut += int64(len(z.buf))
	z.buf = z.buf[:0]
	if len(out) == 0 {
		return true
	}
	return c.writeBody(r, out) == nil
}

// defineGzipVars defines $gzip_ratio: the original size of a compressed
// response divided by its compressed size, with two decimals rounded as
// nginx rounds them; not found when the response was not compressed.
func defineGzipVars(t *vars.Table[*request]) error {
	return t.Define("gzip_ratio", func(dst []byte, r *request) ([]byte, bool) {
		if r.gzOut == 0 {
			return dst, false
		}
		return appendRatio(dst, r.gzIn, r.gzOut), true
	}, 0)
}

// appendRatio appends in/out with two decimals, the third rounding the
// second as nginx does.
func appendRatio(dst []byte, in, out int64) []byte {
	whole, frac := in/out, in*100/out%100
	if in*1000/out%10 > 4 {
		frac++
		if frac > 99 {
			whole, frac = whole+1, 0
		}
	}
	dst = strconv.AppendInt(dst, whole, 10)
	dst = append(dst, '.')
	if frac < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, frac, 10)
}
