package httpproxy

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/httpproxy/h1"
	"github.com/sluicelb/sluice/httpproxy/route"
	"github.com/sluicelb/sluice/vars"
)

// try is one attempt on an upstream server, for the $upstream_* variables.
// Durations are -1 when the step was not reached (nginx prints "-").
type try struct {
	addr     string
	status   int
	connect  time.Duration
	header   time.Duration
	response time.Duration
	length   int64
}

// request is one client request as the variable system sees it. It is
// reused by the connection for every request it serves.
type request struct {
	vs  vars.State
	c   *conn
	h1  h1.Request
	srv *server
	loc *location
	sm  route.ServerMatch
	m   route.Match

	start     time.Time
	clock     time.Time      // when the upstream response head arrived, or zero (see now)
	remote    netip.AddrPort // after realip
	realSet   bool           // realip replaced remote (it then runs no more)
	status    int
	headSent  int64 // bytes of the response head sent
	bodySent  int64 // bytes of the response body sent
	reqLen    int64 // bytes of the request read (head and body)
	keepAlive bool

	host        []byte // $host
	proxyHost   string // $proxy_host
	tries       []try
	bal         balance.Request
	resp        h1.Response // the last upstream response head (for $upstream_http_*)
	haveResp    bool
	outHead     []byte       // the response head sent, for $sent_http_*
	sentClose   bool         // the upstream request said "Connection: close"
	limitReq    string       // $limit_req_status
	limitConn   string       // $limit_conn_status
	ep          epState      // error_page state (errorpage.go)
	gzIn, gzOut int64        // bytes compressed and what they became, for $gzip_ratio (gzip.go)
	sub         *subFilter   // the sub filter of the response being sent, or nil (subfilter.go)
	upTLS       *upstreamTLS // TLS to the upstream of this request, or nil (upstream_tls.go)
	tb          []byte       // the buffer upstream responses are read with, or nil (proxy.go)
	exp         expiresOut   // the response's expires headers (headers.go)
	ctBuf       []byte       // charset: the value of a charset variable
	ctOut       []byte       // charset: the Content-Type sent
	rw          rwState      // what rewrite directives changed (rewrite.go)
	rate        rateState    // the response rate limit (rate.go)
	// origMethod is the client's method in a subrequest whose own is GET
	// ($request_method is the main request's), else nil (subrequest.go).
	origMethod []byte
	// bodyRead says the request body was read whole, into preBody, before
	// the handler ran (mirror_request_body; subrequest.go).
	bodyRead bool
	preBody  []byte
	// bodyDone says the request body was read or discarded (or the
	// connection closes after the response): it is not discarded again.
	bodyDone bool
	// addURIToAlias says try_files found a file for a regular expression
	// location with alias: the URI is added to the alias (static.go).
	addURIToAlias bool
	cache         *cacheReq // proxy_cache state, nil outside a location with a cache (cache.go)
	mods          modsState // secure_link, userid (mods.go)
	// sticky is the sticky cookie to send, naming the server stickyID,
	// or nil (sticky.go).
	sticky   *sticky
	stickyID string
	// learning is the sticky learn of the upstream whose response head
	// is being read, and learnKey/learnNew what it learns (sticky.go).
	learning *sticky
	learnKey string
	learnNew bool
	// queued says the request went to an upstream with a queue, queueTime
	// is how long it waited there ($upstream_queue_time), and queueGone
	// that its client went away meanwhile (queue.go).
	queued, queueGone bool
	queueTime         time.Duration

	scratch []byte
	out     []byte // response head (and small bodies) being written
	uh      []byte // upstream request head
	body    []byte // request body read whole
	sets    []h1.Header
	setBuf  []byte
}

// VarState implements vars.Context.
func (r *request) VarState() *vars.State { return &r.vs }

