package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/proxyproto"
)

// h2Preface is the connection preface of an HTTP/2 client (RFC 9113,
// section 3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// h2State is a Handler's HTTP/2 server, made on first use.
type h2State struct {
	once sync.Once
	made atomic.Bool // once has run
	srv  *http2.Server
	base *http.Server // limits x/net/http2 reads from net/http's server
	set  *config.HTTP2Settings
}

// h2c reports whether plain connections of the listener may speak HTTP/2
// with prior knowledge: "listen ... http2", or "http2 on" in the address's
// default server.
func (h *Handler) h2c() bool {
	if h.listen.HTTP2 {
		return true
	}
	s := h.def.cfg.HTTP2
	return s != nil && s.Enable
}

// h2server returns the HTTP/2 server of h, configured from its default
// server as nginx configures a connection before it knows the virtual
// server.
func (h *Handler) h2server() *h2State {
	st := &h.h2
	st.once.Do(func() {
		set := config.DefaultHTTP2Settings
		if s := h.def.cfg.HTTP2; s != nil {
			set = *s
		}
		st.set = &set
		loc := h.def.def.set
		st.srv = &http2.Server{
			MaxConcurrentStreams: uint32(set.MaxConcurrentStreams),
			// the protocol's initial SETTINGS_MAX_FRAME_SIZE: a client's
			// DATA frame then always fits in the stream window
			MaxReadFrameSize:             16384,
			MaxUploadBufferPerStream:     clampWindow(set.BodyPrereadSize),
			MaxUploadBufferPerConnection: clampWindow(set.RecvBufferSize),
			IdleTimeout:                  loc.KeepaliveTimeout,
			WriteByteTimeout:             loc.SendTimeout,
		}
		lim := h.def.limits
		st.base = &http.Server{
			// nginx limits an HTTP/2 header block by large_client_header_buffers
			MaxHeaderBytes: lim.LargeBufferSize * max(lim.LargeBuffers, 1),
			// protocol errors of clients are theirs: not logged
			ErrorLog: log.New(io.Discard, "", 0),
		}
		if st.srv.IdleTimeout <= 0 {
			st.srv.IdleTimeout = time.Nanosecond
		}
		// Tied to base, the server's connections end gracefully when
		// base shuts down (retireH2).
		http2.ConfigureServer(st.base, st.srv)
		st.made.Store(true)
	})
	return st
}

// retireH2 ends h's HTTP/2 connections gracefully, as an nginx worker
// does when a reload or a graceful stop retires it: each is sent GOAWAY
// and closes once its streams are done (at once when it has none).
func (h *Handler) retireH2() {
	if st := &h.h2; st.made.Load() {
		st.base.Shutdown(context.Background())
	}
}

// clampWindow fits a buffer size into an HTTP/2 flow-control window
// (x/net/http2 wants at least the protocol's initial 65535 bytes).
func clampWindow(n int64) int32 {
	switch {
	case n < 65535:
		return 65535
	case n > 1<<31-1:
		return 1<<31 - 1
	}
	return int32(n)
}

