package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/tlsconf"
	"github.com/sluicelb/sluice/vars"
)

// serverTLS is the TLS termination of one server {} block.
type serverTLS struct {
	config  *tls.Config
	auth    tlsconf.ClientAuth // ssl_verify_client
	timeout time.Duration
	dynamic []dynCert // certificates whose paths have variables
	mu      sync.Mutex
	loaded  map[string]*tls.Certificate // by resolved cert+key paths
}

type dynCert struct {
	cert, key *vars.Template[*session]
}

// buildServerTLS prepares TLS termination for a server with a listen ...
// ssl. Certificates are loaded now, except those whose paths have
// variables, which are loaded at their first handshake.
func (p *proxy) buildServerTLS(sc *config.StreamServer) (*serverTLS, error) {
	c := &sc.SSL
	st := &serverTLS{auth: tlsconf.ClientAuth{Mode: c.VerifyClient, Depth: c.VerifyDepth},
		timeout: c.HandshakeTimeout, loaded: map[string]*tls.Certificate{}}
	cfg := &tls.Config{NextProtos: c.ALPN}
	var err error
	if cfg.MinVersion, cfg.MaxVersion, err = tlsconf.VersionRange(c.Protocols); err != nil {
		return nil, err
	}
	if cfg.CipherSuites, err = tlsconf.ParseCiphers(c.Ciphers); err != nil {
		return nil, err
	}
	if err := tlsconf.CheckDHParams(c.DHParam, c.Ciphers); err != nil {
		return nil, err
	}
	cfg.CurvePreferences = tlsconf.Curves(c.ECDHCurve)
	var static []tls.Certificate
	for i, certPath := range c.Certificates {
		keyPath := c.CertificateKeys[i]
		if strings.Contains(certPath, "$") || strings.Contains(keyPath, "$") {
			var d dynCert
			if d.cert, err = p.tab.Compile(certPath, sc.Pos()); err != nil {
				return nil, vars.NginxError(err)
			}
			if d.key, err = p.tab.Compile(keyPath, sc.Pos()); err != nil {
				return nil, vars.NginxError(err)
			}
			st.dynamic = append(st.dynamic, d)
			continue
		}
		kp, err := tlsconf.LoadKeyPair(certPath, keyPath, nil)
		if err != nil {
			return nil, err
		}
		static = append(static, kp)
	}
	tlsconf.SortCertificates(static)
	cfg.Certificates = static
	if len(st.dynamic) > 0 {
		cfg.GetCertificate = st.getCertificate
	}
	if c.VerifyClient != "off" {
		// The handshake completes whatever the client sends; the
		// certificate is checked afterwards, as nginx does, so that
		// $ssl_client_verify can tell why it failed.
		cfg.ClientAuth = tls.RequestClientCert
		st.auth.Roots = x509.NewCertPool()
		if c.ClientCertificate != "" {
			if cfg.ClientCAs, err = tlsconf.LoadCertPool(c.ClientCertificate); err != nil {
				return nil, err
			}
			tlsconf.AppendCertFile(st.auth.Roots, c.ClientCertificate)
		}
		if c.TrustedCertificate != "" {
			if err := tlsconf.AppendCertFile(st.auth.Roots, c.TrustedCertificate); err != nil && !strings.Contains(err.Error(), "no certificate found") {
				return nil, err
			}
		}
	}
	tlsconf.Sessions{Tickets: c.SessionTickets, Timeout: c.SessionTimeout}.Apply(cfg)
	st.config = cfg
	return st, nil
}

// sessConn is the client connection as the TLS layer sees it: it gives
// first the bytes already read (after a PROXY protocol header), and lets
// handshake callbacks find the session.
type sessConn struct {
	net.Conn
	s       *session
	pending []byte
}

func (c *sessConn) Read(b []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// getCertificate evaluates the certificate paths that have variables
// ($ssl_server_name ...) for one handshake.
func (st *serverTLS) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	sc, ok := hello.Conn.(*sessConn)
	if !ok {
		return nil, errors.New("stream: no session for the handshake")
	}
	s := sc.s
	s.sniName = hello.ServerName
	var candidates []*tls.Certificate
	for _, d := range st.dynamic {
		certPath, keyPath := string(d.cert.Append(nil, s)), string(d.key.Append(nil, s))
		k := certPath + "\x00" + keyPath
		st.mu.Lock()
		c := st.loaded[k]
		st.mu.Unlock()
		if c == nil {
			kp, err := tlsconf.LoadKeyPair(certPath, keyPath, nil)
			if err != nil {
				s.logf(errlog.LevelError, "%v while SSL handshaking", err)
				continue
			}
			c = &kp
			st.mu.Lock()
			st.loaded[k] = c
			st.mu.Unlock()
		}
		candidates = append(candidates, c)
	}
	for i := range st.config.Certificates {
		candidates = append(candidates, &st.config.Certificates[i])
	}
	if c := tlsconf.PickCertificate(hello, candidates); c != nil {
		return c, nil
	}
	return nil, errors.New("no certificate")
}

