package httpproxy

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/httpproxy/h1"
)

// FastCGI record types and the values of FCGI_BEGIN_REQUEST (the FastCGI
// specification, section 8).
const (
	fcgiBeginRequest = 1
	fcgiEndRequest   = 3
	fcgiParams       = 4
	fcgiStdin        = 5
	fcgiStdout       = 6
	fcgiStderr       = 7
	fcgiResponder    = 1
	fcgiKeepConn     = 1
	fcgiMaxContent   = 32768 - 8 // a multiple of 8: records need no padding
)

// cgiParams evaluates the parameters of the request into c.req.sets (names
// and values), as nginx builds them: the *_param directives in order
// (an empty value of one with if_not_empty is left out), then, with
// *_pass_request_headers on, each request header as HTTP_NAME (upper
// case, "-" as "_") unless a parameter of that name was given.
func (c *conn) cgiParams(r *request, cc *cgiConf) []h1.Header {
	sb := c.req.setBuf[:0]
	type span struct{ a, b int }
	var spansArr [32]span
	spans := spansArr[:0]
	for i := range cc.params {
		p := &cc.params[i]
		a := len(sb)
		sb = p.appendValue(sb, r)
		spans = append(spans, span{a, len(sb)})
	}
	type hspan struct{ a, b, i int }
	var hdrArr [32]hspan
	hdrSpans := hdrArr[:0]
	if cc.passHeaders {
		for i, h := range r.h1.Headers {
			a := len(sb)
			sb = append(sb, "HTTP_"...)
			for _, ch := range h.Name {
				switch {
				case ch >= 'a' && ch <= 'z':
					ch -= 'a' - 'A'
				case ch == '-':
					ch = '_'
				}
				sb = append(sb, ch)
			}
			skip := false
			for _, n := range cc.paramHeaders {
				if n == string(sb[a:]) {
					skip = true
					break
				}
			}
			if skip {
				sb = sb[:a]
				continue
			}
			hdrSpans = append(hdrSpans, hspan{a, len(sb), i})
		}
	}
	c.req.setBuf = sb
	out := c.req.sets[:0]
	for i := range cc.params {
		p := &cc.params[i]
		v := sb[spans[i].a:spans[i].b:spans[i].b]
		if p.ifNotEmpty && len(v) == 0 {
			continue
		}
		out = append(out, h1.Header{Name: p.name, Value: v})
	}
	for _, hs := range hdrSpans {
		out = append(out, h1.Header{Name: sb[hs.a:hs.b:hs.b], Value: r.h1.Headers[hs.i].Value})
	}
	c.req.sets = out
	return out
}

// appendCGIRequest encodes the whole request (parameters and body) in the
// protocol of cc. The error is one nginx logs and answers with 500.
func (c *conn) appendCGIRequest(dst []byte, r *request, cc *cgiConf, body []byte) ([]byte, error) {
	params := c.cgiParams(r, cc)
	switch cc.proto {
	case config.ProtoUWSGI:
		return appendUWSGIRequest(dst, cc, params, body)
	case config.ProtoSCGI:
		return appendSCGIRequest(dst, params, body), nil
	}
	return appendFCGIRequest(dst, cc.keepConn, params, body), nil
}

// fcgiHeader appends a FastCGI record header for request 1.
func fcgiHeader(dst []byte, typ byte, n, pad int) []byte {
	return append(dst, 1, typ, 0, 1, byte(n>>8), byte(n), byte(pad), 0)
}

// fcgiZeros pads records.
var fcgiZeros [8]byte

// fcgiRecords appends data as records of type typ, padded to 8 bytes as
// nginx pads them, and the empty record that ends the stream.
func fcgiRecords(dst []byte, typ byte, data []byte) []byte {
	for len(data) > 0 {
		n := min(len(data), fcgiMaxContent)
		pad := (8 - n%8) % 8
		dst = fcgiHeader(dst, typ, n, pad)
		dst = append(dst, data[:n]...)
		dst = append(dst, fcgiZeros[:pad]...)
		data = data[n:]
	}
	return fcgiHeader(dst, typ, 0, 0)
}

// fcgiLenSize is the size of the encoding of a name or value length.
func fcgiLenSize(n int) int {
	if n < 128 {
		return 1
	}
	return 4
}

// appendFCGIPairs appends the name-value pairs of params.
func appendFCGIPairs(dst []byte, params []h1.Header) []byte {
	for _, p := range params {
		dst = fcgiLen(dst, len(p.Name))
		dst = fcgiLen(dst, len(p.Value))
		dst = append(dst, p.Name...)
		dst = append(dst, p.Value...)
	}
	return dst
}

// fcgiLen appends a FastCGI name or value length.
func fcgiLen(dst []byte, n int) []byte {
	if n < 128 {
		return append(dst, byte(n))
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n)|1<<31)
}

func appendFCGIRequest(dst []byte, keep bool, params []h1.Header, body []byte) []byte {
	flags := byte(0)
	if keep {
		flags = fcgiKeepConn
	}
	dst = fcgiHeader(dst, fcgiBeginRequest, 8, 0)
	dst = append(dst, 0, fcgiResponder, flags, 0, 0, 0, 0, 0)
	total := 0
	for _, p := range params {
		total += fcgiLenSize(len(p.Name)) + fcgiLenSize(len(p.Value)) + len(p.Name) + len(p.Value)
	}
	switch {
	case total == 0:
		dst = fcgiHeader(dst, fcgiParams, 0, 0)
	case total <= 0xffff:
		// one record, written in place
		pad := (8 - total%8) % 8
		dst = fcgiHeader(dst, fcgiParams, total, pad)
		dst = appendFCGIPairs(dst, params)
		dst = append(dst, fcgiZeros[:pad]...)
		dst = fcgiHeader(dst, fcgiParams, 0, 0)
	default:
		dst = fcgiRecords(dst, fcgiParams, appendFCGIPairs(nil, params))
	}
	return fcgiRecords(dst, fcgiStdin, body)
}

func appendUWSGIRequest(dst []byte, cc *cgiConf, params []h1.Header, body []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, cc.mod1, 0, 0, cc.mod2)
	for _, p := range params {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(p.Name)))
		dst = append(dst, p.Name...)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(p.Value)))
		dst = append(dst, p.Value...)
	}
	size := len(dst) - start - 4
	if size > 0xffff {
		return dst, fmt.Errorf("uwsgi request is too big: %d", size)
	}
	binary.LittleEndian.PutUint16(dst[start+1:], uint16(size))
	return append(dst, body...), nil
}

func appendSCGIRequest(dst []byte, params []h1.Header, body []byte) []byte {
	var h []byte
	h = append(h, "CONTENT_LENGTH\x00"...)
	h = strconv.AppendInt(h, int64(len(body)), 10)
	h = append(h, 0)
	for _, p := range params {
		h = append(h, p.Name...)
		h = append(h, 0)
		h = append(h, p.Value...)
		h = append(h, 0)
	}
	dst = strconv.AppendInt(dst, int64(len(h)), 10)
	dst = append(dst, ':')
	dst = append(dst, h...)
	dst = append(dst, ',')
	return append(dst, body...)
}
