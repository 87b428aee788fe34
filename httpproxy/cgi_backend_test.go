package httpproxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// cgiBackend is an application server for the tests, speaking FastCGI,
// uwsgi or SCGI. It answers each request by its DOCUMENT_URI (or
// REQUEST_URI): most paths get the parameters it received, one per line
// and sorted, and the request body; a few paths answer with a status,
// a redirect, a message on FastCGI's stderr, and so on (see respond).
type cgiBackend struct {
	addr  string
	conns atomic.Int64 // connections accepted
	reqs  atomic.Int64 // requests served
}

func startCGIBackend(t *testing.T, proto string) *cgiBackend {
	ln := testutil.Listen(t)
	b := &cgiBackend{addr: ln.Addr().String()}
	testutil.Serve(t, ln, func(c net.Conn) {
		b.conns.Add(1)
		c.SetDeadline(time.Now().Add(waitLimit))
		br := bufio.NewReader(c)
		switch proto {
		case "fastcgi":
			for b.serveFCGI(br, c) {
			}
		case "uwsgi":
			params, body, err := readUWSGI(br)
			if err == nil {
				b.reqs.Add(1)
				b.respond(c, params, body, nil, true)
			}
		case "scgi":
			params, body, err := readSCGI(br)
			if err == nil {
				b.reqs.Add(1)
				b.respond(c, params, body, nil, false)
			}
		}
	})
	return b
}

// fcgiRecord reads one FastCGI record.
func fcgiRecord(br *bufio.Reader) (typ byte, content []byte, err error) {
	var h [8]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n, pad := int(binary.BigEndian.Uint16(h[4:])), int(h[6])
	content = make([]byte, n+pad)
	if _, err := io.ReadFull(br, content); err != nil {
		return 0, nil, err
	}
	return h[1], content[:n], nil
}

// fcgiPairs decodes FastCGI name-value pairs.
func fcgiPairs(b []byte) map[string]string {
	m := map[string]string{}
	readLen := func() int {
		if b[0]&0x80 == 0 {
			n := int(b[0])
			b = b[1:]
			return n
		}
		n := int(binary.BigEndian.Uint32(b) &^ (1 << 31))
		b = b[4:]
		return n
	}
	for len(b) > 0 {
		kl := readLen()
		vl := readLen()
		m[string(b[:kl])] = string(b[kl : kl+vl])
		b = b[kl+vl:]
	}
	return m
}

// serveFCGI serves one FastCGI request; it reports whether the
// connection stays open (FCGI_KEEP_CONN).
func (b *cgiBackend) serveFCGI(br *bufio.Reader, c net.Conn) bool {
	var keep bool
	var params, body []byte
	paramsDone := false
	for {
		typ, content, err := fcgiRecord(br)
		if err != nil {
			return false
		}
		switch typ {
		case fcgiBeginRequest:
			keep = content[2]&fcgiKeepConn != 0
		case fcgiParams:
			if len(content) == 0 {
				paramsDone = true
			}
			params = append(params, content...)
		case fcgiStdin:
			if len(content) == 0 && paramsDone {
				b.reqs.Add(1)
				w := &fcgiWriter{w: c}
				b.respond(w, fcgiPairs(params), body, w, false)
				w.end()
				return keep
			}
			body = append(body, content...)
		}
	}
}

// fcgiWriter writes STDOUT records (and STDERR ones by stderr).
type fcgiWriter struct{ w io.Writer }

func (f *fcgiWriter) record(typ byte, p []byte) {
	var buf []byte
	buf = fcgiHeader(buf, typ, len(p), 0)
	buf = append(buf, p...)
	f.w.Write(buf)
}

func (f *fcgiWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		n := min(len(p), 1000) // several records for long outputs
		f.record(fcgiStdout, p[:n])
		p = p[n:]
	}
	return total, nil
}

func (f *fcgiWriter) stderr(msg string) { f.record(fcgiStderr, []byte(msg)) }

func (f *fcgiWriter) end() {
	f.record(fcgiStdout, nil)
	f.record(fcgiEndRequest, []byte{0, 0, 0, 0, 0, 0, 0, 0})
}

