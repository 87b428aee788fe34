package h1

import "bytes"

// Limits are the request head limits and options, named after the nginx
// directives they mirror. The zero value is nginx's defaults.
type Limits struct {
	// HeaderBufferSize is client_header_buffer_size; 0 means 1024.
	HeaderBufferSize int
	// LargeBufferSize and LargeBuffers are large_client_header_buffers;
	// 0 means 8192 and 4. A request line longer than LargeBufferSize gets
	// 414, a longer header line 494; so does a head whose lines, packed
	// into the buffers as nginx packs them, need more than LargeBuffers.
	LargeBufferSize int
	LargeBuffers    int
	// UnderscoresInHeaders is underscores_in_headers on: header names with
	// "_" are kept instead of dropped.
	UnderscoresInHeaders bool
	// KeepInvalidHeaders is ignore_invalid_headers off: header names with
	// bytes other than letters, digits and "-" are kept instead of dropped.
	KeepInvalidHeaders bool
	// NoMergeSlashes is merge_slashes off: Request.URI keeps "//".
	NoMergeSlashes bool
}

func (l *Limits) sizes() (first, large, n int) {
	first, large, n = l.HeaderBufferSize, l.LargeBufferSize, l.LargeBuffers
	if first <= 0 {
		first = 1024
	}
	if large <= 0 {
		large = 8192
	}
	if n <= 0 {
		n = 4
	}
	return first, large, n
}

// MaxHeadSize is the largest request head these limits accept; a caller
// that buffers this many bytes never has to give up on a valid head.
func (l Limits) MaxHeadSize() int {
	first, large, n := l.sizes()
	return first + large*n
}

// Request is a parsed request head. Its byte slices point into the buffer
// given to ParseRequest (or, for URI and HostName when they had to be
// rewritten, into a scratch buffer the Request owns) and stay valid until
// that buffer is changed or the Request is parsed into again.
//
// The zero value is ready to use; its first parse allocates the header
// array, which later parses reuse. A Request must not be used by two
// goroutines at once.
type Request struct {
	Method []byte // "GET"
	Target []byte // request-target as sent: "/a/b?x=1" or "http://host/a"
	// RequestURI is nginx's $request_uri: the target without the scheme and
	// authority of the absolute form ("/" if it had no path or query).
	RequestURI []byte
	Path       []byte // raw path of RequestURI: before "?" and "#"
	Args       []byte // raw query: after "?", before "#" (nginx's $args)
	// URI is nginx's $uri: Path percent-decoded, with "." and ".."
	// segments resolved and (unless NoMergeSlashes) "//" merged.
	URI   []byte
	Proto []byte // "HTTP/1.1" as sent
	Major int    // 1
	Minor int    // 0 or 1 (nginx accepts any HTTP/1.x and treats it as 1.1)

	// Host is the host of an absolute-form target if there is one, else the
	// Host header's value, else nil.
	Host []byte
	// HostName is nginx's $host when it comes from the request: Host in
	// lower case, without port and trailing dot. Empty if no host was sent.
	HostName []byte

	// Headers are the header lines in order, except those dropped under
	// the Limits' rules (underscores, invalid names).
	Headers []Header

	ContentLength  int64     // the Content-Length, or -1 if there is none
	Chunked        bool      // Transfer-Encoding: chunked
	KeepAlive      bool      // the connection stays open after this request (nginx's rule)
	Conn           ConnFlags // the tokens of the Connection headers
	Upgrade        []byte    // the first Upgrade header's value, or nil
	ExpectContinue bool      // HTTP/1.1 with "Expect: 100-continue"
	HeadLen        int       // bytes of the head, from the first byte of buf

	hdrs    *[headerArrayLen]Header // allocated once, kept across Reset
	scratch []byte

	// State kept between calls that returned ErrNeedMore.
	pending  bool
	base     *byte
	off      int // start of the next line to parse
	haveLine bool
	buf      bufModel
	seen     uint16 // unique headers seen
	connType int8   // 0, 1 close, 2 keep-alive: nginx's connection_type
	hostHdr  []byte
	clHdr    []byte
	teHdr    []byte
	expect   []byte
	complex  bool
	qpos     int // offset of "?" in Target, or -1
	pathOff  int // offset of the path in Target, or -1
	uriEnd   int // end of Path in Target
	argEnd   int
	absHost  []byte
	method   int8
}

