package tlsconf

import (
	"crypto/tls"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// CheckDHParams reads an ssl_dhparam file and checks it as nginx does when
// it sets up a server's TLS: the file must open, hold a PEM block of DH
// parameters ("DH PARAMETERS" or "X9.42 DH PARAMETERS"; other blocks are
// skipped), and the parameters must be strong enough for the OpenSSL
// security level, which the "@SECLEVEL=n" of ciphers (ssl_ciphers) sets,
// 2 by default as in Debian's OpenSSL. Errors read as nginx's. An empty
// path (no ssl_dhparam) is accepted.
//
// The parameters are not used: Go's TLS stack has no DHE cipher suites.
func CheckDHParams(path, ciphers string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			return fmt.Errorf("BIO_new_file(%q) failed (%v)", path, unwrapPathErr(err))
		}
		if errno == syscall.EISDIR {
			data = nil // fopen() opens a directory; reading it finds no PEM
		} else {
			bio := "10080002:BIO routines::system lib"
			if errno == syscall.ENOENT || errno == syscall.ENXIO {
				bio = "10000080:BIO routines::no such file"
			}
			t := errno.Error()
			return fmt.Errorf("BIO_new_file(%q) failed (SSL: error:%08X:system library::%s:calling fopen(%s, r) error:%s)",
				path, 0x80000000|uint32(errno), strings.ToUpper(t[:1])+t[1:], path, bio)
		}
	}
	readFailed := func(reason string) error {
		return fmt.Errorf("PEM_read_bio_DHparams(%q) failed (SSL: %s)", path, reason)
	}
	var block *pem.Block
	for rest := data; ; {
		block, rest = pem.Decode(rest)
		if block == nil || block.Type == "DH PARAMETERS" || block.Type == "X9.42 DH PARAMETERS" {
			break
		}
	}
	if block == nil {
		if strings.Contains(string(data), "-----BEGIN DH PARAMETERS-----") || strings.Contains(string(data), "-----BEGIN X9.42 DH PARAMETERS-----") {
			return readFailed("error:04800064:PEM routines::bad base64 decode")
		}
		return readFailed("error:0480006C:PEM routines::no start line:Expecting: DH PARAMETERS")
	}
	l, n, ok := dhSizes(block)
	if !ok {
		return readFailed("error:068000A8:asn1 encoding routines::wrong tag error:0688010A:asn1 encoding routines::nested asn1 error:Type=DHparams error:0488000D:PEM routines::ASN1 lib")
	}
	if dhSecurityBits(l, n) < minSecurityBits(secLevel(ciphers)) {
		return fmt.Errorf("SSL_CTX_set_tmp_dh(%q) failed (SSL: error:0A00018A:SSL routines::dh key too small)", path)
	}
	return nil
}

// dhSizes parses DH parameters (PKCS #3, or X9.42 with a subgroup order
// q) and returns the bit lengths of the prime and of q (or of the private
// value length PKCS #3 may give; -1 when neither is known).
func dhSizes(b *pem.Block) (l, n int, ok bool) {
	if b.Type == "X9.42 DH PARAMETERS" {
		var p struct {
			P, G, Q    *big.Int
			J          *big.Int      `asn1:"optional"`
			Validation asn1.RawValue `asn1:"optional"`
		}
		if _, err := asn1.Unmarshal(b.Bytes, &p); err != nil || p.P == nil || p.Q == nil {
			return 0, 0, false
		}
		return p.P.BitLen(), p.Q.BitLen(), true
	}
	var p struct {
		P, G   *big.Int
		Length int `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(b.Bytes, &p); err != nil || p.P == nil {
		return 0, 0, false
	}
	if p.Length > 0 {
		return p.P.BitLen(), p.Length, true
	}
	return p.P.BitLen(), -1, true
}

// dhSecurityBits is OpenSSL's BN_security_bits: the strength of a DH group
// with an l-bit prime and an n-bit subgroup (n -1: unknown).
func dhSecurityBits(l, n int) int {
	var bits int
	switch {
	case l >= 15360:
		bits = 256
	case l >= 7680:
		bits = 192
	case l >= 3072:
		bits = 128
	case l >= 2048:
		bits = 112
	case l >= 1024:
		bits = 80
	default:
		return 0
	}
	if n == -1 {
		return bits
	}
	if n/2 < 80 {
		return 0
	}
	return min(bits, n/2)
}

// secLevel is the OpenSSL security level a cipher list sets with
// "@SECLEVEL=n", else 2, Debian's default.
func secLevel(ciphers string) int {
	level := 2
	for _, tok := range strings.FieldsFunc(ciphers, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		if v, ok := strings.CutPrefix(tok, "@SECLEVEL="); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				level = min(n, 5)
			}
		}
	}
	return level
}

// minSecurityBits is the strength a level asks of DH parameters; even
// level 0 refuses groups weaker than 80 bits (1024-bit primes).
func minSecurityBits(level int) int {
	return [...]int{80, 80, 112, 128, 192, 256}[level]
}

// curveIDs are the names of ssl_ecdh_curve that Go's TLS stack implements.
var curveIDs = map[string]tls.CurveID{
	"X25519": tls.X25519, "x25519": tls.X25519,
	"P-256": tls.CurveP256, "secp256r1": tls.CurveP256, "prime256v1": tls.CurveP256,
	"P-384": tls.CurveP384, "secp384r1": tls.CurveP384,
	"P-521": tls.CurveP521, "secp521r1": tls.CurveP521,
}

// Curves turns an ssl_ecdh_curve list ("X25519:prime256v1") into Go's
// curve preferences, in its order. Curves Go does not implement (X448,
// brainpool ...) are left out; the configuration warned about them. "auto"
// or an empty list gives nil: Go's defaults.
func Curves(list string) []tls.CurveID {
	if list == "" || list == "auto" {
		return nil
	}
	var ids []tls.CurveID
	for _, n := range strings.Split(list, ":") {
		if id, ok := curveIDs[strings.TrimSpace(n)]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}
