package passwd

import "testing"

// The vectors were made with openssl passwd -1, -apr1, -5 and -6,
// htpasswd -B, -s and -m, and Python's crypt (libxcrypt) for the
// rounds= cases of the SHA-crypt specification.
var vectors = []struct{ password, stored string }{
	{"", "$1$saltsalt$5Jhcit4zN9UlGiA0txPkO0"},
	{"", "$apr1$xy$43..WIhbfuznGvwoCyUek/"},
	{"pw", "$1$saltsalt$6SNdNaZLKst2LlSm7oPPL1"},
	{"pw", "$apr1$xy$Y1bXHnOuwq3xcdFEYfCVp."},
	{"pw", "$5$0123456789abcdef$nQeWGJveUL7jlr94v7ZnhFSJ8cRx.CTNSEnVWA95G.C"},
	{"pw", "$6$sa$hrv.xaT7t5POOaiHFlFVA3RqUI2QJqpL0yaPJc/5A9BRWCj83/lihMNTmvPD8xS0AqqoFFFw4bg7cfYON1S05/"},
	{long, "$1$saltsalt$m80bpD7JpsHZgqgMLErt1/"},
	{long, "$apr1$xy$suJ/DKN5wkOxSKVNswGp60"},
	{long, "$5$0123456789abcdef$zYprxw5G3VKvOZcRTkXFmDR9k3uLqK41k2fOBmH6tI5"},
	{long, "$6$sa$i4fTvBhs69AHB6hxdbgV1rHkLx6mgAF775yMWfpYdcVFuSH1F3f1s8KjEsDss8fIMFsD22iLsl2ag6mALgkLf0"},
	{"pw", "$2y$05$qymO5IBAr9hPUuiIxOucMuW.1aCnEaZMuOmxJcYchf487LJ0Wo012"},
	{"pw", "{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM="},
	{"pw", "$apr1$f/p6n.C1$689XCvO4Gg.NlcxLkcwET0"},
	{"pw", "{PLAIN}pw"},
	{"pw", "{SSHA}s4ztAom9XxWkhO8QlKXAdS0XHxtzYWx0NDU2Nw=="}, // Python hashlib
	{"Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
	{"Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"},
	{"Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{"a very much longer text to encrypt.  This one even stretches over morethan one line.", "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1"},
}

const long = "a much longer password that goes past sixteen bytes and more, more, more, more, more"

func TestVerify(t *testing.T) {
	for _, v := range vectors {
		if !Verify([]byte(v.password), []byte(v.stored)) {
			t.Errorf("Verify(%q, %q) = false", v.password, v.stored)
		}
		if Verify([]byte(v.password+"x"), []byte(v.stored)) {
			t.Errorf("Verify(%q, %q) = true", v.password+"x", v.stored)
		}
		if !Known(v.stored) {
			t.Errorf("Known(%q) = false", v.stored)
		}
	}
}

func TestSSHA(t *testing.T) {
	// {SSHA} as slappasswd makes it: SHA-1 of password and salt, then the salt
	stored := string(SSHA([]byte("pw"), "{SSHA}"+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAc2FsdA=="))
	if stored != string(SSHA([]byte("pw"), stored)) {
		t.Fatalf("SSHA does not reproduce %q", stored)
	}
	if !Verify([]byte("pw"), []byte(stored)) || Verify([]byte("pv"), []byte(stored)) {
		t.Fatalf("Verify of %q", stored)
	}
}

func TestUnknown(t *testing.T) {
	for _, s := range []string{"abzlUXK5ed5rs", "$y$j9T$abc$def", "$6$rounds=10$roundstoolow$x", "pw", ""} {
		if Verify([]byte("pw"), []byte(s)) {
			t.Errorf("Verify(pw, %q) = true", s)
		}
	}
	if Known("abzlUXK5ed5rs") {
		t.Error("Known(DES) = true")
	}
}
