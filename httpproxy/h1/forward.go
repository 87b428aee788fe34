package h1

import "strconv"

// Forward says how AppendRequestHead writes a client's request for an
// upstream server. The zero value forwards the method and URI as received,
// over HTTP/1.1, with the client's Host, "Connection: close" (nginx's
// default) and no body framing.
type Forward struct {
	Method []byte // method to send; nil: the client's
	URI    []byte // request-target to send; nil: the client's RequestURI ("/" is put before one that starts with "?")
	HTTP10 bool   // send "HTTP/1.0" (proxy_http_version 1.0)

	// Host is the Host header's value (nginx: $proxy_host); nil: the
	// client's host (Request.Host), or no Host if there was none.
	Host []byte
	// Connection is the Connection header's value; nil: "close", or
	// "upgrade" when Upgrade is set. An empty non-nil value sends none
	// (proxy_set_header Connection "" for upstream keepalive).
	Connection []byte
	// Upgrade passes the client's Upgrade header (a WebSocket handshake).
	Upgrade bool
	// XForwardedFor, when not nil, is the client address appended to the
	// client's X-Forwarded-For list (nginx's $proxy_add_x_forwarded_for);
	// the client's own X-Forwarded-For lines are replaced by the result.
	XForwardedFor []byte

	// Framing announces the body: BodyLength with ContentLength,
	// BodyChunked, or BodyNone (no body headers).
	Framing       BodyKind
	ContentLength int64

	// Set are headers to send in place of the client's headers of the same
	// names; a header with an empty Value only removes them
	// (proxy_set_header). Hide are more header names (lower case) to drop.
	Set  []Header
	Hide []string
	// NoClientHeaders sends none of the client's headers
	// (proxy_pass_request_headers off).
	NoClientHeaders bool
}

// IsHopByHop reports whether name is a header that describes one
// connection, not the message, and is never forwarded as is: Connection,
// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade.
func IsHopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return eqFold(name, "te")
	case 7:
		return eqFold(name, "trailer") || eqFold(name, "upgrade")
	case 10:
		return eqFold(name, "connection") || eqFold(name, "keep-alive")
	case 16:
		return eqFold(name, "proxy-connection")
	case 17:
		return eqFold(name, "transfer-encoding")
	}
	return false
}

// AppendRequestHead appends to dst the head of the request to send to the
// upstream: the request line, Host, Connection, the body framing, the Set
// headers, X-Forwarded-For, then the client's headers minus hop-by-hop
// headers, the headers the client's Connection header names, Host,
// Content-Length, Expect and those replaced or hidden by f. It does not
// allocate when dst has room.
func AppendRequestHead(dst []byte, r *Request, f *Forward) []byte {
	method, uri := f.Method, f.URI
	if method == nil {
		method = r.Method
	}
	if uri == nil {
		uri = r.RequestURI
	}
	dst = append(dst, method...)
	dst = append(dst, ' ')
	if len(uri) == 0 || uri[0] != '/' {
		dst = append(dst, '/') // "http://host?a" arrives as "?a"
	}
	dst = append(dst, uri...)
	if f.HTTP10 {
		dst = append(dst, " HTTP/1.0\r\n"...)
	} else {
		dst = append(dst, " HTTP/1.1\r\n"...)
	}
	host := f.Host
	if host == nil {
		host = r.Host
	}
	if host != nil {
		dst = appendHeader(dst, "Host", host)
	}
	switch {
	case f.Connection != nil:
		if len(f.Connection) > 0 {
			dst = appendHeader(dst, "Connection", f.Connection)
		}
	case f.Upgrade:
		dst = append(dst, "Connection: upgrade\r\n"...)
	default:
		dst = append(dst, "Connection: close\r\n"...)
	}
	if f.Upgrade && r.Upgrade != nil {
		dst = appendHeader(dst, "Upgrade", r.Upgrade)
	}
	switch f.Framing {
	case BodyLength:
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, f.ContentLength, 10)
		dst = append(dst, '\r', '\n')
	case BodyChunked:
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	}
	for i := range f.Set {
		if len(f.Set[i].Value) > 0 {
			dst = appendHeaderB(dst, f.Set[i].Name, f.Set[i].Value)
		}
	}
	if f.XForwardedFor != nil {
		dst = append(dst, "X-Forwarded-For: "...)
		if !f.NoClientHeaders {
			for i := range r.Headers {
				if eqFold(r.Headers[i].Name, "x-forwarded-for") {
					dst = append(dst, r.Headers[i].Value...)
					dst = append(dst, ',', ' ')
				}
			}
		}
		dst = append(dst, f.XForwardedFor...)
		dst = append(dst, '\r', '\n')
	}
	if !f.NoClientHeaders {
		for i := range r.Headers {
			h := &r.Headers[i]
			if dropClientHeader(r, f, h.Name) {
				continue
			}
			dst = appendHeaderB(dst, h.Name, h.Value)
		}
	}
	return append(dst, '\r', '\n')
}

func dropClientHeader(r *Request, f *Forward, name []byte) bool {
	if IsHopByHop(name) {
		return true
	}
	switch len(name) {
	case 4:
		if eqFold(name, "host") {
			return true
		}
	case 6:
		if eqFold(name, "expect") {
			return true
		}
	case 14:
		if eqFold(name, "content-length") {
			return true
		}
	case 15:
		if f.XForwardedFor != nil && eqFold(name, "x-forwarded-for") {
			return true
		}
	}
	for i := range f.Set {
		if EqualFold(name, f.Set[i].Name) {
			return true
		}
	}
	for _, h := range f.Hide {
		if eqFold(name, h) {
			return true
		}
	}
	if r.Conn&ConnOther != 0 && listedInConnection(r, name) {
		return true
	}
	return false
}

// listedInConnection reports whether a Connection header of r names the
// header name.
func listedInConnection(r *Request, name []byte) bool {
	for i := range r.Headers {
		if !eqFold(r.Headers[i].Name, "connection") {
			continue
		}
		v := r.Headers[i].Value
		for len(v) > 0 {
			var tok []byte
			j := 0
			for j < len(v) && v[j] != ',' {
				j++
			}
			tok = trimOWS(v[:j])
			if j < len(v) {
				j++
			}
			v = v[j:]
			if EqualFold(tok, name) {
				return true
			}
		}
	}
	return false
}

// EqualFold compares a and b without regard to ASCII case.
func EqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func appendHeader(dst []byte, name string, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	return append(dst, '\r', '\n')
}

func appendHeaderB(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	return append(dst, '\r', '\n')
}