func readUWSGI(br *bufio.Reader) (map[string]string, []byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, nil, err
	}
	vars := make([]byte, binary.LittleEndian.Uint16(h[1:]))
	if _, err := io.ReadFull(br, vars); err != nil {
		return nil, nil, err
	}
	m := map[string]string{"uwsgi.modifiers": fmt.Sprintf("%d/%d", h[0], h[3])}
	for len(vars) > 0 {
		kl := int(binary.LittleEndian.Uint16(vars))
		k := string(vars[2 : 2+kl])
		vars = vars[2+kl:]
		vl := int(binary.LittleEndian.Uint16(vars))
		m[k] = string(vars[2 : 2+vl])
		vars = vars[2+vl:]
	}
	n, _ := strconv.Atoi(m["CONTENT_LENGTH"])
	body := make([]byte, n)
	_, err := io.ReadFull(br, body)
	return m, body, err
}

func readSCGI(br *bufio.Reader) (map[string]string, []byte, error) {
	ls, err := br.ReadString(':')
	if err != nil {
		return nil, nil, err
	}
	n, _ := strconv.Atoi(strings.TrimSuffix(ls, ":"))
	hdr := make([]byte, n+1)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, nil, err
	}
	m := map[string]string{}
	f := bytes.Split(hdr[:n], []byte{0})
	for i := 0; i+1 < len(f); i += 2 {
		m[string(f[i])] = string(f[i+1])
	}
	cl, _ := strconv.Atoi(m["CONTENT_LENGTH"])
	body := make([]byte, cl)
	_, err = io.ReadFull(br, body)
	return m, body, err
}

// respond writes the answer for params. fw is the FastCGI writer (for
// stderr), nil for the other protocols; statusLine says the answer starts
// with an HTTP status line (uwsgi) rather than a Status header.
func (b *cgiBackend) respond(w io.Writer, params map[string]string, body []byte, fw *fcgiWriter, statusLine bool) {
	path := params["DOCUMENT_URI"]
	if path == "" {
		path, _, _ = strings.Cut(params["REQUEST_URI"], "?")
	}
	head := func(status, rest string) {
		if statusLine {
			fmt.Fprintf(w, "HTTP/1.1 %s\r\n%s", status, rest)
		} else {
			fmt.Fprintf(w, "Status: %s\r\n%s", status, rest)
		}
	}
	switch {
	case strings.HasSuffix(path, "/missing.php"):
		head("404 Not Found", "Content-Type: text/html\r\n\r\nno such script\n")
		return
	case strings.HasSuffix(path, "/fail.php"):
		head("500 Internal Server Error", "Content-Type: text/plain\r\n\r\nfailed\n")
		return
	case strings.HasSuffix(path, "/created.php"):
		head("201 Created", "X-Made: 1\r\nContent-Type: text/plain\r\n\r\nmade\n")
		return
	case strings.HasSuffix(path, "/redirect.php"):
		if statusLine {
			head("302 Found", "Location: /elsewhere\r\n\r\n")
		} else {
			fmt.Fprintf(w, "Location: /elsewhere?a=1\r\nContent-Type: text/html\r\n\r\n")
		}
		return
	case strings.HasSuffix(path, "/plain.php"):
		fmt.Fprintf(w, "Content-Type: text/plain\nX-Lf: only\n\nlines end in LF\n")
		return
	case strings.HasSuffix(path, "/empty.php"):
		return // FastCGI: END_REQUEST without output
	case strings.HasSuffix(path, "/big.php"), strings.HasSuffix(path, "/bigcl.php"):
		big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320000 bytes
		extra := ""
		if strings.HasSuffix(path, "/bigcl.php") {
			extra = "Content-Length: " + strconv.Itoa(len(big)) + "\r\n"
		}
		head("200 OK", "Content-Type: application/octet-stream\r\n"+extra+"\r\n")
		w.Write(big)
		return
	case strings.HasSuffix(path, "/bad.php"):
		fmt.Fprintf(w, "this is not a header\r\n\r\n")
		return
	}
	if fw != nil && strings.HasSuffix(path, "/stderr.php") {
		fw.stderr("PHP Warning:  Undefined variable $x in /srv/www/stderr.php on line 3\n")
	}
	if strings.HasSuffix(path, "/slow.php") {
		time.Sleep(1500 * time.Millisecond) // beyond the read timeout of its location
	}
	var out bytes.Buffer
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&out, "%s=%s\n", k, params[k])
	}
	fmt.Fprintf(&out, "body=%s\n", body)
	extra := ""
	if strings.HasSuffix(path, "/length.php") {
		extra = "Content-Length: " + strconv.Itoa(out.Len()) + "\r\n"
	}
	head("200 OK", "Content-Type: text/plain\r\nX-Powered-By: test\r\n"+extra+"\r\n")
	w.Write(out.Bytes())
}
