package h1

import (
	"bytes"
	"net"
	"strings"
	"testing"
)

// decodeAll decodes in, feeding it step bytes at a time, and returns the
// data, the bytes left after the body, and the error.
func decodeAll(d *ChunkedDecoder, in []byte, step int) (data, rest []byte, err error) {
	for off := 0; off < len(in) && !d.Done(); {
		end := off + step
		if end > len(in) {
			end = len(in)
		}
		src := in[off:end]
		for len(src) > 0 && !d.Done() {
			n, b, err := d.Decode(src)
			data = append(data, b...)
			if err != nil {
				return data, nil, err
			}
			src = src[n:]
			off += n
		}
	}
	if !d.Done() {
		return data, nil, ErrNeedMore
	}
	// Bytes after the body are whatever was not consumed.
	consumed := 0
	var d2 ChunkedDecoder
	for !d2.Done() {
		n, _, _ := d2.Decode(in[consumed:])
		consumed += n
	}
	return data, in[consumed:], nil
}

func TestChunkedDecoder(t *testing.T) {
	cases := []struct {
		name, in    string
		data, rest  string
		trailer     string
		wantErr     *Error
		incomplete  bool
		maxExt, max int
	}{
		{name: "simple", in: "5\r\nhello\r\n0\r\n\r\n", data: "hello"},
		{name: "two chunks and next", in: "3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\nGET", data: "abc0123456789", rest: "GET"},
		{name: "upper hex leading zeros", in: "00B\r\nhello world\r\n000\r\n\r\n", data: "hello world"},
		{name: "bare lf", in: "5\nhello\n0\n\n", data: "hello"},
		{name: "extension", in: "5;name=value\r\nhello\r\n0;x\r\n\r\n", data: "hello"},
		{name: "space before ext", in: "5 ;a\r\nhello\r\n0\r\n\r\n", data: "hello"},
		{name: "trailer", in: "5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: 2\n\r\n", data: "hello", trailer: "X-Sum: 1\r\nY: 2\r\n"},
		{name: "empty body", in: "0\r\n\r\n", data: ""},
		{name: "incomplete", in: "5\r\nhel", data: "hel", incomplete: true},
		{name: "incomplete trailer", in: "0\r\nX: 1\r\n", incomplete: true},
		{name: "hex prefix", in: "0x5\r\nhello\r\n0\r\n\r\n", wantErr: errChunkSize},
		{name: "leading space", in: " 5\r\nhello\r\n0\r\n\r\n", wantErr: errChunkSize},
		{name: "sign", in: "+5\r\nhello\r\n0\r\n\r\n", wantErr: errChunkSize},
		{name: "negative", in: "-5\r\nhello\r\n0\r\n\r\n", wantErr: errChunkSize},
		{name: "empty size", in: "\r\nhello\r\n0\r\n\r\n", wantErr: errChunkSize},
		{name: "bad char after size", in: "5x\r\nhello\r\n0\r\n\r\n", wantErr: errChunkSize},
		{name: "overflow", in: "fffffffffffffffff\r\n", wantErr: errChunkOverflow},
		{name: "max int64 ok size", in: "7fffffffffffffff\r\nab", data: "ab", incomplete: true},
		{name: "no crlf after data", in: "5\r\nhelloXX0\r\n\r\n", data: "hello", wantErr: errChunkCRLF},
		{name: "cr junk after data", in: "5\r\nhello\rX", data: "hello", wantErr: errChunkCRLF},
		{name: "cr junk after size", in: "5\rX", wantErr: errChunkLine},
		{name: "data longer than size", in: "3\r\nhello\r\n0\r\n\r\n", data: "hel", wantErr: errChunkCRLF},
		{name: "ext too long", in: "5;" + strings.Repeat("a", 5000) + "\r\nhello\r\n0\r\n\r\n", wantErr: errChunkExt},
		{name: "ext limit", in: "5;" + strings.Repeat("a", 9) + "\r\nhello\r\n0\r\n\r\n", maxExt: 10, data: "hello"},
		{name: "ext over limit", in: "5;" + strings.Repeat("a", 10) + "\r\nhello\r\n0\r\n\r\n", maxExt: 10, wantErr: errChunkExt},
		{name: "nul in ext", in: "5;\x00\r\nhello\r\n0\r\n\r\n", wantErr: errChunkSize},
		{name: "trailer obs-fold", in: "0\r\nX: 1\r\n 2\r\n\r\n", wantErr: errTrailer},
		{name: "trailer space in name", in: "0\r\nX Y: 1\r\n\r\n", wantErr: errTrailer},
		{name: "trailer empty name", in: "0\r\n: 1\r\n\r\n", wantErr: errTrailer},
		{name: "trailer nul", in: "0\r\nX: \x00\r\n\r\n", wantErr: errTrailer},
		{name: "trailer bare cr", in: "0\r\nX: 1\rY\r\n\r\n", wantErr: errTrailer},
		{name: "trailer too large", in: "0\r\nX: " + strings.Repeat("a", 100) + "\r\n\r\n", max: 50, wantErr: errTrailerSize},
		{name: "final cr junk", in: "0\r\n\rX", wantErr: errChunkLine},
	}
	for _, tc := range cases {
		for _, step := range []int{1, 2, 3, 7, 1 << 20} {
			d := ChunkedDecoder{MaxExtension: tc.maxExt, MaxTrailer: tc.max, KeepTrailer: true}
			data, rest, err := decodeAll(&d, []byte(tc.in), step)
			switch {
			case tc.wantErr != nil:
				if err != tc.wantErr {
					t.Errorf("%s step %d: err %v, want %v", tc.name, step, err, tc.wantErr)
				}
			case tc.incomplete:
				if err != ErrNeedMore {
					t.Errorf("%s step %d: err %v, want incomplete", tc.name, step, err)
				}
			case err != nil:
				t.Errorf("%s step %d: %v", tc.name, step, err)
			default:
				if string(rest) != tc.rest || string(d.Trailer) != tc.trailer {
					t.Errorf("%s step %d: rest %q trailer %q, want %q %q", tc.name, step, rest, d.Trailer, tc.rest, tc.trailer)
				}
			}
			if tc.wantErr != errChunkOverflow && string(data) != tc.data {
				t.Errorf("%s step %d: data %q, want %q", tc.name, step, data, tc.data)
			}
		}
	}
}

