package httpproxy

import (
	"bytes"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/httpproxy/h1"
	"github.com/sluicelb/sluice/vars"
)

// Charset indexes: a charset's place in the http block's charset table,
// or one of these.
const (
	csUnknown = -1 // a name not in the table (nginx's NGX_HTTP_NO_CHARSET)
	csOff     = -2 // source_charset not set
)

// charsetConf is a location's compiled charset settings (ngx_http_charset
// module); nil with "charset off".
type charsetConf struct {
	name    []byte   // the charset when constant
	nameVar vars.Var // else the variable that names it
	isVar   bool
	idx     int // index of name in table; csUnknown for a variable
	types   map[string]bool
	anyType bool
	// override is override_charset: a response naming a charset is
	// handled too.
	override bool
	src      []byte // source_charset when constant
	srcVar   vars.Var
	srcKind  int // csOff, 0 constant, 1 variable
	srcIdx   int
	table    []string // the charset table
}

// buildCharset compiles the charset settings of a level.
func (p *proxy) buildCharset(cs *config.HTTPCharset, table []string, pos string) (*charsetConf, error) {
	if cs.Charset == "" {
		return nil, nil
	}
	cc := &charsetConf{types: map[string]bool{}, anyType: cs.AnyType, override: cs.Override, table: table, srcKind: csOff}
	for _, t := range cs.Types {
		cc.types[strings.ToLower(t)] = true
	}
	var err error
	if strings.HasPrefix(cs.Charset, "$") {
		cc.isVar, cc.idx = true, csUnknown
		if cc.nameVar, err = p.tab.Ref(cs.Charset[1:], pos); err != nil {
			return nil, vars.NginxError(err)
		}
	} else {
		cc.name = []byte(cs.Charset)
		cc.idx = cc.index(cc.name)
	}
	switch {
	case cs.Source == "":
	case strings.HasPrefix(cs.Source, "$"):
		cc.srcKind = 1
		if cc.srcVar, err = p.tab.Ref(cs.Source[1:], pos); err != nil {
			return nil, vars.NginxError(err)
		}
	default:
		cc.srcKind, cc.src = 0, []byte(cs.Source)
		cc.srcIdx = cc.index(cc.src)
	}
	return cc, nil
}

// index finds name in the charset table without regard to case.
func (cs *charsetConf) index(name []byte) int {
	for i, n := range cs.table {
		if len(n) == len(name) && strings.EqualFold(n, bstr(name)) {
			return i
		}
	}
	return csUnknown
}

// typeOK reports whether a MIME type (without parameters) is in
// charset_types.
func (cs *charsetConf) typeOK(t []byte) bool {
	if cs.anyType {
		return true
	}
	var low [64]byte
	if len(t) > len(low) {
		return cs.types[strings.ToLower(string(t))]
	}
	for i, b := range t {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		low[i] = b
	}
	return cs.types[string(low[:len(t)])]
}

// splitCharset reads a Content-Type value as nginx's upstream module does
// (ngx_http_upstream_copy_content_type): typeLen is the length of the
// value before the ";" that starts a "charset=" parameter (all of it when
// there is none), cs the charset named, without quotes.
func splitCharset(v []byte) (typeLen int, cs []byte) {
	typeLen = len(v)
	for i := 0; i < len(v); i++ {
		if v[i] != ';' {
			continue
		}
		last := i
		p := i + 1
		for p < len(v) && v[p] == ' ' {
			p++
		}
		if p == len(v) {
			return typeLen, nil
		}
		if len(v)-p < 8 || !equalFoldLower(v[p:p+8], "charset=") {
			i = p
			continue
		}
		p += 8
		if p < len(v) && v[p] == '"' {
			p++
		}
		end := len(v)
		if v[end-1] == '"' {
			end--
		}
		if end < p {
			end = p
		}
		return last, v[p:end]
	}
	return typeLen, nil
}