// serveH2 serves an HTTP/2 connection (ALPN "h2" after a TLS handshake, or
// a plain connection that began with the HTTP/2 preface) and closes it.
// Each stream is served by the HTTP/1.1 engine as one request on a
// streamConn, so that routing, access, limits, variables, logs and
// proxying are those of HTTP/1.1.
func (h *Handler) serveH2(ctx context.Context, nc net.Conn, pp *proxyproto.Header) {
	st := h.h2server()
	hc := &h2Conn{h: h, nc: nc, pp: pp, id: connSeq.Add(1), ctx: ctx, opened: h.p.now()}
	if ts, ok := nc.(tlsStater); ok {
		hc.tls = ts
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	st.srv.ServeConn(nc, &http2.ServeConnOpts{
		Context:    ctx,
		BaseConfig: st.base,
		Handler:    http.HandlerFunc(hc.serveStream),
	})
	nc.Close()
}

// sniffH2 reads the first bytes of a plain connection on a listener with
// HTTP/2 enabled. A connection that starts with the HTTP/2 preface is
// served as HTTP/2 and sniffH2 reports true (as it does for a client that
// sent nothing); otherwise the bytes read stay in c's buffer for the
// HTTP/1.1 engine.
func (c *conn) sniffH2(ctx context.Context) bool {
	h := c.h
	c.rdl.force(c.nc, true, h.def.cfg.ClientHeaderTimeout)
	for c.r1 < len(h2Preface) {
		n, err := c.readSome(h.def.limits.HeaderBufferSize)
		c.r1 += n
		if err != nil && n == 0 {
			if c.r1 == 0 {
				// nothing arrived: close, as the HTTP/1.1 engine does
				return true
			}
			break
		}
		if !bytes.HasPrefix([]byte(h2Preface), c.buf[:min(c.r1, len(h2Preface))]) {
			return false
		}
	}
	if c.r1 < len(h2Preface) || string(c.buf[:len(h2Preface)]) != h2Preface {
		return false
	}
	c.rdl.set(c.nc, true, 0)
	pre := append([]byte(nil), c.buf[:c.r1]...)
	putBuf(c.buf)
	c.buf, c.r0, c.r1 = nil, 0, 0
	h.serveH2(ctx, &prefixConn{Conn: c.nc, pre: pre}, c.pp)
	return true
}

// prefixConn is a connection whose first bytes were already read: Read
// returns them before reading the connection.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// tlsStater is a connection that knows its TLS state (*tls.Conn and
// connections wrapping it).
type tlsStater interface {
	ConnectionState() tls.ConnectionState
}

// protoConn is a connection that carries one request of another protocol
// presented to the HTTP/1.1 engine as HTTP/1.1 (an HTTP/2 stream): the
// engine reports Proto as the request's protocol ($server_protocol,
// $request), takes ConnID as $connection and leaves the connection
// counters of stub_status to the real connection.
type protoConn interface {
	Proto() []byte
	ConnID() uint64
	proxyHeader() *proxyproto.Header
}

var (
	_ protoConn = (*streamConn)(nil)
	_ tlsStater = tlsStreamConn{}
)

// h2Conn is one HTTP/2 client connection.
type h2Conn struct {
	h        *Handler
	nc       net.Conn
	pp       *proxyproto.Header // the connection's PROXY protocol header, or nil
	id       uint64
	ctx      context.Context
	tls      tlsStater
	opened   time.Time // for keepalive_time
	requests atomic.Int64
}

// hopHeaders are the response headers HTTP/2 may not carry.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade"}

// serveStream serves one stream: the HTTP/1.1 engine runs on a streamConn
// that presents the request, and its response is parsed back onto w.
func (hc *h2Conn) serveStream(w http.ResponseWriter, rq *http.Request) {
	if !lineSafe(rq.Method) || !lineSafe(rq.RequestURI) || !lineSafe(rq.Host) {
		// pseudo-headers with spaces or control characters cannot make
		// a request line: refuse them as nginx does
		http.Error(w, "400 Bad Request", http.StatusBadRequest)
		return
	}
	sc := newStreamConn(hc, w, rq)
	n := hc.requests.Add(1)
	pr, pw := io.Pipe()
	sc.out = pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		hc.h.ServeConn(hc.ctx, sc.netConn())
		pw.Close()
	}()
	stopCtx := context.AfterFunc(rq.Context(), func() { sc.cancel(errStreamGone) })
	defer stopCtx()
	// finish waits for the engine; a read of the request body it may be
	// blocked in fails once the response is over
	finish := func(err error) {
		if err != nil {
			pr.CloseWithError(err)
		} else {
			pr.Close()
		}
		if rq.Body != nil {
			rq.Body.Close()
		}
		<-done
	}
	fail := func(err error) {
		finish(err)
		panic(http.ErrAbortHandler)
	}
	br := brPool.Get().(*bufio.Reader)
	br.Reset(pr)
	defer func() { br.Reset(nil); brPool.Put(br) }()
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(br, rq)
		if err != nil {
			finish(err)
			if sc.direct.Load() && !sc.aborted.Load() {
				return // the engine answered on w itself (grpc_pass)
			}
			// 444, or a failure before any response: reset the stream
			panic(http.ErrAbortHandler)
		}
		if resp.StatusCode >= 200 {
			break
		}
		resp.Body.Close()
	}
	hdr := w.Header()
	for k, vv := range resp.Header {
		hdr[k] = vv
	}
	for _, v := range resp.Header["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if t := strings.TrimSpace(tok); t != "" {
				hdr.Del(t)
			}
		}
	}
	for _, k := range hopHeaders {
		hdr.Del(k)
	}
	delete(hdr, "Trailer")
	set := hc.h.def.def.set
	if n >= int64(set.KeepaliveRequests) || hc.h.p.now().Sub(hc.opened) >= set.KeepaliveTime || hc.h.superseded() {
		// x/net/http2 sends GOAWAY and closes once idle
		hdr.Set("Connection", "close")
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := getBuf(16 << 10)
	defer putBuf(buf)
	left := resp.ContentLength // -1: not known
	var wdl sendDeadline
	for {
		m, err := resp.Body.Read(buf)
		if m > 0 {
			wdl.set(rc, set.SendTimeout)
			if _, werr := w.Write(buf[:m]); werr != nil {
				fail(werr)
			}
			if left > 0 {
				left -= int64(m)
			}
			// each read goes out at once, except the end of a body of
			// known length: it leaves with END_STREAM when the handler
			// returns, in the same write
			if left != 0 {
				if werr := rc.Flush(); werr != nil {
					fail(werr)
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			// the response was cut short: the client must not take it
			// for whole
			fail(err)
		}
	}
	for k, vv := range resp.Trailer {
		if len(vv) > 0 {
			hdr[http.TrailerPrefix+k] = vv
		}
	}
	finish(nil)
}

// sendDeadline applies send_timeout to the writes of a stream, renewing
// the deadline only when a quarter of it (at most a second) has passed.
type sendDeadline struct{ at time.Time }

func (d *sendDeadline) set(rc *http.ResponseController, timeout time.Duration) {
	if timeout <= 0 {
		return
	}
	now := time.Now()
	slack := min(timeout/4, time.Second)
	if want := now.Add(timeout); want.Sub(d.at) >= slack {
		d.at = want
		rc.SetWriteDeadline(want)
	}
}

// brPool holds the readers of the engine's responses to streams.
var brPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

var errStreamGone = errors.New("httpproxy: HTTP/2 stream closed by the client")

// streamConn presents one HTTP/2 stream to the HTTP/1.1 engine as a
// connection carrying one HTTP/1.1 request: Read returns the request head
// made from the stream's headers, then its body (with Content-Length, or
// chunked when the length is not known), then io.EOF; what the engine
// writes goes to the pipe the stream handler parses. Its addresses are
// the client connection's.
type streamConn struct {
	hc  *h2Conn
	w   http.ResponseWriter
	rq  *http.Request
	out *io.PipeWriter

	mu       sync.Mutex
	head     []byte
	chunked  bool
	bodyLeft int64 // Content-Length bytes still to read
	bodyDone bool
	pending  []byte // framed body bytes not yet returned
	err      error  // set by cancel
	closed   bool

	direct  atomic.Bool // the engine writes the response on w itself
	aborted atomic.Bool // ... and it failed: the stream must be reset
	rbuf    []byte
}

// tlsStreamConn is a streamConn of a TLS client connection: it reports
// the connection's TLS state as *tls.Conn does.
type tlsStreamConn struct{ *streamConn }

// ConnectionState returns the TLS state of the client connection.
func (t tlsStreamConn) ConnectionState() tls.ConnectionState {
	return t.hc.tls.ConnectionState()
}

// netConn returns sc as the engine sees it.
func (sc *streamConn) netConn() net.Conn {
	if sc.hc.tls != nil {
		return tlsStreamConn{sc}
	}
	return sc
}

func newStreamConn(hc *h2Conn, w http.ResponseWriter, rq *http.Request) *streamConn {
	sc := &streamConn{hc: hc, w: w, rq: rq}
	b := make([]byte, 0, 512)
	b = append(b, rq.Method...)
	b = append(b, ' ')
	b = append(b, rq.RequestURI...)
	b = append(b, " HTTP/1.1\r\n"...)
	if rq.Host != "" {
		b = append(b, "Host: "...)
		b = append(b, rq.Host...)
		b = append(b, '\r', '\n')
	}
	for k, vv := range rq.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Expect", "Keep-Alive", "Upgrade", "Proxy-Connection":
			continue
		}
		for _, v := range vv {
			// HTTP/2 field names are lower case on the wire: they go on
			// so, as nginx sends them
			b = appendLower(b, k)
			b = append(b, ':', ' ')
			b = append(b, v...)
			b = append(b, '\r', '\n')
		}
	}
	switch {
	case rq.Body == nil || rq.Body == http.NoBody,
		rq.ContentLength == 0 && rq.Header["Content-Length"] == nil:
		// no body (END_STREAM with the headers): no Content-Length either
		sc.bodyDone = true
	case rq.ContentLength >= 0:
		b = append(b, "Content-Length: "...)
		b = appendInt(b, rq.ContentLength)
		b = append(b, '\r', '\n')
		sc.bodyLeft = rq.ContentLength
		sc.bodyDone = rq.ContentLength == 0
	default:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
		sc.chunked = true
	}
	sc.head = append(b, '\r', '\n')
	return sc
}