// bufModel follows how nginx places the lines of a head in its header
// buffers: the first buffer of HeaderBufferSize bytes, then a line that
// does not fit moves, whole, to a fresh large buffer.
type bufModel struct {
	idx  int // 0: first buffer; 1..n: large buffers
	cap  int
	used int
}

func (m *bufModel) maxLine(large, n int) int {
	avail := m.cap - m.used
	if m.idx < n && large > avail {
		return large
	}
	return avail
}

func (m *bufModel) place(l, large int) {
	if l <= m.cap-m.used {
		m.used += l
		return
	}
	m.idx++
	m.cap, m.used = large, l
}

// Reset clears r for a new request. ParseRequest calls it itself unless it
// is resuming after ErrNeedMore.
func (r *Request) Reset() {
	scratch, hdrs := r.scratch[:0], r.hdrs
	if hdrs == nil {
		hdrs = new([headerArrayLen]Header)
	}
	*r = Request{}
	r.scratch, r.hdrs = scratch, hdrs
	r.Headers = hdrs[:0]
	r.ContentLength = -1
	r.qpos, r.pathOff = -1, -1
}

// Get returns the value of the first header named name, compared without
// regard to ASCII case; name must be in lower case. It returns nil if there
// is none.
func (r *Request) Get(name string) []byte { return lookup(r.Headers, name) }

// IsHead reports whether the method is HEAD.
func (r *Request) IsHead() bool { return r.method == methodHead }

const (
	methodOther int8 = iota
	methodHead
	methodTrace
	methodConnect
)

// Bits of Request.seen for headers nginx accepts only once.
const (
	uContentLength uint16 = 1 << iota
	uTransferEncoding
	uExpect
	uAuthorization
	uContentRange
	uIfModifiedSince
	uIfUnmodifiedSince
	uIfMatch
	uIfNoneMatch
	uIfRange
)

// ParseRequest parses the request head at the start of buf into req, with
// nginx's rules and limits. It returns the length of the head (the body or
// the next pipelined request starts at buf[n:]), ErrNeedMore if buf ends
// before the head does, or an *Error with the status nginx would answer.
//
// After ErrNeedMore, call again with the same buffer grown by the newly
// read bytes (buf[:n] unchanged): parsing resumes at the line it stopped
// in, so a head that arrives byte by byte costs linear time. A call with a
// buffer that starts elsewhere starts over. It does not allocate unless the
// head has more than 32 headers or a URI or host that has to be rewritten
// does not fit the Request's scratch buffer (and, once per Request, for the
// header array).
func ParseRequest(buf []byte, req *Request, lim Limits) (n int, err error) {
	if !req.pending || len(buf) == 0 || &buf[0] != req.base || len(buf) < req.off {
		req.Reset()
	}
	req.pending = false
	first, large, nbuf := lim.sizes()
	off := req.off
	if !req.haveLine {
		for off < len(buf) && (buf[off] == '\r' || buf[off] == '\n') {
			off++
		}
		if off == len(buf) {
			return req.more(buf, 0)
		}
		req.buf = bufModel{cap: first, used: off}
		max := req.buf.maxLine(large, nbuf)
		view, cut := window(buf, off, max)
		ln, err := req.parseRequestLine(view)
		if err == errLineMore {
			if cut {
				return 0, errLongURI
			}
			return req.more(buf, off)
		}
		if err != nil {
			return 0, err
		}
		req.buf.place(ln, large)
		off += ln
		req.haveLine = true
	}
	var h hdrLine
	for {
		max := req.buf.maxLine(large, nbuf)
		view, cut := window(buf, off, max)
		err := parseHeaderLine(view, lim.UnderscoresInHeaders, false, &h)
		if err == errLineMore {
			if cut {
				if max >= large {
					return 0, errLongHeader
				}
				return 0, errLargeRequest
			}
			return req.more(buf, off)
		}
		if err != nil {
			return 0, errInvalidHeader
		}
		req.buf.place(h.n, large)
		off += h.n
		if h.kind == lineEnd {
			break
		}
		if h.invalid && !lim.KeepInvalidHeaders {
			continue
		}
		if err := req.addHeader(h.name, h.value); err != nil {
			return 0, err
		}
	}
	req.HeadLen = off
	if err := req.finish(&lim); err != nil {
		return 0, err
	}
	return off, nil
}

