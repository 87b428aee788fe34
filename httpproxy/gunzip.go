package httpproxy

import (
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/httpproxy/h1"
)

// gunzip (ngx_http_gunzip_module): a proxied response with
// "Content-Encoding: gzip" goes to a client that does not accept gzip
// (nginx's gzip_ok: Accept-Encoding, gzip_http_version, gzip_proxied,
// gzip_disable) decompressed, without Content-Encoding, Content-Length
// and Accept-Ranges, with a weak ETag, chunked (or close-delimited). It
// hooks in as gzip does: responseHead decides (gunzipCheck), and
// sendResponse hands the body to sendGunzipped; locations without gunzip
// pay one nil test in responseHead and one flag test in sendResponse.

// gunzipConf is a location's compiled gunzip settings (nil when off).
type gunzipConf struct {
	gz   *gzipConf // the gzip_* settings that decide whether the client accepts gzip
	vary bool      // gzip_vary: "Vary: Accept-Encoding" for the responses gunzip looks at
}

// buildGunzip compiles the gunzip settings of st; nil when gunzip is off.
// The client test uses the location's gzip settings, whether gzip is on
// or not, as nginx's does.
func buildGunzip(st *config.HTTPSettings, pos string) (*gunzipConf, error) {
	if !st.Mods.Gunzip {
		return nil, nil
	}
	g := st.Gzip
	g.On = true
	gc, err := buildGzip(&g, pos)
	if err != nil {
		return nil, err
	}
	return &gunzipConf{gz: gc, vary: st.Gzip.Vary}, nil
}

// gunzipCheck is nginx's gunzip header filter for a proxied response to
// r: vary says "Vary: Accept-Encoding" is added (gzip_vary on and the
// response is gzip-encoded); decompress, that the body is to be
// decompressed. It sets r.mods.gunzip to decompress.
func (c *conn) gunzipCheck(r *request, l *location, gc *gunzipConf) (vary, decompress bool) {
	var rh respHeaders
	scanRespHeaders(r.resp.Headers, &rh)
	if !rh.hasCEnc || !strings.EqualFold(string(rh.cenc), "gzip") {
		return false, false
	}
	r.exp.patch(&rh)
	if c.gzipOK(r, gc.gz, &rh) {
		return gc.vary, false
	}
	if r.resp.Body != h1.BodyNone && !c.chunked(r, l) {
		r.keepAlive = false // close-delimited
	}
	r.mods.gunzip = true
	return gc.vary, true
}

// gunzipState is what decompressing one response needs; pooled.
type gunzipState struct {
	zr  gzip.Reader
	src gunzipSource
	buf [16 << 10]byte
}

var gunzipPool = sync.Pool{New: func() any { return new(gunzipState) }}

// errGunzipClientGone stops the decompressor when the client went away;
// errGunzipData is data after a gzip member that is not another one.
var (
	errGunzipClientGone = errors.New("httpproxy: client closed the connection")
	errGunzipData       = errors.New("httpproxy: data after the gzip stream")
)

// sendGunzipped sends an upstream response body decompressed, after head
// (written with the first output, as nginx's header goes out with the
// first body data): each read from the upstream is decompressed and
// written at once, so that a stream is not held back. Data that is not
// gzip ends the response there and is logged as nginx logs it
// ("inflate() failed: 0, -3"; "inflate() returned -5 on response end"
// for a truncated stream).
func (c *conn) sendGunzipped(r *request, l *location, uc *upConn, tb []byte, n, have int, head []byte) (reusable, clientOK bool, upErr error) {
	resp := &r.resp
	chunked := c.chunked(r, l)
	g := gunzipPool.Get().(*gunzipState)
	s := &g.src
	*s = gunzipSource{c: c, r: r, l: l, uc: uc, tb: tb, rem: resp.ContentLength, reusable: resp.KeepAlive,
		t: &r.tries[len(r.tries)-1]}
	defer func() {
		s.watch.stop(c)
		*s = gunzipSource{}
		gunzipPool.Put(g)
	}()
	if err := s.feed(tb[n:have]); err != nil {
		return false, false, err
	}
	pending := head // the head, until the first write
	write := func(data []byte, final bool) bool {
		out := pending
		if out == nil {
			out = c.req.out[:0]
		}
		if chunked && len(data) > 0 {
			out = h1.AppendChunkHeader(out, len(data))
			out = append(out, data...)
			out = append(out, '\r', '\n')
		} else {
			out = append(out, data...)
		}
		if chunked && final {
			out = append(out, "0\r\n\r\n"...)
		}
		c.req.out = out
		var err error
		if pending != nil {
			err = c.writeFirst(r, out, len(head))
		} else {
			err = c.writeBody(r, out)
		}
		pending = nil
		r.bodySent += int64(len(data))
		return err == nil
	}
	if r.sub != nil {
		// sub_filter works on the decompressed body, as in nginx (its
		// filter comes after gunzip's): the head goes out first, then the
		// body through the sub filter's writer, which frames it
		if _, err := c.write(r, head); err != nil {
			return false, false, nil
		}
		w := bodyWriter{c: c, r: r, sub: r.sub, chunked: chunked, stream: true}
		write = w.write
	}
	// members one by one, as zlib reads them: what follows one must be
	// another
	err := g.zr.Reset(s)
	for err == nil {
		g.zr.Multistream(false)
		for err == nil {
			var k int
			k, err = g.zr.Read(g.buf[:])
			if k > 0 && !write(g.buf[:k], false) {
				return false, false, nil
			}
		}
		if err == io.EOF {
			if err = s.nextMember(); err == nil {
				err = g.zr.Reset(s)
			}
		}
	}
	switch {
	case s.aborted:
		return false, false, nil
	case s.upErr != nil:
		return false, false, s.upErr
	case err == io.EOF:
		if !write(nil, true) {
			return false, false, nil
		}
		return s.reusable, chunked, nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		c.logf(r.srv, errlog.LevelError, "inflate() returned -5 on response end while sending to client")
	default:
		c.logf(r.srv, errlog.LevelError, "inflate() failed: 0, -3 while sending to client")
	}
	return false, false, nil
}