// lineSafe reports whether s has no space, control character or DEL, so
// that it can go into a request line or a Host header as it is.
func lineSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

func appendInt(b []byte, n int64) []byte {
	var tmp [20]byte
	i := len(tmp)
	if n == 0 {
		return append(b, '0')
	}
	for n > 0 {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, tmp[i:]...)
}

// Proto reports the request's protocol for $server_protocol and $request.
func (sc *streamConn) Proto() []byte { return h2Proto }

var h2Proto = []byte("HTTP/2.0")

// ConnID returns the number of the client connection ($connection).
func (sc *streamConn) ConnID() uint64 { return sc.hc.id }

// cancel makes pending and later reads and writes fail with err.
func (sc *streamConn) cancel(err error) {
	sc.mu.Lock()
	if sc.err == nil {
		sc.err = err
	}
	sc.mu.Unlock()
	sc.out.CloseWithError(err)
}

func (sc *streamConn) Read(b []byte) (int, error) {
	sc.mu.Lock()
	if sc.err != nil {
		err := sc.err
		sc.mu.Unlock()
		return 0, err
	}
	if len(sc.head) > 0 {
		n := copy(b, sc.head)
		sc.head = sc.head[n:]
		sc.mu.Unlock()
		return n, nil
	}
	if len(sc.pending) > 0 {
		n := copy(b, sc.pending)
		sc.pending = sc.pending[n:]
		sc.mu.Unlock()
		return n, nil
	}
	if sc.bodyDone || sc.direct.Load() {
		sc.mu.Unlock()
		return 0, io.EOF
	}
	sc.mu.Unlock()
	if !sc.chunked {
		if int64(len(b)) > sc.bodyLeft {
			b = b[:sc.bodyLeft]
		}
		n, err := sc.rq.Body.Read(b)
		sc.bodyLeft -= int64(n)
		if sc.bodyLeft == 0 {
			sc.bodyDone = true
			return n, nil
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if n > 0 {
			return n, nil
		}
		return 0, sc.readErr(err)
	}
	// chunked: frame what the stream gives
	if sc.rbuf == nil {
		sc.rbuf = make([]byte, 16<<10)
	}
	n, err := sc.rq.Body.Read(sc.rbuf)
	var f []byte
	if n > 0 {
		f = append(f, hexLen(n)...)
		f = append(f, '\r', '\n')
		f = append(f, sc.rbuf[:n]...)
		f = append(f, '\r', '\n')
	}
	if err == io.EOF {
		f = append(f, "0\r\n\r\n"...)
		sc.bodyDone = true
	} else if err != nil && n == 0 {
		return 0, sc.readErr(err)
	}
	m := copy(b, f)
	sc.mu.Lock()
	sc.pending = f[m:]
	sc.mu.Unlock()
	return m, nil
}

// readErr maps a stream body error to what a socket read gives.
func (sc *streamConn) readErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return os.ErrDeadlineExceeded
	}
	return err
}

