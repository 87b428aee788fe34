package h1

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// statusOf returns 0 for success, -1 for ErrNeedMore, or the error's Status.
func statusOf(err error) int {
	if err == nil {
		return 0
	}
	if err == ErrNeedMore {
		return -1
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return -2
}

// requestCases are request heads and the status nginx 1.22 gives them
// (0: accepted). The differential test sends them to a real nginx.
var requestCases = []struct {
	name string
	in   string
	want int
}{
	{"simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"http10 no host", "GET / HTTP/1.0\r\n\r\n", 0},
	{"http11 no host", "GET / HTTP/1.1\r\n\r\n", 400},
	{"http12", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0},
	{"http 1.100", "GET / HTTP/1.100\r\nHost: a\r\n\r\n", 0},
	{"http 1.1000", "GET / HTTP/1.1000\r\nHost: a\r\n\r\n", 400},
	{"http 1.01", "GET / HTTP/1.01\r\nHost: a\r\n\r\n", 0},
	{"http2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
	{"http10.1", "GET / HTTP/10.1\r\nHost: a\r\n\r\n", 505},
	{"http 0.9 version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 400},
	{"http 01.1", "GET / HTTP/01.1\r\nHost: a\r\n\r\n", 400},
	{"http no minor", "GET / HTTP/1.\r\nHost: a\r\n\r\n", 400},
	{"http no dot", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400},
	{"lower proto", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
	{"junk after version", "GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", 400},
	{"lower method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"underscore method", "G_T / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"dash method", "G-T / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"digit method", "G1T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"tab after method", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"extra spaces", "GET  /  HTTP/1.1  \r\nHost: a\r\n\r\n", 0},
	{"space in uri", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"ctl in uri", "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"del in uri", "GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"nul in uri", "GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"tab in uri", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"high byte in uri", "GET /a\xffb HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"ctl in args", "GET /a?b\x01 HTTP/1.1\r\nHost: b\r\n\r\n", 400},
	{"relative uri", "GET a HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"absolute", "GET http://x.com/a HTTP/1.1\r\nHost: b\r\n\r\n", 0},
	{"absolute no path", "GET http://x.com HTTP/1.1\r\nHost: b\r\n\r\n", 0},
	{"absolute other scheme", "GET h1://x/ HTTP/1.1\r\nHost: b\r\n\r\n", 0},
	{"absolute no host header", "GET http://x.com/a HTTP/1.1\r\n\r\n", 400},
	{"absolute underscore host", "GET http://x_y.com/ HTTP/1.1\r\nHost: b\r\n\r\n", 400},
	{"absolute userinfo", "GET http://u@x.com/ HTTP/1.1\r\nHost: b\r\n\r\n", 400},
	{"absolute ipv6", "GET http://[::1]:80/ HTTP/1.1\r\nHost: b\r\n\r\n", 0},
	{"absolute port query", "GET http://x.com:80?a HTTP/1.1\r\nHost: b\r\n\r\n", 0},
	{"absolute bad port", "GET http://x.com:8a/ HTTP/1.1\r\nHost: b\r\n\r\n", 400},
	{"absolute one slash", "GET http:/x.com/ HTTP/1.1\r\nHost: b\r\n\r\n", 400},
	{"absolute double dot host", "GET http://x..com/ HTTP/1.1\r\nHost: b\r\n\r\n", 400},
	{"absolute empty host", "GET http:///a HTTP/1.1\r\nHost: b\r\n\r\n", 400},
	{"connect authority", "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"connect", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 405},
	{"connect no host", "CONNECT / HTTP/1.1\r\n\r\n", 400},
	{"connect bad te", "CONNECT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
	{"trace", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405},
	{"trace bad cl", "TRACE / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400},
	{"leading crlf", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"bare lf", "GET / HTTP/1.1\nHost: a\n\n", 0},
	{"bare cr request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400},
	{"cr cr lf request line", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400},
	{"http09", "GET /\r\n\r\n", 400},
	{"dot dot above root", "GET /.. HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"encoded dot dot above root", "GET /%2e%2e/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"dot dot inside", "GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"bad escape", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"short escape", "GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"encoded nul", "GET /%00 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 0},

	// Content-Length and Transfer-Encoding: request smuggling vectors.
	{"cl", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 0},
	{"cl spaces around", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length:    0   \r\n\r\n", 0},
	{"cl leading zero", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 00\r\n\r\n", 0},
	{"cl duplicate same", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", 400},
	{"cl duplicate differ", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n", 400},
	{"cl list", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 0\r\n\r\n", 400},
	{"cl plus", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +0\r\n\r\n", 400},
	{"cl minus", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -0\r\n\r\n", 400},
	{"cl tab", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\t\r\n\r\n", 400},
	{"cl inner space", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400},
	{"cl empty", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
	{"cl hex", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x1\r\n\r\n", 400},
	{"cl overflow", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400},
	{"cl space before colon", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", 400},
	{"cl underscore ignored", "GET / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n", 0},
	{"te chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0},
	{"te chunked upper spaces", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED  \r\n\r\n", 0},
	{"te cl", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
	{"cl te", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
	{"te http10", "GET / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
	{"te gzip chunked", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
	{"te chunked gzip", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501},
	{"te xchunked", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501},
	{"te identity", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501},
	{"te empty", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 501},
	{"te tab before", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tchunked\r\n\r\n", 501},
	{"te tab after", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n", 501},
	{"te duplicate", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
	{"te space before colon", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
	{"te underscore ignored", "GET / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n", 0},

	// Header lines.
	{"obs-fold space", "GET / HTTP/1.1\r\nHost: a\r\nFoo: bar\r\n baz\r\n\r\n", 400},
	{"obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nFoo: bar\r\n\tbaz\r\n\r\n", 400},
	{"first header folded", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nFoo\r\n\r\n", 0},
	{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n:foo\r\n\r\n", 400},
	{"space in name", "GET / HTTP/1.1\r\nHost: a\r\nFo o: x\r\n\r\n", 400},
	{"ctl in name", "GET / HTTP/1.1\r\nHost: a\r\nFo\x01o: x\r\n\r\n", 400},
	{"del in name", "GET / HTTP/1.1\r\nHost: a\r\nFo\x7fo: x\r\n\r\n", 400},
	{"nul in name", "GET / HTTP/1.1\r\nHost: a\r\nFo\x00o: x\r\n\r\n", 400},
	{"paren in name ignored", "GET / HTTP/1.1\r\nHost: a\r\nFo(o: x\r\n\r\n", 0},
	{"high byte in name ignored", "GET / HTTP/1.1\r\nHost: a\r\nFo\xffo: x\r\n\r\n", 0},
	{"nul in value", "GET / HTTP/1.1\r\nHost: a\r\nFoo: x\x00y\r\n\r\n", 400},
	{"ctl in value", "GET / HTTP/1.1\r\nHost: a\r\nFoo: x\x01y\r\n\r\n", 0},
	{"del in value", "GET / HTTP/1.1\r\nHost: a\r\nFoo: x\x7fy\r\n\r\n", 0},
	{"bare cr in value", "GET / HTTP/1.1\r\nHost: a\r\nFoo: x\ry\r\n\r\n", 400},
	{"cr cr lf", "GET / HTTP/1.1\r\nHost: a\r\nFoo: x\r\r\n\r\n", 0},
	{"end cr cr lf", "GET / HTTP/1.1\r\nHost: a\r\nFoo: x\r\n\r\r\n", 400},
	{"end cr junk", "GET / HTTP/1.1\r\nHost: a\r\n\rX", 400},
	{"invalid then space", "GET / HTTP/1.1\r\nHost: a\r\nx_y: 1\r\nx y: 1\r\n\r\n", 400},

	// Host.
	{"host duplicate", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
	{"host duplicate case", "GET / HTTP/1.1\r\nhost: a\r\nHOST: b\r\n\r\n", 400},
	{"host empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400},
	{"host empty http10", "GET / HTTP/1.0\r\nHost:\r\n\r\n", 400},
	{"host space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
	{"host slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
	{"host dot dot", "GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", 400},
	{"host backslash", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", 0},
	{"host underscore", "GET / HTTP/1.1\r\nHost: a_b\r\n\r\n", 0},
	{"host ctl", "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400},
	{"host open bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 0},
	{"host ipv6 port", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 0},
	{"host dot", "GET / HTTP/1.1\r\nHost: .\r\n\r\n", 400},
	{"host trailing dot", "GET / HTTP/1.1\r\nHost: a.\r\n\r\n", 0},
	{"host port only", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400},
	{"host colons", "GET / HTTP/1.1\r\nHost: a:b:c\r\n\r\n", 0},

	// Headers nginx accepts once.
	{"dup if-modified-since", "GET / HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: 1\r\nIf-Modified-Since: 1\r\n\r\n", 400},
	{"dup if-unmodified-since", "GET / HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: 1\r\nIf-Unmodified-Since: 1\r\n\r\n", 400},
	{"dup if-match", "GET / HTTP/1.1\r\nHost: a\r\nIf-Match: 1\r\nIf-Match: 1\r\n\r\n", 400},
	{"dup if-none-match", "GET / HTTP/1.1\r\nHost: a\r\nIf-None-Match: 1\r\nIf-None-Match: 1\r\n\r\n", 400},
	{"dup if-range", "GET / HTTP/1.1\r\nHost: a\r\nIf-Range: 1\r\nIf-Range: 1\r\n\r\n", 400},
	{"dup content-range", "GET / HTTP/1.1\r\nHost: a\r\nContent-Range: 1\r\nContent-Range: 1\r\n\r\n", 400},
	{"dup expect", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 1\r\nExpect: 1\r\n\r\n", 400},
	{"dup authorization", "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: 1\r\nAuthorization: 1\r\n\r\n", 400},
	{"dup user-agent", "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: 1\r\nUser-Agent: 1\r\n\r\n", 0},
	{"dup cookie", "GET / HTTP/1.1\r\nHost: a\r\nCookie: 1\r\nCookie: 1\r\n\r\n", 0},
	{"dup x-forwarded-for", "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1\r\nX-Forwarded-For: 1\r\n\r\n", 0},

	// Size limits (defaults: 1k, 4 x 8k).
	{"request line 8192", "GET /" + strings.Repeat("a", 8192-16) + " HTTP/1.1\r\nHost: a\r\n\r\n", 0},
	{"request line 8193", "GET /" + strings.Repeat("a", 8193-16) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
	{"header line 8192", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("b", 8192-5) + "\r\n\r\n", 0},
	{"header line 8193", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("b", 8193-5) + "\r\n\r\n", 494},
	{"8 headers of 4000", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: "+strings.Repeat("b", 3995)+"\r\n", 8) + "\r\n", 0},
	{"9 headers of 4000", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: "+strings.Repeat("b", 3995)+"\r\n", 9) + "\r\n", 494},
	{"4 headers of 8000", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: "+strings.Repeat("b", 7995)+"\r\n", 4) + "\r\n", 0},
	{"5 headers of 8000", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: "+strings.Repeat("b", 7995)+"\r\n", 5) + "\r\n", 494},
}

func TestParseRequestStatus(t *testing.T) {
	for _, tc := range requestCases {
		t.Run(tc.name, func(t *testing.T) {
			var req Request
			n, err := ParseRequest([]byte(tc.in), &req, Limits{})
			if got := statusOf(err); got != tc.want {
				t.Fatalf("status %d (%v), want %d", got, err, tc.want)
			}
			if err == nil && n != len(tc.in) {
				t.Fatalf("consumed %d of %d", n, len(tc.in))
			}
		})
	}
}

func TestParseRequestFields(t *testing.T) {
	type want struct {
		method, target, requestURI, path, args, uri, proto string
		minor                                              int
		host, hostName                                     string
		headers                                            []string // "name=value"
		cl                                                 int64
		chunked, keepAlive, expect                         bool
		conn                                               ConnFlags
		upgrade                                            string
	}
	cases := []struct {
		name string
		in   string
		lim  Limits
		want want
	}{
		{"curl", "GET /index.html?x=1&y=2 HTTP/1.1\r\nHost: Example.COM:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n", Limits{},
			want{"GET", "/index.html?x=1&y=2", "/index.html?x=1&y=2", "/index.html", "x=1&y=2", "/index.html", "HTTP/1.1", 1,
				"Example.COM:8080", "example.com", []string{"Host=Example.COM:8080", "User-Agent=curl/7.88.1", "Accept=*/*"}, -1, false, true, false, 0, ""}},
		{"http10 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", Limits{},
			want{"GET", "/", "/", "/", "", "/", "HTTP/1.0", 0, "", "", []string{"Connection=Keep-Alive"}, -1, false, true, false, ConnKeepAlive, ""}},
		{"http10 default close", "GET / HTTP/1.0\r\n\r\n", Limits{},
			want{"GET", "/", "/", "/", "", "/", "HTTP/1.0", 0, "", "", nil, -1, false, false, false, 0, ""}},
		{"close wins in list", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", Limits{},
			want{"GET", "/", "/", "/", "", "/", "HTTP/1.1", 1, "a", "a", []string{"Host=a", "Connection=keep-alive, close"}, -1, false, false, false, ConnKeepAlive | ConnClose, ""}},
		{"last connection header wins", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", Limits{},
			want{"GET", "/", "/", "/", "", "/", "HTTP/1.1", 1, "a", "a", []string{"Host=a", "Connection=close", "Connection=keep-alive"}, -1, false, true, false, ConnKeepAlive | ConnClose, ""}},
		{"websocket", "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", Limits{},
			want{"GET", "/ws", "/ws", "/ws", "", "/ws", "HTTP/1.1", 1, "a", "a", []string{"Host=a", "Upgrade=websocket", "Connection=Upgrade"}, -1, false, true, false, ConnUpgrade, "websocket"}},
		{"post chunked expect", "POST /v1/chat HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-Continue\r\n\r\n", Limits{},
			want{"POST", "/v1/chat", "/v1/chat", "/v1/chat", "", "/v1/chat", "HTTP/1.1", 1, "a", "a", []string{"Host=a", "Transfer-Encoding=chunked", "Expect=100-Continue"}, -1, true, true, true, 0, ""}},
		{"expect ignored in 1.0", "POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", Limits{},
			want{"POST", "/", "/", "/", "", "/", "HTTP/1.0", 0, "", "", []string{"Content-Length=3", "Expect=100-continue"}, 3, false, false, false, 0, ""}},
		{"absolute form", "GET http://X.Com:80/a/../b?q HTTP/1.1\r\nHost: other\r\n\r\n", Limits{},
			want{"GET", "http://X.Com:80/a/../b?q", "/a/../b?q", "/a/../b", "q", "/b", "HTTP/1.1", 1, "X.Com:80", "x.com", []string{"Host=other"}, -1, false, true, false, 0, ""}},
		{"absolute no path", "GET http://x.com HTTP/1.1\r\nHost: b\r\n\r\n", Limits{},
			want{"GET", "http://x.com", "/", "", "", "/", "HTTP/1.1", 1, "x.com", "x.com", []string{"Host=b"}, -1, false, true, false, 0, ""}},
		{"absolute query only", "GET http://x.com:80?a=b HTTP/1.1\r\nHost: b\r\n\r\n", Limits{},
			want{"GET", "http://x.com:80?a=b", "?a=b", "", "a=b", "/", "HTTP/1.1", 1, "x.com:80", "x.com", []string{"Host=b"}, -1, false, true, false, 0, ""}},
		{"fragment and query", "GET /a?x#y HTTP/1.1\r\nHost: h.\r\n\r\n", Limits{},
			want{"GET", "/a?x#y", "/a?x#y", "/a", "x", "/a", "HTTP/1.1", 1, "h.", "h", []string{"Host=h."}, -1, false, true, false, 0, ""}},
		{"invalid and underscore dropped", "GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\nX(Y: 2\r\nZ:  3  \r\n\r\n", Limits{},
			want{"GET", "/", "/", "/", "", "/", "HTTP/1.1", 1, "a", "a", []string{"Host=a", "Z=3"}, -1, false, true, false, 0, ""}},
		{"underscores kept", "GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\nX(Y: 2\r\n\r\n", Limits{UnderscoresInHeaders: true},
			want{"GET", "/", "/", "/", "", "/", "HTTP/1.1", 1, "a", "a", []string{"Host=a", "X_Y=1"}, -1, false, true, false, 0, ""}},
		{"invalid kept", "GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\nX(Y: 2\r\n\r\n", Limits{KeepInvalidHeaders: true},
			want{"GET", "/", "/", "/", "", "/", "HTTP/1.1", 1, "a", "a", []string{"Host=a", "X_Y=1", "X(Y=2"}, -1, false, true, false, 0, ""}},
		{"merge slashes off", "GET //a//b/./c HTTP/1.1\r\nHost: a\r\n\r\n", Limits{NoMergeSlashes: true},
			want{"GET", "//a//b/./c", "//a//b/./c", "//a//b/./c", "", "//a//b/c", "HTTP/1.1", 1, "a", "a", []string{"Host=a"}, -1, false, true, false, 0, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			if _, err := ParseRequest([]byte(tc.in), &r, tc.lim); err != nil {
				t.Fatal(err)
			}
			w := tc.want
			check := func(what string, got []byte, want string) {
				t.Helper()
				if string(got) != want {
					t.Errorf("%s = %q, want %q", what, got, want)
				}
			}
			check("Method", r.Method, w.method)
			check("Target", r.Target, w.target)
			check("RequestURI", r.RequestURI, w.requestURI)
			check("Path", r.Path, w.path)
			check("Args", r.Args, w.args)
			check("URI", r.URI, w.uri)
			check("Proto", r.Proto, w.proto)
			check("Host", r.Host, w.host)
			check("HostName", r.HostName, w.hostName)
			check("Upgrade", r.Upgrade, w.upgrade)
			if r.Major != 1 || r.Minor != w.minor {
				t.Errorf("version %d.%d, want 1.%d", r.Major, r.Minor, w.minor)
			}
			var hs []string
			for _, h := range r.Headers {
				hs = append(hs, string(h.Name)+"="+string(h.Value))
			}
			if strings.Join(hs, "|") != strings.Join(w.headers, "|") {
				t.Errorf("headers %q, want %q", hs, w.headers)
			}
			if r.ContentLength != w.cl || r.Chunked != w.chunked || r.KeepAlive != w.keepAlive ||
				r.ExpectContinue != w.expect || r.Conn != w.conn {
				t.Errorf("cl=%d chunked=%v keepalive=%v expect=%v conn=%b, want %d %v %v %v %b",
					r.ContentLength, r.Chunked, r.KeepAlive, r.ExpectContinue, r.Conn,
					w.cl, w.chunked, w.keepAlive, w.expect, w.conn)
			}
		})
	}
}

// TestNormalizePath checks $uri against values read from nginx 1.22
// (return 200 "$uri").
func TestNormalizePath(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/", "/"}, {"/a//b", "/a/b"}, {"/a/./b", "/a/b"}, {"/a/../b", "/b"},
		{"/a/..", "/"}, {"/a/.", "/a/"}, {"/..", "!"}, {"/./..", "!"},
		{"/a/b/../../..", "!"}, {"/%41", "/A"}, {"/%2e%2e/", "!"}, {"/a/%2e%2e", "/"},
		{"/a%2fb", "/a/b"}, {"/a%2F..%2Fb", "/b"}, {"/%25", "/%"}, {"/%23", "/#"},
		{"/%3F", "/?"}, {"/a%", "!"}, {"/a%4", "!"}, {"/a%4g", "!"}, {"/%00", "!"},
		{"/a/b%00", "!"}, {"//", "/"}, {"/.a", "/.a"}, {"/..a", "/..a"}, {"/a..", "/a.."},
		{"/a/...", "/a/..."}, {"/a/./", "/a/"}, {"/a/.%2e", "/"}, {"/a/%2e", "/a/"},
		{"/%2e", "/"}, {"/a/b/..%2f", "/a/"}, {"/%C3%A9", "/\xc3\xa9"}, {"/a%20b", "/a b"},
	}
	for _, tc := range cases {
		got, ok := normalizePath(nil, []byte(tc.in), true)
		s := string(got)
		if !ok {
			s = "!"
		}
		if s != tc.want {
			t.Errorf("normalizePath(%q) = %q, want %q", tc.in, s, tc.want)
		}
	}
}

// TestParseRequestSplit feeds every head in pieces, split at every byte,
// and checks that each prefix asks for more and the whole gives the same
// result as one call: both resuming in the same buffer and starting over in
// a fresh copy.
func TestParseRequestSplit(t *testing.T) {
	for _, tc := range requestCases {
		if len(tc.in) > 2000 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			var whole Request
			wantN, wantErr := ParseRequest([]byte(tc.in), &whole, Limits{})
			buf := []byte(tc.in)
			var resumed Request
			for i := 1; i <= len(buf); i++ {
				n, err := ParseRequest(buf[:i], &resumed, Limits{})
				if i < len(buf) && err == ErrNeedMore {
					var fresh Request
					if _, err := ParseRequest(append([]byte(nil), buf[:i]...), &fresh, Limits{}); err != ErrNeedMore {
						t.Fatalf("fresh prefix %d: %v, want ErrNeedMore", i, err)
					}
					continue
				}
				if i < len(buf) {
					// An error found before the end must be the same error.
					if err != wantErr {
						t.Fatalf("prefix %d: %v, want ErrNeedMore or %v", i, err, wantErr)
					}
					return
				}
				if err != wantErr || n != wantN {
					t.Fatalf("whole: %d %v, want %d %v", n, err, wantN, wantErr)
				}
				if err == nil && !sameRequest(&resumed, &whole) {
					t.Fatalf("resumed parse differs from one-shot parse")
				}
			}
		})
	}
}

func sameRequest(a, b *Request) bool {
	eq := bytes.Equal
	if !eq(a.Method, b.Method) || !eq(a.Target, b.Target) || !eq(a.URI, b.URI) || !eq(a.Args, b.Args) ||
		!eq(a.HostName, b.HostName) || a.ContentLength != b.ContentLength || a.Chunked != b.Chunked ||
		a.KeepAlive != b.KeepAlive || a.Conn != b.Conn || len(a.Headers) != len(b.Headers) || a.HeadLen != b.HeadLen {
		return false
	}
	for i := range a.Headers {
		if !eq(a.Headers[i].Name, b.Headers[i].Name) || !eq(a.Headers[i].Value, b.Headers[i].Value) {
			return false
		}
	}
	return true
}

func TestParseRequestPipelined(t *testing.T) {
	in := []byte("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\nHost: a\r\n\r\n")
	var r Request
	var got []string
	for len(in) > 0 {
		n, err := ParseRequest(in, &r, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(r.URI))
		in = in[n:]
		if r.ContentLength > 0 {
			in = in[r.ContentLength:]
		}
	}
	if strings.Join(got, ",") != "/1,/2,/3" {
		t.Fatalf("got %v", got)
	}
}

func TestManyHeaders(t *testing.T) {
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: a\r\n")
	for i := 0; i < 100; i++ {
		b.WriteString("X-H: v\r\n")
	}
	b.WriteString("\r\n")
	var r Request
	if _, err := ParseRequest([]byte(b.String()), &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	if len(r.Headers) != 101 {
		t.Fatalf("%d headers, want 101", len(r.Headers))
	}
	if got := r.Get("x-h"); string(got) != "v" {
		t.Fatalf("Get = %q", got)
	}
}

func TestLimitsSmall(t *testing.T) {
	lim := Limits{HeaderBufferSize: 64, LargeBufferSize: 128, LargeBuffers: 2}
	if lim.MaxHeadSize() != 64+256 {
		t.Fatalf("MaxHeadSize = %d", lim.MaxHeadSize())
	}
	cases := []struct {
		in   string
		want int
	}{
		{"GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\nHost: a\r\n\r\n", 0},
		{"GET /" + strings.Repeat("a", 120) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("b", 130) + "\r\n\r\n", 494},
		{"GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: "+strings.Repeat("b", 95)+"\r\n", 2) + "\r\n", 0},
		{"GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: "+strings.Repeat("b", 95)+"\r\n", 3) + "\r\n", 494},
		// Incomplete, but already past the limit: the error comes at once.
		{"GET /" + strings.Repeat("a", 200), 414},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("b", 200), 494},
	}
	for i, tc := range cases {
		var r Request
		_, err := ParseRequest([]byte(tc.in), &r, lim)
		if got := statusOf(err); got != tc.want {
			t.Errorf("case %d: status %d (%v), want %d", i, got, err, tc.want)
		}
		if err != nil && err != ErrNeedMore {
			var e *Error
			errors.As(err, &e)
			if e.Status == StatusRequestHeaderTooLarge && e.ResponseStatus() != 400 {
				t.Errorf("494 goes out as %d", e.ResponseStatus())
			}
		}
	}
}
