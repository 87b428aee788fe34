package h1

// BodyKind says how the body of a response is delimited.
type BodyKind uint8

// Body kinds.
const (
	BodyNone       BodyKind = iota // no body: HEAD, 1xx, 204, 304
	BodyLength                     // Content-Length bytes
	BodyChunked                    // chunked transfer coding
	BodyUntilClose                 // until the upstream closes the connection
)

// ResponseOptions are what ParseResponse needs to know besides the bytes.
type ResponseOptions struct {
	// MaxHeadSize is proxy_buffer_size: the whole head must fit in it.
	// 0 means 4096.
	MaxHeadSize int
	// HeadRequest says the response answers a HEAD request: no body.
	HeadRequest bool
}

// Response is a parsed upstream response head. Its byte slices point into
// the buffer given to ParseResponse and stay valid until that buffer is
// changed or the Response is parsed into again.
//
// The zero value is ready to use; its first parse allocates the header
// array, which later parses reuse. A Response must not be used by two
// goroutines at once.
type Response struct {
	Proto  []byte // "HTTP/1.1"
	Major  int
	Minor  int
	Status int    // 100..999
	Reason []byte // reason phrase, possibly empty

	Headers []Header

	Body          BodyKind
	ContentLength int64 // the Content-Length, or -1 if there is none
	Chunked       bool  // Transfer-Encoding: chunked
	// KeepAlive says the upstream connection can be reused after the body,
	// by nginx's rule: HTTP/1.1, no "close" in Connection, and a body that
	// is not delimited by closing.
	KeepAlive bool
	Conn      ConnFlags // the tokens of the Connection headers
	HeadLen   int       // bytes of the head

	hdrs *[headerArrayLen]Header // allocated once, kept across Reset
}

// Reset clears r; ParseResponse calls it.
func (r *Response) Reset() {
	hdrs := r.hdrs
	if hdrs == nil {
		hdrs = new([headerArrayLen]Header)
	}
	*r = Response{hdrs: hdrs}
	r.Headers = hdrs[:0]
	r.ContentLength = -1
}

// Get returns the value of the first header named name (lower case),
// compared without regard to ASCII case, or nil.
func (r *Response) Get(name string) []byte { return lookup(r.Headers, name) }

// Interim reports whether the response is a 1xx other than 101: the real
// response follows it on the connection.
func (r *Response) Interim() bool { return r.Status >= 100 && r.Status < 200 && r.Status != 101 }