func hexLen(n int) []byte {
	const hex = "0123456789abcdef"
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = hex[n&15]
		n >>= 4
		if n == 0 {
			break
		}
	}
	return tmp[i:]
}

func (sc *streamConn) Write(b []byte) (int, error) {
	if sc.direct.Load() {
		return 0, errors.New("httpproxy: write after a direct response")
	}
	return sc.out.Write(b)
}

// Close ends the engine's side: the stream handler sees the end of the
// response.
func (sc *streamConn) Close() error {
	sc.mu.Lock()
	sc.closed = true
	sc.mu.Unlock()
	sc.out.Close()
	return nil
}

func (sc *streamConn) LocalAddr() net.Addr  { return sc.hc.nc.LocalAddr() }
func (sc *streamConn) RemoteAddr() net.Addr { return sc.hc.nc.RemoteAddr() }

// proxyHeader returns the PROXY protocol header of the client connection.
func (sc *streamConn) proxyHeader() *proxyproto.Header { return sc.hc.pp }

// SetDeadline sets the read deadline; write deadlines are the stream's
// (send_timeout applies to each write to the client).
func (sc *streamConn) SetDeadline(t time.Time) error { return sc.SetReadDeadline(t) }

// SetReadDeadline limits the wait for request body bytes.
func (sc *streamConn) SetReadDeadline(t time.Time) error {
	if sc.bodyDone {
		return nil
	}
	return http.NewResponseController(sc.w).SetReadDeadline(t)
}

// SetWriteDeadline does nothing: writes go to the stream handler, which
// applies send_timeout to the client.
func (sc *streamConn) SetWriteDeadline(time.Time) error { return nil }