func TestChunkedDecoderZeroCopy(t *testing.T) {
	in := []byte("4\r\nabcd\r\n0\r\n\r\n")
	var d ChunkedDecoder
	n, data, err := d.Decode(in)
	if err != nil || n != 7 || &data[0] != &in[3] {
		t.Fatalf("n=%d data=%q err=%v; data must alias the input", n, data, err)
	}
	if d.Remaining() != 0 {
		t.Fatalf("Remaining = %d after the whole chunk", d.Remaining())
	}
	var d2 ChunkedDecoder
	if _, _, err := d2.Decode([]byte("10\r\nab")); err != nil || d2.Remaining() != 14 {
		t.Fatalf("Remaining = %d, want 14 (%v)", d2.Remaining(), err)
	}
	d2.Reset()
	if d2.Remaining() != 0 || d2.Done() {
		t.Fatal("Reset did not clear the state")
	}
}

func TestChunkedRoundTrip(t *testing.T) {
	var enc []byte
	pieces := []string{"data: {\"token\":\"Hel\"}\n\n", "x", strings.Repeat("y", 70000)}
	for _, p := range pieces {
		enc = AppendChunk(enc, []byte(p))
	}
	enc = AppendChunk(enc, nil) // no-op
	enc = AppendLastChunk(enc, []byte("X-Done: 1\r\n"))
	d := ChunkedDecoder{KeepTrailer: true}
	data, rest, err := decodeAll(&d, enc, 1000)
	if err != nil || string(data) != strings.Join(pieces, "") || len(rest) != 0 || string(d.Trailer) != "X-Done: 1\r\n" {
		t.Fatalf("err=%v len(data)=%d rest=%q trailer=%q", err, len(data), rest, d.Trailer)
	}
	if got := string(AppendChunkHeader(nil, 0x1a2b)); got != "1a2b\r\n" {
		t.Fatalf("AppendChunkHeader = %q", got)
	}
}

func TestChunkedWriter(t *testing.T) {
	var buf bytes.Buffer
	w := ChunkedWriter{W: &buf}
	if n, err := w.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatal(n, err)
	}
	if n, err := w.Write(nil); n != 0 || err != nil {
		t.Fatal(n, err)
	}
	if err := w.Close(nil); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "5\r\nhello\r\n0\r\n\r\n" {
		t.Fatalf("got %q", buf.String())
	}

	// Over a real connection the chunk goes out as one vectored write.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan []byte, 1)
	go func() {
		var got []byte
		tmp := make([]byte, 64)
		for len(got) < len("3\r\nabc\r\n0\r\nT: 1\r\n\r\n") {
			n, err := b.Read(tmp)
			if err != nil {
				break
			}
			got = append(got, tmp[:n]...)
		}
		done <- got
	}()
	w2 := ChunkedWriter{W: a}
	if _, err := w2.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := w2.Close([]byte("T: 1\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := string(<-done); got != "3\r\nabc\r\n0\r\nT: 1\r\n\r\n" {
		t.Fatalf("got %q", got)
	}
}