// charsetCT applies the charset settings to a response's Content-Type, as
// nginx's charset header filter: a type in charset_types that names no
// charset gets "; charset=" and the charset (not for 301 and 302), one
// that names one keeps it unless override_charset is on and it is the
// same charset (then it is written again in the configured spelling).
// Recoding is not supported: charsets that differ are left alone and
// logged, as nginx does without a charset_map. It returns the value to
// send and true, or false to send ct unchanged. encoded says the response
// has a Content-Encoding.
func (c *conn) charsetCT(r *request, cs *charsetConf, status int, ct []byte, encoded bool) ([]byte, bool) {
	if len(ct) == 0 {
		return nil, false
	}
	typeLen, hdrCS := splitCharset(ct)
	if len(hdrCS) > 0 {
		if !cs.override {
			return nil, false
		}
	} else if !cs.typeOK(ct[:typeLen]) {
		return nil, false
	}
	buf := r.ctBuf[:0]
	dst, di := cs.name, cs.idx
	if cs.isVar {
		v, ok := c.h.p.tab.Get(buf, r, cs.nameVar)
		if !ok {
			v = v[:0]
		}
		buf = v
		dst, di = v, cs.index(v)
	}
	var src []byte
	si := csOff
	switch {
	case len(hdrCS) > 0:
		src, si = hdrCS, cs.index(hdrCS)
	case cs.srcKind == 0:
		src, si = cs.src, cs.srcIdx
	case cs.srcKind == 1:
		v, ok := c.h.p.tab.Get(nil, r, cs.srcVar)
		if !ok {
			v = v[:0]
		}
		src, si = v, cs.index(v)
	}
	// rewrite: the value is written as its type and the charset
	// (nginx's content_type.len == content_type_len)
	rewrite := typeLen == len(ct)
	switch {
	case si == csOff:
	case di == csUnknown || si == csUnknown:
		if si != di || len(src) < len(dst) || !bytes.EqualFold(src[:len(dst)], dst) {
			c.noCharsetMap(r, src, dst)
			return nil, false
		}
	case si == di:
		rewrite = true
	default:
		if !encoded {
			c.noCharsetMap(r, src, dst)
		}
		return nil, false
	}
	if !rewrite {
		return nil, false
	}
	out := make([]byte, 0, 64)
	if cap(r.ctOut) > 0 {
		out = r.ctOut[:0]
	}
	out = append(out, ct[:typeLen]...)
	if len(dst) > 0 && status != 301 && status != 302 {
		out = append(out, "; charset="...)
		out = append(out, dst...)
	}
	r.ctBuf, r.ctOut = buf, out
	return out, true
}

// noCharsetMap logs nginx's error for charsets sluice cannot recode.
func (c *conn) noCharsetMap(r *request, src, dst []byte) {
	msg := `no "charset_map" between the charsets "` + string(src) + `" and "` + string(dst) + `"`
	if len(r.tries) > 0 {
		msg += " while reading response header from upstream"
	}
	c.logf(r.srv, slog.LevelError, msg)
}

// expiresConf is a location's compiled expires directive (nil when off).
type expiresConf struct {
	mode string // a config.Expires* mode
	secs int64
	// neg says the configured time is negative: Cache-Control is
	// no-cache whatever the Last-Modified.
	neg  bool
	tmpl *vars.Template[*request] // an argument with variables, or nil
}

