package httpproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/tlsconf"
	"github.com/sluicelb/sluice/vars"
)

// HTTPS termination (listen ... ssl).
//
// Every server listening on an address with ssl gets its own TLS
// configuration: its certificates (several, RSA and ECDSA: each client
// gets the one it supports), ssl_verify_client and session resumption.
// The client's SNI server name picks the server, as nginx's servername
// callback does (the default server when the name matches none, or when
// the chosen server has no certificates of its own); the protocol
// versions, ciphers, curves (ssl_ecdh_curve) and ALPN are those of the
// address's default server, since OpenSSL does not change them when nginx
// switches the context.
// The handshake must end within the default server's
// client_header_timeout. After it, ALPN "h2" hands the connection to the
// HTTP/2 server and anything else is served as HTTP/1.x over the TLS
// connection.
//
// Client certificates are requested during the handshake and judged per
// request, as nginx does: a missing or bad one is answered with nginx's
// 400 pages "No required SSL certificate was sent" and "The SSL
// certificate error", and the connection closes. A plain HTTP request to
// an HTTPS port gets "The plain HTTP request was sent to HTTPS port".

// connStater is a client connection that carries a TLS state: a *tls.Conn,
// or the per-stream connection of an HTTP/2 connection over TLS.
type connStater interface {
	ConnectionState() tls.ConnectionState
}

// listenTLS is the TLS termination of one listen address.
type listenTLS struct {
	h       *Handler
	base    *tls.Config // hands each handshake the configuration of its server
	def     *serverTLS
	servers map[*config.HTTPServer]*serverTLS
	timeout time.Duration // client_header_timeout of the default server
	verify  bool          // a server here verifies client certificates
}

// serverTLS is one server's TLS settings on an address.
type serverTLS struct {
	cfg    *tls.Config // nil when the server has no certificate of its own
	auth   tlsconf.ClientAuth
	reject bool // ssl_reject_handshake
}

// connTLS is the TLS state of a client connection, found on first use.
type connTLS struct {
	looked bool
	state  *tls.ConnectionState
	plain  bool // plain HTTP was sent to the HTTPS port
	// raw is the socket under the TLS connection, for clientWatch, which
	// watches it with peerClosed; nil when it cannot be watched
	raw syscall.RawConn
	// the client certificate's verification, for the server vsrv
	vsrv   *server
	verify string
	ok     bool
	code   int
}

// tlsBuilder loads what the TLS listeners of one build share: each
// server's certificates, read once per build (so a reload reads the
// files again).
type tlsBuilder struct {
	certs map[*config.HTTPServer][]tls.Certificate
}

// sessionCaches are the ssl_session_cache shared:NAME caches by name. They
// outlive builds, as nginx's shared zones outlive a reload.
var sessionCaches sync.Map // name -> *tlsconf.SessionCache

// sessionCache returns the server-side session cache ssl_session_cache
// asks for, or nil ("off", "none", or not set).
func sessionCache(args []string) *tlsconf.SessionCache {
	var c *tlsconf.SessionCache
	for _, a := range args {
		switch {
		case a == "builtin":
			c = tlsconf.NewSessionCache(20480)
		case strings.HasPrefix(a, "builtin:"):
			n, _ := strconv.Atoi(a[len("builtin:"):])
			c = tlsconf.NewSessionCache(n)
		case strings.HasPrefix(a, "shared:"):
			// shared:NAME:SIZE; about 4000 sessions a megabyte, as nginx says
			parts := strings.SplitN(a, ":", 3)
			n := 4000
			if len(parts) == 3 {
				if size, err := config.ParseSize(parts[2]); err == nil {
					n = int(size * 4000 >> 20)
				}
			}
			v, _ := sessionCaches.LoadOrStore(parts[1], tlsconf.NewSessionCache(n))
			return v.(*tlsconf.SessionCache)
		}
	}
	return c
}

