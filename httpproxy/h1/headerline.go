package h1

import (
	"bytes"
	"errors"
)

// Header is one header line: slices into the parsed buffer. Name is as
// received (not canonicalised); Value has surrounding spaces removed.
type Header struct {
	Name  []byte
	Value []byte
}

// headerArrayLen is how many headers fit without allocating.
const headerArrayLen = 32

// Internal results of the line parsers; callers map them to *Error values.
var (
	errLineMore = errors.New("h1: line incomplete")
	errLineBad  = errors.New("h1: line malformed")
)

// Classes of bytes in header names, following nginx's header line parser.
const (
	cOther      = iota // allowed, but makes the header "invalid" (ignored by default)
	cTok               // letters, digits, '-'
	cUnderscore        // '_': allowed only with underscores_in_headers on
	cColon             // ':'
	cCR                // '\r'
	cLF                // '\n'
	cBad               // other bytes <= 0x20, and 0x7f: the line is rejected
)

var nameClass = func() (t [256]uint8) {
	for c := 0; c <= 0x20; c++ {
		t[c] = cBad
	}
	t[0x7f] = cBad
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cTok
		t[c-'a'+'A'] = cTok
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = cTok
	}
	t['-'] = cTok
	t['_'] = cUnderscore
	t[':'] = cColon
	t['\r'] = cCR
	t['\n'] = cLF
	return t
}()

// Kinds of header lines.
const (
	lineHeader = iota // a header line
	lineEnd           // the empty line that ends the head
	lineIgnore        // a stray "HTTP/..." line from an upstream (skipped, as nginx does for IIS)
)

// hdrLine is the result of parseHeaderLine.
type hdrLine struct {
	name, value []byte
	n           int  // bytes consumed, terminator included
	kind        int  // lineHeader, lineEnd or lineIgnore
	invalid     bool // the name has bytes nginx does not accept in names
}

// parseHeaderLine parses the header line at the start of b with nginx's
// rules: CRLF or bare LF ends a line; a line that starts with a space or tab
// (obs-fold), a space or control byte in the name, a NUL anywhere or a CR
// not followed by LF rejects the head; a line without a colon is a header
// with an empty value; names with other bytes are marked invalid.
func parseHeaderLine(b []byte, allowUnderscore, upstream bool, h *hdrLine) error {
	if len(b) == 0 {
		return errLineMore
	}
	switch b[0] {
	case '\r':
		if len(b) < 2 {
			return errLineMore
		}
		if b[1] != '\n' {
			return errLineBad
		}
		h.kind, h.n = lineEnd, 2
		return nil
	case '\n':
		h.kind, h.n = lineEnd, 1
		return nil
	}
	h.kind = lineHeader
	h.invalid = false
	i := 0
name:
	for ; i < len(b); i++ {
		switch nameClass[b[i]] {
		case cTok:
		case cUnderscore:
			if !allowUnderscore {
				h.invalid = true
			}
		case cOther:
			if b[i] == '/' && upstream && i == 4 && string(b[:4]) == "HTTP" {
				return ignoreLine(b, h)
			}
			h.invalid = true
		case cColon:
			if i == 0 {
				return errLineBad
			}
			break name
		case cCR, cLF:
			// A name with no colon: a header with an empty value.
			h.name = b[:i]
			return finishValue(b, i, i, h)
		default:
			return errLineBad
		}
	}
	if i == len(b) {
		return errLineMore
	}
	h.name = b[:i]
	i++ // colon
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i == len(b) {
		return errLineMore
	}
	return finishValue(b, i, i, h)
}

// finishValue finds the end of the line whose value starts at b[vs]; from
// is where to look for the LF.
func finishValue(b []byte, vs, from int, h *hdrLine) error {
	lf := bytes.IndexByte(b[from:], '\n')
	if lf < 0 {
		rest := b[vs:]
		if bytes.IndexByte(rest, 0) >= 0 {
			return errLineBad
		}
		// A CR may only be followed by more CRs and the LF.
		if cr := bytes.IndexByte(rest, '\r'); cr >= 0 {
			for _, c := range rest[cr:] {
				if c != '\r' {
					return errLineBad
				}
			}
		}
		return errLineMore
	}
	lf += from
	end := lf
	for end > vs && b[end-1] == '\r' {
		end--
	}
	v := b[vs:end]
	if bytes.IndexByte(v, '\r') >= 0 || bytes.IndexByte(v, 0) >= 0 {
		return errLineBad
	}
	for len(v) > 0 && v[len(v)-1] == ' ' {
		v = v[:len(v)-1]
	}
	h.value = v
	h.n = lf + 1
	return nil
}

func ignoreLine(b []byte, h *hdrLine) error {
	lf := bytes.IndexByte(b, '\n')
	if lf < 0 {
		return errLineMore
	}
	h.kind, h.n = lineIgnore, lf+1
	return nil
}

// eqFold reports whether b equals the lower-case ASCII string s, ignoring
// ASCII case.
func eqFold(b []byte, s string) bool {
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

// containsFold reports whether b contains the lower-case ASCII string s,
// ignoring ASCII case (nginx's ngx_strcasestrn).
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if eqFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

// ConnFlags are the tokens of the Connection headers of a message.
type ConnFlags uint8

// Connection tokens.
const (
	ConnClose     ConnFlags = 1 << iota // "close"
	ConnKeepAlive                       // "keep-alive"
	ConnUpgrade                         // "upgrade"
	ConnOther                           // any other token: a header to remove when forwarding
)

// connTokens returns the flags of the comma-separated tokens in v.
func connTokens(v []byte) ConnFlags {
	var f ConnFlags
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		tok = trimOWS(tok)
		switch {
		case len(tok) == 0:
		case eqFold(tok, "close"):
			f |= ConnClose
		case eqFold(tok, "keep-alive"):
			f |= ConnKeepAlive
		case eqFold(tok, "upgrade"):
			f |= ConnUpgrade
		default:
			f |= ConnOther
		}
	}
	return f
}

// trimOWS removes spaces and tabs around b.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseLength parses a Content-Length value as nginx's ngx_atoof does:
// one or more digits, no sign, no spaces inside, no overflow of int64.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	const cutoff = (1<<63 - 1) / 10
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > cutoff || (n == cutoff && d > (1<<63-1)%10) {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// lookup returns the value of the first header named name (lower case),
// or nil.
func lookup(hs []Header, name string) []byte {
	for i := range hs {
		if eqFold(hs[i].Name, name) {
			return hs[i].Value
		}
	}
	return nil
}
