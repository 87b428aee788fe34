package stream

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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// testCert is a certificate made for a test, with its key, as Go values
// and as PEM files in a temporary directory.
type testCert struct {
	cert     *x509.Certificate
	key      crypto.Signer
	tls      tls.Certificate
	certFile string
	keyFile  string
}

var serialSeq atomic.Int64

// certOpts describes a certificate to make.
type certOpts struct {
	cn      string
	dns     []string
	ecdsa   bool
	ca      bool
	client  bool // extended key usage clientAuth instead of serverAuth
	issuer  *testCert
	expired bool
}

func makeCert(t *testing.T, o certOpts) *testCert {
	t.Helper()
	var key crypto.Signer
	var err error
	if o.ecdsa {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1000 + serialSeq.Add(1)),
		Subject:      pkix.Name{CommonName: o.cn, Organization: []string{"Sluice Test"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     o.dns,
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if o.expired {
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	}
	switch {
	case o.ca:
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	case o.client:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	parent, signer := tmpl, key
	if o.issuer != nil {
		parent, signer = o.issuer.cert, o.issuer.key
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
	dir := t.TempDir()
	tc := &testCert{cert: c, key: key, certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(tc.certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tc.keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tc.tls = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}
	return tc
}

// pool returns a certificate pool holding the given certificates.
func pool(certs ...*testCert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c.cert)
	}
	return p
}

// startTLSBackend is a TLS server that answers each connection with its
// name once the handshake is done, then echoes one line.
func startTLSBackend(t *testing.T, name string, cfg *tls.Config) *backend {
	t.Helper()
	return startBackend(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		tc.Write([]byte("backend " + name + "\n"))
		buf := make([]byte, 512)
		n, _ := tc.Read(buf)
		tc.Write(buf[:n])
		tc.Close()
	})
}
