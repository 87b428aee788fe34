package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// OpenSSL's verification error codes used here (X509_V_ERR_*).
const (
	ErrUnableToGetIssuer = 2
	ErrCertSignature     = 7
	ErrCertNotYetValid   = 9
	ErrCertHasExpired    = 10
	ErrDepthZeroSelfSign = 18
	ErrSelfSignedInChain = 19
	ErrUnableLocalIssuer = 20
	ErrUnableVerifyLeaf  = 21
	ErrChainTooLong      = 22
	ErrInvalidPurpose    = 26
	ErrCertUntrusted     = 27
	ErrHostnameMismatch  = 62
)

// verifyErrText are OpenSSL 3's texts of the codes (X509_verify_cert_error_string).
var verifyErrText = map[int]string{
	ErrUnableToGetIssuer: "unable to get issuer certificate",
	ErrCertSignature:     "certificate signature failure",
	ErrCertNotYetValid:   "certificate is not yet valid",
	ErrCertHasExpired:    "certificate has expired",
	ErrDepthZeroSelfSign: "self-signed certificate",
	ErrSelfSignedInChain: "self-signed certificate in certificate chain",
	ErrUnableLocalIssuer: "unable to get local issuer certificate",
	ErrUnableVerifyLeaf:  "unable to verify the first certificate",
	ErrChainTooLong:      "certificate chain too long",
	ErrInvalidPurpose:    "unsupported certificate purpose",
	ErrCertUntrusted:     "certificate not trusted",
	ErrHostnameMismatch:  "hostname mismatch",
}

// VerifyErrorText returns OpenSSL's text of a verification error code.
func VerifyErrorText(code int) string { return verifyErrText[code] }

// OptionalNoCAError reports whether "ssl_verify_client optional_no_ca"
// lets a client through with this error: those of a certificate whose
// issuer is unknown, as nginx's ngx_ssl_verify_error_optional.
func OptionalNoCAError(code int) bool {
	switch code {
	case ErrDepthZeroSelfSign, ErrSelfSignedInChain, ErrUnableToGetIssuer, ErrUnableLocalIssuer, ErrUnableVerifyLeaf, ErrCertUntrusted:
		return true
	}
	return false
}

// Verify checks a peer's certificate chain (leaf first, as sent) against
// roots the way OpenSSL reports it: 0 on success, else OpenSSL's error
// code and text. depth is ssl_verify_depth: how many certificates above
// the peer's the chain may have. usage is the extended key usage the leaf
// must allow; name, when set, must match the certificate. now is the time
// of the check (zero: the current time).
func Verify(certs []*x509.Certificate, roots *x509.CertPool, depth int, usage x509.ExtKeyUsage, name string, now time.Time) (int, string) {
	if len(certs) == 0 {
		return ErrUnableVerifyLeaf, verifyErrText[ErrUnableVerifyLeaf]
	}
	if roots == nil {
		roots = x509.NewCertPool()
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	leaf := certs[0]
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{usage}, CurrentTime: now})
	if err != nil {
		code := ErrCertSignature
		var ua x509.UnknownAuthorityError
		var ci x509.CertificateInvalidError
		switch {
		case errors.As(err, &ua):
			code = ErrUnableLocalIssuer
			if len(certs) == 1 && string(leaf.RawIssuer) == string(leaf.RawSubject) {
				code = ErrDepthZeroSelfSign
			} else if len(certs) > 1 {
				top := certs[len(certs)-1]
				if string(top.RawIssuer) == string(top.RawSubject) {
					code = ErrSelfSignedInChain
				}
			}
		case errors.As(err, &ci):
			switch ci.Reason {
			case x509.Expired:
				code = ErrCertHasExpired
				t := now
				if t.IsZero() {
					t = time.Now()
				}
				if t.Before(ci.Cert.NotBefore) {
					code = ErrCertNotYetValid
				}
			case x509.IncompatibleUsage:
				code = ErrInvalidPurpose
			}
		}
		return code, verifyErrText[code]
	}
	shortest := len(chains[0])
	for _, ch := range chains[1:] {
		shortest = min(shortest, len(ch))
	}
	if shortest-1 > depth {
		return ErrChainTooLong, verifyErrText[ErrChainTooLong]
	}
	// OpenSSL checks the name once the chain is good
	if name != "" && leaf.VerifyHostname(name) != nil {
		return ErrHostnameMismatch, verifyErrText[ErrHostnameMismatch]
	}
	return 0, ""
}

// ClientAuth is ssl_verify_client with its trusted CAs and
// ssl_verify_depth. The handshake completes whatever the client sends
// (tls.RequestClientCert); Check then judges the certificate, as nginx
// does, so that $ssl_client_verify can tell why it failed. The zero value
// is "off". It is safe for concurrent use once built.
type ClientAuth struct {
	// Mode is "off", "on", "optional" or "optional_no_ca".
	Mode string
	// Roots are the CAs of ssl_client_certificate and
	// ssl_trusted_certificate; nil trusts none.
	Roots *x509.CertPool
	// Depth is ssl_verify_depth.
	Depth int
}

// Enabled reports whether client certificates are requested.
func (a *ClientAuth) Enabled() bool { return a != nil && a.Mode != "" && a.Mode != "off" }

// Check judges the certificates a client sent. verify is the value of
// $ssl_client_verify ("NONE", "SUCCESS" or "FAILED:reason"); ok reports
// whether the client may go on; when it may not, code is OpenSSL's
// verification error, or 0 when no certificate was sent and one is
// required.
func (a *ClientAuth) Check(certs []*x509.Certificate, now time.Time) (verify string, ok bool, code int) {
	if !a.Enabled() {
		return "NONE", true, 0
	}
	if len(certs) == 0 {
		return "NONE", a.Mode != "on", 0
	}
	code, reason := Verify(certs, a.Roots, a.Depth, x509.ExtKeyUsageClientAuth, "", now)
	if code == 0 {
		return "SUCCESS", true, 0
	}
	return "FAILED:" + reason, a.Mode == "optional_no_ca" && OptionalNoCAError(code), code
}

// PeerVerifier is proxy_ssl_verify: it checks an upstream server's
// certificate against Roots within Depth, and its name.
type PeerVerifier struct {
	Roots *x509.CertPool
	Depth int
}

// VerifyConnection returns a tls.Config.VerifyConnection function that
// checks the server's chain and that it is valid for name (no name check
// when empty), with errors worded as nginx logs them: "upstream SSL
// certificate verify error: (18:self-signed certificate)" and "upstream
// SSL certificate does not match "name"".
func (v *PeerVerifier) VerifyConnection(name string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("upstream sent no certificate")
		}
		code, reason := Verify(cs.PeerCertificates, v.Roots, v.Depth, x509.ExtKeyUsageServerAuth, name, time.Time{})
		switch code {
		case 0:
			return nil
		case ErrHostnameMismatch:
			return fmt.Errorf("upstream SSL certificate does not match %q", name)
		}
		return fmt.Errorf("upstream SSL certificate verify error: (%d:%s)", code, reason)
	}
}
