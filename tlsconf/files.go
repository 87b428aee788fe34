package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
)

// LoadCertPool reads the PEM certificates of a file (ssl_client_certificate,
// ssl_trusted_certificate, proxy_ssl_trusted_certificate). A file that
// cannot be read or holds no certificate is an error in nginx's words.
func LoadCertPool(path string) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if err := AppendCertFile(p, path); err != nil {
		return nil, err
	}
	return p, nil
}

// AppendCertFile adds the PEM certificates of a file to p.
func AppendCertFile(p *x509.CertPool, path string) error {
	data, err := readPEM(path)
	if err != nil {
		return fmt.Errorf("SSL_CTX_load_verify_locations(%q) failed (%v)", path, unwrapPathErr(err))
	}
	if !p.AppendCertsFromPEM(data) {
		return fmt.Errorf("SSL_CTX_load_verify_locations(%q) failed (no certificate found)", path)
	}
	return nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ReadPasswordFile reads ssl_password_file: one passphrase per line,
// tried in turn on encrypted keys. Errors read as nginx's.
func ReadPasswordFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		e := unwrapPathErr(err)
		var errno syscall.Errno
		if errors.As(e, &errno) {
			t := errno.Error()
			return nil, fmt.Errorf("open() %q failed (%d: %s)", path, int(errno), strings.ToUpper(t[:1])+t[1:])
		}
		return nil, fmt.Errorf("open() %q failed (%v)", path, e)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimRight(l, "\r")
		if l != "" {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty file %q", path)
	}
	return out, nil
}

// LoadKeyPair reads a certificate chain and its key (ssl_certificate and
// ssl_certificate_key); a path "data:PEM" holds the PEM itself, as in
// nginx. A key encrypted in the legacy PEM way
// ("Proc-Type: 4,ENCRYPTED", as "openssl rsa -aes256" writes) is
// decrypted with the first of passwords that fits; a PKCS#8 encrypted key
// ("ENCRYPTED PRIVATE KEY") is refused, since Go cannot decrypt it. The
// certificate's Leaf is set.
func LoadKeyPair(certFile, keyFile string, passwords []string) (tls.Certificate, error) {
	certPEM, err := readPEM(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load certificate %q: %v", certFile, unwrapPathErr(err))
	}
	keyPEM, err := readPEM(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load certificate key %q: %v", keyFile, unwrapPathErr(err))
	}
	if keyPEM, err = decryptKey(keyPEM, passwords); err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load certificate key %q: %v", keyFile, err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load certificate %q: %v", certFile, err)
	}
	return c, nil
}

// readPEM reads a certificate or key file, or gives the text after
// "data:" (nginx's inline form, "ssl_certificate data:$var").
func readPEM(path string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(path, "data:"); ok {
		return []byte(rest), nil
	}
	return os.ReadFile(path)
}

// decryptKey returns keyPEM with its first private key decrypted when it
// is encrypted.
func decryptKey(keyPEM []byte, passwords []string) ([]byte, error) {
	rest := keyPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return keyPEM, nil
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("PEM_read_bio_PrivateKey() failed (PKCS#8 encrypted keys are not supported by sluice: convert the key with \"openssl pkey -traditional\" or store it unencrypted)")
		}
		//lint:ignore SA1019 legacy PEM encryption is what ssl_password_file is for
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") || !x509.IsEncryptedPEMBlock(b) { //nolint:staticcheck
			continue
		}
		if len(passwords) == 0 {
			return nil, errors.New("PEM_read_bio_PrivateKey() failed (the key is encrypted and no ssl_password_file is set)")
		}
		for _, pw := range passwords {
			der, err := x509.DecryptPEMBlock(b, []byte(pw)) //nolint:staticcheck
			// A wrong password passes the padding check now and then
			// (legacy PEM has no integrity check), so only bytes that
			// parse as a key count as decrypted.
			if err != nil || !isKeyDER(der) {
				continue
			}
			var out bytes.Buffer
			pem.Encode(&out, &pem.Block{Type: b.Type, Bytes: der})
			return out.Bytes(), nil
		}
		return nil, errors.New("PEM_read_bio_PrivateKey() failed (bad decrypt)")
	}
}

// isKeyDER reports whether der parses as a private key in one of the
// forms a PEM "... PRIVATE KEY" block holds.
func isKeyDER(der []byte) bool {
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParseECPrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParsePKCS8PrivateKey(der)
	return err == nil
}

// SortCertificates orders a server's certificates so that ECDSA (and
// Ed25519) ones come before RSA ones: Go serves the first certificate a
// client supports, so clients that can use ECDSA get it, as OpenSSL's
// default signature preferences give, and the others get RSA. Leaf is set
// on each certificate.
func SortCertificates(certs []tls.Certificate) {
	sort.SliceStable(certs, func(i, j int) bool {
		return certKind(&certs[i]) < certKind(&certs[j])
	})
}

func certKind(c *tls.Certificate) int {
	if c.Leaf == nil && len(c.Certificate) > 0 {
		c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	if c.Leaf != nil && c.Leaf.PublicKeyAlgorithm == x509.RSA {
		return 1
	}
	return 0
}

// PickCertificate returns the first of candidates the client supports,
// else the first one (the handshake then fails as OpenSSL's would), or
// nil when there are none.
func PickCertificate(hello *tls.ClientHelloInfo, candidates []*tls.Certificate) *tls.Certificate {
	for _, c := range candidates {
		if hello.SupportsCertificate(c) == nil {
			return c
		}
	}
	if len(candidates) > 0 {
		return candidates[0]
	}
	return nil
}
