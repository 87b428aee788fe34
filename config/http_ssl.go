package config

import (
	"fmt"
	"reflect"
)

// HTTPProxySSL are the proxy_ssl_* settings of a location: TLS towards
// the servers of a proxy_pass https://. Each is inherited on its own, as
// nginx merges them. The zero value is not the default: see
// defaultHTTPProxySSL.
type HTTPProxySSL struct {
	ServerName         bool     // proxy_ssl_server_name, default off: no SNI
	Name               string   // proxy_ssl_name; empty: $proxy_host
	Verify             bool     // proxy_ssl_verify, default off
	VerifyDepth        int      // proxy_ssl_verify_depth, default 1
	TrustedCertificate string   // proxy_ssl_trusted_certificate
	Certificate        string   // proxy_ssl_certificate (client certificate)
	CertificateKey     string   // proxy_ssl_certificate_key
	PasswordFile       string   // proxy_ssl_password_file
	Protocols          []string // proxy_ssl_protocols, default TLSv1 TLSv1.1 TLSv1.2 (nginx 1.22)
	Ciphers            string   // proxy_ssl_ciphers, default DEFAULT
	SessionReuse       bool     // proxy_ssl_session_reuse, default on
}

var defaultHTTPProxySSL = HTTPProxySSL{
	VerifyDepth:  1,
	Protocols:    []string{"TLSv1", "TLSv1.1", "TLSv1.2"},
	Ciphers:      "DEFAULT",
	SessionReuse: true,
}

// IsZero reports whether p holds only the defaults; the configuration's
// JSON form then leaves it out.
func (p HTTPProxySSL) IsZero() bool { return reflect.DeepEqual(p, defaultHTTPProxySSL) }

func init() {
	defaultHTTPSettings.ProxySSL = defaultHTTPProxySSL
	register(httpSSLDirectives)
	httpInherit = append(httpInherit, httpProxySSLInherit...)
	httpServerInherit = append(httpServerInherit, httpSSLServerInherit...)
}

// proxySSLSetting is setting for a proxy_ssl_* field.
func proxySSLSetting[T any](parse func(*compiler, *Directive) (T, error), field func(*HTTPProxySSL) *T) func(*compiler, *Directive, any) (any, error) {
	return setting(hset, parse, func(s *HTTPSettings) *T { return field(&s.ProxySSL) })
}

var httpSSLDirectives = []*Spec{
	// TLS termination, beyond the ssl_* directives of http.go
	{Name: "ssl_reject_handshake", Ctx: ctxHTTPSrv, Args: ArgsFlag, Set: setting(hsrv, flagValue, func(s *HTTPServerSettings) *bool { return &s.SSLRejectHandshake })},
	{Name: "ssl_password_file", Ctx: ctxHTTPSrv, Args: Args1, Set: setting(hsrv, pathValue, func(s *HTTPServerSettings) *string { return &s.SSLPasswordFile })},
	{Name: "ssl_trusted_certificate", Ctx: ctxHTTPSrv, Args: Args1, Set: setting(hsrv, pathValue, func(s *HTTPServerSettings) *string { return &s.SSLTrustedCertificate })},
	{Name: "ssl_dhparam", Ctx: ctxHTTPSrv, Args: Args1, Set: setting(hsrv, dhparamValue, func(s *HTTPServerSettings) *string { return &s.SSLDHParam })},
	{Name: "ssl_ecdh_curve", Ctx: ctxHTTPSrv, Args: Args1, Set: setting(hsrv, ecdhCurveValue, func(s *HTTPServerSettings) *string { return &s.SSLECDHCurve })},
	{Name: "ssl", Ctx: ctxHTTPSrv, Args: ArgsFlag, Set: setHTTPSSLEnable},

	// TLS to upstream servers (proxy_pass https://)
	{Name: "proxy_ssl_server_name", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: proxySSLSetting(flagValue, func(p *HTTPProxySSL) *bool { return &p.ServerName })},
	{Name: "proxy_ssl_name", Ctx: ctxHTTPAll, Args: Args1, Set: proxySSLSetting(stringValue, func(p *HTTPProxySSL) *string { return &p.Name })},
	{Name: "proxy_ssl_verify", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: proxySSLSetting(flagValue, func(p *HTTPProxySSL) *bool { return &p.Verify })},
	{Name: "proxy_ssl_verify_depth", Ctx: ctxHTTPAll, Args: Args1, Set: proxySSLSetting(numValue, func(p *HTTPProxySSL) *int { return &p.VerifyDepth })},
	{Name: "proxy_ssl_trusted_certificate", Ctx: ctxHTTPAll, Args: Args1, Set: proxySSLSetting(pathValue, func(p *HTTPProxySSL) *string { return &p.TrustedCertificate })},
	{Name: "proxy_ssl_certificate", Ctx: ctxHTTPAll, Args: Args1, Set: proxySSLSetting(pathValue, func(p *HTTPProxySSL) *string { return &p.Certificate })},
	{Name: "proxy_ssl_certificate_key", Ctx: ctxHTTPAll, Args: Args1, Set: proxySSLSetting(pathValue, func(p *HTTPProxySSL) *string { return &p.CertificateKey })},
	{Name: "proxy_ssl_password_file", Ctx: ctxHTTPAll, Args: Args1, Set: proxySSLSetting(pathValue, func(p *HTTPProxySSL) *string { return &p.PasswordFile })},
	{Name: "proxy_ssl_protocols", Ctx: ctxHTTPAll, Args: Args1More, Set: proxySSLSetting(httpDialect.parseSSLProtocols, func(p *HTTPProxySSL) *[]string { return &p.Protocols })},
	{Name: "proxy_ssl_ciphers", Ctx: ctxHTTPAll, Args: Args1, Set: proxySSLSetting(stringValue, func(p *HTTPProxySSL) *string { return &p.Ciphers })},
	{Name: "proxy_ssl_session_reuse", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: proxySSLSetting(flagValue, func(p *HTTPProxySSL) *bool { return &p.SessionReuse })},
}

