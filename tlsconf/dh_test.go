package tlsconf

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCheckDHParams checks ssl_dhparam files as nginx 1.22 with Debian's
// OpenSSL 3 does (the messages were taken from nginx -t).
func TestCheckDHParams(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, err := os.ReadFile("testdata/dh/ffdhe2048.pem")
	if err != nil {
		t.Fatal(err)
	}
	td := func(name string) string {
		p, err := filepath.Abs(filepath.Join("testdata/dh", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "missing.pem")
	junk := write("junk.txt", "garbage\n")
	empty := write("empty.pem", "")
	cert := write("cert.pem", "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n")
	mixed := write("mixed.pem", "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\njunk\n"+string(good))
	badDER := write("bad-der.pem", "-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n")
	tiny := write("tiny.pem", "-----BEGIN DH PARAMETERS-----\nMAYCAQECAQI=\n-----END DH PARAMETERS-----\n")
	bad64 := write("bad64.pem", "-----BEGIN DH PARAMETERS-----\n!!!!\n-----END DH PARAMETERS-----\n")
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	noStart := func(p string) string {
		return `PEM_read_bio_DHparams("` + p + `") failed (SSL: error:0480006C:PEM routines::no start line:Expecting: DH PARAMETERS)`
	}
	tooSmall := func(p string) string {
		return `SSL_CTX_set_tmp_dh("` + p + `") failed (SSL: error:0A00018A:SSL routines::dh key too small)`
	}
	tests := []struct {
		path, ciphers, want string
	}{
		{"", "HIGH", ""},
		{td("ffdhe2048.pem"), "HIGH:!aNULL:!MD5", ""},
		{td("x942-2048.pem"), "HIGH", ""},
		{mixed, "HIGH", ""},
		{td("pkcs3-1024.pem"), "HIGH", tooSmall(td("pkcs3-1024.pem"))},
		{td("x942-1024.pem"), "HIGH", tooSmall(td("x942-1024.pem"))},
		{td("pkcs3-1024.pem"), "DEFAULT:@SECLEVEL=1", ""},
		{td("pkcs3-1024.pem"), "DEFAULT:@SECLEVEL=0", ""},
		{tiny, "DEFAULT:@SECLEVEL=0", tooSmall(tiny)},
		{td("ffdhe2048.pem"), "DEFAULT:@SECLEVEL=3", tooSmall(td("ffdhe2048.pem"))},
		{missing, "HIGH", `BIO_new_file("` + missing + `") failed (SSL: error:80000002:system library::No such file or directory:calling fopen(` + missing + `, r) error:10000080:BIO routines::no such file)`},
		{junk, "HIGH", noStart(junk)},
		{empty, "HIGH", noStart(empty)},
		{cert, "HIGH", noStart(cert)},
		{sub, "HIGH", noStart(sub)},
		{badDER, "HIGH", `PEM_read_bio_DHparams("` + badDER + `") failed (SSL: error:068000A8:asn1 encoding routines::wrong tag error:0688010A:asn1 encoding routines::nested asn1 error:Type=DHparams error:0488000D:PEM routines::ASN1 lib)`},
		{bad64, "HIGH", `PEM_read_bio_DHparams("` + bad64 + `") failed (SSL: error:04800064:PEM routines::bad base64 decode)`},
	}
	for _, tc := range tests {
		got := ""
		if err := CheckDHParams(tc.path, tc.ciphers); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s (%s):\ngot  %q\nwant %q", tc.path, tc.ciphers, got, tc.want)
		}
	}
}

// TestCurves checks how ssl_ecdh_curve lists become Go's preferences.
func TestCurves(t *testing.T) {
	tests := []struct {
		list string
		want []tls.CurveID
	}{
		{"", nil},
		{"auto", nil},
		{"X25519", []tls.CurveID{tls.X25519}},
		{"secp384r1:X25519", []tls.CurveID{tls.CurveP384, tls.X25519}},
		{"prime256v1:P-384: secp521r1", []tls.CurveID{tls.CurveP256, tls.CurveP384, tls.CurveP521}},
		{"X448:x25519:brainpoolP256r1", []tls.CurveID{tls.X25519}},
	}
	for _, tc := range tests {
		if got := Curves(tc.list); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.list, got, tc.want)
		}
	}
}
