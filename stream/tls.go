package stream

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/vars"
)

// cipherInfo is a cipher suite Go implements, with its OpenSSL name and
// the OpenSSL cipher-string words that select it.
type cipherInfo struct {
	id    uint16
	name  string
	words []string
}

// cipherTable lists the TLS 1.0-1.2 cipher suites Go implements, in
// OpenSSL's default preference order. ssl_ciphers and proxy_ssl_ciphers
// choose among them; the TLS 1.3 suites are not configurable, as with
// OpenSSL's ssl_ciphers.
var cipherTable = []cipherInfo{
	{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384", []string{"kECDHE", "aECDSA", "AESGCM", "AES256", "AES", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384", []string{"kECDHE", "aRSA", "AESGCM", "AES256", "AES", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305", []string{"kECDHE", "aECDSA", "CHACHA20", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-RSA-CHACHA20-POLY1305", []string{"kECDHE", "aRSA", "CHACHA20", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256", []string{"kECDHE", "aECDSA", "AESGCM", "AES128", "AES", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-GCM-SHA256", []string{"kECDHE", "aRSA", "AESGCM", "AES128", "AES", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, "ECDHE-ECDSA-AES128-SHA256", []string{"kECDHE", "aECDSA", "AES128", "AES", "SHA256", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, "ECDHE-RSA-AES128-SHA256", []string{"kECDHE", "aRSA", "AES128", "AES", "SHA256", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, "ECDHE-ECDSA-AES256-SHA", []string{"kECDHE", "aECDSA", "AES256", "AES", "SHA1", "HIGH", "TLSv1", "SSLv3"}},
	{tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, "ECDHE-RSA-AES256-SHA", []string{"kECDHE", "aRSA", "AES256", "AES", "SHA1", "HIGH", "TLSv1", "SSLv3"}},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "ECDHE-ECDSA-AES128-SHA", []string{"kECDHE", "aECDSA", "AES128", "AES", "SHA1", "HIGH", "TLSv1", "SSLv3"}},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "ECDHE-RSA-AES128-SHA", []string{"kECDHE", "aRSA", "AES128", "AES", "SHA1", "HIGH", "TLSv1", "SSLv3"}},
	{tls.TLS_RSA_WITH_AES_256_GCM_SHA384, "AES256-GCM-SHA384", []string{"kRSA", "aRSA", "AESGCM", "AES256", "AES", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, "AES128-GCM-SHA256", []string{"kRSA", "aRSA", "AESGCM", "AES128", "AES", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_RSA_WITH_AES_128_CBC_SHA256, "AES128-SHA256", []string{"kRSA", "aRSA", "AES128", "AES", "SHA256", "HIGH", "TLSv1.2"}},
	{tls.TLS_RSA_WITH_AES_256_CBC_SHA, "AES256-SHA", []string{"kRSA", "aRSA", "AES256", "AES", "SHA1", "HIGH", "TLSv1", "SSLv3"}},
	{tls.TLS_RSA_WITH_AES_128_CBC_SHA, "AES128-SHA", []string{"kRSA", "aRSA", "AES128", "AES", "SHA1", "HIGH", "TLSv1", "SSLv3"}},
	{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, "ECDHE-RSA-DES-CBC3-SHA", []string{"kECDHE", "aRSA", "3DES", "SHA1", "MEDIUM", "TLSv1", "SSLv3"}},
	{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, "DES-CBC3-SHA", []string{"kRSA", "aRSA", "3DES", "SHA1", "MEDIUM", "TLSv1", "SSLv3"}},
}

// cipherAliases maps OpenSSL's other spellings to the words above.
var cipherAliases = map[string]string{
	"kEECDH": "kECDHE", "ECDHE": "kECDHE", "EECDH": "kECDHE", "ECDH": "kECDHE",
	"RSA": "kRSA", "ECDSA": "aECDSA", "SHA": "SHA1", "TLSv1.0": "TLSv1",
}

// tls13Names are OpenSSL's names of the TLS 1.3 suites.
var tls13Names = map[uint16]string{
	tls.TLS_AES_128_GCM_SHA256:       "TLS_AES_128_GCM_SHA256",
	tls.TLS_AES_256_GCM_SHA384:       "TLS_AES_256_GCM_SHA384",
	tls.TLS_CHACHA20_POLY1305_SHA256: "TLS_CHACHA20_POLY1305_SHA256",
}

// cipherName returns OpenSSL's name of a suite ($ssl_cipher).
func cipherName(id uint16) string {
	if n, ok := tls13Names[id]; ok {
		return n
	}
	for _, c := range cipherTable {
		if c.id == id {
			return c.name
		}
	}
	return tls.CipherSuiteName(id)
}

func (c *cipherInfo) has(word string) bool {
	if a, ok := cipherAliases[word]; ok {
		word = a
	}
	switch word {
	case "ALL", "DEFAULT", "COMPLEMENTOFDEFAULT":
		return word != "COMPLEMENTOFDEFAULT"
	case c.name:
		return true
	}
	for _, w := range c.words {
		if w == word {
			return true
		}
	}
	return false
}

// parseCiphers interprets an OpenSSL cipher list ("HIGH:!aNULL:!MD5",
// "ECDHE+AESGCM:-AES256", explicit names ...) over the suites Go
// implements, the way SSL_CTX_set_cipher_list does: words are joined by
// ':' (or ',' and ' '), a '+' inside a word requires every part, '!'
// removes for good, '-' removes, '+' in front moves to the end, and
// words that match nothing (aNULL, MD5, RC4, DHE ...) are ignored. A list
// that selects nothing is an error, as in nginx.
func parseCiphers(list string) ([]uint16, error) {
	var order []*cipherInfo
	banned := map[uint16]bool{}
	in := map[uint16]bool{}
	for _, tok := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		op := byte(0)
		if tok[0] == '!' || tok[0] == '-' || tok[0] == '+' {
			op, tok = tok[0], tok[1:]
		}
		if strings.HasPrefix(tok, "@") {
			continue // @STRENGTH, @SECLEVEL=n
		}
		parts := strings.Split(tok, "+")
		match := func(c *cipherInfo) bool {
			for _, p := range parts {
				if !c.has(p) {
					return false
				}
			}
			return true
		}
		for i := range cipherTable {
			c := &cipherTable[i]
			if !match(c) {
				continue
			}
			switch op {
			case '!':
				banned[c.id] = true
				fallthrough
			case '-':
				if in[c.id] {
					in[c.id] = false
					for j, o := range order {
						if o.id == c.id {
							order = append(order[:j], order[j+1:]...)
							break
						}
					}
				}
			case '+':
				if in[c.id] {
					for j, o := range order {
						if o.id == c.id {
							order = append(append(order[:j], order[j+1:]...), c)
							break
						}
					}
				}
			default:
				if !in[c.id] && !banned[c.id] {
					in[c.id] = true
					order = append(order, c)
				}
			}
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("SSL_CTX_set_cipher_list(%q) failed (SSL: no cipher match)", list)
	}
	ids := make([]uint16, len(order))
	for i, c := range order {
		ids[i] = c.id
	}
	return ids, nil
}

var protocolVersions = map[string]uint16{
	"TLSv1": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11, "TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13,
}

// versionRange turns an ssl_protocols list into Go's range of versions.
// SSLv2 and SSLv3 are ignored (Go implements neither); a gap in the list
// (TLSv1 TLSv1.2) enables the versions between too.
func versionRange(protos []string) (uint16, uint16, error) {
	var lo, hi uint16
	for _, p := range protos {
		v, ok := protocolVersions[p]
		if !ok {
			continue
		}
		if lo == 0 || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	if lo == 0 {
		return 0, 0, fmt.Errorf("no protocol of %q is supported by sluice", strings.Join(protos, " "))
	}
	return lo, hi, nil
}

func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return "unknown"
}

// loadCertPool reads the PEM certificates of a file.
func loadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("SSL_CTX_load_verify_locations(%q) failed (%v)", path, unwrapPathErr(err))
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("SSL_CTX_load_verify_locations(%q) failed (no certificate found)", path)
	}
	return p, nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// loadKeyPair reads a certificate chain and its key.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load certificate %q: %v", certFile, unwrapPathErr(err))
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load certificate key %q: %v", keyFile, unwrapPathErr(err))
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load certificate %q: %v", certFile, err)
	}
	return c, nil
}

// serverTLS is the TLS termination of one server {} block.
type serverTLS struct {
	config   *tls.Config
	verify   string // ssl_verify_client
	roots    *x509.CertPool
	depth    int
	timeout  time.Duration
	dynamic  []dynCert // certificates whose paths have variables
	mu       sync.Mutex
	loaded   map[string]*tls.Certificate // by resolved cert+key paths
	lifetime time.Duration               // ssl_session_timeout
}

type dynCert struct {
	cert, key *vars.Template[*session]
}

// buildServerTLS prepares TLS termination for a server with a listen ...
// ssl. Certificates are loaded now, except those whose paths have
// variables, which are loaded at their first handshake.
func (p *proxy) buildServerTLS(sc *config.StreamServer) (*serverTLS, error) {
	c := &sc.SSL
	st := &serverTLS{verify: c.VerifyClient, depth: c.VerifyDepth, timeout: c.HandshakeTimeout,
		loaded: map[string]*tls.Certificate{}, lifetime: c.SessionTimeout}
	cfg := &tls.Config{NextProtos: c.ALPN, SessionTicketsDisabled: !c.SessionTickets}
	var err error
	if cfg.MinVersion, cfg.MaxVersion, err = versionRange(c.Protocols); err != nil {
		return nil, err
	}
	if cfg.CipherSuites, err = parseCiphers(c.Ciphers); err != nil {
		return nil, err
	}
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
		kp, err := loadKeyPair(certPath, keyPath)
		if err != nil {
			return nil, err
		}
		static = append(static, kp)
	}
	// With an RSA and an ECDSA certificate, clients that can use ECDSA get
	// it, as OpenSSL's default signature preferences give; the others get
	// RSA (Go picks the first certificate the client supports).
	sort.SliceStable(static, func(i, j int) bool {
		return certKind(&static[i]) < certKind(&static[j])
	})
	cfg.Certificates = static
	if len(st.dynamic) > 0 {
		cfg.GetCertificate = st.getCertificate
	}
	if c.VerifyClient != "off" {
		// The handshake completes whatever the client sends; the
		// certificate is checked afterwards, as nginx does, so that
		// $ssl_client_verify can tell why it failed.
		cfg.ClientAuth = tls.RequestClientCert
		st.roots = x509.NewCertPool()
		if c.ClientCertificate != "" {
			if cfg.ClientCAs, err = loadCertPool(c.ClientCertificate); err != nil {
				return nil, err
			}
			st.roots, _ = loadCertPool(c.ClientCertificate)
		}
		if c.TrustedCertificate != "" {
			data, err := os.ReadFile(c.TrustedCertificate)
			if err != nil {
				return nil, fmt.Errorf("SSL_CTX_load_verify_locations(%q) failed (%v)", c.TrustedCertificate, unwrapPathErr(err))
			}
			st.roots.AppendCertsFromPEM(data)
		}
	}
	if c.SessionTickets {
		cfg.WrapSession = st.wrapSession
		cfg.UnwrapSession = st.unwrapSession
	}
	st.config = cfg
	return st, nil
}

// certKind orders certificates: ECDSA and Ed25519 before RSA.
func certKind(c *tls.Certificate) int {
	if c.Leaf == nil && len(c.Certificate) > 0 {
		c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	if c.Leaf != nil && c.Leaf.PublicKeyAlgorithm == x509.RSA {
		return 1
	}
	return 0
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
			kp, err := loadKeyPair(certPath, keyPath)
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
	for _, c := range candidates {
		if hello.SupportsCertificate(c) == nil {
			return c, nil
		}
	}
	if len(candidates) > 0 {
		return candidates[0], nil
	}
	return nil, errors.New("no certificate")
}

// wrapSession and unwrapSession carry the session's creation time inside
// the (encrypted) ticket, so that ssl_session_timeout bounds resumption.
func (st *serverTLS) wrapSession(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(time.Now().Unix()))
	ss.Extra = append(ss.Extra, b[:])
	return st.config.EncryptTicket(cs, ss)
}

func (st *serverTLS) unwrapSession(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
	ss, err := st.config.DecryptTicket(identity, cs)
	if err != nil || ss == nil || len(ss.Extra) == 0 {
		return nil, err
	}
	last := ss.Extra[len(ss.Extra)-1]
	if len(last) != 8 {
		return nil, nil
	}
	created := time.Unix(int64(binary.BigEndian.Uint64(last)), 0)
	if time.Since(created) > st.lifetime {
		return nil, nil
	}
	ss.Extra = ss.Extra[:len(ss.Extra)-1]
	return ss, nil
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
	state := tc.ConnectionState()
	s.tlsState = &state
	s.client = tc
	if st.verify == "off" {
		return true
	}
	certs := state.PeerCertificates
	if len(certs) == 0 {
		s.clientVerify = "NONE"
		if st.verify == "on" {
			s.logf(errlog.LevelInfo, "client sent no required SSL certificate while reading client request headers")
			s.status = statusInternal
			return false
		}
		return true
	}
	code, reason := verifyChain(certs, st.roots, st.depth, x509.ExtKeyUsageClientAuth, "")
	if code == 0 {
		s.clientVerify = "SUCCESS"
		return true
	}
	s.clientVerify = "FAILED:" + reason
	if st.verify == "optional_no_ca" && optionalVerifyError(code) {
		return true
	}
	s.logf(errlog.LevelInfo, "client SSL certificate verify error: (%d:%s)", code, reason)
	s.status = statusInternal
	return false
}

// OpenSSL's verification error codes and texts used here.
const (
	errCertNotYetValid   = 9
	errCertHasExpired    = 10
	errDepthZeroSelfSign = 18
	errSelfSignedInChain = 19
	errUnableLocalIssuer = 20
	errUnableVerifyLeaf  = 21
	errChainTooLong      = 22
	errInvalidPurpose    = 26
	errHostnameMismatch  = 62
	errUnableToGetIssuer = 2
	errCertUntrusted     = 27
	errCertSignatureFail = 7
)

var verifyErrText = map[int]string{
	errCertNotYetValid:   "certificate is not yet valid",
	errCertHasExpired:    "certificate has expired",
	errDepthZeroSelfSign: "self-signed certificate",
	errSelfSignedInChain: "self-signed certificate in certificate chain",
	errUnableLocalIssuer: "unable to get local issuer certificate",
	errChainTooLong:      "certificate chain too long",
	errInvalidPurpose:    "unsupported certificate purpose",
	errHostnameMismatch:  "hostname mismatch",
	errCertSignatureFail: "certificate signature failure",
}

// optionalVerifyError reports whether ssl_verify_client optional_no_ca
// lets a session go on after this error, as nginx's list.
func optionalVerifyError(code int) bool {
	switch code {
	case errDepthZeroSelfSign, errSelfSignedInChain, errUnableToGetIssuer, errUnableLocalIssuer, errUnableVerifyLeaf, errCertUntrusted:
		return true
	}
	return false
}

// verifyChain checks a peer's certificate chain against roots the way
// OpenSSL reports it: 0 on success, else OpenSSL's error code and text.
// depth is ssl_verify_depth: how many certificates above the peer's the
// chain may have. name, when set, must match the certificate.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, depth int, usage x509.ExtKeyUsage, name string) (int, string) {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	leaf := certs[0]
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: name})
	code := 0
	if err != nil {
		var ua x509.UnknownAuthorityError
		var ci x509.CertificateInvalidError
		var hn x509.HostnameError
		switch {
		case errors.As(err, &hn):
			code = errHostnameMismatch
		case errors.As(err, &ua):
			code = errUnableLocalIssuer
			if len(certs) == 1 && string(leaf.RawIssuer) == string(leaf.RawSubject) {
				code = errDepthZeroSelfSign
			} else if len(certs) > 1 {
				top := certs[len(certs)-1]
				if string(top.RawIssuer) == string(top.RawSubject) {
					code = errSelfSignedInChain
				}
			}
		case errors.As(err, &ci):
			switch ci.Reason {
			case x509.Expired:
				code = errCertHasExpired
				if time.Now().Before(ci.Cert.NotBefore) {
					code = errCertNotYetValid
				}
			case x509.IncompatibleUsage:
				code = errInvalidPurpose
			default:
				code = errCertSignatureFail
			}
		default:
			code = errCertSignatureFail
		}
		return code, verifyErrText[code]
	}
	shortest := len(chains[0])
	for _, ch := range chains[1:] {
		shortest = min(shortest, len(ch))
	}
	if shortest-1 > depth {
		return errChainTooLong, verifyErrText[errChainTooLong]
	}
	return 0, ""
}

