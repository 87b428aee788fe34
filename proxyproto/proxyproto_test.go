package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// v2 builds a version 2 header from its parts.
func v2(verCmd, fam byte, body ...[]byte) []byte {
	var rest []byte
	for _, p := range body {
		rest = append(rest, p...)
	}
	b := append([]byte{}, v2Signature...)
	b = append(b, verCmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rest)))
	return append(b, rest...)
}

func tlv(t byte, v string) []byte {
	return append([]byte{t, byte(len(v) >> 8), byte(len(v))}, v...)
}

var (
	inet4 = []byte{192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb}
	inet6 = func() []byte {
		s, d := netip.MustParseAddr("2001:db8::1").As16(), netip.MustParseAddr("::1").As16()
		b := append(s[:], d[:]...)
		return append(b, 0, 80, 0xff, 0xff)
	}()
)

func unixBlock(src, dst string) []byte {
	var s, d [108]byte
	copy(s[:], src)
	copy(d[:], dst)
	return append(s[:], d[:]...)
}

// withCRC fixes the CRC32C TLV, which must be the last 7 bytes of b.
func withCRC(b []byte) []byte {
	b = append([]byte{}, b...)
	off := len(b) - 4
	copy(b[off:], []byte{0, 0, 0, 0})
	binary.BigEndian.PutUint32(b[off:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestParseValid(t *testing.T) {
	sslValue := string([]byte{ClientSSL | ClientCertConn, 0, 0, 0, 0}) +
		string(tlv(SubtypeSSLVersion, "TLSv1.3")) + string(tlv(SubtypeSSLCN, "client.example")) +
		string(tlv(SubtypeSSLCipher, "TLS_AES_128_GCM_SHA256"))
	tests := []struct {
		name string
		in   []byte
		want Header
	}{
		{"v1 tcp4", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
			Header{Version: 1, Command: Proxy, Transport: TCP4, Source: ap("192.168.0.1:56324"), Destination: ap("192.168.0.11:443")}},
		{"v1 tcp4 max values", []byte("PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n"),
			Header{Version: 1, Command: Proxy, Transport: TCP4, Source: ap("255.255.255.255:65535"), Destination: ap("0.0.0.0:0")}},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::1 ::1 1234 80\r\n"),
			Header{Version: 1, Command: Proxy, Transport: TCP6, Source: ap("[2001:db8::1]:1234"), Destination: ap("[::1]:80")}},
		{"v1 tcp6 upper case and full form", []byte("PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:00FF FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF 65535 65535\r\n"),
			Header{Version: 1, Command: Proxy, Transport: TCP6, Source: ap("[2001:db8::ff]:65535"), Destination: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")}},
		{"v1 tcp6 v4-mapped", []byte("PROXY TCP6 ::ffff:127.0.0.1 ::ffff:127.0.0.1 40000 9000\r\n"),
			Header{Version: 1, Command: Proxy, Transport: TCP6, Source: ap("[::ffff:127.0.0.1]:40000"), Destination: ap("[::ffff:127.0.0.1]:9000")}},
		{"v1 unknown short", []byte("PROXY UNKNOWN\r\n"),
			Header{Version: 1, Command: Proxy, Transport: Unknown}},
		{"v1 unknown with ignored fields", []byte("PROXY UNKNOWN anything goes here 1 2\r\n"),
			Header{Version: 1, Command: Proxy, Transport: Unknown}},
		{"v1 unknown 107 bytes", []byte("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			Header{Version: 1, Command: Proxy, Transport: Unknown}},
		{"v2 tcp4", v2(0x21, 0x11, inet4),
			Header{Version: 2, Command: Proxy, Transport: TCP4, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:443")}},
		{"v2 udp4", v2(0x21, 0x12, inet4),
			Header{Version: 2, Command: Proxy, Transport: UDP4, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:443")}},
		{"v2 tcp6", v2(0x21, 0x21, inet6),
			Header{Version: 2, Command: Proxy, Transport: TCP6, Source: ap("[2001:db8::1]:80"), Destination: ap("[::1]:65535")}},
		{"v2 udp6", v2(0x21, 0x22, inet6),
			Header{Version: 2, Command: Proxy, Transport: UDP6, Source: ap("[2001:db8::1]:80"), Destination: ap("[::1]:65535")}},
		{"v2 unix stream", v2(0x21, 0x31, unixBlock("/run/client.sock", "/run/sluice.sock")),
			Header{Version: 2, Command: Proxy, Transport: UnixStream, SourcePath: "/run/client.sock", DestinationPath: "/run/sluice.sock"}},
		{"v2 unix dgram abstract", v2(0x21, 0x32, unixBlock("\x00abstract", "")),
			Header{Version: 2, Command: Proxy, Transport: UnixDgram, SourcePath: "\x00abstract"}},
		{"v2 local empty", v2(0x20, 0x00),
			Header{Version: 2, Command: Local, Transport: Unknown}},
		{"v2 local with ignored addresses", v2(0x20, 0x11, inet4),
			Header{Version: 2, Command: Local, Transport: Unknown}},
		{"v2 local with short address block", v2(0x20, 0x21, inet4),
			Header{Version: 2, Command: Local, Transport: Unknown}},
		{"v2 proxy unspec", v2(0x21, 0x00),
			Header{Version: 2, Command: Proxy, Transport: Unknown}},
		{"v2 proxy inet with unspec protocol", v2(0x21, 0x10, inet4),
			Header{Version: 2, Command: Proxy, Transport: Unknown}},
		{"v2 tlvs", v2(0x21, 0x11, inet4, tlv(TypeALPN, "h2"), tlv(TypeAuthority, "api.example"),
			tlv(TypeUniqueID, strings.Repeat("u", 128)), tlv(TypeNOOP, ""), tlv(TypeNetNS, "blue"), tlv(0xe0, "custom")),
			Header{Version: 2, Command: Proxy, Transport: TCP4, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:443"),
				TLVs: []TLV{{TypeALPN, []byte("h2")}, {TypeAuthority, []byte("api.example")}, {TypeUniqueID, []byte(strings.Repeat("u", 128))},
					{TypeNOOP, []byte{}}, {TypeNetNS, []byte("blue")}, {0xe0, []byte("custom")}}}},
		{"v2 ssl tlv", v2(0x21, 0x11, inet4, tlv(TypeSSL, sslValue)),
			Header{Version: 2, Command: Proxy, Transport: TCP4, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:443"),
				TLVs: []TLV{{TypeSSL, []byte(sslValue)}}}},
		{"v2 crc32c", withCRC(v2(0x21, 0x11, inet4, tlv(TypeAuthority, "a"), tlv(TypeCRC32C, "\x00\x00\x00\x00"))),
			Header{Version: 2, Command: Proxy, Transport: TCP4, Source: ap("192.0.2.1:56324"), Destination: ap("198.51.100.2:443"),
				TLVs: []TLV{{TypeAuthority, []byte("a")}, {TypeCRC32C, withCRC(v2(0x21, 0x11, inet4, tlv(TypeAuthority, "a"), tlv(TypeCRC32C, "\x00\x00\x00\x00")))[35:]}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := []byte("GET / HTTP/1.1\r\n\r\n")
			in := append(append([]byte{}, tt.in...), payload...)
			h, n, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if n != len(tt.in) {
				t.Errorf("Parse consumed %d bytes, want %d", n, len(tt.in))
			}
			if !reflect.DeepEqual(h, tt.want) {
				t.Errorf("Parse =\n%#v\nwant\n%#v", h, tt.want)
			}
			// Every proper prefix is incomplete, never an error.
			for i := 0; i < len(tt.in); i++ {
				if _, _, err := Parse(tt.in[:i]); !errors.Is(err, ErrIncomplete) {
					t.Fatalf("Parse of %d-byte prefix: %v, want ErrIncomplete", i, err)
				}
			}
			// Read through a reader that returns one byte per call, and
			// check that the payload stays in the reader.
			br := bufio.NewReader(iotest.OneByteReader(bytes.NewReader(in)))
			h, err = Read(br)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !reflect.DeepEqual(h, tt.want) {
				t.Errorf("Read =\n%#v\nwant\n%#v", h, tt.want)
			}
			rest, _ := io.ReadAll(br)
			if !bytes.Equal(rest, payload) {
				t.Errorf("payload after Read = %q, want %q", rest, payload)
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	sslValue := []byte{ClientSSL | ClientCertConn, 0, 0, 0, 7}
	sslValue = append(sslValue, tlv(SubtypeSSLVersion, "TLSv1.3")...)
	sslValue = append(sslValue, tlv(SubtypeSSLCN, "client.example")...)
	sslValue = append(sslValue, tlv(SubtypeSSLCipher, "TLS_AES_128_GCM_SHA256")...)
	sslValue = append(sslValue, tlv(SubtypeSSLSigAlg, "RSA-SHA256")...)
	sslValue = append(sslValue, tlv(SubtypeSSLKeyAlg, "RSA2048")...)
	in := v2(0x21, 0x11, inet4, tlv(TypeALPN, "h2"), tlv(TypeAuthority, "api.example"),
		tlv(TypeUniqueID, "id-1"), tlv(TypeNetNS, "blue"), tlv(TypeSSL, string(sslValue)))
	h, _, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{h.ALPN(), h.Authority(), string(h.UniqueID()), h.NetNS()}
	want := []string{"h2", "api.example", "id-1", "blue"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TLV helpers = %q, want %q", got, want)
	}
	ssl, ok := h.SSL()
	if !ok {
		t.Fatal("SSL() found nothing")
	}
	got = []string{ssl.Version(), ssl.CN(), ssl.Cipher(), ssl.SigAlg(), ssl.KeyAlg()}
	want = []string{"TLSv1.3", "client.example", "TLS_AES_128_GCM_SHA256", "RSA-SHA256", "RSA2048"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SSL helpers = %q, want %q", got, want)
	}
	if ssl.Client != ClientSSL|ClientCertConn || ssl.Verify != 7 {
		t.Errorf("SSL client=%#x verify=%d", ssl.Client, ssl.Verify)
	}
	if enc := ssl.TLV(); !bytes.Equal(enc.Value, sslValue) {
		t.Errorf("SSLInfo.TLV() = %x, want %x", enc.Value, sslValue)
	}
	if a := h.SourceAddr(); a.String() != "192.0.2.1:56324" || a.Network() != "tcp" {
		t.Errorf("SourceAddr = %v %v", a.Network(), a)
	}
	if a := h.DestinationAddr(); a.String() != "198.51.100.2:443" {
		t.Errorf("DestinationAddr = %v", a)
	}
	if h.IsLocal() {
		t.Error("IsLocal on a PROXY TCP4 header")
	}
	var empty Header
	if _, ok := empty.SSL(); ok || empty.ALPN() != "" || empty.SourceAddr() != nil {
		t.Error("helpers on the zero Header found something")
	}
}

func TestParseInvalid(t *testing.T) {
	long := "PROXY UNKNOWN " + strings.Repeat("x", 200) + "\r\n"
	tests := []struct {
		name, in string
		reason   string // substring of the error
	}{
		{"v1 LF only", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n", "LF not preceded by CR"},
		{"v1 CR only", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rGET", "CR not followed by LF"},
		{"v1 CR LF CR", "PROXY UNKNOWN\r\r\n", "CR not followed by LF"},
		{"v1 port leading zero", "PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n", "leading zero"},
		{"v1 port 00", "PROXY TCP4 192.168.0.1 192.168.0.11 00 443\r\n", "leading zero"},
		{"v1 port too big", "PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n", "out of range"},
		{"v1 port six digits", "PROXY TCP4 192.168.0.1 192.168.0.11 100000 443\r\n", "out of range"},
		{"v1 port sign", "PROXY TCP4 192.168.0.1 192.168.0.11 +1 443\r\n", "not a decimal"},
		{"v1 port hex", "PROXY TCP4 192.168.0.1 192.168.0.11 1 0x1\r\n", "not a decimal"},
		{"v1 ipv4 leading zero", "PROXY TCP4 192.168.0.01 192.168.0.11 1 2\r\n", "192.168.0.01"},
		{"v1 ipv4 octet 256", "PROXY TCP4 192.168.0.256 192.168.0.11 1 2\r\n", "192.168.0.256"},
		{"v1 ipv4 three octets", "PROXY TCP4 192.168.0 192.168.0.11 1 2\r\n", "192.168.0"},
		{"v1 ipv6 in tcp4", "PROXY TCP4 ::1 192.168.0.11 1 2\r\n", "not IPv4"},
		{"v1 ipv4 in tcp6", "PROXY TCP6 ::1 192.168.0.11 1 2\r\n", "not IPv6"},
		{"v1 ipv6 zone", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "character"},
		{"v1 ipv6 too many groups", "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "1:2:3:4:5:6:7:8:9"},
		{"v1 hostname", "PROXY TCP4 localhost 192.168.0.11 1 2\r\n", "character"},
		{"v1 double space", "PROXY TCP4 192.168.0.1  192.168.0.11 1 2\r\n", "empty field"},
		{"v1 trailing space", "PROXY TCP4 192.168.0.1 192.168.0.11 1 2 \r\n", "extra data"},
		{"v1 extra field", "PROXY TCP4 192.168.0.1 192.168.0.11 1 2 3\r\n", "extra data"},
		{"v1 missing port", "PROXY TCP4 192.168.0.1 192.168.0.11 1\r\n", "fields instead of 5"},
		{"v1 missing everything", "PROXY TCP4\r\n", "no addresses after TCP4"},
		{"v1 empty protocol", "PROXY \r\n", "missing protocol"},
		{"v1 unknown protocol", "PROXY TCP5 192.168.0.1 192.168.0.11 1 2\r\n", "unknown protocol"},
		{"v1 lower case protocol", "PROXY tcp4 192.168.0.1 192.168.0.11 1 2\r\n", "unknown protocol"},
		{"v1 UNKNOWN glued", "PROXY UNKNOWNX\r\n", "unknown protocol"},
		{"v1 udp", "PROXY UDP4 192.168.0.1 192.168.0.11 1 2\r\n", "unknown protocol"},
		{"v1 too long", long, "no CRLF in the first 107 bytes"},
		{"v1 108 bytes", "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655350\r\n", "no CRLF"},
		{"v1 control byte", "PROXY TCP4 192.168.0.1\t192.168.0.11 1 2\r\n", "not printable"},
		{"v1 NUL", "PROXY UNKNOWN\x00\r\n", "not printable"},
		{"v1 high byte", "PROXY UNKNOWN \xff\r\n", "not printable"},
		{"v2 version 1", string(v2(0x11, 0x11, inet4)), "version 1 instead of 2"},
		{"v2 version 3", string(v2(0x31, 0x11, inet4)), "version 3 instead of 2"},
		{"v2 command 2", string(v2(0x22, 0x11, inet4)), "unknown command"},
		{"v2 command 15", string(v2(0x2f, 0x11, inet4)), "unknown command"},
		{"v2 family 4", string(v2(0x21, 0x41, inet4)), "unknown address family"},
		{"v2 protocol 3", string(v2(0x21, 0x13, inet4)), "unknown transport protocol"},
		{"v2 inet short", string(v2(0x21, 0x11, inet4[:11])), "shorter than the 12 bytes"},
		{"v2 inet6 with inet length", string(v2(0x21, 0x21, inet4)), "shorter than the 36 bytes"},
		{"v2 unix short", string(v2(0x21, 0x31, inet6)), "shorter than the 216 bytes"},
		{"v2 tlv too long", string(v2(0x21, 0x11, inet4, []byte{TypeALPN, 0, 5, 'h', '2'})), "longer than the header"},
		{"v2 tlv truncated header", string(v2(0x21, 0x11, inet4, []byte{TypeALPN, 0})), "truncated TLV header"},
		{"v2 crc mismatch", string(v2(0x21, 0x11, inet4, tlv(TypeCRC32C, "\x01\x02\x03\x04"))), "does not match"},
		{"v2 crc short", string(v2(0x21, 0x11, inet4, tlv(TypeCRC32C, "\x01\x02\x03"))), "instead of 4"},
		{"v2 unique id too long", string(v2(0x21, 0x11, inet4, tlv(TypeUniqueID, strings.Repeat("u", 129)))), "exceeds 128"},
		{"v2 ssl too short", string(v2(0x21, 0x11, inet4, tlv(TypeSSL, "\x01\x00\x00\x00"))), "shorter than 5"},
		{"v2 ssl bad sub tlv", string(v2(0x21, 0x11, inet4, tlv(TypeSSL, "\x01\x00\x00\x00\x00\x21\x00\x09TLS"))), "SSL TLV"},
		{"v2 over default limit", string(v2(0x21, 0x11, inet4, tlv(TypeNOOP, strings.Repeat("x", 4096)))), "exceeds the limit of 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in + "payload")
			_, _, err := Parse(in)
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse error = %v, want a *FormatError", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Parse error %q does not mention %q", err, tt.reason)
			}
			_, err = Read(bufio.NewReader(iotest.OneByteReader(bytes.NewReader(in))))
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Read error = %v, want a *FormatError mentioning %q", err, tt.reason)
			}
		})
	}
}

func TestDecoderLimit(t *testing.T) {
	in := v2(0x21, 0x11, inet4, tlv(TypeNOOP, strings.Repeat("x", 5000)))
	for _, tt := range []struct {
		max int
		ok  bool
	}{{0, false}, {len(in) - 1, false}, {len(in), true}, {1 << 20, true}} {
		d := Decoder{MaxV2Length: tt.max}
		_, n, err := d.Parse(in)
		if tt.ok != (err == nil) {
			t.Errorf("MaxV2Length %d: Parse err = %v", tt.max, err)
		}
		// Read handles a header larger than the bufio buffer.
		br := bufio.NewReaderSize(bytes.NewReader(append(append([]byte{}, in...), 'x')), 16)
		_, rerr := d.Read(br)
		if tt.ok != (rerr == nil) {
			t.Errorf("MaxV2Length %d: Read err = %v", tt.max, rerr)
		}
		if tt.ok {
			if n != len(in) {
				t.Errorf("MaxV2Length %d: n = %d", tt.max, n)
			}
			if rest, _ := io.ReadAll(br); string(rest) != "x" {
				t.Errorf("MaxV2Length %d: payload %q", tt.max, rest)
			}
		}
	}
}

func TestNoHeader(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.1\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01",
		"SSH-2.0-OpenSSH_9.2\r\n",
		"PROXZ TCP4",
		"PROXY\r\n",
		"PROXYTCP4 1.2.3.4",
		"\r\n\r\nGET",
		"\r\n\r\n\x00\r\nQUIT!",
		"*1\r\n$4\r\nPING\r\n",
		"P",
	} {
		t.Run(in, func(t *testing.T) {
			_, _, err := Parse([]byte(in))
			if in == "P" {
				if !errors.Is(err, ErrIncomplete) {
					t.Fatalf("Parse(%q) = %v, want ErrIncomplete", in, err)
				}
				return
			}
			if !errors.Is(err, ErrNoHeader) {
				t.Fatalf("Parse(%q) = %v, want ErrNoHeader", in, err)
			}
			br := bufio.NewReader(iotest.OneByteReader(strings.NewReader(in)))
			if _, err := Read(br); !errors.Is(err, ErrNoHeader) {
				t.Fatalf("Read = %v, want ErrNoHeader", err)
			}
			if rest, _ := io.ReadAll(br); string(rest) != in {
				t.Errorf("Read consumed bytes: left %q of %q", rest, in)
			}
		})
	}
}

func TestReadEOF(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want error
	}{
		{"", io.EOF},
		{"P", io.ErrUnexpectedEOF},
		{"PROXY TCP4 1.2.3.4", io.ErrUnexpectedEOF},
		{"PROXY UNKNOWN\r", io.ErrUnexpectedEOF},
		{"\r\n\r\n\x00", io.ErrUnexpectedEOF},
		{string(v2(0x21, 0x11, inet4)[:20]), io.ErrUnexpectedEOF},
	} {
		_, err := Read(bufio.NewReader(strings.NewReader(tt.in)))
		if !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), "proxyproto: reading header: ") {
			t.Errorf("Read(%q) = %v, want wrapped %v", tt.in, err, tt.want)
		}
	}
}

// TestReadDoesNotWaitPastHeader checks that Read returns as soon as a header
// is complete, for protocols where the server speaks first, and decides
// ErrNoHeader from the first byte.
func TestReadDoesNotWaitPastHeader(t *testing.T) {
	for _, in := range []string{"PROXY UNKNOWN\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", string(v2(0x20, 0x00)), "G"} {
		c1, c2 := net.Pipe()
		t.Cleanup(func() { c1.Close(); c2.Close() })
		go c1.Write([]byte(in)) // the writer then stays silent without closing
		done := make(chan error, 1)
		go func() {
			_, err := Read(bufio.NewReader(c2))
			done <- err
		}()
		select {
		case err := <-done:
			if in == "G" && !errors.Is(err, ErrNoHeader) || in != "G" && err != nil {
				t.Errorf("Read(%q) = %v", in, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Read(%q) still waiting for bytes after the header", in)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []Header{
		{Version: 1, Command: Proxy, Transport: TCP4, Source: ap("192.0.2.1:1"), Destination: ap("198.51.100.2:65535")},
		{Version: 1, Command: Proxy, Transport: TCP6, Source: ap("[2001:db8::1]:0"), Destination: ap("[::1]:443")},
		{Version: 1, Command: Proxy, Transport: Unknown},
		{Version: 2, Command: Proxy, Transport: TCP4, Source: ap("192.0.2.1:1"), Destination: ap("198.51.100.2:65535")},
		{Version: 2, Command: Proxy, Transport: UDP4, Source: ap("192.0.2.1:53"), Destination: ap("198.51.100.2:53")},
		{Version: 2, Command: Proxy, Transport: TCP6, Source: ap("[2001:db8::1]:0"), Destination: ap("[::ffff:10.0.0.1]:443")},
		{Version: 2, Command: Proxy, Transport: UDP6, Source: ap("[2001:db8::1]:53"), Destination: ap("[::1]:53")},
		{Version: 2, Command: Proxy, Transport: UnixStream, SourcePath: "/a", DestinationPath: strings.Repeat("p", 108)},
		{Version: 2, Command: Proxy, Transport: UnixDgram, SourcePath: "\x00abs", DestinationPath: "/b"},
		{Version: 2, Command: Proxy, Transport: Unknown},
		{Version: 2, Command: Local, Transport: Unknown},
		{Version: 2, Command: Local, Transport: Unknown, TLVs: []TLV{{TypeUniqueID, []byte("x")}}},
		{Version: 2, Command: Proxy, Transport: TCP4, Source: ap("192.0.2.1:1"), Destination: ap("198.51.100.2:2"),
			TLVs: []TLV{{TypeALPN, []byte("h2")}, {TypeAuthority, []byte("example.com")}, {TypeNOOP, []byte{}},
				(SSLInfo{Client: ClientSSL, SubTLVs: []TLV{{SubtypeSSLVersion, []byte("TLSv1.2")}}}).TLV(),
				{TypeCRC32C, []byte{0, 0, 0, 0}}, {0xee, make([]byte, 3000)}}},
	}
	for _, want := range tests {
		b, err := want.Bytes()
		if err != nil {
			t.Fatalf("%+v: Bytes: %v", want, err)
		}
		got, n, err := Parse(b)
		if err != nil || n != len(b) {
			t.Fatalf("%+v: Parse(%q) = %v, n=%d of %d", want, b, err, n, len(b))
		}
		// The encoder fills the checksum; compare it separately.
		if v, ok := got.TLV(TypeCRC32C); ok {
			for i := range want.TLVs {
				if want.TLVs[i].Type == TypeCRC32C {
					want.TLVs[i].Value = v
				}
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %#v\nwant %#v", got, want)
		}
		var buf bytes.Buffer
		if n, err := want.WriteTo(&buf); err != nil || int(n) != len(b) || !bytes.Equal(buf.Bytes(), b) {
			t.Errorf("WriteTo = %d, %v, %q; want %q", n, err, buf.Bytes(), b)
		}
	}
}

func TestAppendV1Format(t *testing.T) {
	tests := []struct {
		h    Header
		want string
	}{
		{Header{Version: 1, Command: Proxy, Transport: TCP4, Source: ap("192.0.2.1:56324"), Destination: ap("10.0.0.1:443")},
			"PROXY TCP4 192.0.2.1 10.0.0.1 56324 443\r\n"},
		{Header{Version: 1, Command: Proxy, Transport: TCP4, Source: ap("[::ffff:192.0.2.1]:1"), Destination: ap("10.0.0.1:2")},
			"PROXY TCP4 192.0.2.1 10.0.0.1 1 2\r\n"},
		{Header{Version: 1, Command: Proxy, Transport: UDP4, Source: ap("192.0.2.1:53"), Destination: ap("10.0.0.1:53")},
			"PROXY TCP4 192.0.2.1 10.0.0.1 53 53\r\n"},
		{Header{Version: 1, Command: Proxy, Transport: TCP6, Source: ap("[2001:db8::1]:1"), Destination: ap("[fe80::1%eth0]:2")},
			"PROXY TCP6 2001:db8::1 fe80::1 1 2\r\n"},
		{Header{Version: 1, Command: Proxy, Transport: TCP6, Source: ap("192.0.2.1:1"), Destination: ap("[::1]:2")},
			"PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n"},
		{Header{Version: 1, Command: Proxy, Transport: UnixStream, SourcePath: "/a", DestinationPath: "/b"}, "PROXY UNKNOWN\r\n"},
		{Header{Version: 1, Command: Local, Transport: TCP4, Source: ap("192.0.2.1:1"), Destination: ap("10.0.0.1:2")}, "PROXY UNKNOWN\r\n"},
	}
	for _, tt := range tests {
		b, err := tt.h.Bytes()
		if err != nil || string(b) != tt.want {
			t.Errorf("%+v: Bytes = %q, %v; want %q", tt.h, b, err, tt.want)
		}
	}
}

// TestAppendIPv6 checks the text form of IPv6 addresses against nginx's
// ngx_inet6_ntop rules.
func TestAppendIPv6(t *testing.T) {
	tests := []struct{ in, want string }{
		{"::", "::"},
		{"::1", "::1"},
		{"::2", "::2"},
		{"::102", "::0.0.1.2"},
		{"1::", "1::"},
		{"2001:db8::1", "2001:db8::1"},
		{"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
		{"1:0:0:1:0:0:0:0", "1:0:0:1::"},
		{"1:0:1:1:1:1:1:1", "1:0:1:1:1:1:1:1"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"::ffff:127.0.0.1", "::ffff:127.0.0.1"},
		{"::1.2.3.4", "::1.2.3.4"},
		{"::1:ffff:102:304", "::1:ffff:102:304"},
		{"fe80::abcd:ef01", "fe80::abcd:ef01"},
	}
	for _, tt := range tests {
		if got := string(appendIPv6(nil, netip.MustParseAddr(tt.in).As16())); got != tt.want {
			t.Errorf("appendIPv6(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAppendErrors(t *testing.T) {
	tests := []Header{
		{},
		{Version: 3, Command: Proxy},
		{Version: 1, Command: Proxy, Transport: TCP4, Source: ap("[2001:db8::1]:1"), Destination: ap("10.0.0.1:2")},
		{Version: 1, Command: Proxy, Transport: TCP4},
		{Version: 2, Command: Proxy, Transport: TCP6, Source: ap("[::1]:1")},
		{Version: 2, Command: 5},
		{Version: 2, Command: Proxy, Transport: 0x41},
		{Version: 2, Command: Proxy, Transport: UnixStream, SourcePath: strings.Repeat("p", 109)},
		{Version: 2, Command: Proxy, TLVs: []TLV{{0xe0, make([]byte, 70000)}}},
		{Version: 2, Command: Proxy, TLVs: []TLV{{0xe0, make([]byte, 40000)}, {0xe1, make([]byte, 40000)}}},
	}
	for _, h := range tests {
		b, err := h.Append([]byte("keep"))
		if err == nil || !strings.HasPrefix(err.Error(), "proxyproto: encoding header: ") {
			t.Errorf("%+v: Append err = %v", h, err)
		}
		if string(b) != "keep" {
			t.Errorf("%+v: Append changed the buffer to %q", h, b)
		}
	}
}

func TestFromAddrs(t *testing.T) {
	tcp := func(s string) *net.TCPAddr { return net.TCPAddrFromAddrPort(ap(s)) }
	udp := func(s string) *net.UDPAddr { return net.UDPAddrFromAddrPort(ap(s)) }
	tests := []struct {
		name     string
		src, dst net.Addr
		want     Header
	}{
		{"tcp4", tcp("192.0.2.1:1"), tcp("10.0.0.1:2"),
			Header{Version: 2, Command: Proxy, Transport: TCP4, Source: ap("192.0.2.1:1"), Destination: ap("10.0.0.1:2")}},
		{"tcp6", tcp("[2001:db8::1]:1"), tcp("[::1]:2"),
			Header{Version: 2, Command: Proxy, Transport: TCP6, Source: ap("[2001:db8::1]:1"), Destination: ap("[::1]:2")}},
		{"mixed", tcp("192.0.2.1:1"), tcp("[::1]:2"),
			Header{Version: 2, Command: Proxy, Transport: TCP6, Source: ap("[::ffff:192.0.2.1]:1"), Destination: ap("[::1]:2")}},
		{"mapped pair", tcp("[::ffff:192.0.2.1]:1"), tcp("[::ffff:10.0.0.1]:2"),
			Header{Version: 2, Command: Proxy, Transport: TCP6, Source: ap("[::ffff:192.0.2.1]:1"), Destination: ap("[::ffff:10.0.0.1]:2")}},
		{"zone", tcp("[fe80::1%lo]:1"), tcp("[fe80::2%lo]:2"),
			Header{Version: 2, Command: Proxy, Transport: TCP6, Source: ap("[fe80::1]:1"), Destination: ap("[fe80::2]:2")}},
		{"udp4", udp("192.0.2.1:1"), udp("10.0.0.1:2"),
			Header{Version: 2, Command: Proxy, Transport: UDP4, Source: ap("192.0.2.1:1"), Destination: ap("10.0.0.1:2")}},
		{"udp6", udp("[::1]:1"), udp("[::1]:2"),
			Header{Version: 2, Command: Proxy, Transport: UDP6, Source: ap("[::1]:1"), Destination: ap("[::1]:2")}},
		{"unix", &net.UnixAddr{Name: "@", Net: "unix"}, &net.UnixAddr{Name: "/s", Net: "unix"},
			Header{Version: 2, Command: Proxy, Transport: UnixStream, SourcePath: "@", DestinationPath: "/s"}},
		{"unixgram", &net.UnixAddr{Name: "/c", Net: "unixgram"}, &net.UnixAddr{Name: "/s", Net: "unixgram"},
			Header{Version: 2, Command: Proxy, Transport: UnixDgram, SourcePath: "/c", DestinationPath: "/s"}},
		{"mismatched kinds", tcp("192.0.2.1:1"), udp("10.0.0.1:2"), Header{Version: 2, Command: Proxy}},
		{"nil", nil, nil, Header{Version: 2, Command: Proxy}},
		{"nil pointer", (*net.TCPAddr)(nil), tcp("10.0.0.1:2"), Header{Version: 2, Command: Proxy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromAddrs(2, tt.src, tt.dst)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FromAddrs = %+v, want %+v", got, tt.want)
			}
			if _, err := got.Bytes(); err != nil {
				t.Errorf("Bytes: %v", err)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	got := []string{Local.String(), Proxy.String(), Command(7).String(), Unknown.String(), TCP4.String(), UDP4.String(),
		TCP6.String(), UDP6.String(), UnixStream.String(), UnixDgram.String(), Transport(0x45).String()}
	want := []string{"LOCAL", "PROXY", "Command(7)", "UNKNOWN", "TCP4", "UDP4", "TCP6", "UDP6", "UNIX", "UNIXGRAM", "Transport(0x45)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !TCP6.IsIP() || TCP6.IsUnix() || !UnixDgram.IsUnix() || !UDP4.IsDatagram() || !TCP4.IsStream() || Unknown.IsIP() {
		t.Error("Transport predicates disagree with the transport values")
	}
}

func BenchmarkParseV1(b *testing.B) {
	in := []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseV2(b *testing.B) {
	in := v2(0x21, 0x21, inet6, tlv(TypeAuthority, "api.example"))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendV1(b *testing.B) {
	h := Header{Version: 1, Command: Proxy, Transport: TCP6, Source: ap("[2001:db8::1]:1"), Destination: ap("[::1]:443")}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Append(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