// ParseResponse parses the upstream response head at the start of buf. It
// returns the head's length, ErrNeedMore, or an *Error with Status 502
// (nginx's "upstream sent invalid header" or "too big header"; see
// IsInvalidHeader).
//
// It is stricter than nginx 1.22 where nginx 1.22 would read a message in a
// way the upstream may not have meant (and later nginx versions reject it
// too): a status line that is not HTTP/1.x is an error, not an HTTP/0.9 body;
// a Content-Length that is not digits, a repeated Content-Length or
// Transfer-Encoding, a Transfer-Encoding other than "chunked", or both
// Content-Length and Transfer-Encoding are errors. It does not allocate
// unless the head has more than 32 headers (and, once per Response, for the
// header array).
func ParseResponse(buf []byte, resp *Response, opt ResponseOptions) (n int, err error) {
	resp.Reset()
	max := opt.MaxHeadSize
	if max <= 0 {
		max = 4096
	}
	view, cut := window(buf, 0, max)
	off, err := resp.parseStatusLine(view)
	if err == errLineMore {
		if cut {
			return 0, errUpstreamBig
		}
		return 0, ErrNeedMore
	}
	if err != nil {
		return 0, errUpstreamStatus
	}
	var (
		h      hdrLine
		cl, te []byte
		seenCL bool
		seenTE bool
	)
	for {
		err := parseHeaderLine(view[off:], true, true, &h)
		if err == errLineMore {
			if cut {
				return 0, errUpstreamBig
			}
			return 0, ErrNeedMore
		}
		if err != nil {
			return 0, errUpstreamHeader
		}
		off += h.n
		if h.kind == lineEnd {
			break
		}
		if h.kind == lineIgnore {
			continue
		}
		switch len(h.name) {
		case 10:
			if eqFold(h.name, "connection") {
				resp.Conn |= connTokens(h.value)
				if containsFold(h.value, "close") {
					resp.Conn |= ConnClose
				}
			}
		case 14:
			if eqFold(h.name, "content-length") {
				if seenCL {
					return 0, errUpstreamDupCL
				}
				seenCL, cl = true, h.value
			}
		case 17:
			if eqFold(h.name, "transfer-encoding") {
				if seenTE {
					return 0, errUpstreamDupTE
				}
				seenTE, te = true, h.value
			}
		}
		resp.Headers = append(resp.Headers, Header{h.name, h.value})
	}
	resp.HeadLen = off
	if seenCL {
		n, ok := parseLength(cl)
		if !ok {
			return 0, errUpstreamCL
		}
		resp.ContentLength = n
	}
	if seenTE {
		if !eqFold(te, "chunked") {
			return 0, errUpstreamTE
		}
		if seenCL {
			return 0, errUpstreamCLTE
		}
		resp.Chunked = true
	}
	switch {
	case opt.HeadRequest || resp.Status < 200 || resp.Status == 204 || resp.Status == 304:
		resp.Body = BodyNone
	case resp.Chunked:
		resp.Body = BodyChunked
	case seenCL:
		resp.Body = BodyLength
	default:
		resp.Body = BodyUntilClose
	}
	resp.KeepAlive = resp.Minor > 0 && resp.Conn&ConnClose == 0 &&
		resp.Body != BodyUntilClose && resp.Status != 101
	return off, nil
}

// parseStatusLine parses "HTTP/x.y SSS reason" as nginx does: major 1 to
// 99 (only 1 is accepted here), minor up to three digits, spaces before the
// status, a space or "." (IIS) or the line end after it.
func (r *Response) parseStatusLine(b []byte) (int, error) {
	const proto = "HTTP/"
	i := 0
	for ; i < len(proto); i++ {
		if i == len(b) {
			return 0, errLineMore
		}
		if b[i] != proto[i] {
			return 0, errLineBad
		}
	}
	if i == len(b) {
		return 0, errLineMore
	}
	if b[i] != '1' {
		return 0, errLineBad
	}
	i++
	if i == len(b) {
		return 0, errLineMore
	}
	if b[i] != '.' {
		return 0, errLineBad
	}
	i++
	minor, digits := 0, 0
	for ; ; i++ {
		if i == len(b) {
			return 0, errLineMore
		}
		c := b[i]
		if c < '0' || c > '9' {
			break
		}
		if digits == 3 {
			return 0, errLineBad
		}
		minor = minor*10 + int(c-'0')
		digits++
	}
	if digits == 0 {
		return 0, errLineBad
	}
	pe := i
	if b[i] != ' ' {
		return 0, errLineBad
	}
	for i < len(b) && b[i] == ' ' {
		i++
	}
	status := 0
	for k := 0; k < 3; k, i = k+1, i+1 {
		if i == len(b) {
			return 0, errLineMore
		}
		c := b[i]
		if c < '0' || c > '9' {
			return 0, errLineBad
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 {
		return 0, errLineBad
	}
	if i == len(b) {
		return 0, errLineMore
	}
	rs := i
	switch b[i] {
	case ' ', '.':
		rs = i + 1
	case '\r', '\n':
	default:
		return 0, errLineBad
	}
	for i = rs; ; i++ {
		if i == len(b) {
			return 0, errLineMore
		}
		c := b[i]
		if c == '\n' || c == '\r' {
			break
		}
		if c == 0 {
			return 0, errLineBad
		}
	}
	re := i
	if b[i] == '\r' {
		i++
		if i == len(b) {
			return 0, errLineMore
		}
		if b[i] != '\n' {
			return 0, errLineBad
		}
	}
	r.Proto, r.Major, r.Minor, r.Status = b[:pe], 1, minor, status
	r.Reason = b[rs:re]
	return i + 1, nil
}