var httpProxySSLInherit = []httpInheritRule{
	{"proxy_ssl_server_name", func(d, s *HTTPSettings) { d.ProxySSL.ServerName = s.ProxySSL.ServerName }},
	{"proxy_ssl_name", func(d, s *HTTPSettings) { d.ProxySSL.Name = s.ProxySSL.Name }},
	{"proxy_ssl_verify", func(d, s *HTTPSettings) { d.ProxySSL.Verify = s.ProxySSL.Verify }},
	{"proxy_ssl_verify_depth", func(d, s *HTTPSettings) { d.ProxySSL.VerifyDepth = s.ProxySSL.VerifyDepth }},
	{"proxy_ssl_trusted_certificate", func(d, s *HTTPSettings) { d.ProxySSL.TrustedCertificate = s.ProxySSL.TrustedCertificate }},
	{"proxy_ssl_certificate", func(d, s *HTTPSettings) { d.ProxySSL.Certificate = s.ProxySSL.Certificate }},
	{"proxy_ssl_certificate_key", func(d, s *HTTPSettings) { d.ProxySSL.CertificateKey = s.ProxySSL.CertificateKey }},
	{"proxy_ssl_password_file", func(d, s *HTTPSettings) { d.ProxySSL.PasswordFile = s.ProxySSL.PasswordFile }},
	{"proxy_ssl_protocols", func(d, s *HTTPSettings) { d.ProxySSL.Protocols = s.ProxySSL.Protocols }},
	{"proxy_ssl_ciphers", func(d, s *HTTPSettings) { d.ProxySSL.Ciphers = s.ProxySSL.Ciphers }},
	{"proxy_ssl_session_reuse", func(d, s *HTTPSettings) { d.ProxySSL.SessionReuse = s.ProxySSL.SessionReuse }},
}

var httpSSLServerInherit = []struct {
	key  string
	copy func(dst, src *HTTPServerSettings)
}{
	{"ssl_reject_handshake", func(d, s *HTTPServerSettings) { d.SSLRejectHandshake = s.SSLRejectHandshake }},
	{"ssl_password_file", func(d, s *HTTPServerSettings) { d.SSLPasswordFile = s.SSLPasswordFile }},
	{"ssl_trusted_certificate", func(d, s *HTTPServerSettings) { d.SSLTrustedCertificate = s.SSLTrustedCertificate }},
	{"ssl_dhparam", func(d, s *HTTPServerSettings) { d.SSLDHParam = s.SSLDHParam }},
	{"ssl_ecdh_curve", func(d, s *HTTPServerSettings) { d.SSLECDHCurve = s.SSLECDHCurve }},
	{"ssl", func(d, s *HTTPServerSettings) { d.SSLEnable, d.SSLEnablePos = s.SSLEnable, s.SSLEnablePos }},
}

// setHTTPSSLEnable parses the deprecated "ssl on|off" of nginx 1.22, with
// its warning.
func setHTTPSSLEnable(c *compiler, d *Directive, parent any) (any, error) {
	on, err := parseFlag(d)
	if err != nil {
		return nil, err
	}
	s := hsrv(c, parent)
	s.SSLEnable, s.SSLEnablePos = on, pos(d)
	s.mark(d.Name)
	c.warnf(d, `the "ssl" directive is deprecated, use the "listen ... ssl" directive instead`)
	return nil, nil
}

// hasTLS reports whether nginx sets up TLS for a server (and so reads its
// ssl_dhparam and checks its ssl_ecdh_curve): it has certificates, or
// rejects handshakes.
func (s *HTTPServerSettings) hasTLS() bool {
	return len(s.SSLCertificates) > 0 || s.SSLRejectHandshake
}