// buildExpires compiles the expires directive of a level.
func (p *proxy) buildExpires(e *config.HTTPExpires, pos string) (*expiresConf, error) {
	if e.Mode == config.ExpiresOff {
		return nil, nil
	}
	ec := &expiresConf{mode: e.Mode, secs: e.Time, neg: e.Value == "" && e.Time < 0}
	if e.Value != "" {
		t, err := p.tab.Compile(e.Value, pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		ec.tmpl = t
	}
	return ec, nil
}

// expiresOut are the Expires and Cache-Control values expires gives a
// response, and which of them went out in place of an upstream's header.
type expiresOut struct {
	on              bool
	expires, cc     []byte
	expDone, ccDone bool
	buf             [64]byte
}

// patch makes gzip_proxied see the Expires and Cache-Control that expires
// sets, as nginx's gzip filter, which runs after expires, does.
func (x *expiresOut) patch(rh *respHeaders) {
	if !x.on {
		return
	}
	rh.expires, rh.hasExpires = x.expires, true
	rh.cacheControl = []h1.Header{{Name: []byte("Cache-Control"), Value: x.cc}}
	rh.hasCacheControl = true
}

// safeStatus reports whether a status gets expires and add_header (the
// statuses nginx's headers filter adds them to without "always").
func safeStatus(status int) bool {
	switch status {
	case 200, 201, 204, 206, 301, 302, 303, 304, 307, 308:
		return true
	}
	return false
}

// setExpires computes r.exp for a response, as nginx's expires e (nil
// when off): lastMod is the response's Last-Modified value, or nil.
func (c *conn) setExpires(r *request, e *expiresConf, status int, lastMod []byte) {
	x := &r.exp
	x.on, x.expDone, x.ccDone = false, false, false
	if e == nil || !safeStatus(status) {
		return
	}
	mode, t := e.mode, e.secs
	if e.tmpl != nil {
		v := e.tmpl.Append(x.buf[:0], r)
		m, s, msg := config.ParseExpires(string(v), mode == config.ExpiresModified)
		if msg != "" || m == config.ExpiresOff {
			return
		}
		mode, t = m, s
	}
	x.on = true
	switch mode {
	case config.ExpiresEpoch:
		x.expires, x.cc = epochExpires, noCache
		return
	case config.ExpiresMax:
		x.expires, x.cc = maxExpires, maxCache
		return
	}
	now := c.now(r)
	if t == 0 && mode != config.ExpiresDaily {
		x.expires, x.cc = httpDate(now), maxAge0
		return
	}
	sec := now.Unix()
	lm := int64(-1)
	if mode == config.ExpiresModified && lastMod != nil {
		if tm, err := http.ParseTime(string(lastMod)); err == nil {
			lm = tm.Unix()
		}
	}
	var exp, age int64
	switch {
	case mode == config.ExpiresDaily:
		exp = nextTime(now, t)
		age = exp - sec
	case mode == config.ExpiresAccess || lm == -1:
		exp, age = sec+t, t
	default:
		exp = lm + t
		age = exp - sec
	}
	b := time.Unix(exp, 0).UTC().AppendFormat(x.buf[:0], "Mon, 02 Jan 2006 15:04:05 GMT")
	x.expires = b
	if e.neg || age < 0 {
		x.cc = noCache
		return
	}
	cc := append(b[len(b):], "max-age="...)
	x.cc = strconv.AppendInt(cc, age, 10)
}

var (
	epochExpires = []byte("Thu, 01 Jan 1970 00:00:01 GMT")
	maxExpires   = []byte("Thu, 31 Dec 2037 23:55:55 GMT")
	noCache      = []byte("no-cache")
	maxCache     = []byte("max-age=315360000")
	maxAge0      = []byte("max-age=0")
)

// nextTime is the next moment, in local time, at the time of day when
// (seconds after midnight): today if still to come, else tomorrow
// (ngx_next_time).
func nextTime(now time.Time, when int64) int64 {
	lt := now.Local()
	y, m, d := lt.Date()
	h, mi, s := int(when/3600), int(when%3600/60), int(when%60)
	next := time.Date(y, m, d, h, mi, s, 0, time.Local).Unix()
	if next-now.Unix() > 0 {
		return next
	}
	return time.Date(y, m, d+1, h, mi, s, 0, time.Local).Unix()
}

// appendExpires appends the Expires and Cache-Control that did not go out
// in place of an upstream's.
func appendExpires(dst []byte, x *expiresOut) []byte {
	if !x.on {
		return dst
	}
	if !x.expDone {
		dst = append(dst, "Expires: "...)
		dst = append(dst, x.expires...)
		dst = append(dst, '\r', '\n')
	}
	if !x.ccDone {
		dst = append(dst, "Cache-Control: "...)
		dst = append(dst, x.cc...)
		dst = append(dst, '\r', '\n')
	}
	x.on = false
	return dst
}

// upHeaders are the places of the upstream response headers that charset
// and expires act on.
type upHeaders struct {
	lastExpires int // index of the last Expires (nginx keeps that one), or -1
	firstCC     int // index of the first Cache-Control, or -1
	lastMod     []byte
	encoded     bool // a non-empty Content-Encoding
}

// scanUpHeaders finds what charset and expires need in the upstream
// headers that are passed to the client.
func scanUpHeaders(hs []h1.Header, l *location, upgrade bool) upHeaders {
	u := upHeaders{lastExpires: -1, firstCC: -1}
	for i := range hs {
		h := &hs[i]
		switch len(h.Name) {
		case 7, 13, 16:
		default:
			continue
		}
		if skipResponseHeader(h.Name, l, upgrade) {
			continue
		}
		switch {
		case equalFoldLower(h.Name, "expires"):
			u.lastExpires = i
		case equalFoldLower(h.Name, "cache-control"):
			if u.firstCC < 0 {
				u.firstCC = i
			}
		case equalFoldLower(h.Name, "last-modified"):
			u.lastMod = h.Value
		case equalFoldLower(h.Name, "content-encoding"):
			u.encoded = len(h.Value) > 0
		}
	}
	return u
}

// rewriteUpHeader appends upstream header i as charset and expires change
// it: the Content-Type with the charset, the Expires (the last one) and
// the first Cache-Control with expires' values, the other Cache-Control
// lines dropped. done is false for a header to be copied unchanged.
func (c *conn) rewriteUpHeader(out []byte, r *request, l *location, i int, uh *upHeaders, status int) (_ []byte, done bool) {
	h := &r.resp.Headers[i]
	var v []byte
	switch len(h.Name) {
	case 12:
		if l.charset == nil || !equalFoldLower(h.Name, "content-type") {
			return out, false
		}
		var ok bool
		if v, ok = c.charsetCT(r, l.charset, status, h.Value, uh.encoded); !ok {
			return out, false
		}
	case 7:
		if !r.exp.on || i != uh.lastExpires {
			return out, false
		}
		v, r.exp.expDone = r.exp.expires, true
	case 13:
		if !r.exp.on || !equalFoldLower(h.Name, "cache-control") {
			return out, false
		}
		if i != uh.firstCC {
			return out, true
		}
		v, r.exp.ccDone = r.exp.cc, true
	default:
		return out, false
	}
	out = append(out, h.Name...)
	out = append(out, ':', ' ')
	out = append(out, v...)
	return append(out, '\r', '\n'), true
}
