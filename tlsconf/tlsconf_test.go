package tlsconf

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

func writeFile(t testing.TB, name string, data []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func certPEMOf(c *testutil.Cert) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

func keyPEMOf(t testing.TB, c *testutil.Cert) *pem.Block {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := c.Key.(*rsa.PrivateKey); ok {
		return &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	}
	return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
}

func TestParseCiphers(t *testing.T) {
	name := func(ids []uint16) string {
		var n []string
		for _, id := range ids {
			n = append(n, CipherName(id))
		}
		return strings.Join(n, ":")
	}
	tests := []struct{ list, want, err string }{
		{"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", ""},
		{"ECDHE+AESGCM:!ECDSA", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256", ""},
		{"kEECDH+AES128:-SHA1:-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256", ""},
		{"AES256-SHA:!AES256-SHA:AES256-SHA:AES128-SHA", "AES128-SHA", ""},
		{"CHACHA20 AES128-SHA,+CHACHA20", "AES128-SHA:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305", ""},
		{"FOOBAR", "", `SSL_CTX_set_cipher_list("FOOBAR") failed (SSL: no cipher match)`},
		{"aNULL:eNULL", "", "no cipher match"},
		{"!:-:+:@STRENGTH", "", "no cipher match"},
	}
	for _, tc := range tests {
		ids, err := ParseCiphers(tc.list)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.list, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.list, err)
		case name(ids) != tc.want:
			t.Errorf("%s: %s, want %s", tc.list, name(ids), tc.want)
		}
	}
	// nginx's default selects only strong suites, no 3DES.
	ids, err := ParseCiphers("HIGH:!aNULL:!MD5")
	if err != nil || strings.Contains(name(ids), "DES") || len(ids) != 17 {
		t.Errorf("default list: %s, %v", name(ids), err)
	}
}

func TestVersionRange(t *testing.T) {
	tests := []struct {
		in     []string
		lo, hi uint16
		err    bool
	}{
		{[]string{"TLSv1", "TLSv1.1", "TLSv1.2"}, tls.VersionTLS10, tls.VersionTLS12, false},
		{[]string{"TLSv1.3", "TLSv1.2"}, tls.VersionTLS12, tls.VersionTLS13, false},
		{[]string{"SSLv3", "TLSv1.2"}, tls.VersionTLS12, tls.VersionTLS12, false},
		{[]string{"TLSv1", "TLSv1.2"}, tls.VersionTLS10, tls.VersionTLS12, false},
		{[]string{"SSLv2", "SSLv3"}, 0, 0, true},
	}
	for _, tc := range tests {
		lo, hi, err := VersionRange(tc.in)
		if lo != tc.lo || hi != tc.hi || (err != nil) != tc.err {
			t.Errorf("%v: %s..%s, %v", tc.in, VersionName(lo), VersionName(hi), err)
		}
	}
	if VersionName(tls.VersionTLS13) != "TLSv1.3" || VersionName(1) != "unknown" {
		t.Error("VersionName")
	}
}