func (r *request) reset() {
	r.vs.Reset()
	r.srv, r.loc = nil, nil
	r.sm, r.m = route.ServerMatch{}, route.Match{}
	r.status, r.headSent, r.bodySent, r.reqLen = 0, 0, 0, 0
	r.clock = time.Time{}
	r.keepAlive, r.realSet = false, false
	r.host, r.proxyHost = nil, ""
	r.tries = r.tries[:0]
	r.bal.Reset()
	r.haveResp = false
	r.outHead = r.outHead[:0]
	r.limitReq, r.limitConn = "", ""
	r.sentClose = false
	r.ep.reset()
	r.gzIn, r.gzOut = 0, 0
	r.sub = nil
	r.upTLS = nil
	r.rw = rwState{}
	r.rate = rateState{}
	r.bodyRead, r.preBody = false, nil
	r.bodyDone, r.addURIToAlias = false, false
	r.cache = nil
	r.mods.reset()
	r.sticky, r.stickyID = nil, ""
	r.learning, r.learnKey, r.learnNew = nil, "", false
	r.queued, r.queueGone, r.queueTime = false, false, 0
}

// bstr views b as a string without copying; the string must not outlive b's
// contents.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func tryList(field func(*try, []byte) []byte) vars.Getter[*request] {
	return vars.List(func(r *request) []try { return r.tries }, field)
}

func timeField(get func(*try) time.Duration) func(*try, []byte) []byte {
	return func(t *try, dst []byte) []byte {
		if d := get(t); d >= 0 {
			return vars.AppendSeconds(dst, d)
		}
		return append(dst, '-')
	}
}

// headerName turns the suffix of $http_x_y into the header name "x-y".
func headerName(suffix string) string {
	return strings.ReplaceAll(strings.ToLower(suffix), "_", "-")
}

// findHeader returns the value of the header name (lower case) in hs; nginx
// joins repeated Cookie and X-Forwarded-For headers with "; " and ", ".
func findHeader(dst []byte, hs []h1.Header, name string) ([]byte, bool) {
	sep := ""
	switch name {
	case "cookie":
		sep = "; "
	case "x-forwarded-for":
		sep = ", "
	}
	found := false
	for i := range hs {
		if len(hs[i].Name) == len(name) && equalFoldLower(hs[i].Name, name) {
			if found {
				if sep == "" {
					return dst, true
				}
				dst = append(dst, sep...)
			}
			dst = append(dst, hs[i].Value...)
			found = true
		}
	}
	return dst, found
}

