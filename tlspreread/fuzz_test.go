package tlspreread

import (
	"crypto/tls"
	"testing"
)

// FuzzParse checks that Parse never panics, that feeding the same bytes one
// at a time or in two pieces gives the same outcome as feeding them at once,
// and that a Parser that gave up holds no values.
func FuzzParse(f *testing.F) {
	f.Add(goClientHello(f, &tls.Config{ServerName: "api.example.com", NextProtos: []string{"h2", "http/1.1"}}), 7)
	f.Add(goClientHello(f, &tls.Config{ServerName: "old.example", MaxVersion: tls.VersionTLS12}), 100)
	f.Add(records(clientHello(0x0303, []ext{sniExt("a.example"), alpnExt("h2", "x"), supVerExt(0x0304)}), 5), 3)
	f.Add(records(clientHello(0x0300, nil), 1<<14), 1)
	f.Add([]byte("\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10"), 2)
	f.Add([]byte("GET / HTTP/1.1\r\n"), 0)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		if len(in) > 1<<15 {
			return
		}
		var whole Parser
		want := result{whole.Parse(in), whole.ServerName(), whole.ALPNProtocols(), whole.Protocol()}
		if want.status == NotTLS && (want.serverName != "" || want.alpn != "" || want.version != "") {
			t.Fatalf("NotTLS with values %+v", want)
		}
		if want.status == NeedMore && len(in) >= DefaultBufferSize {
			t.Fatalf("NeedMore with %d bytes", len(in))
		}
		// Byte by byte for short inputs; in 7-byte steps for longer ones,
		// which keeps each run cheap (the two-piece check below still cuts
		// anywhere).
		step := 1
		if len(in) > 512 {
			step = 7
		}
		var bytewise Parser
		for i := 0; i <= len(in); i += step {
			if st := bytewise.Parse(in[:i]); st != NeedMore && i < len(in) {
				break
			}
		}
		if got := (result{bytewise.Parse(in), bytewise.ServerName(), bytewise.ALPNProtocols(), bytewise.Protocol()}); got != want {
			t.Fatalf("in %d-byte steps %+v, at once %+v", step, got, want)
		}
		if cut < 0 {
			cut = -cut
		}
		var two Parser
		two.Parse(in[:min(cut, len(in))])
		if got := (result{two.Parse(in), two.ServerName(), two.ALPNProtocols(), two.Protocol()}); got != want {
			t.Fatalf("in two pieces at %d: %+v, at once %+v", cut, got, want)
		}
	})
}