// serverCerts loads a server's certificates (ssl_certificate and
// ssl_certificate_key pairs, ssl_password_file), ECDSA first.
func (b *tlsBuilder) serverCerts(sc *config.HTTPServer) ([]tls.Certificate, error) {
	if c, ok := b.certs[sc]; ok {
		return c, nil
	}
	var passwords []string
	if sc.SSLPasswordFile != "" {
		var err error
		if passwords, err = tlsconf.ReadPasswordFile(sc.SSLPasswordFile); err != nil {
			return nil, err
		}
	}
	var certs []tls.Certificate
	for i, certPath := range sc.SSLCertificates {
		if i >= len(sc.SSLCertificateKeys) {
			break
		}
		keyPath := sc.SSLCertificateKeys[i]
		if strings.Contains(certPath, "$") || strings.Contains(keyPath, "$") {
			return nil, fmt.Errorf("httpproxy: ssl_certificate %q: variables in certificate paths are not supported by sluice in http yet in %s", certPath, sc.Pos())
		}
		kp, err := tlsconf.LoadKeyPair(certPath, keyPath, passwords)
		if err != nil {
			return nil, err
		}
		certs = append(certs, kp)
	}
	tlsconf.SortCertificates(certs)
	b.certs[sc] = certs
	return certs, nil
}

// buildListenTLS prepares TLS termination for h's address: the servers of
// hc listening there each get their configuration.
func (p *proxy) buildListenTLS(h *Handler, hc *config.HTTP) (*listenTLS, error) {
	if p.tlsb == nil {
		p.tlsb = &tlsBuilder{certs: map[*config.HTTPServer][]tls.Certificate{}}
	}
	dc := h.def.cfg
	lt := &listenTLS{h: h, servers: map[*config.HTTPServer]*serverTLS{}, timeout: dc.ClientHeaderTimeout}
	lo, hi, err := tlsconf.VersionRange(dc.SSLProtocols)
	if err != nil {
		return nil, fmt.Errorf("httpproxy: ssl_protocols: %v in %s", err, dc.Pos())
	}
	ciphers, err := tlsconf.ParseCiphers(dc.SSLCiphers)
	if err != nil {
		return nil, fmt.Errorf("%v in %s", err, dc.Pos())
	}
	curves := tlsconf.Curves(dc.SSLECDHCurve)
	protos := []string{"http/1.1", "http/1.0"}
	if h.listen.HTTP2 || dc.HTTP2 != nil && dc.HTTP2.Enable {
		protos = []string{"h2", "http/1.1", "http/1.0"}
	}
	key := h.listen.Key()
	for _, sc := range hc.Servers {
		on := false
		for _, l := range sc.Listens {
			on = on || l.Key() == key
		}
		if !on {
			continue
		}
		st := &serverTLS{reject: sc.SSLRejectHandshake}
		st.auth = tlsconf.ClientAuth{Mode: sc.SSLVerifyClient, Depth: sc.SSLVerifyDepth}
		var clientCAs *x509.CertPool
		if st.auth.Enabled() {
			st.auth.Roots = x509.NewCertPool()
			if sc.SSLClientCertificate != "" {
				if err := tlsconf.AppendCertFile(st.auth.Roots, sc.SSLClientCertificate); err != nil {
					return nil, err
				}
				clientCAs, _ = tlsconf.LoadCertPool(sc.SSLClientCertificate)
			}
			if sc.SSLTrustedCertificate != "" {
				if err := tlsconf.AppendCertFile(st.auth.Roots, sc.SSLTrustedCertificate); err != nil {
					return nil, err
				}
			}
		}
		certs, err := p.tlsb.serverCerts(sc)
		if err != nil {
			return nil, err
		}
		if len(certs) > 0 || sc == dc {
			cfg := &tls.Config{Certificates: certs, MinVersion: lo, MaxVersion: hi, CipherSuites: ciphers,
				CurvePreferences: curves, NextProtos: protos}
			if st.auth.Enabled() {
				// the handshake completes whatever the client sends; the
				// certificate is judged per request
				cfg.ClientAuth = tls.RequestClientCert
				cfg.ClientCAs = clientCAs
			}
			tlsconf.Sessions{Tickets: sc.SSLSessionTickets, Cache: sessionCache(sc.SSLSessionCache),
				Timeout: sc.SSLSessionTimeout, Now: p.now}.Apply(cfg)
			st.cfg = cfg
		}
		lt.servers[sc] = st
		lt.verify = lt.verify || st.auth.Enabled()
	}
	lt.def = lt.servers[dc]
	if lt.def == nil {
		return nil, fmt.Errorf("httpproxy: no TLS settings for the default server of %s", key)
	}
	lt.base = &tls.Config{GetConfigForClient: lt.configFor}
	return lt, nil
}

