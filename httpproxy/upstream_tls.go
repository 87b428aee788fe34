package httpproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/tlsconf"
	"github.com/sluicelb/sluice/vars"
)

// HTTPS upstreams (proxy_pass https://).
//
// A new connection to an upstream server of an https proxy_pass runs a TLS
// handshake within proxy_connect_timeout. The client sends no server name
// unless proxy_ssl_server_name is on; the name (proxy_ssl_name, by default
// the host of proxy_pass without its port) is also the one checked when
// proxy_ssl_verify is on. Verification failures and failed handshakes are
// upstream errors: the error is logged as nginx logs it, the server is
// counted as failed and the next one is tried under proxy_next_upstream
// "error". With proxy_ssl_session_reuse on (the default), sessions are
// resumed from a cache per upstream group that survives reloads. Pooled
// keep-alive connections stay TLS connections.

// upstreamTLS is the proxy_ssl_* configuration of one location.
type upstreamTLS struct {
	cfg    *tls.Config
	sni    bool                     // proxy_ssl_server_name
	name   *vars.Template[*request] // proxy_ssl_name, nil: $proxy_host
	verify *tlsconf.PeerVerifier    // proxy_ssl_verify on, or nil
}

// upSessionCaches are the TLS session caches of upstream groups, by group
// name: they outlive builds.
var upSessionCaches sync.Map // name -> tls.ClientSessionCache

// attachUpstreamTLS builds pc's TLS settings when its proxy_pass is
// https:// (or has variables, which may name an https URL).
func (p *proxy) attachUpstreamTLS(pc *passConf, pp *config.HTTPProxyPass, st *config.HTTPSettings) error {
	if pp == nil || !pp.HasVars && pp.Scheme != "https" {
		return nil
	}
	c := &st.ProxySSL
	u := &upstreamTLS{sni: c.ServerName}
	cfg := &tls.Config{InsecureSkipVerify: true} // checked by VerifyConnection, as OpenSSL reports it
	var err error
	if cfg.MinVersion, cfg.MaxVersion, err = tlsconf.VersionRange(c.Protocols); err != nil {
		return errAt(err, pp.Pos)
	}
	if cfg.CipherSuites, err = tlsconf.ParseCiphers(c.Ciphers); err != nil {
		return errAt(err, pp.Pos)
	}
	if c.Certificate != "" {
		if strings.Contains(c.Certificate, "$") || strings.Contains(c.CertificateKey, "$") {
			return errAt(errors.New("httpproxy: variables in proxy_ssl_certificate are not supported by sluice yet"), pp.Pos)
		}
		var passwords []string
		if c.PasswordFile != "" {
			if passwords, err = tlsconf.ReadPasswordFile(c.PasswordFile); err != nil {
				return err
			}
		}
		kp, err := tlsconf.LoadKeyPair(c.Certificate, c.CertificateKey, passwords)
		if err != nil {
			return err
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	if c.Verify {
		u.verify = &tlsconf.PeerVerifier{Depth: c.VerifyDepth}
		if u.verify.Roots, err = tlsconf.LoadCertPool(c.TrustedCertificate); err != nil {
			return err
		}
	}
	if c.SessionReuse {
		key := "\x00dynamic"
		if pc.up != nil {
			key = pc.up.name
		}
		v, _ := upSessionCaches.LoadOrStore(key, tls.NewLRUClientSessionCache(256))
		cfg.ClientSessionCache = v.(tls.ClientSessionCache)
	}
	if c.Name != "" {
		if u.name, err = p.tab.Compile(c.Name, pp.Pos); err != nil {
			return vars.NginxError(err)
		}
	}
	u.cfg = cfg
	pc.tls = u
	return nil
}

func errAt(err error, pos string) error {
	return errors.New(err.Error() + " in " + pos)
}

// upstreamTLSName returns the server name r's TLS connection is for:
// proxy_ssl_name, or $proxy_host.
func upstreamTLSName(r *request) string {
	if n := r.upTLS.name; n != nil {
		return sslName(string(n.Append(nil, r)))
	}
	return sslName(r.proxyHost)
}

// upTLSError is a failed handshake with an upstream server.
type upTLSError struct{ err error }

func (e *upTLSError) Error() string { return e.err.Error() }
func (e *upTLSError) Unwrap() error { return e.err }

// upstreamHandshake makes uc, a new connection to an upstream server, a
// TLS connection under r's proxy_ssl settings, within
// proxy_connect_timeout. Errors are *upTLSError.
func (c *conn) upstreamHandshake(r *request, l *location, uc *upConn) error {
	u := r.upTLS
	name := uc.key.name
	cfg := u.cfg
	if u.sni && name != "" || u.verify != nil {
		cfg = cfg.Clone()
		if u.sni {
			cfg.ServerName = name
		}
		if u.verify != nil {
			cfg.VerifyConnection = u.verify.VerifyConnection(name)
		}
	}
	tc := tls.Client(uc.nc, cfg)
	if t := l.set.ProxyConnectTimeout; t > 0 {
		uc.nc.SetDeadline(time.Now().Add(t))
	}
	err := tc.HandshakeContext(context.Background())
	uc.nc.SetDeadline(time.Time{})
	if err != nil {
		return &upTLSError{err}
	}
	uc.nc = tc
	return nil
}

// sslName is the server name of a TLS upstream connection: the host
// without its port; empty for an IP address, which is never sent as a
// server name (nor checked as one).
func sslName(host string) string {
	if strings.HasPrefix(host, "[") {
		return ""
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	return host
}

// connectErrorText words a failed connection to an upstream server as
// nginx logs it.
func connectErrorText(err error, timeout bool) string {
	var te *upTLSError
	if errors.As(err, &te) {
		if timeout {
			return "upstream timed out (110: Connection timed out) while SSL handshaking to upstream"
		}
		msg := te.err.Error()
		if i := strings.Index(msg, "upstream SSL certificate"); i >= 0 {
			return msg[i:] + " while SSL handshaking to upstream"
		}
		return "SSL_do_handshake() failed (SSL: " + msg + ") while SSL handshaking to upstream"
	}
	if timeout {
		return "upstream timed out (110: Connection timed out) while connecting to upstream"
	}
	return "connect() failed " + errText(err) + " while connecting to upstream"
}
