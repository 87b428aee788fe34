package tlsconf

import (
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strconv"
	"strings"
	"time"
)

// Var is one $ssl_* variable whose value comes from the TLS connection
// state alone. $ssl_client_verify depends on the server's verification
// and is left to the proxies.
type Var struct {
	// Name is the variable's name without "$".
	Name string
	// Append appends the value for the connection to dst. now is the
	// time of the request ($ssl_client_v_remain).
	Append func(dst []byte, cs *tls.ConnectionState, now time.Time) []byte
}

// Vars are the $ssl_* variables nginx documents that Go's TLS state can
// give, in nginx's formats. Those of the client certificate are empty
// when the client sent none.
var Vars = []Var{
	{"ssl_protocol", func(dst []byte, cs *tls.ConnectionState, _ time.Time) []byte {
		return append(dst, VersionName(cs.Version)...)
	}},
	{"ssl_cipher", func(dst []byte, cs *tls.ConnectionState, _ time.Time) []byte {
		return append(dst, CipherName(cs.CipherSuite)...)
	}},
	{"ssl_curve", func(dst []byte, cs *tls.ConnectionState, _ time.Time) []byte {
		return append(dst, CurveName(cs.CurveID)...)
	}},
	{"ssl_server_name", func(dst []byte, cs *tls.ConnectionState, _ time.Time) []byte {
		return append(dst, cs.ServerName...)
	}},
	{"ssl_alpn_protocol", func(dst []byte, cs *tls.ConnectionState, _ time.Time) []byte {
		return append(dst, cs.NegotiatedProtocol...)
	}},
	{"ssl_session_reused", func(dst []byte, cs *tls.ConnectionState, _ time.Time) []byte {
		if cs.DidResume {
			return append(dst, 'r')
		}
		return append(dst, '.')
	}},
	{"ssl_session_id", func(dst []byte, _ *tls.ConnectionState, _ time.Time) []byte {
		return dst // Go does not expose session IDs
	}},
	{"ssl_client_s_dn", peer(func(dst []byte, c *x509.Certificate, _ time.Time) []byte {
		return append(dst, c.Subject.String()...)
	})},
	{"ssl_client_i_dn", peer(func(dst []byte, c *x509.Certificate, _ time.Time) []byte {
		return append(dst, c.Issuer.String()...)
	})},
	{"ssl_client_serial", peer(func(dst []byte, c *x509.Certificate, _ time.Time) []byte {
		b := c.SerialNumber.Bytes()
		if len(b) == 0 {
			b = []byte{0}
		}
		return append(dst, strings.ToUpper(hex.EncodeToString(b))...)
	})},
	{"ssl_client_fingerprint", peer(func(dst []byte, c *x509.Certificate, _ time.Time) []byte {
		sum := sha1.Sum(c.Raw)
		return hex.AppendEncode(dst, sum[:])
	})},
	{"ssl_client_raw_cert", peer(func(dst []byte, c *x509.Certificate, _ time.Time) []byte {
		return append(dst, certPEM(c)...)
	})},
	{"ssl_client_cert", peer(func(dst []byte, c *x509.Certificate, _ time.Time) []byte {
		// the PEM with every line but the first indented by a tab
		p := strings.TrimRight(certPEM(c), "\n")
		return append(dst, strings.ReplaceAll(p, "\n", "\n\t")...)
	})},
	{"ssl_client_escaped_cert", peer(func(dst []byte, c *x509.Certificate, _ time.Time) []byte {
		return AppendEscaped(dst, certPEM(c))
	})},
	{"ssl_client_v_start", peer(func(dst []byte, c *x509.Certificate, _ time.Time) []byte {
		return c.NotBefore.UTC().AppendFormat(dst, "Jan _2 15:04:05 2006 GMT")
	})},
	{"ssl_client_v_end", peer(func(dst []byte, c *x509.Certificate, _ time.Time) []byte {
		return c.NotAfter.UTC().AppendFormat(dst, "Jan _2 15:04:05 2006 GMT")
	})},
	{"ssl_client_v_remain", peer(func(dst []byte, c *x509.Certificate, now time.Time) []byte {
		d := c.NotAfter.Sub(now)
		if d < 0 {
			d = 0
		}
		return strconv.AppendInt(dst, int64(d/(24*time.Hour)), 10)
	})},
}

func peer(get func(dst []byte, c *x509.Certificate, now time.Time) []byte) func([]byte, *tls.ConnectionState, time.Time) []byte {
	return func(dst []byte, cs *tls.ConnectionState, now time.Time) []byte {
		if len(cs.PeerCertificates) == 0 {
			return dst
		}
		return get(dst, cs.PeerCertificates[0], now)
	}
}

func certPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// AppendEscaped appends s with every byte but letters, digits and "-._~"
// written as %XX, as nginx escapes $ssl_client_escaped_cert.
func AppendEscaped(dst []byte, s string) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-', b == '.', b == '_', b == '~':
			dst = append(dst, b)
		default:
			dst = append(dst, '%', hexDigits[b>>4], hexDigits[b&15])
		}
	}
	return dst
}

// CurveName returns OpenSSL's name of a key exchange group ($ssl_curve):
// "X25519", "prime256v1" ..., Go's name for the others, or "" when none.
func CurveName(id tls.CurveID) string {
	switch id {
	case 0:
		return ""
	case tls.X25519:
		return "X25519"
	case tls.CurveP256:
		return "prime256v1"
	case tls.CurveP384:
		return "secp384r1"
	case tls.CurveP521:
		return "secp521r1"
	}
	return id.String()
}