// window returns buf[off:] cut to at most max bytes, and whether it was cut
// (the line can only be complete within those max bytes).
func window(buf []byte, off, max int) ([]byte, bool) {
	if max < 0 {
		max = 0
	}
	if len(buf)-off >= max {
		return buf[off : off+max], true
	}
	return buf[off:], false
}

func (r *Request) more(buf []byte, off int) (int, error) {
	if len(buf) == 0 {
		return 0, ErrNeedMore
	}
	r.pending = true
	r.base = &buf[0]
	r.off = off
	return 0, ErrNeedMore
}

// parseRequestLine parses the request line at the start of b and returns
// the line's length.
func (r *Request) parseRequestLine(b []byte) (int, error) {
	i := 0
	// Method: nginx accepts upper-case letters, '_' and '-'.
	for ; ; i++ {
		if i == len(b) {
			return 0, errLineMore
		}
		c := b[i]
		if ('A' <= c && c <= 'Z') || c == '_' || c == '-' {
			continue
		}
		if c == ' ' && i > 0 {
			break
		}
		return 0, errInvalidMethod
	}
	r.Method = b[:i]
	switch string(r.Method) {
	case "HEAD":
		r.method = methodHead
	case "TRACE":
		r.method = methodTrace
	case "CONNECT":
		r.method = methodConnect
	}
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i == len(b) {
		return 0, errLineMore
	}
	ts := i
	c := b[i]
	pathStart := -1
	switch {
	case c == '/':
		pathStart = i
	case ('a' <= c|0x20 && c|0x20 <= 'z'):
		var err error
		i, pathStart, err = r.parseAuthority(b, i)
		if err != nil {
			return 0, err
		}
	default:
		return 0, errInvalidRequest
	}
	// Path and query: any byte but controls and space.
	qpos, hpos := -1, -1
	complex := false
	if pathStart >= 0 {
		i = pathStart
		var prev byte
		for ; ; i++ {
			if i == len(b) {
				return 0, errLineMore
			}
			c := b[i]
			if c <= ' ' || c == 0x7f {
				if c == ' ' {
					break
				}
				if c == '\r' || c == '\n' {
					return 0, errHTTP09
				}
				return 0, errInvalidRequest
			}
			if qpos < 0 && hpos < 0 {
				switch c {
				case '?':
					qpos = i
				case '#':
					hpos = i
				case '%':
					complex = true
				case '/', '.':
					if prev == '/' {
						complex = true
					}
				}
			} else if c == '#' && hpos < 0 {
				hpos = i
			}
			prev = c
		}
	}
	te := i
	r.Target = b[ts:te]
	switch {
	case pathStart < 0: // absolute form with no path: "http://host"
		r.RequestURI, r.Path = slash, nil
	default:
		r.RequestURI = b[pathStart:te]
		pe := te
		if qpos >= 0 {
			pe = qpos
		} else if hpos >= 0 {
			pe = hpos
		}
		r.Path = b[pathStart:pe]
		if qpos >= 0 {
			ae := te
			if hpos >= 0 {
				ae = hpos
			}
			r.Args = b[qpos+1 : ae]
		}
	}
	r.complex = complex
	for i < len(b) && b[i] == ' ' {
		i++
	}
	// "HTTP/" major "." minor.
	const proto = "HTTP/"
	ps := i
	for k := 0; k < len(proto); k, i = k+1, i+1 {
		if i == len(b) {
			return 0, errLineMore
		}
		if b[i] != proto[k] {
			if (b[i] == '\r' || b[i] == '\n') && k == 0 {
				return 0, errHTTP09
			}
			return 0, errInvalidRequest
		}
	}
	if i == len(b) {
		return 0, errLineMore
	}
	if b[i] < '1' || b[i] > '9' {
		return 0, errInvalidRequest
	}
	major := int(b[i] - '0')
	if major > 1 {
		return 0, errInvalidVersion
	}
	for i++; ; i++ {
		if i == len(b) {
			return 0, errLineMore
		}
		c := b[i]
		if c == '.' {
			break
		}
		if c < '0' || c > '9' {
			return 0, errInvalidRequest
		}
		major = major*10 + int(c-'0')
		if major > 1 {
			return 0, errInvalidVersion
		}
	}
	i++
	if i == len(b) {
		return 0, errLineMore
	}
	if b[i] < '0' || b[i] > '9' {
		return 0, errInvalidRequest
	}
	minor := int(b[i] - '0')
	pe := 0
	for i++; ; i++ {
		if i == len(b) {
			return 0, errLineMore
		}
		c := b[i]
		if '0' <= c && c <= '9' {
			if minor > 99 {
				return 0, errInvalidRequest
			}
			minor = minor*10 + int(c-'0')
			continue
		}
		if pe == 0 {
			pe = i
		}
		if c == ' ' {
			for i++; i < len(b) && b[i] == ' '; i++ {
			}
			if i == len(b) {
				return 0, errLineMore
			}
			c = b[i]
		}
		switch c {
		case '\n':
			r.Proto, r.Major, r.Minor = b[ps:pe], major, minor
			return i + 1, nil
		case '\r':
			if i+1 == len(b) {
				return 0, errLineMore
			}
			if b[i+1] != '\n' {
				return 0, errInvalidRequest
			}
			r.Proto, r.Major, r.Minor = b[ps:pe], major, minor
			return i + 2, nil
		}
		return 0, errInvalidRequest
	}
}

