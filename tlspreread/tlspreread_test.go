package tlspreread

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// result is what a Parser reports.
type result struct {
	status                    Status
	serverName, alpn, version string
}

func parseAll(buf []byte, size int) result {
	p := Parser{BufferSize: size}
	st := p.Parse(buf)
	return result{st, p.ServerName(), p.ALPNProtocols(), p.Protocol()}
}

// goClientHello returns the bytes a crypto/tls client sends first.
func goClientHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	c1, c2 := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tls.Client(c1, cfg).Handshake() // fails when the pipe closes
	}()
	c2.SetDeadline(time.Now().Add(10 * time.Second))
	var p Parser
	buf, st, err := Preread(c2, &p, nil)
	c2.Close()
	c1.Close()
	<-done
	if err != nil || st != Done {
		t.Fatalf("capturing a crypto/tls ClientHello: %v %v", st, err)
	}
	return buf
}

// ext is one ClientHello extension.
type ext struct {
	typ  uint16
	data []byte
}

func sniExt(names ...string) ext {
	var list []byte
	for _, n := range names {
		list = append(list, 0, byte(len(n)>>8), byte(len(n)))
		list = append(list, n...)
	}
	return ext{0, append([]byte{byte(len(list) >> 8), byte(len(list))}, list...)}
}

func alpnExt(protos ...string) ext {
	var list []byte
	for _, p := range protos {
		list = append(list, byte(len(p)))
		list = append(list, p...)
	}
	return ext{16, append([]byte{byte(len(list) >> 8), byte(len(list))}, list...)}
}

func supVerExt(vers ...uint16) ext {
	b := []byte{byte(2 * len(vers))}
	for _, v := range vers {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return ext{43, b}
}

// raw encodes e with its header.
func (e ext) raw() []byte {
	b := binary.BigEndian.AppendUint16(nil, e.typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.data)))
	return append(b, e.data...)
}

// clientHello builds a ClientHello handshake message. With exts nil there
// is no extensions block at all.
func clientHello(vers uint16, exts []ext) []byte {
	body := binary.BigEndian.AppendUint16(nil, vers)
	body = append(body, make([]byte, 32)...)          // random
	body = append(body, 4, 1, 2, 3, 4)                // session_id
	body = append(body, 0, 4, 0x13, 0x01, 0xc0, 0x2f) // cipher_suites
	body = append(body, 1, 0)                         // compression_methods
	if exts != nil {
		var e []byte
		for _, x := range exts {
			e = binary.BigEndian.AppendUint16(e, x.typ)
			e = binary.BigEndian.AppendUint16(e, uint16(len(x.data)))
			e = append(e, x.data...)
		}
		body = binary.BigEndian.AppendUint16(body, uint16(len(e)))
		body = append(body, e...)
	}
	return append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

// shorten lowers the length of handshake message msg by n, leaving its
// bytes as they are.
func shorten(msg []byte, n int) []byte {
	l := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]) - n
	msg[1], msg[2], msg[3] = byte(l>>16), byte(l>>8), byte(l)
	return msg
}