// equalFoldLower compares b with the lower-case s without regard to ASCII
// case.
func equalFoldLower(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// argValue finds the query argument name in args (nginx compares names
// without regard to case).
func argValue(args []byte, name string) ([]byte, bool) {
	for len(args) > 0 {
		end := bytes.IndexByte(args, '&')
		var kv []byte
		if end < 0 {
			kv, args = args, nil
		} else {
			kv, args = args[:end], args[end+1:]
		}
		k, v := kv, []byte(nil)
		if eq := bytes.IndexByte(kv, '='); eq >= 0 {
			k, v = kv[:eq], kv[eq+1:]
		}
		if len(k) == len(name) && strings.EqualFold(bstr(k), name) {
			return v, true
		}
	}
	return nil, false
}

// setCookieValue finds the value of the cookie name in the Set-Cookie
// headers of an upstream response ($upstream_cookie_NAME).
func setCookieValue(hs []h1.Header, name string) ([]byte, bool) {
	for i := range hs {
		if !equalFoldLower(hs[i].Name, "set-cookie") {
			continue
		}
		v := bytes.TrimLeft(hs[i].Value, " \t")
		if j := bytes.IndexByte(v, ';'); j >= 0 {
			v = v[:j]
		}
		if eq := bytes.IndexByte(v, '='); eq >= 0 && strings.EqualFold(strings.TrimRight(bstr(v[:eq]), " \t"), name) {
			return bytes.Trim(v[eq+1:], " \t"), true
		}
	}
	return nil, false
}

// cookieValue finds the cookie name in the Cookie headers; the name is
// compared without regard to case, as nginx compares it.
func cookieValue(hs []h1.Header, name string) ([]byte, bool) {
	for i := range hs {
		if !equalFoldLower(hs[i].Name, "cookie") {
			continue
		}
		v := hs[i].Value
		for len(v) > 0 {
			var item []byte
			if j := bytes.IndexByte(v, ';'); j >= 0 {
				item, v = v[:j], v[j+1:]
			} else {
				item, v = v, nil
			}
			item = bytes.TrimLeft(item, " \t")
			if eq := bytes.IndexByte(item, '='); eq >= 0 && strings.EqualFold(bstr(item[:eq]), name) {
				return bytes.TrimRight(item[eq+1:], " \t"), true
			}
		}
	}
	return nil, false
}

// sentHeader finds a header in the response head sent.
func sentHeader(dst, head []byte, name string) ([]byte, bool) {
	// skip the status line
	i := bytes.IndexByte(head, '\n')
	if i < 0 {
		return dst, false
	}
	head = head[i+1:]
	for len(head) > 2 {
		end := bytes.IndexByte(head, '\n')
		if end < 0 {
			break
		}
		line := head[:end]
		head = head[end+1:]
		line = bytes.TrimRight(line, "\r")
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		if equalFoldLower(line[:colon], name) {
			return append(dst, bytes.TrimLeft(line[colon+1:], " ")...), true
		}
	}
	return dst, false
}

func addrText(dst []byte, a netip.Addr) []byte { return a.Unmap().AppendTo(dst) }

// defineVars defines nginx's http variables on t.
func defineVars(t *vars.Table[*request]) error {
	str := func(f func(r *request) []byte) vars.Getter[*request] {
		return func(dst []byte, r *request) ([]byte, bool) { return append(dst, f(r)...), true }
	}
	defs := []struct {
		name string
		get  vars.Getter[*request]
	}{
		{"remote_addr", func(dst []byte, r *request) ([]byte, bool) {
			if r.c.unix && !r.realSet {
				return append(dst, "unix:"...), true
			}
			return addrText(dst, r.remote.Addr()), true
		}},
		{"remote_port", func(dst []byte, r *request) ([]byte, bool) {
			if r.c.unix && !r.realSet || r.remote.Port() == 0 {
				return dst, true
			}
			return strconv.AppendUint(dst, uint64(r.remote.Port()), 10), true
		}},
		{"realip_remote_addr", func(dst []byte, r *request) ([]byte, bool) {
			if r.c.unix {
				return append(dst, "unix:"...), true
			}
			return addrText(dst, r.c.remote.Addr()), true
		}},
		{"realip_remote_port", func(dst []byte, r *request) ([]byte, bool) {
			if r.c.unix {
				return dst, true
			}
			return strconv.AppendUint(dst, uint64(r.c.remote.Port()), 10), true
		}},
		{"proxy_protocol_addr", func(dst []byte, r *request) ([]byte, bool) { return r.c.ppAddr(dst, false) }},
		{"proxy_protocol_port", func(dst []byte, r *request) ([]byte, bool) { return r.c.ppPort(dst, false) }},
		{"proxy_protocol_server_addr", func(dst []byte, r *request) ([]byte, bool) { return r.c.ppAddr(dst, true) }},
		{"proxy_protocol_server_port", func(dst []byte, r *request) ([]byte, bool) { return r.c.ppPort(dst, true) }},
		{"binary_remote_addr", func(dst []byte, r *request) ([]byte, bool) {
			if r.c.unix && !r.realSet {
				return dst, true
			}
			a := r.remote.Addr().Unmap()
			if a.Is4() {
				b := a.As4()
				return append(dst, b[:]...), true
			}
			b := a.As16()
			return append(dst, b[:]...), true
		}},
		{"server_addr", func(dst []byte, r *request) ([]byte, bool) {
			if r.c.unix {
				return append(dst, "unix:"...), true
			}
			return addrText(dst, r.c.local.Addr()), true
		}},
		{"server_port", func(dst []byte, r *request) ([]byte, bool) {
			if r.c.unix {
				return dst, true
			}
			return strconv.AppendUint(dst, uint64(r.c.local.Port()), 10), true
		}},
		{"server_protocol", str(func(r *request) []byte { return r.h1.Proto })},
		{"scheme", func(dst []byte, r *request) ([]byte, bool) { return append(dst, r.c.scheme()...), true }},
		{"https", func(dst []byte, r *request) ([]byte, bool) {
			if r.c.tlsState() != nil {
				return append(dst, "on"...), true
			}
			return dst, true
		}},
		{"request_method", str(func(r *request) []byte {
			if r.origMethod != nil {
				return r.origMethod
			}
			return r.h1.Method
		})},
		{"request_uri", str(func(r *request) []byte { return r.h1.RequestURI })},
		{"uri", str(func(r *request) []byte { return r.h1.URI })},
		{"document_uri", str(func(r *request) []byte { return r.h1.URI })},
		{"args", str(func(r *request) []byte { return r.h1.Args })},
		{"query_string", str(func(r *request) []byte { return r.h1.Args })},
		{"is_args", func(dst []byte, r *request) ([]byte, bool) {
			if len(r.h1.Args) > 0 { // nginx: "" for "/x?" and after rewrite ... ?
				return append(dst, '?'), true
			}
			return dst, true
		}},
		{"request", func(dst []byte, r *request) ([]byte, bool) {
			if len(r.h1.Method) == 0 {
				return dst, true
			}
			dst = append(dst, r.h1.Method...)
			dst = append(dst, ' ')
			dst = append(dst, r.h1.Target...)
			dst = append(dst, ' ')
			return append(dst, r.h1.Proto...), true
		}},
		{"host", func(dst []byte, r *request) ([]byte, bool) {
			if len(r.host) > 0 {
				return append(dst, r.host...), true
			}
			if r.srv != nil {
				return append(dst, r.srv.name...), true
			}
			return dst, true
		}},
		{"hostname", nil}, // stock
		{"server_name", func(dst []byte, r *request) ([]byte, bool) {
			if r.srv == nil {
				return dst, true
			}
			return append(dst, r.srv.name...), true
		}},
		{"status", func(dst []byte, r *request) ([]byte, bool) {
			return appendStatus(dst, r.status), true
		}},
		{"body_bytes_sent", func(dst []byte, r *request) ([]byte, bool) {
			return strconv.AppendInt(dst, r.bodySent, 10), true
		}},
		{"bytes_sent", func(dst []byte, r *request) ([]byte, bool) {
			return strconv.AppendInt(dst, r.headSent+r.bodySent, 10), true
		}},
		{"request_length", func(dst []byte, r *request) ([]byte, bool) {
			return strconv.AppendInt(dst, r.reqLen, 10), true
		}},
		{"request_time", func(dst []byte, r *request) ([]byte, bool) {
			return vars.AppendSeconds(dst, r.c.h.p.now().Sub(r.start)), true
		}},
		{"content_length", func(dst []byte, r *request) ([]byte, bool) {
			v := r.h1.Get("content-length")
			if v == nil && r.h1.Chunked && r.h1.ContentLength >= 0 {
				// a chunked body read whole (fastcgi_pass, cgi.go)
				return strconv.AppendInt(dst, r.h1.ContentLength, 10), true
			}
			return append(dst, v...), v != nil
		}},
		{"content_type", func(dst []byte, r *request) ([]byte, bool) {
			v := r.h1.Get("content-type")
			return append(dst, v...), v != nil
		}},
		{"remote_user", appendRemoteUser},
		{"connection", func(dst []byte, r *request) ([]byte, bool) {
			return strconv.AppendUint(dst, r.c.id, 10), true
		}},
		{"connection_requests", func(dst []byte, r *request) ([]byte, bool) {
			return strconv.AppendInt(dst, int64(r.c.requests), 10), true
		}},
		{"request_id", func(dst []byte, r *request) ([]byte, bool) {
			return appendRequestID(dst, r), true
		}},
		{"proxy_host", func(dst []byte, r *request) ([]byte, bool) {
			return append(dst, r.proxyHost...), r.proxyHost != ""
		}},
		{"proxy_port", func(dst []byte, r *request) ([]byte, bool) {
			if r.loc == nil || r.loc.pass == nil {
				return dst, false
			}
			return append(dst, r.loc.pass.port...), true
		}},
		{"proxy_add_x_forwarded_for", func(dst []byte, r *request) ([]byte, bool) {
			var ok bool
			start := len(dst)
			dst, ok = findHeader(dst, r.h1.Headers, "x-forwarded-for")
			if ok && len(dst) > start {
				dst = append(dst, ", "...)
			}
			if r.c.unix {
				return append(dst, "unix:"...), true
			}
			return addrText(dst, r.remote.Addr()), true
		}},
		{"upstream_addr", tryList(func(t *try, dst []byte) []byte { return append(dst, t.addr...) })},
		{"upstream_status", tryList(func(t *try, dst []byte) []byte {
			if t.status == 0 {
				return append(dst, '-')
			}
			return strconv.AppendInt(dst, int64(t.status), 10)
		})},
		{"upstream_connect_time", tryList(timeField(func(t *try) time.Duration { return t.connect }))},
		{"upstream_header_time", tryList(timeField(func(t *try) time.Duration { return t.header }))},
		{"upstream_response_time", tryList(timeField(func(t *try) time.Duration { return t.response }))},
		{"upstream_queue_time", func(dst []byte, r *request) ([]byte, bool) {
			if !r.queued {
				return dst, false
			}
			return vars.AppendSeconds(dst, r.queueTime), true
		}},
		{"upstream_response_length", tryList(func(t *try, dst []byte) []byte { return strconv.AppendInt(dst, t.length, 10) })},
		{"limit_req_status", func(dst []byte, r *request) ([]byte, bool) {
			return append(dst, r.limitReq...), r.limitReq != ""
		}},
		{"limit_conn_status", func(dst []byte, r *request) ([]byte, bool) {
			return append(dst, r.limitConn...), r.limitConn != ""
		}},
	}
	for _, d := range defs {
		if d.get == nil {
			continue
		}
		if err := t.Define(d.name, d.get, 0); err != nil {
			return err
		}
	}
	prefixes := []struct {
		pfx  string
		bind vars.PrefixGetter[*request]
	}{
		{"http_", func(suffix string) vars.Getter[*request] {
			name := headerName(suffix)
			return func(dst []byte, r *request) ([]byte, bool) { return findHeader(dst, r.h1.Headers, name) }
		}},
		{"sent_http_", func(suffix string) vars.Getter[*request] {
			name := headerName(suffix)
			return func(dst []byte, r *request) ([]byte, bool) { return sentHeader(dst, r.outHead, name) }
		}},
		{"upstream_http_", func(suffix string) vars.Getter[*request] {
			name := headerName(suffix)
			return func(dst []byte, r *request) ([]byte, bool) {
				if !r.haveResp {
					return dst, false
				}
				return findHeader(dst, r.resp.Headers, name)
			}
		}},
		{"upstream_cookie_", func(suffix string) vars.Getter[*request] {
			return func(dst []byte, r *request) ([]byte, bool) {
				if !r.haveResp {
					return dst, false
				}
				v, ok := setCookieValue(r.resp.Headers, suffix)
				return append(dst, v...), ok
			}
		}},
		{"arg_", func(suffix string) vars.Getter[*request] {
			return func(dst []byte, r *request) ([]byte, bool) {
				v, ok := argValue(r.h1.Args, suffix)
				return append(dst, v...), ok
			}
		}},
		{"cookie_", func(suffix string) vars.Getter[*request] {
			return func(dst []byte, r *request) ([]byte, bool) {
				v, ok := cookieValue(r.h1.Headers, suffix)
				return append(dst, v...), ok
			}
		}},
	}
	for _, p := range prefixes {
		if err := t.DefinePrefix(p.pfx, p.bind); err != nil {
			return err
		}
	}
	return nil
}

func appendStatus(dst []byte, s int) []byte {
	if s == 0 {
		return append(dst, '0', '0', '0')
	}
	if s >= 100 && s < 1000 {
		return append(dst, byte('0'+s/100), byte('0'+s/10%10), byte('0'+s%10))
	}
	return strconv.AppendInt(dst, int64(s), 10)
}

// appendRequestID appends a 32-hex-digit identifier unique to the request.
func appendRequestID(dst []byte, r *request) []byte {
	const hex = "0123456789abcdef"
	a, b := r.c.id, uint64(r.c.requests)^uint64(r.start.UnixNano())
	for _, v := range [2]uint64{a*0x9e3779b97f4a7c15 ^ b, b*0xbf58476d1ce4e5b9 ^ a} {
		for i := 60; i >= 0; i -= 4 {
			dst = append(dst, hex[(v>>uint(i))&15])
		}
	}
	return dst
}
