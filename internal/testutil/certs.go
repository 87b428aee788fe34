package testutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Cert is a certificate made for a test, with its key, as Go values and as
// PEM files.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// TLS holds the certificate, followed by its issuer when that is an
	// intermediate, and the key.
	TLS tls.Certificate
	// CertFile and KeyFile hold the certificate and the key (PKCS #8) in
	// PEM.
	CertFile, KeyFile string
}

// CertOptions describes a certificate to make. The zero value asks for a
// self-signed RSA server certificate with no names, valid from an hour ago
// for a day.
type CertOptions struct {
	CN  string   // subject common name
	DNS []string // DNS names
	IPs []net.IP // IP addresses
	// ECDSA makes a P-256 key instead of a 2048-bit RSA key.
	ECDSA bool
	// CA makes a certificate authority (no extended key usage); Client
	// makes a client certificate (clientAuth instead of serverAuth).
	CA, Client bool
	// Issuer signs the certificate; nil makes it self-signed.
	Issuer *Cert
	// Expired makes a certificate that expired a day ago.
	Expired bool
	// Dir is where the PEM files go; a new t.TempDir() when empty.
	Dir string
}

// certSerial numbers the certificates of a test binary.
var certSerial atomic.Int64

// NewCert makes a certificate as o describes and writes it and its key to
// PEM files.
func NewCert(t testing.TB, o CertOptions) *Cert {
	t.Helper()
	var key crypto.Signer
	var err error
	if o.ECDSA {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1000 + certSerial.Add(1)),
		Subject:      pkix.Name{CommonName: o.CN, Organization: []string{"Sluice Test"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     o.DNS,
		IPAddresses:  o.IPs,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if o.Expired {
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	}
	switch {
	case o.CA:
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	case o.Client:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	parent, signer := tmpl, key
	if o.Issuer != nil {
		parent, signer = o.Issuer.Cert, o.Issuer.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	chain := [][]byte{der}
	if o.Issuer != nil && !o.Issuer.SelfSigned() {
		chain = append(chain, o.Issuer.Cert.Raw)
	}
	tc := &Cert{Cert: c, Key: key, TLS: tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: c}}
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%d", strings.ReplaceAll(o.CN, " ", "_"), c.SerialNumber.Int64()))
	tc.CertFile, tc.KeyFile = base+".crt", base+".key"
	if err := os.WriteFile(tc.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tc.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tc
}

// SelfSigned reports whether c is its own issuer.
func (c *Cert) SelfSigned() bool { return string(c.Cert.RawIssuer) == string(c.Cert.RawSubject) }

// CertPool returns a pool holding the given certificates.
func CertPool(certs ...*Cert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c.Cert)
	}
	return p
}