// upstreamTLS is proxy_ssl: TLS towards the upstream servers of one
// server {} block.
type upstreamTLS struct {
	config     *tls.Config
	serverName bool
	name       *vars.Template[*session] // proxy_ssl_name, or nil
	verify     bool
	roots      *x509.CertPool
	depth      int
}

func (p *proxy) buildUpstreamTLS(sc *config.StreamServer) (*upstreamTLS, error) {
	c := &sc.ProxySSL
	u := &upstreamTLS{serverName: c.ServerName, verify: c.Verify, depth: c.VerifyDepth}
	cfg := &tls.Config{InsecureSkipVerify: true}
	var err error
	if cfg.MinVersion, cfg.MaxVersion, err = versionRange(c.Protocols); err != nil {
		return nil, err
	}
	if cfg.CipherSuites, err = parseCiphers(c.Ciphers); err != nil {
		return nil, err
	}
	if c.Certificate != "" {
		kp, err := loadKeyPair(c.Certificate, c.CertificateKey)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	if c.Verify {
		if u.roots, err = loadCertPool(c.TrustedCertificate); err != nil {
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
	if u.serverName && name != "" || u.verify {
		cfg = cfg.Clone()
		if u.serverName {
			cfg.ServerName = name
		}
		if u.verify {
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("upstream sent no certificate")
				}
				if code, reason := verifyChain(cs.PeerCertificates, u.roots, u.depth, x509.ExtKeyUsageServerAuth, name); code != 0 {
					if code == errHostnameMismatch {
						return fmt.Errorf("upstream SSL certificate does not match %q", name)
					}
					return fmt.Errorf("upstream SSL certificate verify error: (%d:%s)", code, reason)
				}
				return nil
			}
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

// tlsVars are the $ssl_* variables of TLS termination.
func tlsVars() []struct {
	name string
	get  vars.Getter[*session]
} {
	state := func(get func(dst []byte, s *session, cs *tls.ConnectionState) []byte) vars.Getter[*session] {
		return func(dst []byte, s *session) ([]byte, bool) {
			if s.tlsState == nil {
				return dst, false
			}
			return get(dst, s, s.tlsState), true
		}
	}
	peer := func(get func(dst []byte, c *x509.Certificate) []byte) vars.Getter[*session] {
		return state(func(dst []byte, s *session, cs *tls.ConnectionState) []byte {
			if len(cs.PeerCertificates) == 0 {
				return dst
			}
			return get(dst, cs.PeerCertificates[0])
		})
	}
	return []struct {
		name string
		get  vars.Getter[*session]
	}{
		{"ssl_protocol", state(func(dst []byte, _ *session, cs *tls.ConnectionState) []byte {
			return append(dst, versionName(cs.Version)...)
		})},
		{"ssl_cipher", state(func(dst []byte, _ *session, cs *tls.ConnectionState) []byte {
			return append(dst, cipherName(cs.CipherSuite)...)
		})},
		{"ssl_server_name", state(func(dst []byte, _ *session, cs *tls.ConnectionState) []byte {
			return append(dst, cs.ServerName...)
		})},
		{"ssl_alpn_protocol", state(func(dst []byte, _ *session, cs *tls.ConnectionState) []byte {
			return append(dst, cs.NegotiatedProtocol...)
		})},
		{"ssl_session_reused", state(func(dst []byte, _ *session, cs *tls.ConnectionState) []byte {
			if cs.DidResume {
				return append(dst, 'r')
			}
			return append(dst, '.')
		})},
		{"ssl_client_verify", state(func(dst []byte, s *session, _ *tls.ConnectionState) []byte {
			if s.clientVerify == "" {
				return append(dst, "NONE"...)
			}
			return append(dst, s.clientVerify...)
		})},
		{"ssl_client_s_dn", peer(func(dst []byte, c *x509.Certificate) []byte { return append(dst, c.Subject.String()...) })},
		{"ssl_client_i_dn", peer(func(dst []byte, c *x509.Certificate) []byte { return append(dst, c.Issuer.String()...) })},
		{"ssl_client_serial", peer(func(dst []byte, c *x509.Certificate) []byte {
			b := c.SerialNumber.Bytes()
			if len(b) == 0 {
				b = []byte{0}
			}
			return append(dst, strings.ToUpper(hex.EncodeToString(b))...)
		})},
		{"ssl_client_fingerprint", peer(func(dst []byte, c *x509.Certificate) []byte {
			sum := sha1.Sum(c.Raw)
			return hex.AppendEncode(dst, sum[:])
		})},
		{"ssl_client_raw_cert", peer(func(dst []byte, c *x509.Certificate) []byte {
			return append(dst, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		})},
		{"ssl_client_v_start", peer(func(dst []byte, c *x509.Certificate) []byte {
			return c.NotBefore.UTC().AppendFormat(dst, "Jan _2 15:04:05 2006 GMT")
		})},
		{"ssl_client_v_end", peer(func(dst []byte, c *x509.Certificate) []byte {
			return c.NotAfter.UTC().AppendFormat(dst, "Jan _2 15:04:05 2006 GMT")
		})},
		{"ssl_client_v_remain", peer(func(dst []byte, c *x509.Certificate) []byte {
			d := time.Until(c.NotAfter)
			if d < 0 {
				d = 0
			}
			return fmt.Appendf(dst, "%d", int(d/(24*time.Hour)))
		})},
	}
}