// records wraps a handshake message in TLS records of at most frag bytes.
func records(msg []byte, frag int) []byte {
	var out []byte
	for len(msg) > 0 {
		n := min(frag, len(msg))
		out = append(out, 0x16, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

// refragment re-splits the handshake bytes of a record stream into records
// of at most frag bytes.
func refragment(t testing.TB, b []byte, frag int) []byte {
	t.Helper()
	var msg []byte
	for len(b) > 0 {
		if len(b) < 5 || b[0] != 0x16 {
			t.Fatalf("not a handshake record stream: %x", b)
		}
		n := int(b[3])<<8 | int(b[4])
		msg = append(msg, b[5:5+n]...)
		b = b[5+n:]
	}
	return records(msg, frag)
}

func TestGoClients(t *testing.T) {
	tests := []struct {
		name string
		cfg  *tls.Config
		want result
	}{
		{"tls13 sni alpn", &tls.Config{ServerName: "api.example.com", NextProtos: []string{"h2", "http/1.1"}},
			result{Done, "api.example.com", "h2,http/1.1", "TLSv1.3"}},
		{"tls12 only", &tls.Config{ServerName: "old.example", MaxVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
			// crypto/tls sends supported_versions even when it stops at TLS
			// 1.2, and nginx reports TLSv1.3 whenever that extension is sent.
			result{Done, "old.example", "http/1.1", "TLSv1.3"}},
		{"no sni no alpn", &tls.Config{ServerName: "127.0.0.1", InsecureSkipVerify: true},
			result{Done, "", "", "TLSv1.3"}},
		{"grpc alpn", &tls.Config{ServerName: "grpc.internal", NextProtos: []string{"h2"}},
			result{Done, "grpc.internal", "h2", "TLSv1.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hello := goClientHello(t, tt.cfg)
			if got := parseAll(hello, 0); got != tt.want {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
			for _, frag := range []int{1, 2, 7, 100, 513} {
				in := refragment(t, hello, frag)
				if got := parseAll(in, 1<<20); got != tt.want {
					t.Errorf("fragments of %d bytes: Parse = %+v, want %+v", frag, got, tt.want)
				}
			}
			checkIncremental(t, hello, tt.want)
			checkIncremental(t, refragment(t, hello, 50), tt.want)
		})
	}
}

// checkIncremental feeds in one byte at a time and checks that Parse says
// NeedMore until the last byte and then gives want.
func checkIncremental(t *testing.T, in []byte, want result) {
	t.Helper()
	p := Parser{BufferSize: len(in) + 1}
	for i := 0; i < len(in); i++ {
		if st := p.Parse(in[:i]); st != NeedMore {
			t.Fatalf("after %d of %d bytes: %v", i, len(in), st)
		}
	}
	st := p.Parse(in)
	if got := (result{st, p.ServerName(), p.ALPNProtocols(), p.Protocol()}); got != want {
		t.Errorf("byte by byte: %+v, want %+v", got, want)
	}
	if again := p.Parse(in); again != st {
		t.Errorf("Parse after %v returned %v", st, again)
	}
}

func TestSyntheticHellos(t *testing.T) {
	long := strings.Repeat("a", 253)
	tests := []struct {
		name string
		in   []byte
		want result
	}{
		{"tls12 without supported_versions", records(clientHello(0x0303, []ext{sniExt("a.example"), alpnExt("h2")}), 1<<14),
			result{Done, "a.example", "h2", "TLSv1.2"}},
		{"tls11", records(clientHello(0x0302, []ext{sniExt("b.example")}), 1<<14), result{Done, "b.example", "", "TLSv1.1"}},
		{"tls10", records(clientHello(0x0301, []ext{}), 1<<14), result{Done, "", "", "TLSv1"}},
		{"sslv3 without extensions", records(clientHello(0x0300, nil), 1<<14), result{Done, "", "", "SSLv3"}},
		{"unknown version", records(clientHello(0x0305, nil), 1<<14), result{Done, "", "", ""}},
		{"supported_versions means TLSv1.3", records(clientHello(0x0303, []ext{supVerExt(0x0303)}), 1<<14), result{Done, "", "", "TLSv1.3"}},
		{"first of several names", records(clientHello(0x0303, []ext{sniExt("one.example", "two.example")}), 1<<14),
			result{Done, "one.example", "", "TLSv1.2"}},
		{"duplicate server_name extension", records(clientHello(0x0303, []ext{sniExt("one.example"), sniExt("two.example")}), 1<<14),
			result{NotTLS, "", "", ""}},
		{"duplicate alpn extension", records(clientHello(0x0303, []ext{alpnExt("h2", "http/1.1"), alpnExt("x")}), 1<<14),
			result{NotTLS, "", "", ""}},
		{"empty supported_versions", records(clientHello(0x0303, []ext{sniExt("a.example"), {43, []byte{0}}}), 1<<14),
			result{NotTLS, "", "", ""}},
		{"extensions length short", rawHello(alpnExt("h2").raw(), 5), result{NotTLS, "", "", ""}},
		{"long name and many protocols", records(clientHello(0x0303, []ext{{0xff01, []byte{0}}, sniExt(long), alpnExt("a", "bb", "ccc", "dddd"), supVerExt(0x0304, 0x0303)}), 3),
			result{Done, long, "a,bb,ccc,dddd", "TLSv1.3"}},
		{"name as sent", records(clientHello(0x0303, []ext{sniExt("API.Example.COM.")}), 1<<14), result{Done, "API.Example.COM.", "", "TLSv1.2"}},
		{"sslv2 hello", []byte("\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10"), result{Done, "", "", "TLSv1"}},
		{"sslv2 hello version 2", []byte("\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10"), result{Done, "", "", "SSLv2"}},
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), result{NotTLS, "", "", ""}},
		{"ssh", []byte("SSH-2.0-OpenSSH_9.2\r\n"), result{NotTLS, "", "", ""}},
		{"proxy protocol", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), result{NotTLS, "", "", ""}},
		{"application data record", []byte{0x17, 3, 3, 0, 1, 0}, result{NotTLS, "", "", ""}},
		{"record major version 2", []byte{0x16, 2, 0, 0, 1, 1}, result{NotTLS, "", "", ""}},
		{"server hello", records(append([]byte{2}, clientHello(0x0303, nil)[1:]...), 1<<14), result{NotTLS, "", "", ""}},
		{"sni name type 1", records(clientHello(0x0303, []ext{{0, []byte{0, 4, 1, 0, 1, 'a'}}}), 1<<14), result{NotTLS, "", "", ""}},
		{"sni name longer than list", records(clientHello(0x0303, []ext{{0, []byte{0, 4, 0, 0, 2, 'a', 'b'}}}), 1<<14), result{NotTLS, "", "", ""}},
		{"empty alpn protocol", records(clientHello(0x0303, []ext{{16, []byte{0, 3, 2, 'h', '2', 0}}}), 1<<14),
			result{NotTLS, "", "", ""}},
		{"alpn protocol longer than list", records(clientHello(0x0303, []ext{{16, []byte{0, 2, 2, 'h', '2'}}}), 1<<14),
			result{NotTLS, "", "", ""}},
		{"session id beyond message", records([]byte{1, 0, 0, 35, 3, 3, 31: 0, 34: 0, 35: 0, 38: 200}[:39], 1<<14), result{NotTLS, "", "", ""}},
		{"extension beyond message", records(shorten(clientHello(0x0303, []ext{{0x1234, make([]byte, 10)}}), 5), 1<<14), result{NotTLS, "", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseAll(tt.in, 0); got != tt.want {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
			if tt.want.status == Done && tt.in[0] == 0x16 {
				checkIncremental(t, tt.in, tt.want)
			}
		})
	}
}

func TestIncompleteAndFull(t *testing.T) {
	hello := goClientHello(t, &tls.Config{ServerName: "api.example.com", NextProtos: []string{"h2"}})
	if got := parseAll(hello[:len(hello)-1], 0); got.status != NeedMore {
		t.Errorf("truncated hello: %v", got.status)
	}
	if got := parseAll(hello[:4], 0); got.status != NeedMore {
		t.Errorf("4 bytes: %v", got.status)
	}
	if got := parseAll(nil, 0); got.status != NeedMore {
		t.Errorf("no bytes: %v", got.status)
	}
	// A buffer that cannot hold the record gives BufferFull, as nginx's
	// "preread buffer full".
	if got := parseAll(hello[:100], 100); got.status != BufferFull {
		t.Errorf("100-byte buffer: %v", got.status)
	}
	// The same hello in small records: what is parsed before the buffer
	// fills stays visible.
	frag := refragment(t, hello, 16)
	p := Parser{BufferSize: 2 * 21}
	if st := p.Parse(frag[:42]); st != BufferFull || p.Protocol() != "TLSv1.2" {
		t.Errorf("two records in a full buffer: %v, protocol %q", st, p.Protocol())
	}
	p.Reset()
	if p.BufferSize != 42 || p.Protocol() != "" {
		t.Errorf("Reset: %+v", p)
	}
	if st := p.Parse(hello); st != BufferFull {
		t.Errorf("after Reset: %v", st)
	}
}

// scriptedReader returns its chunks one per Read, then err.
type scriptedReader struct {
	chunks [][]byte
	err    error
}

func (r *scriptedReader) Read(b []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, r.err
	}
	n := copy(b, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

func TestPreread(t *testing.T) {
	hello := goClientHello(t, &tls.Config{ServerName: "api.example.com"})
	payload := append(append([]byte{}, hello...), "rest of the handshake"...)
	timeout := errors.New("i/o timeout")
	tests := []struct {
		name   string
		chunks [][]byte
		err    error
		size   int
		want   Status
		werr   error
		read   int // bytes Preread returns
	}{
		{"whole", [][]byte{payload}, io.EOF, 0, Done, nil, len(payload)},
		{"split", [][]byte{hello[:3], hello[3:200], hello[200:]}, io.EOF, 0, Done, nil, len(hello)},
		{"stalls", [][]byte{hello[:200]}, timeout, 0, NeedMore, timeout, 200},
		{"closes early", [][]byte{hello[:200]}, io.EOF, 0, NeedMore, io.ErrUnexpectedEOF, 200},
		{"closes at once", nil, io.EOF, 0, NeedMore, io.EOF, 0},
		{"not tls", [][]byte{[]byte("GET / HTTP/1.1\r\n")}, io.EOF, 0, NotTLS, nil, 16},
		{"full", [][]byte{payload}, io.EOF, 300, BufferFull, nil, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Parser{BufferSize: tt.size}
			buf, st, err := Preread(&scriptedReader{tt.chunks, tt.err}, &p, nil)
			if st != tt.want || !errors.Is(err, tt.werr) || (tt.werr == nil) != (err == nil) {
				t.Fatalf("Preread = %v, %v; want %v, %v", st, err, tt.want, tt.werr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "tlspreread: reading ClientHello: ") {
				t.Errorf("error text %q", err)
			}
			if len(buf) != tt.read || string(buf) != string(payload[:min(len(buf), len(payload))]) && tt.name != "not tls" {
				t.Errorf("Preread returned %d bytes, want %d", len(buf), tt.read)
			}
			if st == Done && p.ServerName() != "api.example.com" {
				t.Errorf("ServerName = %q", p.ServerName())
			}
		})
	}
}

func TestStatusString(t *testing.T) {
	got := []string{NeedMore.String(), Done.String(), NotTLS.String(), BufferFull.String(), Status(9).String()}
	want := []string{"NeedMore", "Done", "NotTLS", "BufferFull", "Status(?)"}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("String() = %q, want %q", got[i], want[i])
		}
	}
}

func BenchmarkParse(b *testing.B) {
	hello := goClientHello(b, &tls.Config{ServerName: "api.example.com", NextProtos: []string{"h2", "http/1.1"}})
	var p Parser
	b.ReportAllocs()
	b.SetBytes(int64(len(hello)))
	for b.Loop() {
		p.Reset()
		if p.Parse(hello) != Done {
			b.Fatal("not done")
		}
	}
}