// checkDHParams reads the ssl_dhparam file of every server nginx sets up
// TLS for (one with certificates, or ssl_reject_handshake on), whether or
// not it listens with ssl, as nginx does; each file once.
func checkDHParams(hc *config.HTTP) error {
	checked := map[[2]string]bool{}
	for _, sc := range hc.Servers {
		k := [2]string{sc.SSLDHParam, sc.SSLCiphers}
		if sc.SSLDHParam == "" || len(sc.SSLCertificates) == 0 && !sc.SSLRejectHandshake || checked[k] {
			continue
		}
		checked[k] = true
		if err := tlsconf.CheckDHParams(sc.SSLDHParam, sc.SSLCiphers); err != nil {
			return err
		}
	}
	return nil
}

var errRejected = errors.New("handshake rejected by ssl_reject_handshake")

// configFor picks the configuration of the server the client names.
func (lt *listenTLS) configFor(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	st := lt.def
	if hello.ServerName != "" {
		if sm, ok := lt.h.addr.Find(hello.ServerName); ok && sm.Server != nil {
			if s := lt.servers[sm.Server.Conf]; s != nil {
				st = s
			}
		}
	}
	if st.reject {
		return nil, errRejected
	}
	if st.cfg == nil {
		st = lt.def
	}
	return st.cfg, nil
}

// recordConn keeps the bytes read while on is set: those of a plain HTTP
// request sent to an HTTPS port, read by the TLS layer as a record.
type recordConn struct {
	net.Conn
	on  bool
	buf []byte
}

func (r *recordConn) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	if r.on && n > 0 && len(r.buf) < 64<<10 {
		r.buf = append(r.buf, b[:n]...)
	}
	return n, err
}

// startTLS runs the handshake of a listen ... ssl connection within
// client_header_timeout. It reports whether c is to be served as HTTP/1.x:
// false when the handshake failed, or when the connection was served as
// HTTP/2.
func (c *conn) startTLS(ctx context.Context) bool {
	lt := c.h.tls
	raw := c.nc
	rec := &recordConn{Conn: raw, on: true}
	tc := tls.Server(rec, lt.base)
	if lt.timeout > 0 {
		raw.SetDeadline(time.Now().Add(lt.timeout))
	}
	err := tc.HandshakeContext(ctx)
	raw.SetDeadline(time.Time{})
	rec.on = false
	if err != nil {
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && rh.Conn != nil && len(rec.buf) > 0 {
			// a plain HTTP request: read it, then answer 400 (handle)
			c.tls.plain = true
			c.buf = getBuf(max(len(rec.buf), c.h.def.limits.HeaderBufferSize))
			c.r0, c.r1 = 0, copy(c.buf, rec.buf)
			return true
		}
		c.logTLS(tlsHandshakeError(err))
		return false
	}
	rec.buf = nil
	tlsconf.AckFinished(raw) // the client may hold its request for our ACK
	c.nc = tc
	if canWatchTLS {
		c.tls.raw = rawConn(raw)
	}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		c.h.serveH2(ctx, tc, c.pp)
		return false
	}
	return true
}

// tlsHandshakeError words a failed handshake as nginx logs it.
func tlsHandshakeError(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "client timed out (110: Connection timed out) while SSL handshaking"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "peer closed connection in SSL handshake while SSL handshaking"
	}
	return "SSL_do_handshake() failed (SSL: " + err.Error() + ") while SSL handshaking"
}

// logTLS logs a handshake failure at info level, as nginx: the address
// stands for the server, none being chosen yet.
func (c *conn) logTLS(msg string) { c.connLogf(errlog.LevelInfo, msg) }

// tlsState returns the TLS state of the client connection, or nil when it
// is not TLS.
func (c *conn) tlsState() *tls.ConnectionState {
	if !c.tls.looked {
		c.tls.looked = true
		if cs, ok := c.nc.(connStater); ok {
			st := cs.ConnectionState()
			if st.HandshakeComplete {
				c.tls.state = &st
			}
		}
	}
	return c.tls.state
}

// scheme returns "https" on TLS connections, else "http".
func (c *conn) scheme() string {
	if c.tlsState() != nil {
		return "https"
	}
	return "http"
}

// defaultPort is the port a redirect leaves out: 443 for https, else 80.
func (c *conn) defaultPort() uint16 {
	if c.tlsState() != nil {
		return 443
	}
	return 80
}

