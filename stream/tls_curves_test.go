package stream

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// TestTLSECDHCurve: ssl_ecdh_curve limits the key exchange of TLS
// termination to its curves (X448, which Go lacks, is left out), and
// ssl_dhparam is read and otherwise ignored. A client that offers only one
// curve gets through or not as configured.
func TestTLSECDHCurve(t *testing.T) {
	cert := testutil.NewCert(t, testutil.CertOptions{IPs: loopback, CN: "curves.example", DNS: []string{"curves.example"}})
	dh, err := filepath.Abs("../tlsconf/testdata/dh/ffdhe2048.pem")
	if err != nil {
		t.Fatal(err)
	}
	be := echoBackend(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_dhparam %s;
    ssl_ecdh_curve X448:secp521r1;
    server { listen 127.0.0.1:9443 ssl; proxy_pass %s; }
    server { listen 127.0.0.1:9444 ssl; ssl_ecdh_curve auto; proxy_pass %s; }
}`, cert.CertFile, cert.KeyFile, dh, be.addr(), be.addr()), nil)
	tests := []struct {
		listen string
		curve  tls.CurveID
		ok     bool
	}{
		{"127.0.0.1:9443", tls.CurveP521, true},
		{"127.0.0.1:9443", tls.X25519, false},
		{"127.0.0.1:9443", tls.CurveP256, false},
		{"127.0.0.1:9444", tls.X25519, true},
		{"127.0.0.1:9444", tls.CurveP256, true},
	}
	for _, tc := range tests {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			cfg := &tls.Config{ServerName: "curves.example", RootCAs: testutil.CertPool(cert), CurvePreferences: []tls.CurveID{tc.curve},
				MinVersion: v, MaxVersion: v}
			_, got, err := tlsExchange(h, tc.listen, cfg)
			if ok := err == nil && got == "echo hi\n"; ok != tc.ok {
				t.Errorf("%s offering %v over %s: ok %v (%q, %v), want %v", tc.listen, tc.curve, tls.VersionName(v), ok, got, err, tc.ok)
			}
		}
	}
}
