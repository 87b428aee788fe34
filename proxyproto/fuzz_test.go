package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// FuzzParse checks that Parse never panics, that Read agrees with it and
// consumes exactly the header, and that every accepted header encodes back
// to bytes that parse to the same header.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n",
		"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 65535\r\n",
		"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ::1 65535 65535\r\n",
		"PROXY UNKNOWN\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"GET / HTTP/1.1\r\n",
		string(v2(0x21, 0x11, inet4, tlv(TypeALPN, "h2"), tlv(TypeAuthority, "example.com"))),
		string(v2(0x21, 0x22, inet6, tlv(TypeSSL, "\x01\x00\x00\x00\x00\x21\x00\x07TLSv1.3"))),
		string(v2(0x21, 0x31, unixBlock("/a", "\x00b"))),
		string(v2(0x20, 0x00)),
		string(v2(0x20, 0x11, inet4[:3])),
		string(withCRC(v2(0x21, 0x11, inet4, tlv(TypeCRC32C, "\x00\x00\x00\x00")))),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, n, err := Parse(in)
		br := bufio.NewReader(iotest.OneByteReader(bytes.NewReader(in)))
		rh, rerr := Read(br)
		switch {
		case err == nil:
			if n <= 0 || n > len(in) {
				t.Fatalf("Parse consumed %d of %d bytes", n, len(in))
			}
			if rerr != nil || !reflect.DeepEqual(rh, h) {
				t.Fatalf("Read = %+v, %v; Parse = %+v", rh, rerr, h)
			}
			if rest := next(br, len(in)-n); !bytes.Equal(rest, in[n:n+len(rest)]) {
				t.Fatalf("Read left %q, want %q", rest, in[n:])
			}
			if _, _, err := Parse(in[:n-1]); !errors.Is(err, ErrIncomplete) {
				t.Fatalf("Parse of the header minus one byte: %v", err)
			}
			enc, err := h.Bytes()
			if err != nil {
				t.Fatalf("Bytes of a parsed header %+v: %v", h, err)
			}
			h2, n2, err := Parse(enc)
			if err != nil || n2 != len(enc) {
				t.Fatalf("Parse(Bytes()) = %v, n=%d of %d; bytes %q", err, n2, len(enc), enc)
			}
			clearCRC(&h)
			clearCRC(&h2)
			if !reflect.DeepEqual(h, h2) {
				t.Fatalf("re-encoded header differs:\n%+v\n%+v", h, h2)
			}
		case errors.Is(err, ErrIncomplete):
			if !errors.Is(rerr, io.ErrUnexpectedEOF) && !(len(in) == 0 && errors.Is(rerr, io.EOF)) {
				t.Fatalf("Parse incomplete but Read = %v", rerr)
			}
		case errors.Is(err, ErrNoHeader):
			if !errors.Is(rerr, ErrNoHeader) {
				t.Fatalf("Parse found no header but Read = %v", rerr)
			}
			if rest := next(br, len(in)); !bytes.Equal(rest, in[:len(rest)]) {
				t.Fatal("Read consumed bytes without a header")
			}
		case errors.Is(err, ErrInvalid):
			if !errors.Is(rerr, ErrInvalid) {
				t.Fatalf("Parse = %v but Read = %v", err, rerr)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func clearCRC(h *Header) {
	for i := range h.TLVs {
		if h.TLVs[i].Type == TypeCRC32C {
			h.TLVs[i].Value = nil
		}
	}
}

// next returns the next bytes of br, at most 64 and at most n.
func next(br *bufio.Reader, n int) []byte {
	b := make([]byte, min(n, 64))
	k, _ := io.ReadFull(br, b)
	return b[:k]
}
