package h1

import (
	"testing"
)

func TestAppendRequestHead(t *testing.T) {
	const client = "POST /v1/chat?stream=1 HTTP/1.1\r\n" +
		"Host: api.example.com\r\n" +
		"Connection: keep-alive, X-Secret\r\n" +
		"Keep-Alive: timeout=5\r\n" +
		"Proxy-Connection: keep-alive\r\n" +
		"TE: trailers\r\n" +
		"Trailer: X-Sum\r\n" +
		"X-Secret: s\r\n" +
		"Upgrade: h2c\r\n" +
		"Expect: 100-continue\r\n" +
		"X-Forwarded-For: 10.0.0.1\r\n" +
		"Content-Type: application/json\r\n" +
		"Transfer-Encoding: chunked\r\n" +
		"X-Forwarded-For: 10.0.0.2\r\n" +
		"Authorization: Bearer t\r\n\r\n"
	cases := []struct {
		name string
		f    Forward
		want string
	}{
		{"zero value", Forward{},
			"POST /v1/chat?stream=1 HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n" +
				"X-Forwarded-For: 10.0.0.1\r\nContent-Type: application/json\r\nX-Forwarded-For: 10.0.0.2\r\nAuthorization: Bearer t\r\n\r\n"},
		{"proxy defaults", Forward{URI: []byte("/chat?stream=1"), Host: []byte("backend"), XForwardedFor: []byte("127.0.0.1"),
			Framing: BodyChunked, Connection: []byte{}},
			"POST /chat?stream=1 HTTP/1.1\r\nHost: backend\r\nTransfer-Encoding: chunked\r\n" +
				"X-Forwarded-For: 10.0.0.1, 10.0.0.2, 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer t\r\n\r\n"},
		{"http10 length set hide", Forward{HTTP10: true, Framing: BodyLength, ContentLength: 42,
			Set: []Header{{[]byte("X-Real-IP"), []byte("1.2.3.4")}, {[]byte("authorization"), nil}}, Hide: []string{"content-type"}},
			"POST /v1/chat?stream=1 HTTP/1.0\r\nHost: api.example.com\r\nConnection: close\r\nContent-Length: 42\r\nX-Real-IP: 1.2.3.4\r\n" +
				"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n\r\n"},
		{"upgrade", Forward{Upgrade: true, NoClientHeaders: true, XForwardedFor: []byte("::1")},
			"POST /v1/chat?stream=1 HTTP/1.1\r\nHost: api.example.com\r\nConnection: upgrade\r\nUpgrade: h2c\r\nX-Forwarded-For: ::1\r\n\r\n"},
	}
	var r Request
	if _, err := ParseRequest([]byte(client), &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		got := string(AppendRequestHead(nil, &r, &tc.f))
		if got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
		// What is sent parses again, and carries no hop-by-hop header
		// except those the proxy wrote itself.
		var back Request
		if _, err := ParseRequest([]byte(got), &back, Limits{}); err != nil {
			t.Errorf("%s: output does not parse: %v", tc.name, err)
		}
		for _, h := range back.Headers {
			if eqFold(h.Name, "x-secret") || eqFold(h.Name, "keep-alive") || eqFold(h.Name, "te") ||
				eqFold(h.Name, "trailer") || eqFold(h.Name, "proxy-connection") || eqFold(h.Name, "expect") {
				t.Errorf("%s: forwarded %s", tc.name, h.Name)
			}
		}
	}
}

func TestIsHopByHop(t *testing.T) {
	for _, n := range []string{"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "UPGRADE"} {
		if !IsHopByHop([]byte(n)) {
			t.Errorf("IsHopByHop(%q) = false", n)
		}
	}
	for _, n := range []string{"Trailers", "Host", "Content-Length", "X-Te", ""} {
		if IsHopByHop([]byte(n)) {
			t.Errorf("IsHopByHop(%q) = true", n)
		}
	}
}

func TestAppendRequestHeadAllocs(t *testing.T) {
	var r Request
	if _, err := ParseRequest([]byte(curlHead), &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	f := Forward{Host: []byte("backend"), XForwardedFor: []byte("127.0.0.1"), Connection: []byte{}}
	dst := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { dst = AppendRequestHead(dst[:0], &r, &f) }); n != 0 {
		t.Fatalf("%v allocs per run, want 0", n)
	}
}
