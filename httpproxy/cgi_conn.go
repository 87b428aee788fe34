package httpproxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/httpproxy/h1"
)

// The states of a cgiConn's response.
const (
	cgiHead = iota // reading the CGI header lines
	cgiBody        // passing the body on
	cgiDone        // the response has ended
)

// cgiConn is a connection to a FastCGI, uwsgi or SCGI application server.
// Writes go to the socket as they are (the request is encoded by
// appendCGIRequest); reads return the application's response as an
// HTTP/1.1 response that the response code of proxy_pass reads: the CGI
// header lines (Status:, Location:, ...) become a status line and
// headers, and the body follows, chunked when the application gave no
// Content-Length (FastCGI), or up to the connection's close (uwsgi, SCGI).
// FastCGI records are decoded on the way: STDOUT is the response,
// STDERR is logged as nginx logs it, END_REQUEST ends the response.
type cgiConn struct {
	net.Conn
	proto string
	c     *conn
	r     *request
	keep  bool // the connection may serve another request (fastcgi_keep_conn)
	any   bool // a byte of the current response was read

	in      []byte // bytes read and not yet decoded: in[ip:]
	ip      int
	out     []byte // decoded bytes for the reader: out[op:]
	op      int
	hdr     []byte // STDOUT bytes of the head, until its end
	state   int
	chunked bool  // the body is passed on chunked
	clLeft  int64 // body bytes the Content-Length still announces, or -1
	err     error // an error to return once out is read
	maxHead int

	inRec   bool // in a FastCGI record
	recType byte
	recLeft int
	padLeft int
	stderr  []byte
}

// start prepares the connection for the response to a new request.
func (cg *cgiConn) start(c *conn, r *request, keep bool) {
	cg.c, cg.r, cg.keep, cg.any = c, r, keep, false
	cg.out, cg.op, cg.hdr = cg.out[:0], 0, cg.hdr[:0]
	cg.state, cg.chunked, cg.clLeft, cg.err = cgiHead, false, -1, nil
	cg.maxHead = int(r.loc.set.ProxyBufferSize)
	if cg.in == nil {
		cg.in = make([]byte, 0, 16<<10)
	}
}

// done reports whether the response was read to its end and nothing
// follows it: the connection may be reused.
func (cg *cgiConn) done() bool {
	return cg.state == cgiDone && cg.ip == len(cg.in) && cg.op == len(cg.out) && cg.err == nil
}

// Read returns the next bytes of the response in HTTP/1.1 form.
func (cg *cgiConn) Read(p []byte) (int, error) {
	for {
		// a FastCGI body whose Content-Length is complete is followed
		// by its END_REQUEST: read it before the last bytes go, so that
		// the connection is left at the start of the next response
		if cg.op < len(cg.out) && !(cg.proto == config.ProtoFastCGI && cg.clLeft == 0 && cg.state == cgiBody && cg.err == nil) {
			n := copy(p, cg.out[cg.op:])
			cg.op += n
			if cg.op == len(cg.out) {
				cg.out, cg.op = cg.out[:0], 0
			}
			return n, nil
		}
		if cg.err != nil {
			return 0, cg.err
		}
		if cg.state == cgiDone {
			return 0, io.EOF
		}
		if err := cg.step(); err != nil {
			cg.err = err
		}
	}
}