// handshake runs the TLS handshake of a listen ... ssl (nginx's ssl
// phase) within ssl_handshake_timeout, then checks the client certificate
// as ssl_verify_client says. On success the session's client connection
// becomes the TLS connection. A failed handshake or a refused
// certificate ends the session with status 500, as in nginx.
func (s *session) handshake(ctx context.Context, pending []byte) bool {
	st := s.h.s.tls
	tc := tls.Server(&sessConn{Conn: s.client, s: s, pending: pending}, st.config)
	if st.timeout > 0 {
		s.client.SetDeadline(time.Now().Add(st.timeout))
	}
	err := tc.HandshakeContext(ctx)
	s.client.SetDeadline(time.Time{})
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s.logf(errlog.LevelInfo, "client timed out (110: Connection timed out) while SSL handshaking")
		} else {
			s.logf(errlog.LevelInfo, "SSL_do_handshake() failed (%v) while SSL handshaking", err)
		}
		s.status = statusInternal
		return false
	}
	tlsconf.AckFinished(s.client) // the client may hold its first bytes for our ACK
	state := tc.ConnectionState()
	s.tlsState = &state
	s.client = tc
	if !st.auth.Enabled() {
		return true
	}
	verify, ok, code := st.auth.Check(state.PeerCertificates, time.Time{})
	s.clientVerify = verify
	if ok {
		return true
	}
	if code == 0 {
		s.logf(errlog.LevelInfo, "client sent no required SSL certificate while reading client request headers")
	} else {
		s.logf(errlog.LevelInfo, "client SSL certificate verify error: (%d:%s)", code, tlsconf.VerifyErrorText(code))
	}
	s.status = statusInternal
	return false
}

// upstreamTLS is proxy_ssl: TLS towards the upstream servers of one
// server {} block.
type upstreamTLS struct {
	config     *tls.Config
	serverName bool
	name       *vars.Template[*session] // proxy_ssl_name, or nil
	verify     *tlsconf.PeerVerifier    // proxy_ssl_verify on, or nil
}

func (p *proxy) buildUpstreamTLS(sc *config.StreamServer) (*upstreamTLS, error) {
	c := &sc.ProxySSL
	u := &upstreamTLS{serverName: c.ServerName}
	cfg := &tls.Config{InsecureSkipVerify: true}
	var err error
	if cfg.MinVersion, cfg.MaxVersion, err = tlsconf.VersionRange(c.Protocols); err != nil {
		return nil, err
	}
	if cfg.CipherSuites, err = tlsconf.ParseCiphers(c.Ciphers); err != nil {
		return nil, err
	}
	if c.Certificate != "" {
		kp, err := tlsconf.LoadKeyPair(c.Certificate, c.CertificateKey, nil)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	if c.Verify {
		u.verify = &tlsconf.PeerVerifier{Depth: c.VerifyDepth}
		if u.verify.Roots, err = tlsconf.LoadCertPool(c.TrustedCertificate); err != nil {
			return nil, err
		}
	}
	if c.SessionReuse {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	}
	if c.Name != "" {
		if u.name, err = p.tab.Compile(c.Name, sc.Pos()); err != nil {
			return nil, vars.NginxError(err)
		}
	}
	u.config = cfg
	return u, nil
}

// upstreamHandshake runs the TLS handshake with an upstream server within
// timeout (proxy_connect_timeout, as nginx).
func (s *session) upstreamHandshake(ctx context.Context, up net.Conn, t target, timeout time.Duration) (net.Conn, error) {
	u := s.h.s.upTLS
	name := ""
	if u.name != nil {
		name = string(u.name.Append(nil, s))
	} else {
		name = t.name
		if strings.HasPrefix(name, "unix:") {
			name = ""
		} else if h, _, err := net.SplitHostPort(name); err == nil {
			name = h
		}
	}
	cfg := u.config
	if u.serverName && name != "" || u.verify != nil {
		cfg = cfg.Clone()
		if u.serverName {
			cfg.ServerName = name
		}
		if u.verify != nil {
			cfg.VerifyConnection = u.verify.VerifyConnection(name)
		}
	}
	tc := tls.Client(up, cfg)
	if timeout > 0 {
		up.SetDeadline(time.Now().Add(timeout))
	}
	err := tc.HandshakeContext(ctx)
	up.SetDeadline(time.Time{})
	if err != nil {
		return nil, err
	}
	return tc, nil
}

// tlsVars are the $ssl_* variables of TLS termination: not found before
// the handshake (or without TLS).
func tlsVars() []struct {
	name string
	get  vars.Getter[*session]
} {
	defs := []struct {
		name string
		get  vars.Getter[*session]
	}{
		{"ssl_client_verify", func(dst []byte, s *session) ([]byte, bool) {
			if s.tlsState == nil {
				return dst, false
			}
			if s.clientVerify == "" {
				return append(dst, "NONE"...), true
			}
			return append(dst, s.clientVerify...), true
		}},
	}
	for _, v := range tlsconf.Vars {
		get := v.Append
		defs = append(defs, struct {
			name string
			get  vars.Getter[*session]
		}{v.Name, func(dst []byte, s *session) ([]byte, bool) {
			if s.tlsState == nil {
				return dst, false
			}
			return get(dst, s.tlsState, time.Now()), true
		}})
	}
	return defs
}
