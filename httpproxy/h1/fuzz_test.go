package h1

import (
	"bytes"
	"testing"
)

func FuzzParseRequest(f *testing.F) {
	for _, tc := range requestCases {
		if len(tc.in) < 1000 {
			f.Add([]byte(tc.in))
		}
	}
	f.Add([]byte(browserHead))
	f.Add([]byte(llmHead + "{\"model\":\"x\"}"))
	lim := Limits{HeaderBufferSize: 64, LargeBufferSize: 256, LargeBuffers: 3}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, l := range []Limits{{}, lim, {UnderscoresInHeaders: true, KeepInvalidHeaders: true, NoMergeSlashes: true}} {
			var r Request
			n, err := ParseRequest(in, &r, l)
			if err != nil {
				if n != 0 {
					t.Fatalf("error %v with n=%d", err, n)
				}
				if err != ErrNeedMore && statusOf(err) < 400 {
					t.Fatalf("unexpected error %v", err)
				}
				if err == ErrNeedMore && len(in) >= l.MaxHeadSize() {
					t.Fatalf("ErrNeedMore with %d bytes, limit %d", len(in), l.MaxHeadSize())
				}
			}
			// Byte-at-a-time resumption in one buffer agrees with one call.
			var s Request
			var sn int
			var serr error
			for i := 1; i <= len(in); i++ {
				sn, serr = ParseRequest(in[:i], &s, l)
				if serr != ErrNeedMore {
					break
				}
			}
			if len(in) > 0 && (serr == nil) != (err == nil) {
				t.Fatalf("split parse: %d %v, one call: %d %v", sn, serr, n, err)
			}
			if err != nil {
				continue
			}
			if sn != n || !sameRequest(&s, &r) {
				t.Fatalf("split parse differs: %d vs %d", sn, n)
			}
			if r.Chunked && r.ContentLength >= 0 {
				t.Fatal("both chunked and Content-Length")
			}
			if r.Major != 1 || len(r.URI) == 0 || r.URI[0] != '/' {
				t.Fatalf("version %d.%d uri %q", r.Major, r.Minor, r.URI)
			}
			if bytes.Contains(r.URI, []byte("/../")) || bytes.HasSuffix(r.URI, []byte("/..")) {
				t.Fatalf("uri %q keeps a dot-dot segment", r.URI)
			}
			// The head written for an upstream parses again.
			fw := Forward{XForwardedFor: []byte("127.0.0.1"), Host: []byte("backend")}
			if r.Chunked {
				fw.Framing = BodyChunked
			} else if r.ContentLength >= 0 {
				fw.Framing, fw.ContentLength = BodyLength, r.ContentLength
			}
			out := AppendRequestHead(nil, &r, &fw)
			var back Request
			bn, berr := ParseRequest(out, &back, Limits{UnderscoresInHeaders: l.UnderscoresInHeaders, NoMergeSlashes: l.NoMergeSlashes, KeepInvalidHeaders: true, LargeBufferSize: 1 << 20})
			if berr != nil || bn != len(out) {
				t.Fatalf("forwarded head %q does not parse: %v", out, berr)
			}
			if back.Chunked != r.Chunked || back.ContentLength != r.ContentLength {
				t.Fatalf("framing changed: %v/%d -> %v/%d", r.Chunked, r.ContentLength, back.Chunked, back.ContentLength)
			}
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 204 No Content\nX_Y: 1\n\n"))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 403.1 Forbidden\r\nHTTP/1.1 200 OK\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, opt := range []ResponseOptions{{}, {MaxHeadSize: 64, HeadRequest: true}} {
			var r Response
			n, err := ParseResponse(in, &r, opt)
			if err != nil {
				if err != ErrNeedMore && !IsInvalidHeader(err) {
					t.Fatalf("unexpected error %v", err)
				}
				continue
			}
			if n > len(in) || r.Status < 100 || r.Status > 999 {
				t.Fatalf("n=%d status=%d", n, r.Status)
			}
			if r.Body == BodyChunked && r.ContentLength >= 0 {
				t.Fatal("both chunked and Content-Length")
			}
			if r.Body == BodyUntilClose && r.KeepAlive {
				t.Fatal("close-delimited body on a kept-alive connection")
			}
			for i := 0; i < n; i += 1 + i/8 {
				var p Response
				if _, err := ParseResponse(in[:i], &p, opt); err != ErrNeedMore {
					t.Fatalf("prefix %d of a valid head: %v", i, err)
				}
			}
		}
	})
}

func FuzzChunked(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("5\nhello\n0\n\n"))
	f.Add([]byte("fffffffffffffffff\r\n"))
	f.Add([]byte("0\r\n X: 1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := ChunkedDecoder{MaxExtension: 16, MaxTrailer: 64, KeepTrailer: true}
		data, _, err := decodeAll(&d, in, len(in)+1)
		for _, step := range []int{1, 3} {
			d2 := ChunkedDecoder{MaxExtension: 16, MaxTrailer: 64, KeepTrailer: true}
			data2, _, err2 := decodeAll(&d2, in, step)
			if err2 != err || !bytes.Equal(data, data2) || !bytes.Equal(d.Trailer, d2.Trailer) {
				t.Fatalf("step %d: %q %v, whole: %q %v", step, data2, err2, data, err)
			}
		}
		if err != nil {
			return
		}
		// Re-framing what was decoded gives back the same data and trailer.
		enc := AppendLastChunk(AppendChunk(nil, data), d.Trailer)
		d3 := ChunkedDecoder{MaxExtension: 16, MaxTrailer: 64, KeepTrailer: true}
		data3, rest, err3 := decodeAll(&d3, enc, len(enc))
		if err3 != nil || !bytes.Equal(data3, data) || len(rest) != 0 || !bytes.Equal(d3.Trailer, d.Trailer) {
			t.Fatalf("re-encoded %q: %q %q %v", enc, data3, rest, err3)
		}
	})
}