var slash = []byte("/")

// parseAuthority parses "scheme://host[:port]" of an absolute-form target
// starting at b[i]. It returns the index after the authority and the index
// of the path or query ("/" or "?"), or -1 if the target ends there.
func (r *Request) parseAuthority(b []byte, i int) (int, int, error) {
	for ; ; i++ {
		if i == len(b) {
			return 0, 0, errLineMore
		}
		c := b[i]
		if ('a' <= c|0x20 && c|0x20 <= 'z') || ('0' <= c && c <= '9') || c == '+' || c == '-' || c == '.' {
			continue
		}
		if c != ':' {
			return 0, 0, errInvalidRequest
		}
		break
	}
	for k := 0; k < 2; k++ {
		i++
		if i == len(b) {
			return 0, 0, errLineMore
		}
		if b[i] != '/' {
			return 0, 0, errInvalidRequest
		}
	}
	i++
	hs := i
	if i < len(b) && b[i] == '[' {
		for i++; ; i++ {
			if i == len(b) {
				return 0, 0, errLineMore
			}
			c := b[i]
			if c == ']' {
				i++
				break
			}
			if !(('a' <= c|0x20 && c|0x20 <= 'z') || ('0' <= c && c <= '9') || c == ':' || c == '.' || c == '-' || c == '_' || c == '~' || c == '%') {
				return 0, 0, errInvalidRequest
			}
		}
	} else {
		for ; i < len(b); i++ {
			c := b[i]
			if ('a' <= c|0x20 && c|0x20 <= 'z') || ('0' <= c && c <= '9') || c == '.' || c == '-' {
				continue
			}
			break
		}
	}
	he := i
	if i == len(b) {
		return 0, 0, errLineMore
	}
	if b[i] == ':' {
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
		if i == len(b) {
			return 0, 0, errLineMore
		}
	}
	host := b[hs:he]
	if _, ok := validateHost(host); !ok {
		return 0, 0, errInvalidRequest
	}
	r.absHost = b[hs:i]
	switch b[i] {
	case '/', '?':
		return i, i, nil
	case ' ':
		return i, -1, nil
	}
	return 0, 0, errInvalidRequest
}

// validateHost checks a host as nginx's ngx_http_validate_host does and
// returns the host name without port and trailing dot.
func validateHost(h []byte) ([]byte, bool) {
	const (
		usual = iota
		literal
		rest
	)
	state := usual
	dot := -2
	n := len(h)
	for i, c := range h {
		switch c {
		case '.':
			if dot == i-1 {
				return nil, false
			}
			dot = i
		case ':':
			if state == usual {
				n = i
				state = rest
			}
		case '[':
			if i == 0 {
				state = literal
			}
		case ']':
			if state == literal {
				n = i + 1
				state = rest
			}
		case '/':
			return nil, false
		default:
			if c <= 0x20 || c == 0x7f {
				return nil, false
			}
		}
	}
	if dot == n-1 {
		n--
	}
	if n <= 0 {
		return nil, false
	}
	return h[:n], true
}