func TestLoadKeyPair(t *testing.T) {
	c := testutil.NewCert(t, testutil.CertOptions{CN: "k.example"})
	certFile := writeFile(t, "c.pem", certPEMOf(c))
	plain := keyPEMOf(t, c)
	keyFile := writeFile(t, "k.pem", pem.EncodeToMemory(plain))
	//lint:ignore SA1019 the legacy format is the one under test
	enc, err := x509.EncryptPEMBlock(rand.Reader, plain.Type, plain.Bytes, []byte("s3cret"), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	encFile := writeFile(t, "enc.pem", pem.EncodeToMemory(enc))
	pkcs8Enc := writeFile(t, "p8.pem", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}))
	other := testutil.NewCert(t, testutil.CertOptions{CN: "o.example"})
	otherKey := writeFile(t, "o.pem", pem.EncodeToMemory(keyPEMOf(t, other)))
	// One wrong password in about 256 passes legacy PEM's padding check
	// and yields garbage: 4096 wrong ones before the right one make sure
	// such a password is met and passed over.
	manyWrong := make([]string, 4097)
	for i := range manyWrong {
		manyWrong[i] = fmt.Sprintf("wrong%d", i)
	}
	manyWrong[len(manyWrong)-1] = "s3cret"
	tests := []struct {
		name      string
		cert, key string
		passwords []string
		err       string
	}{
		{"plain", certFile, keyFile, nil, ""},
		{"data:", "data:" + string(certPEMOf(c)), "data:" + string(pem.EncodeToMemory(plain)), nil, ""},
		{"encrypted, right password second", certFile, encFile, []string{"wrong", "s3cret"}, ""},
		{"encrypted, right password after many wrong ones", certFile, encFile, manyWrong, ""},
		{"encrypted, many wrong passwords", certFile, encFile, manyWrong[:len(manyWrong)-1], "bad decrypt"},
		{"encrypted, no password", certFile, encFile, nil, "no ssl_password_file"},
		{"encrypted, wrong password", certFile, encFile, []string{"nope"}, "bad decrypt"},
		{"pkcs8 encrypted", certFile, pkcs8Enc, []string{"x"}, "PKCS#8 encrypted keys are not supported"},
		{"missing cert", certFile + ".none", keyFile, nil, `cannot load certificate "` + certFile + `.none": no such file or directory`},
		{"missing key", certFile, keyFile + ".none", nil, "cannot load certificate key"},
		{"mismatched key", certFile, otherKey, nil, "private key does not match public key"},
	}
	for _, tc := range tests {
		kp, err := LoadKeyPair(tc.cert, tc.key, tc.passwords)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err == "" && !kp.Leaf.Equal(c.Cert):
			t.Errorf("%s: wrong certificate", tc.name)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
		}
	}
	pw := writeFile(t, "pw", []byte("one\r\n\ntwo\n"))
	if got, err := ReadPasswordFile(pw); err != nil || strings.Join(got, ",") != "one,two" {
		t.Errorf("ReadPasswordFile: %q %v", got, err)
	}
	if _, err := ReadPasswordFile(pw + ".none"); err == nil || !strings.Contains(err.Error(), "(2: No such file or directory)") {
		t.Errorf("missing password file: %v", err)
	}
	if _, err := ReadPasswordFile(writeFile(t, "empty", nil)); err == nil || !strings.Contains(err.Error(), "empty file") {
		t.Errorf("empty password file: %v", err)
	}
	if _, err := LoadCertPool(keyFile); err == nil || !strings.Contains(err.Error(), "no certificate found") {
		t.Errorf("LoadCertPool on a key: %v", err)
	}
	if p, err := LoadCertPool(certFile); err != nil || p == nil {
		t.Errorf("LoadCertPool: %v", err)
	}
}

