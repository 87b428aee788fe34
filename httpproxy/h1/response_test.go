package h1

import (
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	cases := []struct {
		name      string
		in        string
		opt       ResponseOptions
		want      int // 0 ok, -1 need more, else status
		status    int
		body      BodyKind
		cl        int64
		keepAlive bool
	}{
		{"ok length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", ResponseOptions{}, 0, 200, BodyLength, 2, true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", ResponseOptions{}, 0, 200, BodyChunked, -1, true},
		{"until close", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", ResponseOptions{}, 0, 200, BodyUntilClose, -1, false},
		{"http10", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", ResponseOptions{}, 0, 200, BodyLength, 2, false},
		{"connection close", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", ResponseOptions{}, 0, 200, BodyLength, 2, false},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", ResponseOptions{HeadRequest: true}, 0, 200, BodyNone, 20, true},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", ResponseOptions{}, 0, 204, BodyNone, -1, true},
		{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", ResponseOptions{}, 0, 304, BodyNone, 9, true},
		{"100", "HTTP/1.1 100 Continue\r\n\r\n", ResponseOptions{}, 0, 100, BodyNone, -1, true},
		{"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", ResponseOptions{}, 0, 101, BodyNone, -1, false},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", ResponseOptions{}, 0, 200, BodyLength, 0, true},
		{"iis status", "HTTP/1.1 403.1 Forbidden\r\nContent-Length: 0\r\n\r\n", ResponseOptions{}, 0, 403, BodyLength, 0, true},
		{"bare lf", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", ResponseOptions{}, 0, 200, BodyLength, 0, true},
		{"iis duplicate status line", "HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ResponseOptions{}, 0, 200, BodyLength, 0, true},
		{"underscore kept", "HTTP/1.1 200 OK\r\nX_Y: 1\r\nContent-Length: 0\r\n\r\n", ResponseOptions{}, 0, 200, BodyLength, 0, true},
		{"incomplete", "HTTP/1.1 200 OK\r\nContent-Le", ResponseOptions{}, -1, 0, 0, 0, false},
		{"http09", "<html>", ResponseOptions{}, 502, 0, 0, 0, false},
		{"http2", "HTTP/2.0 200 OK\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"two digit status", "HTTP/1.1 20 OK\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"status letter", "HTTP/1.1 2x0 OK\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"four digit status", "HTTP/1.1 2000 OK\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"space in name", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"nul in value", "HTTP/1.1 200 OK\r\nX: a\x00\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"cl invalid", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"cl list", "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"cl duplicate", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"te gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"te duplicate", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"cl te", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"too big", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n", ResponseOptions{}, 502, 0, 0, 0, false},
		{"bigger buffer", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 5000) + "\r\nContent-Length: 0\r\n\r\n", ResponseOptions{MaxHeadSize: 8192}, 0, 200, BodyLength, 0, true},
		{"too big incomplete", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 5000), ResponseOptions{}, 502, 0, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			n, err := ParseResponse([]byte(tc.in), &r, tc.opt)
			if got := statusOf(err); got != tc.want {
				t.Fatalf("status %d (%v), want %d", got, err, tc.want)
			}
			if tc.want == 502 && !IsInvalidHeader(err) {
				t.Fatalf("IsInvalidHeader(%v) = false", err)
			}
			if err != nil {
				return
			}
			if n != len(tc.in) {
				t.Fatalf("consumed %d of %d", n, len(tc.in))
			}
			if r.Status != tc.status || r.Body != tc.body || r.ContentLength != tc.cl || r.KeepAlive != tc.keepAlive {
				t.Fatalf("status=%d body=%d cl=%d keepalive=%v, want %d %d %d %v",
					r.Status, r.Body, r.ContentLength, r.KeepAlive, tc.status, tc.body, tc.cl, tc.keepAlive)
			}
			// Every prefix asks for more.
			for i := 0; i < len(tc.in); i++ {
				var p Response
				if _, err := ParseResponse([]byte(tc.in[:i]), &p, tc.opt); err != ErrNeedMore {
					t.Fatalf("prefix %d: %v, want ErrNeedMore", i, err)
				}
			}
		})
	}
}

func TestResponseFields(t *testing.T) {
	in := "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-A:  b \r\nContent-Length: 2\r\n\r\n{}"
	var r Response
	n, err := ParseResponse([]byte(in), &r, ResponseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if in[n:] != "{}" || string(r.Proto) != "HTTP/1.1" || string(r.Reason) != "Not Found" ||
		string(r.Get("x-a")) != "b" || len(r.Headers) != 3 || r.Interim() {
		t.Fatalf("n=%d proto=%q reason=%q x-a=%q headers=%d", n, r.Proto, r.Reason, r.Get("x-a"), len(r.Headers))
	}
}