// verifyClient judges the client certificate for r's server, once per
// server and connection.
func (c *conn) verifyClient(r *request) (verify string, ok bool, code int) {
	if c.tls.vsrv == r.srv && c.tls.verify != "" {
		return c.tls.verify, c.tls.ok, c.tls.code
	}
	st := c.h.tls.servers[r.srv.cfg]
	cs := c.tlsState()
	if st == nil || cs == nil {
		return "NONE", true, 0
	}
	verify, ok, code = st.auth.Check(cs.PeerCertificates, c.h.p.now())
	c.tls.vsrv, c.tls.verify, c.tls.ok, c.tls.code = r.srv, verify, ok, code
	return verify, ok, code
}

// checkTLS applies, once the request's server is known, what nginx checks
// of a TLS connection before serving a request: a plain HTTP request, a
// server other than the one the handshake named when that one verifies
// client certificates (421), and the client certificate. It reports
// false when it answered the request itself.
func (c *conn) checkTLS(r *request) bool {
	if c.tls.plain {
		c.logf(r.srv, errlog.LevelInfo, "client sent plain HTTP request to HTTPS port while reading client request headers")
		c.discardBody(r)
		c.sendTLSError(r, 497)
		return false
	}
	cs := c.tlsState()
	if cs == nil || !c.h.tls.verify {
		return true
	}
	if cs.ServerName != "" {
		if sm, ok := c.h.addr.Find(cs.ServerName); ok && sm.Server != nil && sm.Server.Conf != r.srv.cfg {
			if st := c.h.tls.servers[sm.Server.Conf]; st != nil && st.auth.Enabled() {
				c.logf(r.srv, errlog.LevelInfo, "client attempted to request the server name different from the one that was negotiated while reading client request headers")
				c.discardBody(r)
				r.keepAlive = false
				c.sendError(r, 421)
				return false
			}
		}
	}
	st := c.h.tls.servers[r.srv.cfg]
	if st == nil || !st.auth.Enabled() {
		return true
	}
	_, ok, code := c.verifyClient(r)
	if ok {
		return true
	}
	c.discardBody(r)
	if code == 0 {
		c.logf(r.srv, errlog.LevelInfo, "client sent no required SSL certificate while reading client request headers")
		c.sendTLSError(r, 496)
	} else {
		c.logf(r.srv, errlog.LevelInfo, fmt.Sprintf("client SSL certificate verify error: (%d:%s) while reading client request headers", code, tlsconf.VerifyErrorText(code)))
		c.sendTLSError(r, 495)
	}
	return false
}

// tlsErrorTexts are the texts of nginx's TLS error pages, sent with status
// 400: 495 a bad client certificate, 496 none sent, 497 plain HTTP.
var tlsErrorTexts = map[int]string{
	495: "The SSL certificate error",
	496: "No required SSL certificate was sent",
	497: "The plain HTTP request was sent to HTTPS port",
}

// sendTLSError answers with nginx's page for 495, 496 or 497: status 400
// on the wire and in the log, and the connection closes.
func (c *conn) sendTLSError(r *request, status int) bool {
	r.keepAlive = false
	text := tlsErrorTexts[status]
	page := append(r.scratch[:0], "<html>\r\n<head><title>400 "...)
	page = append(page, text...)
	page = append(page, "</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>"...)
	page = append(page, text...)
	page = append(page, "</center>\r\n<hr><center>"...)
	page = append(page, r.loc.tokens...)
	page = append(page, "</center>\r\n</body>\r\n</html>\r\n"...)
	r.scratch = page
	return c.sendSimple(r, 400, "text/html", page, nil)
}

// defineTLSVars defines $https, $scheme's TLS side and the $ssl_*
// variables: not found on connections without TLS, as in nginx.
func defineTLSVars(t *vars.Table[*request]) error {
	define := func(name string, get vars.Getter[*request]) error {
		return t.Define(name, get, 0)
	}
	if err := define("ssl_client_verify", func(dst []byte, r *request) ([]byte, bool) {
		if r.c.tlsState() == nil {
			return dst, false
		}
		if r.srv == nil || r.c.h.tls == nil {
			return append(dst, "NONE"...), true
		}
		v, _, _ := r.c.verifyClient(r)
		return append(dst, v...), true
	}); err != nil {
		return err
	}
	for _, v := range tlsconf.Vars {
		get := v.Append
		if err := define(v.Name, func(dst []byte, r *request) ([]byte, bool) {
			cs := r.c.tlsState()
			if cs == nil {
				return dst, false
			}
			return get(dst, cs, r.c.h.p.now()), true
		}); err != nil {
			return err
		}
	}
	return nil
}