func TestVerify(t *testing.T) {
	ca := testutil.NewCert(t, testutil.CertOptions{CN: "CA", CA: true})
	inter := testutil.NewCert(t, testutil.CertOptions{CN: "Inter", CA: true, Issuer: ca})
	leaf := testutil.NewCert(t, testutil.CertOptions{CN: "leaf", DNS: []string{"leaf.example"}, Issuer: ca})
	deep := testutil.NewCert(t, testutil.CertOptions{CN: "deep", DNS: []string{"deep.example"}, Issuer: inter})
	self := testutil.NewCert(t, testutil.CertOptions{CN: "self", DNS: []string{"self.example"}})
	expired := testutil.NewCert(t, testutil.CertOptions{CN: "old", DNS: []string{"old.example"}, Issuer: ca, Expired: true})
	client := testutil.NewCert(t, testutil.CertOptions{CN: "client", Client: true, Issuer: ca})
	otherCA := testutil.NewCert(t, testutil.CertOptions{CN: "Other CA", CA: true})
	stranger := testutil.NewCert(t, testutil.CertOptions{CN: "stranger", Issuer: otherCA})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	chain := func(cs ...*testutil.Cert) []*x509.Certificate {
		var out []*x509.Certificate
		for _, c := range cs {
			out = append(out, c.Cert)
		}
		return out
	}
	tests := []struct {
		name  string
		certs []*x509.Certificate
		depth int
		usage x509.ExtKeyUsage
		host  string
		code  int
	}{
		{"good", chain(leaf), 1, x509.ExtKeyUsageServerAuth, "leaf.example", 0},
		{"name mismatch", chain(leaf), 1, x509.ExtKeyUsageServerAuth, "other.example", ErrHostnameMismatch},
		{"self-signed", chain(self), 1, x509.ExtKeyUsageServerAuth, "self.example", ErrDepthZeroSelfSign},
		{"self-signed, wrong name: the chain error first", chain(self), 1, x509.ExtKeyUsageServerAuth, "x.example", ErrDepthZeroSelfSign},
		{"unknown issuer", chain(stranger), 1, x509.ExtKeyUsageServerAuth, "", ErrUnableLocalIssuer},
		{"self-signed root sent", chain(stranger, otherCA), 1, x509.ExtKeyUsageServerAuth, "", ErrSelfSignedInChain},
		{"intermediate within depth 2", chain(deep, inter), 2, x509.ExtKeyUsageServerAuth, "deep.example", 0},
		{"intermediate beyond depth 1", chain(deep, inter), 1, x509.ExtKeyUsageServerAuth, "deep.example", ErrChainTooLong},
		{"expired", chain(expired), 1, x509.ExtKeyUsageServerAuth, "", ErrCertHasExpired},
		{"server cert as client", chain(leaf), 1, x509.ExtKeyUsageClientAuth, "", ErrInvalidPurpose},
		{"client cert", chain(client), 1, x509.ExtKeyUsageClientAuth, "", 0},
		{"none", nil, 1, x509.ExtKeyUsageClientAuth, "", ErrUnableVerifyLeaf},
	}
	for _, tc := range tests {
		code, text := Verify(tc.certs, roots, tc.depth, tc.usage, tc.host, time.Time{})
		if code != tc.code || text != VerifyErrorText(tc.code) {
			t.Errorf("%s: (%d:%s), want %d", tc.name, code, text, tc.code)
		}
	}
	if code, _ := Verify(chain(leaf), roots, 1, x509.ExtKeyUsageServerAuth, "", time.Now().Add(-72*time.Hour)); code != ErrCertNotYetValid {
		t.Errorf("not yet valid: %d", code)
	}

	auth := func(mode string) *ClientAuth { return &ClientAuth{Mode: mode, Roots: roots, Depth: 1} }
	checks := []struct {
		name   string
		a      *ClientAuth
		certs  []*x509.Certificate
		verify string
		ok     bool
		code   int
	}{
		{"off", &ClientAuth{}, chain(client), "NONE", true, 0},
		{"on, good", auth("on"), chain(client), "SUCCESS", true, 0},
		{"on, none", auth("on"), nil, "NONE", false, 0},
		{"on, other CA", auth("on"), chain(stranger), "FAILED:unable to get local issuer certificate", false, ErrUnableLocalIssuer},
		{"optional, none", auth("optional"), nil, "NONE", true, 0},
		{"optional, other CA", auth("optional"), chain(stranger), "FAILED:unable to get local issuer certificate", false, ErrUnableLocalIssuer},
		{"optional_no_ca, other CA", auth("optional_no_ca"), chain(stranger), "FAILED:unable to get local issuer certificate", true, ErrUnableLocalIssuer},
		{"optional_no_ca, expired", auth("optional_no_ca"), chain(expired), "FAILED:certificate has expired", false, ErrCertHasExpired},
	}
	for _, tc := range checks {
		v, ok, code := tc.a.Check(tc.certs, time.Time{})
		if v != tc.verify || ok != tc.ok || code != tc.code {
			t.Errorf("%s: %q %v %d", tc.name, v, ok, code)
		}
	}

	pv := &PeerVerifier{Roots: roots, Depth: 1}
	errs := []struct {
		certs []*x509.Certificate
		name  string
		want  string
	}{
		{chain(leaf), "leaf.example", ""},
		{chain(self), "self.example", "upstream SSL certificate verify error: (18:self-signed certificate)"},
		{chain(leaf), "x.example", `upstream SSL certificate does not match "x.example"`},
		{nil, "", "upstream sent no certificate"},
	}
	for _, tc := range errs {
		err := pv.VerifyConnection(tc.name)(tls.ConnectionState{PeerCertificates: tc.certs})
		if got := errString(err); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPickCertificate(t *testing.T) {
	rsaC := testutil.NewCert(t, testutil.CertOptions{CN: "rsa"})
	ecC := testutil.NewCert(t, testutil.CertOptions{CN: "ec", ECDSA: true})
	certs := []tls.Certificate{rsaC.TLS, ecC.TLS}
	certs[0].Leaf, certs[1].Leaf = nil, nil
	SortCertificates(certs)
	if certs[0].Leaf == nil || certs[0].Leaf.Subject.CommonName != "ec" {
		t.Fatalf("sorted: %v", certs[0].Leaf)
	}
	cands := []*tls.Certificate{&certs[0], &certs[1]}
	modern := &tls.ClientHelloInfo{SupportedVersions: []uint16{tls.VersionTLS13}, CipherSuites: []uint16{tls.TLS_AES_128_GCM_SHA256},
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256}, SupportedCurves: []tls.CurveID{tls.CurveP256}}
	rsaOnly := &tls.ClientHelloInfo{SupportedVersions: []uint16{tls.VersionTLS13}, CipherSuites: []uint16{tls.TLS_AES_128_GCM_SHA256},
		SignatureSchemes: []tls.SignatureScheme{tls.PSSWithSHA256}, SupportedCurves: []tls.CurveID{tls.CurveP256}}
	if got := PickCertificate(modern, cands); got.Leaf.Subject.CommonName != "ec" {
		t.Errorf("modern client got %s", got.Leaf.Subject.CommonName)
	}
	if got := PickCertificate(rsaOnly, cands); got.Leaf.Subject.CommonName != "rsa" {
		t.Errorf("RSA-only client got %s", got.Leaf.Subject.CommonName)
	}
	if PickCertificate(modern, nil) != nil {
		t.Error("no candidates")
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// handshake runs a TLS handshake between cfg and a client over a pipe and
// returns the client's view.
func handshake(t *testing.T, server, client *tls.Config) tls.ConnectionState {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		s := tls.Server(a, server)
		err := s.Handshake()
		if err == nil {
			// TLS 1.3 tickets go out after the handshake: let the client read them
			_, err = s.Write([]byte("x"))
		}
		done <- err
	}()
	c := tls.Client(b, client)
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handshake timed out")
	}
	return c.ConnectionState()
}

func TestSessions(t *testing.T) {
	c := testutil.NewCert(t, testutil.CertOptions{CN: "s.example", DNS: []string{"s.example"}, ECDSA: true})
	roots := x509.NewCertPool()
	roots.AddCert(c.Cert)
	cache := NewSessionCache(2)
	tests := []struct {
		name    string
		s       Sessions
		version uint16
		advance time.Duration
		resumed bool
	}{
		{"tickets", Sessions{Tickets: true, Timeout: time.Minute}, tls.VersionTLS13, 0, true},
		{"tickets TLSv1.2", Sessions{Tickets: true, Timeout: time.Minute}, tls.VersionTLS12, 0, true},
		{"tickets expired", Sessions{Tickets: true, Timeout: time.Minute}, tls.VersionTLS13, time.Minute, false},
		{"cache", Sessions{Cache: cache, Timeout: time.Minute}, tls.VersionTLS13, 59 * time.Second, true},
		{"cache TLSv1.2", Sessions{Cache: cache, Timeout: time.Minute}, tls.VersionTLS12, 0, true},
		{"cache expired", Sessions{Cache: cache, Timeout: time.Minute}, tls.VersionTLS13, time.Minute, false},
		{"none", Sessions{Timeout: time.Minute}, tls.VersionTLS13, 0, false},
		{"zero timeout", Sessions{Tickets: true}, tls.VersionTLS13, 0, false},
	}
	for _, tc := range tests {
		clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
		tc.s.Now = clock.now
		server := &tls.Config{Certificates: []tls.Certificate{c.TLS}, MaxVersion: tc.version}
		tc.s.Apply(server)
		client := &tls.Config{ServerName: "s.example", RootCAs: roots, ClientSessionCache: tls.NewLRUClientSessionCache(4), MaxVersion: tc.version}
		if st := handshake(t, server, client); st.DidResume {
			t.Fatalf("%s: first handshake resumed", tc.name)
		}
		clock.t = clock.t.Add(tc.advance)
		if st := handshake(t, server, client); st.DidResume != tc.resumed {
			t.Errorf("%s: resumed %v", tc.name, st.DidResume)
		}
	}
	if n := cache.Len(); n > 2 {
		t.Errorf("cache holds %d sessions, max 2", n)
	}
}

func TestVars(t *testing.T) {
	ca := testutil.NewCert(t, testutil.CertOptions{CN: "CA", CA: true})
	client := testutil.NewCert(t, testutil.CertOptions{CN: "client", Client: true, Issuer: ca})
	cs := &tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		ServerName: "a.example", DidResume: true, CurveID: tls.X25519, NegotiatedProtocol: "http/1.1",
		PeerCertificates: []*x509.Certificate{client.Cert}}
	now := client.Cert.NotAfter.Add(-50 * time.Hour)
	got := map[string]string{}
	for _, v := range Vars {
		got[v.Name] = string(v.Append(nil, cs, now))
	}
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: client.Cert.Raw}))
	want := map[string]string{
		"ssl_protocol":        "TLSv1.2",
		"ssl_cipher":          "ECDHE-RSA-AES128-GCM-SHA256",
		"ssl_curve":           "X25519",
		"ssl_server_name":     "a.example",
		"ssl_alpn_protocol":   "http/1.1",
		"ssl_session_reused":  "r",
		"ssl_client_s_dn":     "CN=client,O=Sluice Test",
		"ssl_client_i_dn":     "CN=CA,O=Sluice Test",
		"ssl_client_serial":   fmt.Sprintf("%04X", client.Cert.SerialNumber),
		"ssl_client_raw_cert": pemText,
		"ssl_client_cert":     strings.ReplaceAll(strings.TrimSuffix(pemText, "\n"), "\n", "\n\t"),
		"ssl_client_v_remain": "2",
	}
	for k, w := range want {
		if len(got[k]) == 0 && len(w) != 0 || got[k] != w {
			t.Errorf("$%s = %q, want %q", k, got[k], w)
		}
	}
	if e := got["ssl_client_escaped_cert"]; !strings.HasPrefix(e, "-----BEGIN%20CERTIFICATE-----%0A") || strings.ContainsAny(e, "\n+/= ") {
		t.Errorf("$ssl_client_escaped_cert = %q", e)
	}
	if len(got["ssl_client_fingerprint"]) != 40 {
		t.Errorf("$ssl_client_fingerprint = %q", got["ssl_client_fingerprint"])
	}
	none := &tls.ConnectionState{Version: tls.VersionTLS13}
	for _, v := range Vars {
		if strings.HasPrefix(v.Name, "ssl_client_") && len(v.Append(nil, none, now)) != 0 {
			t.Errorf("$%s without a client certificate: %q", v.Name, v.Append(nil, none, now))
		}
	}
	if CurveName(tls.CurveP256) != "prime256v1" || CurveName(0) != "" {
		t.Error("CurveName")
	}
}

func FuzzParseCiphers(f *testing.F) {
	for _, s := range []string{"HIGH:!aNULL:!MD5", "ECDHE+AESGCM:-AES256", "+CHACHA20,AES128-SHA", "!", "@SECLEVEL=1:DEFAULT", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		ids, err := ParseCiphers(list)
		if err != nil {
			if ids != nil {
				t.Fatal("ids with an error")
			}
			return
		}
		seen := map[uint16]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("%q: suite %x twice", list, id)
			}
			seen[id] = true
		}
	})
}

// FuzzDecryptKey feeds key files to the decryption of ssl_password_file:
// it must never panic, and must give back an unencrypted file unchanged.
func FuzzDecryptKey(f *testing.F) {
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"), "pw")
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "")
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), "x")
	f.Fuzz(func(t *testing.T, data []byte, pw string) {
		out, err := decryptKey(data, []string{pw})
		if err == nil && !strings.Contains(string(data), "ENCRYPTED") && string(out) != string(data) {
			t.Fatalf("unencrypted input changed")
		}
	})
}