// addHeader records a kept header and the facts nginx derives from it.
func (r *Request) addHeader(name, value []byte) error {
	var u uint16
	switch len(name) {
	case 4:
		if eqFold(name, "host") {
			if r.hostHdr != nil {
				return errDuplicateHost
			}
			if _, ok := validateHost(value); !ok {
				return errInvalidHost
			}
			r.hostHdr = value
		}
	case 6:
		if eqFold(name, "expect") {
			u = uExpect
			r.expect = value
		}
	case 7:
		if r.Upgrade == nil && eqFold(name, "upgrade") {
			r.Upgrade = value
		}
	case 8:
		if eqFold(name, "if-match") {
			u = uIfMatch
		} else if eqFold(name, "if-range") {
			u = uIfRange
		}
	case 10:
		if eqFold(name, "connection") {
			// nginx looks for the substrings, and the last header wins.
			if containsFold(value, "close") {
				r.connType = 1
			} else if containsFold(value, "keep-alive") {
				r.connType = 2
			}
			r.Conn |= connTokens(value)
		}
	case 13:
		switch {
		case eqFold(name, "authorization"):
			u = uAuthorization
		case eqFold(name, "content-range"):
			u = uContentRange
		case eqFold(name, "if-none-match"):
			u = uIfNoneMatch
		}
	case 14:
		if eqFold(name, "content-length") {
			u = uContentLength
			r.clHdr = value
		}
	case 17:
		if eqFold(name, "transfer-encoding") {
			u = uTransferEncoding
			r.teHdr = value
		} else if eqFold(name, "if-modified-since") {
			u = uIfModifiedSince
		}
	case 19:
		if eqFold(name, "if-unmodified-since") {
			u = uIfUnmodifiedSince
		}
	}
	if u != 0 {
		if r.seen&u != 0 {
			return errDuplicateHeader
		}
		r.seen |= u
	}
	r.Headers = append(r.Headers, Header{name, value})
	return nil
}

// finish applies nginx's checks on the whole head, in nginx's order, and
// computes the derived fields.
func (r *Request) finish(lim *Limits) error {
	v11 := r.Minor > 0 // major is always 1
	if r.hostHdr == nil && v11 {
		return errNoHost
	}
	if r.seen&uContentLength != 0 {
		n, ok := parseLength(r.clHdr)
		if !ok {
			return errInvalidCL
		}
		r.ContentLength = n
	}
	if r.seen&uTransferEncoding != 0 {
		if !v11 {
			return errTE10
		}
		if !eqFold(r.teHdr, "chunked") {
			return errUnknownTE
		}
		if r.seen&uContentLength != 0 {
			return errCLTE
		}
		r.Chunked = true
	}
	switch r.method {
	case methodConnect:
		return errConnect
	case methodTrace:
		return errTrace
	}
	switch r.connType {
	case 1:
		r.KeepAlive = false
	case 2:
		r.KeepAlive = true
	default:
		r.KeepAlive = v11
	}
	r.ExpectContinue = v11 && eqFold(r.expect, "100-continue")

	r.scratch = r.scratch[:0]
	if r.absHost != nil {
		r.Host = r.absHost
	} else {
		r.Host = r.hostHdr
	}
	if r.Host != nil {
		name, _ := validateHost(r.Host)
		if len(name) > 0 && name[len(name)-1] == '.' {
			name = name[:len(name)-1]
		}
		r.HostName = r.lower(name)
	}
	switch {
	case r.Path == nil || len(r.Path) == 0:
		r.URI = slash
	case !r.complex || (lim.NoMergeSlashes && !needsNormalize(r.Path)):
		r.URI = r.Path
	default:
		start := len(r.scratch)
		out, ok := normalizePath(r.scratch, r.Path, !lim.NoMergeSlashes)
		if !ok {
			return errInvalidURI
		}
		r.scratch = out
		r.URI = out[start:len(out):len(out)]
	}
	return nil
}

// lower returns s in lower case: s itself if it has no upper-case letter,
// else a copy in the scratch buffer.
func (r *Request) lower(s []byte) []byte {
	up := false
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			up = true
			break
		}
	}
	if !up {
		return s
	}
	start := len(r.scratch)
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		r.scratch = append(r.scratch, c)
	}
	return r.scratch[start:len(r.scratch):len(r.scratch)]
}

// needsNormalize reports whether p has "%" or a "." segment: what still
// needs work with merge_slashes off.
func needsNormalize(p []byte) bool {
	return bytes.IndexByte(p, '%') >= 0 || bytes.Contains(p, []byte("/."))
}