// checkHTTPSSLEnable makes nginx's checks of "ssl on": the server needs a
// certificate and its key. They come before the other TLS checks, as in
// nginx's merge.
func checkHTTPSSLEnable(h *HTTP) error {
	for _, srv := range h.Servers {
		if !srv.SSLEnable {
			continue
		}
		at := " in " + srv.SSLEnablePos
		switch {
		case len(srv.SSLCertificates) == 0 && !srv.SSLRejectHandshake:
			return &Error{Msg: `no "ssl_certificate" is defined for the "ssl" directive` + at}
		case len(srv.SSLCertificates) > 0 && len(srv.SSLCertificateKeys) == 0:
			return &Error{Msg: `no "ssl_certificate_key" is defined for the "ssl" directive` + at}
		case len(srv.SSLCertificateKeys) < len(srv.SSLCertificates):
			return &Error{Msg: fmt.Sprintf(`no "ssl_certificate_key" is defined for certificate "%s" and the "ssl" directive`, srv.SSLCertificates[len(srv.SSLCertificateKeys)]) + at}
		}
	}
	return nil
}

// mergeHTTPListenFlags gives every listen of an address the ssl, http2
// and proxy_protocol parameters that any listen of it has, in any server,
// as nginx merges them into the address's options: one socket serves one
// way. An address whose default server has the deprecated "ssl on" is TLS
// too, as in nginx 1.22, which looks at the default server of the address
// a connection arrives on: every listen of it, in any server and before
// or after the directive, becomes ssl. A server with "ssl on" that is not
// the default server of an address leaves it plain.
func mergeHTTPListenFlags(h *HTTP) {
	for _, addr := range h.addrs {
		servers := h.listens[addr].servers
		if len(servers) == 0 {
			continue
		}
		ssl, h2, pp := httpDefaultServer(servers, addr).SSLEnable, false, false
		for _, srv := range servers {
			for _, l := range srv.Listens {
				if l.Key() == addr {
					ssl, h2, pp = ssl || l.SSL, h2 || l.HTTP2, pp || l.ProxyProtocol
				}
			}
		}
		for _, srv := range servers {
			for i := range srv.Listens {
				if l := &srv.Listens[i]; l.Key() == addr {
					l.SSL, l.HTTP2, l.ProxyProtocol = ssl, h2, pp
				}
			}
		}
	}
}

// checkHTTPSSL applies nginx's checks of the TLS settings once the http
// block is merged: a client certificate needs its key, proxy_ssl_verify
// needs trusted certificates, ssl_verify_client on or optional needs
// ssl_client_certificate (or ssl_trusted_certificate), and ssl_ecdh_curve
// names known curves. (ssl_dhparam files are read by the runtime, with
// the certificates.)
func checkHTTPSSL(h *HTTP) error {
	for _, srv := range h.Servers {
		if srv.SSLVerifyClient == "on" || srv.SSLVerifyClient == "optional" {
			if srv.hasTLS() && srv.SSLClientCertificate == "" && srv.SSLTrustedCertificate == "" {
				return &Error{Msg: "no ssl_client_certificate for ssl_verify_client"}
			}
		}
		if srv.hasTLS() {
			if err := checkECDHCurve(srv.SSLECDHCurve); err != nil {
				return err
			}
		}
		var err error
		check := func(pass *HTTPProxyPass, p *HTTPProxySSL) {
			if err != nil || pass == nil || pass.Scheme != "https" && !pass.HasVars {
				return
			}
			switch {
			case p.Certificate != "" && p.CertificateKey == "":
				err = &Error{Msg: fmt.Sprintf(`no "proxy_ssl_certificate_key" is defined for certificate "%s"`, p.Certificate)}
			case p.Verify && p.TrustedCertificate == "":
				err = &Error{Msg: "no proxy_ssl_trusted_certificate for proxy_ssl_verify"}
			}
		}
		walkLocations(srv.Locations, func(l *HTTPLocation) { check(l.ProxyPass, &l.Settings.ProxySSL) })
		if err != nil {
			return err
		}
	}
	return nil
}

// httpDefaultServer returns the default server of an address: the one
// whose listen there says default_server, else the first one.
func httpDefaultServer(servers []*HTTPServer, addr string) *HTTPServer {
	for _, srv := range servers {
		for _, l := range srv.Listens {
			if l.Key() == addr && l.DefaultServer {
				return srv
			}
		}
	}
	return servers[0]
}

// httpSSLDefaultServer returns the default server of an address when the
// address has ssl, else nil.
func httpSSLDefaultServer(servers []*HTTPServer, addr string) *HTTPServer {
	var def *HTTPServer
	ssl := false
	for _, srv := range servers {
		for _, l := range srv.Listens {
			if l.Key() != addr {
				continue
			}
			ssl = ssl || l.SSL
			if l.DefaultServer && def == nil {
				def = srv
			}
		}
	}
	if !ssl || len(servers) == 0 {
		return nil
	}
	if def == nil {
		def = servers[0]
	}
	return def
}
