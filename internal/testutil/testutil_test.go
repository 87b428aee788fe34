package testutil

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func TestFreePorts(t *testing.T) {
	ports := FreePorts(t, 4)
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: want 4 distinct ports", ports)
		}
		seen[p] = true
	}
	ln, err := net.Listen("tcp", FreeAddr(t))
	if err != nil {
		t.Fatalf("FreeAddr is not free: %v", err)
	}
	ln.Close()
}

func TestServe(t *testing.T) {
	ln := Listen(t)
	Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(WaitLimit))
		io.Copy(c, c)
	})
	c, err := net.DialTimeout("tcp", ln.Addr().String(), WaitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(WaitLimit))
	io.WriteString(c, "ping\n")
	if got, err := bufio.NewReader(c).ReadString('\n'); got != "ping\n" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

func TestNewCert(t *testing.T) {
	ca := NewCert(t, CertOptions{CN: "Test CA", CA: true})
	inter := NewCert(t, CertOptions{CN: "Inter", CA: true, Issuer: ca})
	leaf := NewCert(t, CertOptions{CN: "leaf", DNS: []string{"leaf.example"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, ECDSA: true, Issuer: inter})
	client := NewCert(t, CertOptions{CN: "client", Client: true, Issuer: ca, Dir: t.TempDir()})
	if !ca.SelfSigned() || inter.SelfSigned() {
		t.Error("SelfSigned")
	}
	if n := len(leaf.TLS.Certificate); n != 2 {
		t.Errorf("leaf chain has %d certificates, want the leaf and its intermediate", n)
	}
	if n := len(inter.TLS.Certificate); n != 1 {
		t.Errorf("intermediate chain has %d certificates, want 1", n)
	}
	pool := x509.NewCertPool()
	pool.AddCert(inter.Cert)
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{DNSName: "leaf.example", Roots: CertPool(ca), Intermediates: pool}); err != nil {
		t.Errorf("leaf: %v", err)
	}
	if _, err := client.Cert.Verify(x509.VerifyOptions{Roots: CertPool(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client: %v", err)
	}
	expired := NewCert(t, CertOptions{CN: "old", Issuer: ca, Expired: true})
	if _, err := expired.Cert.Verify(x509.VerifyOptions{Roots: CertPool(ca)}); err == nil {
		t.Error("an expired certificate verifies")
	}
	kp, err := tls.LoadX509KeyPair(leaf.CertFile, leaf.KeyFile)
	if err != nil || !kp.Leaf.Equal(leaf.Cert) {
		t.Errorf("PEM files: %v", err)
	}
}

func TestNeedSkips(t *testing.T) {
	if os.Getenv("CI") == "true" {
		t.Skip("Need fails instead of skipping on CI")
	}
	ok := t.Run("missing", func(t *testing.T) {
		Need(t, "no-such-program-for-testutil")
		t.Error("Need returned for a missing program")
	})
	if !ok {
		t.Error("Need failed instead of skipping")
	}
}

func TestFakeClock(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	c := NewFakeClock(start)
	c.Advance(time.Second)
	if got := c.Now(); !got.Equal(start.Add(time.Second)) {
		t.Errorf("Now = %v", got)
	}
}