// gunzipSource reads an upstream response body, unframed, for the
// decompressor.
type gunzipSource struct {
	c   *conn
	r   *request
	l   *location
	uc  *upConn
	tb  []byte // the upstream read buffer
	b   []byte // body bytes read and not yet taken
	dec h1.ChunkedDecoder
	rem int64 // what a Content-Length body still lacks
	t   *try

	watch    clientWatch
	done     bool  // the body has ended
	reusable bool  // the upstream connection can carry another request
	aborted  bool  // the client went away
	upErr    error // the upstream failed
}

// feed takes b, read from the upstream, as body bytes.
func (s *gunzipSource) feed(b []byte) error {
	switch s.r.resp.Body {
	case h1.BodyLength:
		if int64(len(b)) > s.rem {
			b, s.reusable = b[:s.rem], false
		}
		s.rem -= int64(len(b))
		s.t.length += int64(len(b))
		s.b, s.done = b, s.rem == 0
	case h1.BodyChunked:
		k, w, err := decodeChunks(&s.dec, b, false)
		s.t.length += int64(k)
		if err != nil {
			return err
		}
		s.b, s.done = b[:w], s.dec.Done()
		if s.done && k != len(b) {
			s.reusable = false
		}
	default:
		s.t.length += int64(len(b))
		s.b = b
	}
	return nil
}

// fill makes sure s.b holds body bytes, reading from the upstream, under
// proxy_read_timeout and watching the client, only when the bytes read
// before are taken. It returns io.EOF at the end of the body.
func (s *gunzipSource) fill() error {
	for len(s.b) == 0 {
		if s.done {
			return io.EOF
		}
		if !s.l.set.ProxyIgnoreClientAbort {
			s.watch.start(s.c, s.uc)
		}
		m, err := s.c.upRead(s.l, s.uc, s.tb)
		if m == 0 && err != nil {
			switch {
			case s.watch.aborted():
				s.aborted = true
				return errGunzipClientGone
			case s.r.resp.Body == h1.BodyUntilClose && errors.Is(err, io.EOF):
				s.done, s.reusable = true, false
				return io.EOF
			}
			s.upErr = err
			return err
		}
		if err := s.feed(s.tb[:m]); err != nil {
			s.upErr = err
			return err
		}
	}
	return nil
}

// Read implements io.Reader for the decompressor.
func (s *gunzipSource) Read(p []byte) (int, error) {
	if err := s.fill(); err != nil {
		return 0, err
	}
	k := copy(p, s.b)
	s.b = s.b[k:]
	return k, nil
}

// ReadByte implements io.ByteReader, so that the decompressor reads no
// further than the end of a gzip member.
func (s *gunzipSource) ReadByte() (byte, error) {
	if err := s.fill(); err != nil {
		return 0, err
	}
	b := s.b[0]
	s.b = s.b[1:]
	return b, nil
}

// nextMember reports, at the end of a gzip member, whether another one
// follows (err nil), the body ends (io.EOF), or something that is not a
// gzip header follows (errGunzipData), as zlib finds it.
func (s *gunzipSource) nextMember() error {
	if err := s.fill(); err != nil {
		return err
	}
	if s.b[0] != 0x1f || len(s.b) > 1 && s.b[1] != 0x8b {
		return errGunzipData
	}
	return nil
}