// fill reads more bytes from the socket.
func (cg *cgiConn) fill() error {
	if cg.ip == len(cg.in) {
		cg.in, cg.ip = cg.in[:0], 0
	} else if cg.ip > 0 && len(cg.in) == cap(cg.in) {
		n := copy(cg.in, cg.in[cg.ip:])
		cg.in, cg.ip = cg.in[:n], 0
	}
	n, err := cg.Conn.Read(cg.in[len(cg.in):cap(cg.in)])
	cg.in = cg.in[:len(cg.in)+n]
	if n > 0 {
		cg.any = true
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// step decodes what was read, reading more when that is needed.
func (cg *cgiConn) step() error {
	if cg.proto != config.ProtoFastCGI {
		if cg.ip < len(cg.in) {
			data := cg.in[cg.ip:]
			cg.ip = len(cg.in)
			return cg.stdout(data)
		}
		if err := cg.fill(); err != nil {
			if err == io.EOF {
				if cg.state == cgiHead {
					return io.EOF
				}
				return cg.finish()
			}
			return err
		}
		return nil
	}
	if !cg.inRec {
		if len(cg.in)-cg.ip < 8 {
			return cg.fillFCGI()
		}
		h := cg.in[cg.ip : cg.ip+8]
		cg.ip += 8
		if h[0] != 1 {
			return &h1.Error{Status: 502, Reason: fmt.Sprintf("upstream sent unsupported FastCGI protocol version: %d", h[0])}
		}
		cg.inRec, cg.recType = true, h[1]
		cg.recLeft, cg.padLeft = int(binary.BigEndian.Uint16(h[4:])), int(h[6])
		if id := binary.BigEndian.Uint16(h[2:]); id > 1 { // 0: a management record, skipped
			return &h1.Error{Status: 502, Reason: fmt.Sprintf("upstream sent invalid FastCGI request id: %d", id)}
		}
	}
	if cg.recLeft > 0 {
		if cg.ip == len(cg.in) {
			return cg.fillFCGI()
		}
		n := min(cg.recLeft, len(cg.in)-cg.ip)
		data := cg.in[cg.ip : cg.ip+n]
		cg.ip += n
		cg.recLeft -= n
		switch cg.recType {
		case fcgiStdout:
			if err := cg.stdout(data); err != nil {
				return err
			}
		case fcgiStderr:
			cg.stderr = append(cg.stderr, data...)
		}
		if cg.recLeft > 0 {
			return nil
		}
	}
	if cg.padLeft > 0 {
		if cg.ip == len(cg.in) {
			return cg.fillFCGI()
		}
		n := min(cg.padLeft, len(cg.in)-cg.ip)
		cg.ip += n
		cg.padLeft -= n
		if cg.padLeft > 0 {
			return nil
		}
	}
	cg.inRec = false
	switch cg.recType {
	case fcgiStderr:
		cg.logStderr()
	case fcgiEndRequest:
		return cg.finish()
	}
	return nil
}

// fillFCGI reads more of a FastCGI response; the connection may not end
// before END_REQUEST.
func (cg *cgiConn) fillFCGI() error {
	err := cg.fill()
	if err == io.EOF && cg.state != cgiHead {
		return io.ErrUnexpectedEOF
	}
	return err
}

// logStderr logs a STDERR record as nginx does: without its trailing line
// feeds, dots and spaces, and not at all when that leaves nothing.
func (cg *cgiConn) logStderr() {
	msg := bytes.TrimRight(cg.stderr, "\r\n. ")
	cg.stderr = cg.stderr[:0]
	if len(msg) == 0 || cg.c == nil {
		return
	}
	where := " while reading response header from upstream"
	if cg.state != cgiHead {
		where = " while reading upstream"
	}
	cg.c.logf(cg.r.srv, errlog.LevelError, `FastCGI sent in stderr: "`+string(msg)+`"`+where)
}

// finish ends the response: at END_REQUEST, or at the close of a uwsgi or
// SCGI connection.
func (cg *cgiConn) finish() error {
	if cg.state == cgiHead {
		if cg.proto == config.ProtoFastCGI {
			return &h1.Error{Status: 502, Reason: "upstream prematurely closed FastCGI stdout"}
		}
		return io.EOF
	}
	if cg.chunked && cg.state == cgiBody {
		cg.out = append(cg.out, "0\r\n\r\n"...)
	}
	cg.state = cgiDone
	return nil
}

// stdout takes bytes of the application's output.
func (cg *cgiConn) stdout(data []byte) error {
	if cg.state == cgiBody {
		cg.body(data)
		return nil
	}
	if cg.state == cgiDone {
		return nil
	}
	cg.hdr = append(cg.hdr, data...)
	end, rest := headEnd(cg.hdr)
	if end < 0 {
		if len(cg.hdr) > cg.maxHead {
			return &h1.Error{Status: 502, Reason: "upstream sent too big header"}
		}
		return nil
	}
	if err := cg.head(cg.hdr[:end]); err != nil {
		return err
	}
	cg.state = cgiBody
	cg.body(cg.hdr[rest:])
	return nil
}

// headEnd finds the empty line that ends the header lines: it returns
// where the lines end and where the body starts, or -1.
func headEnd(b []byte) (end, rest int) {
	switch {
	case bytes.HasPrefix(b, []byte("\r\n")):
		return 0, 2
	case bytes.HasPrefix(b, []byte("\n")):
		return 0, 1
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 1, i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 1, i + 3
		}
	}
	return -1, 0
}

// body passes body bytes on.
func (cg *cgiConn) body(data []byte) {
	if len(data) == 0 {
		return
	}
	if cg.clLeft >= 0 {
		cg.clLeft = max(cg.clLeft-int64(len(data)), 0)
	}
	if cg.chunked {
		cg.out = h1.AppendChunk(cg.out, data)
		return
	}
	cg.out = append(cg.out, data...)
}

// head turns the CGI header lines into an HTTP/1.1 response head, as
// nginx reads them: "Status: 404 Not Found" gives the status; a Location
// without Status gives "302 Moved Temporarily"; else the status is
// "200 OK". A uwsgi or SCGI application may also start with an HTTP
// status line.
func (cg *cgiConn) head(lines []byte) error {
	var status, statusLine []byte
	hasLocation := false
	out := cg.out[:0]
	out = append(out, "HTTP/1.1 000 \r\n"...) // the status line is written last
	first := true
	for len(lines) > 0 {
		line := lines
		if i := bytes.IndexByte(lines, '\n'); i >= 0 {
			line, lines = lines[:i], lines[i+1:]
		} else {
			lines = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if bytes.HasPrefix(line, []byte("HTTP/")) {
			// a status line: uwsgi's and SCGI's may start with one; nginx
			// skips any other (IIS sends them twice)
			if first && cg.proto != config.ProtoFastCGI {
				if sp := bytes.IndexByte(line, ' '); sp > 0 {
					statusLine = bytes.TrimSpace(line[sp+1:])
				}
			}
			first = false
			continue
		}
		first = false
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			colon = len(line) // a name without a value, as nginx takes it
		}
		for i, ch := range line[:colon] {
			if ch <= 0x20 || ch == 0x7f {
				return &h1.Error{Status: 502, Reason: fmt.Sprintf(`upstream sent invalid header: "%s\x%02x..."`, line[:i], ch)}
			}
		}
		if colon == 0 {
			return &h1.Error{Status: 502, Reason: "upstream sent invalid header"}
		}
		name, value := line[:colon], []byte(nil)
		if colon < len(line) {
			value = bytes.TrimSpace(line[colon+1:])
		}
		switch {
		case len(name) == 6 && equalFoldLower(name, "status"):
			status = value
			continue
		case len(name) == 8 && equalFoldLower(name, "location"):
			hasLocation = true
		case len(name) == 14 && equalFoldLower(name, "content-length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return &h1.Error{Status: 502, Reason: "upstream sent invalid header"}
			}
			cg.clLeft = n
		case len(name) == 17 && equalFoldLower(name, "transfer-encoding"),
			len(name) == 10 && equalFoldLower(name, "connection"),
			len(name) == 10 && equalFoldLower(name, "keep-alive"):
			continue // the framing is sluice's
		}
		// nginx writes the headers it keeps apart under their own names
		if c, ok := cgiCanonical[len(name)]; ok && equalFoldLower(name, c[1]) {
			name = []byte(c[0])
		}
		out = append(out, name...)
		out = append(out, ':', ' ')
		out = append(out, value...)
		out = append(out, '\r', '\n')
	}
	switch {
	case status != nil:
		if len(status) < 3 || !isDigits(status[:3]) || (len(status) > 3 && status[3] != ' ') {
			return &h1.Error{Status: 502, Reason: fmt.Sprintf("upstream sent invalid status %q", status)}
		}
		statusLine = status
	case statusLine != nil:
	case hasLocation:
		statusLine = []byte("302 Moved Temporarily")
	default:
		statusLine = []byte("200 OK")
	}
	code, _ := strconv.Atoi(string(statusLine[:min(3, len(statusLine))]))
	if cg.clLeft < 0 && cg.proto == config.ProtoFastCGI {
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
		cg.chunked = true
	}
	if !cg.keep || code < 200 || code == 204 || code == 304 {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, '\r', '\n')
	// the status line, in place of the placeholder
	line := append([]byte("HTTP/1.1 "), statusLine...)
	if len(statusLine) == 3 {
		line = append(line, ' ')
	}
	line = append(line, '\r', '\n')
	cg.out = append(line, out[len("HTTP/1.1 000 \r\n"):]...)
	cg.op = 0
	return nil
}

// cgiCanonical are the response headers nginx's header filter writes
// with its own spelling, whatever the application's (PHP's
// "Content-type"), by the length of their names.
var cgiCanonical = map[int][2]string{12: {"Content-Type", "content-type"}, 13: {"Last-Modified", "last-modified"},
	14: {"Content-Length", "content-length"}, 8: {"Location", "location"}}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
