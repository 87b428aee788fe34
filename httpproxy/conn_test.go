package httpproxy

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// echoBackend counts the requests it parses and answers each with its
// method, URI and body length; it speaks HTTP/1.1 with keep-alive.
func echoBackend(t *testing.T) (*backend, *atomic.Int64) {
	var n atomic.Int64
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.RequestURI(), len(b))
	}))
	return be, &n
}

func TestErrorPagesAndLimits(t *testing.T) {
	be, hits := echoBackend(t)
	h := startProxy(t, `events {} http { access_log off;
		client_max_body_size 10;
		server { listen 127.0.0.1:18080; server_name example.com;
			location / { proxy_pass http://`+be.addr+`; }
			location /r { return 301 /target?x=$arg_a; }
			location /t { return 302 http://other/$uri; }
			location /teapot { return 418; }
			location /denied { deny all; proxy_pass http://`+be.addr+`; }
			location /dead { proxy_pass http://127.0.0.1:1; }
			location /off { server_tokens off; return 503; }
		}
	}`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	page := func(status int, tokens string) string {
		return string(appendErrorPage(nil, status, []byte(tokens)))
	}
	cases := []struct {
		name, raw  string
		status     string
		body       string // "" : not checked
		header     string // a header line that must be present
		backendHit bool
	}{
		{"ok", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "200 OK", "GET /a 0", "", true},
		{"404 exact shape", "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "200 OK", "", "", true},
		{"400 bad request line", "GET\r\n\r\n", "400 Bad Request", page(400, "sluice/0.1.0"), "Connection: close", false},
		{"400 no host", "GET / HTTP/1.1\r\n\r\n", "400 Bad Request", "", "", false},
		{"414", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", "414 Request-URI Too Large", page(414, "sluice/0.1.0"), "", false},
		{"494", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 9000) + "\r\n\r\n", "400 Bad Request", page(494, "sluice/0.1.0"), "", false},
		{"413", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", "413 Request Entity Too Large", page(413, "sluice/0.1.0"), "Connection: close", false},
		{"403", "GET /denied HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "403 Forbidden", page(403, "sluice/0.1.0"), "", false},
		{"502", "GET /dead HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "502 Bad Gateway", "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>sluice/0.1.0</center>\r\n</body>\r\n</html>\r\n", "Content-Type: text/html", false},
		{"503 tokens off", "GET /off HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "503 Service Temporarily Unavailable", page(503, "sluice"), "Server: sluice\r\n", false},
		{"return 301 relative", "GET /r?a=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", "301 Moved Permanently", "", "Location: http://example.com:" + portOf(addr) + "/target?x=1", false},
		{"return 302 url", "GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "302 Moved Temporarily", "", "Location: http://other//t", false},
		{"return 418", "GET /teapot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "418 ", "", "", false},
		{"505", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505 HTTP Version Not Supported", "", "", false},
		{"405 TRACE", "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", "405 Not Allowed", "", "", false},
		{"501 TE", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "501 Not Implemented", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			got := rawRequest(t, addr, tc.raw)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+"\r\n") {
				t.Fatalf("got %q, want status %s", firstLine(got), tc.status)
			}
			_, body, _ := strings.Cut(got, "\r\n\r\n")
			if tc.body != "" && body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if tc.header != "" && !strings.Contains(got, tc.header) {
				t.Errorf("response lacks %q:\n%s", tc.header, got)
			}
			if hit := hits.Load() > before; hit != tc.backendHit {
				t.Errorf("backend reached: %v, want %v", hit, tc.backendHit)
			}
		})
	}
	if !strings.Contains(h.errs.String(), "connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: example.com, request: \"GET /dead HTTP/1.1\"") {
		t.Errorf("error log lacks the connect failure:\n%s", h.errs.String())
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// TestSmuggling sends request-smuggling and malformed vectors: each gets
// nginx's status and the backend never sees a second request.
func TestSmuggling(t *testing.T) {
	be, hits := echoBackend(t)
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18080; location / { proxy_pass http://`+be.addr+`; } } }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	cases := []struct {
		name, raw string
		status    string
		reqs      int64 // requests the backend may see
	}{
		{"CL.TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, "400", 0},
		{"TE.CL", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", "400", 0},
		{"duplicate CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello" + smuggled, "400", 0},
		{"CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello", "400", 0},
		{"CL sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", "400", 0},
		{"TE obfuscated", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", "501", 0},
		{"TE in 1.0", "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400", 0},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", "400", 0},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello", "400", 0},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + smuggled, "400", 0},
		{"chunk size overflow", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n", "400", 0},
		{"NUL in header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", "400", 0},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400", 0},
		{"body with smuggled request", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + fmt.Sprint(len(smuggled)) + "\r\nConnection: close\r\n\r\n" + smuggled, "200", 1},
		{"chunked with smuggled body", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled), "200", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			got := rawRequest(t, addr, tc.raw)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+" ") {
				t.Fatalf("got %q, want %s", firstLine(got), tc.status)
			}
			if strings.Count(got, "HTTP/1.1 ") != 1 {
				t.Errorf("more than one response:\n%s", got)
			}
			if n := hits.Load() - before; n != tc.reqs {
				t.Errorf("backend saw %d requests, want %d", n, tc.reqs)
			}
		})
	}
}

// TestSlowloris checks that a client sending its head byte by byte is cut
// by client_header_timeout, counted from the start of the head.
func TestSlowloris(t *testing.T) {
	be, _ := echoBackend(t)
	h := startProxy(t, `events {} http { access_log off; client_header_timeout 300ms;
		server { listen 127.0.0.1:18080; location / { proxy_pass http://`+be.addr+`; } } }`, Options{})
	c, err := net.Dial("tcp", h.addr["127.0.0.1:18080"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		b := make([]byte, 1)
		c.SetReadDeadline(time.Now().Add(waitLimit))
		c.Read(b)
		closed <- time.Since(start)
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	head := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200)
	for i := 0; ; i++ {
		select {
		case d := <-closed:
			if d < 250*time.Millisecond || d > 2*time.Second {
				t.Fatalf("connection closed after %v, want about 300ms", d)
			}
			testutil.WaitFor(t, "the timeout in the error log", func() bool {
				return strings.Contains(h.errs.String(), "client timed out (110: Connection timed out) while reading client request headers")
			})
			return
		case <-tick.C:
			c.Write([]byte{head[i%len(head)]})
		}
	}
}

// TestKeepAlivePipelining sends pipelined requests on one connection and
// checks that the answers come in order and the connection stays open.
func TestKeepAlivePipelining(t *testing.T) {
	be, _ := echoBackend(t)
	h := startProxy(t, `events {} http { access_log off; keepalive_requests 5;
		upstream b { server `+be.addr+`; keepalive 4; }
		server { listen 127.0.0.1:18080;
			location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; }
			location = /ret { return 200 "ret"; } } }`, Options{})
	c, err := net.Dial("tcp", h.addr["127.0.0.1:18080"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	var all strings.Builder
	all.WriteString("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
	all.WriteString("POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
	all.WriteString("GET /ret HTTP/1.1\r\nHost: x\r\n\r\n")
	all.WriteString("POST /4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n")
	all.WriteString("GET /5 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	all.WriteString("GET /6 HTTP/1.1\r\nHost: x\r\n\r\n") // beyond keepalive_requests
	if _, err := io.WriteString(c, all.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	want := []struct {
		body  string
		close bool
	}{
		{"GET /1 0", false}, {"POST /2 3", false}, {"ret", false}, {"POST /4 2", false}, {"GET /5 0", true},
	}
	for i, w := range want {
		resp, body, err := readResponse(br, false)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		if body != w.body || resp.Close != w.close {
			t.Errorf("response %d: %q close %v, want %q %v", i+1, body, resp.Close, w.body, w.close)
		}
	}
	if b, err := br.ReadByte(); err == nil {
		t.Errorf("data after the last response: %q", b)
	}
}

func TestExpectContinueAndHTTP10(t *testing.T) {
	be, _ := echoBackend(t)
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18080; location / { proxy_pass http://`+be.addr+`; } } }`, Options{})
	c, err := net.Dial("tcp", h.addr["127.0.0.1:18080"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, want 100 Continue", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "hello")
	_, body, err := readResponse(br, false)
	if err != nil || body != "POST /up 5" {
		t.Fatalf("got %q %v", body, err)
	}
	got := rawRequest(t, h.addr["127.0.0.1:18080"], "GET /ten HTTP/1.0\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "GET /ten 0") || !strings.Contains(got, "Connection: close") {
		t.Errorf("HTTP/1.0 request answered %q", got)
	}
}

// TestWebSocket runs a WebSocket echo through the $connection_upgrade
// idiom, with a minimal client and server written on net.Conn.
func TestWebSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitLimit))
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(req.Header.Get("Connection"), "upgrade") {
			fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", wsAccept(req.Header.Get("Sec-WebSocket-Key")))
		for {
			op, msg, err := wsRead(br)
			if err != nil || op == 8 {
				wsWrite(c, 8, nil, false)
				return
			}
			wsWrite(c, op, append([]byte("echo: "), msg...), false)
		}
	}()
	h := startProxy(t, `events {} http { access_log off;
		map $http_upgrade $connection_upgrade { default upgrade; '' close; }
		server { listen 127.0.0.1:18080; location /ws {
			proxy_pass http://`+ln.Addr().String()+`;
			proxy_http_version 1.1;
			proxy_set_header Upgrade $http_upgrade;
			proxy_set_header Connection $connection_upgrade;
		} } }`, Options{})
	c, err := net.Dial("tcp", h.addr["127.0.0.1:18080"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("handshake answered %d %v", resp.StatusCode, resp.Header)
	}
	for i := 0; i < 3; i++ {
		msg := fmt.Sprintf("message %d", i)
		if err := wsWrite(c, 1, []byte(msg), true); err != nil {
			t.Fatal(err)
		}
		op, got, err := wsRead(br)
		if err != nil || op != 1 || string(got) != "echo: "+msg {
			t.Fatalf("echo %d: op %d %q %v", i, op, got, err)
		}
	}
	wsWrite(c, 8, nil, true)
	if op, _, err := wsRead(br); err != nil || op != 8 {
		t.Fatalf("close frame: op %d %v", op, err)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after close: %v, want EOF", err)
	}
}

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsWrite writes one unfragmented frame, masked when mask is set (client
// to server).
func wsWrite(w io.Writer, op byte, payload []byte, mask bool) error {
	b := []byte{0x80 | op}
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	default:
		b = append(b, m|126, byte(n>>8), byte(n))
	}
	if mask {
		key := []byte{1, 2, 3, 4}
		b = append(b, key...)
		for i, c := range payload {
			b = append(b, c^key[i%4])
		}
	} else {
		b = append(b, payload...)
	}
	_, err := w.Write(b)
	return err
}

func wsRead(r *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		io.ReadFull(r, key[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	return h[0] & 0x0f, p, nil
}

func TestStubStatusAndAccessLog(t *testing.T) {
	be, _ := echoBackend(t)
	h := startProxy(t, `events {} http {
		log_format v '$request|$status|$body_bytes_sent|$request_length|$upstream_addr|$upstream_status|$http_x_a|$arg_q|$cookie_c|$sent_http_content_type|$host|$server_port|$connection_requests|$proxy_host|$uri|$args';
		access_log {{DIR}}/logs/v.log v;
		server { listen 127.0.0.1:18080; server_name s;
			location / { proxy_pass http://`+be.addr+`; }
			location = /status { stub_status; access_log off; } } }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	first := rawRequest(t, addr, "GET /p%41th?q=1&x=2 HTTP/1.1\r\nHost: Example.COM\r\nX-A: hdr\r\nCookie: a=1; C=val\r\nConnection: close\r\n\r\n")
	firstHead, firstBody, _ := strings.Cut(first, "\r\n\r\n")
	got := rawRequest(t, addr, "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	_, body, _ := strings.Cut(got, "\r\n\r\n")
	re := regexp.MustCompile(`^Active connections: \d+ \nserver accepts handled requests\n \d+ \d+ \d+ \nReading: \d+ Writing: \d+ Waiting: \d+ \n$`)
	if !re.MatchString(body) {
		t.Errorf("stub_status body %q", body)
	}
	logPath := h.dir + "/logs/v.log"
	var line string
	testutil.WaitFor(t, "the log line", func() bool {
		b, _ := os.ReadFile(logPath)
		line = strings.TrimSpace(string(b))
		return line != ""
	})
	reqLen := len("GET /p%41th?q=1&x=2 HTTP/1.1\r\nHost: Example.COM\r\nX-A: hdr\r\nCookie: a=1; C=val\r\nConnection: close\r\n\r\n")
	want := fmt.Sprintf("GET /p%%41th?q=1&x=2 HTTP/1.1|200|%d|%d|", len(firstBody), reqLen)
	if !strings.HasPrefix(line, want) || firstBody == "" || !strings.Contains(firstHead, "200 OK") {
		t.Fatalf("log line %q, want prefix %q", line, want)
	}
	fields := strings.Split(line, "|")
	wantTail := []string{be.addr, "200", "hdr", "1", "val", "text/plain; charset=utf-8", "example.com", portOf(addr), "1", be.addr, "/pAth", "q=1&x=2"}
	if got := fields[4:]; strings.Join(got, "|") != strings.Join(wantTail, "|") {
		t.Errorf("log fields %q, want %q", got, wantTail)
	}
}

func TestLimitReqLeakyBucket(t *testing.T) {
	be, _ := echoBackend(t)
	var mu sync.Mutex
	now := time.Unix(1700000000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var slept []time.Duration
	h := startProxy(t, `events {} http { access_log off;
		limit_req_zone $binary_remote_addr zone=one:1m rate=10r/s;
		limit_conn_zone $binary_remote_addr zone=c:1m;
		server { listen 127.0.0.1:18080;
			location /nodelay { limit_req zone=one burst=2 nodelay; proxy_pass http://`+be.addr+`; }
			location /delay { limit_req zone=one burst=3; limit_req_status 429; proxy_pass http://`+be.addr+`; }
			} }`,
		Options{Now: clock, Sleep: func(d time.Duration) { mu.Lock(); slept = append(slept, d); mu.Unlock() }})
	addr := h.addr["127.0.0.1:18080"]
	status := func(path string) string {
		f := strings.Fields(firstLine(rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")))
		if len(f) < 2 {
			t.Fatalf("%s: no response; log:\n%s", path, h.errs.String())
		}
		return f[1]
	}
	// rate 10r/s, burst 2, nodelay: 1 + 2 pass at once, the 4th is refused
	var got []string
	for i := 0; i < 4; i++ {
		got = append(got, status("/nodelay"))
	}
	if strings.Join(got, " ") != "200 200 200 503" {
		t.Errorf("nodelay burst: %v", got)
	}
	advance(100 * time.Millisecond) // one request drains
	if s := status("/nodelay"); s != "200" {
		t.Errorf("after 100ms: %s", s)
	}
	advance(time.Second) // empty again
	got = got[:0]
	for i := 0; i < 5; i++ {
		got = append(got, status("/delay"))
	}
	if strings.Join(got, " ") != "200 200 200 200 429" {
		t.Errorf("delay burst: %v", got)
	}
	mu.Lock()
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
	if fmt.Sprint(slept) != fmt.Sprint(want) {
		t.Errorf("delays %v, want %v", slept, want)
	}
	mu.Unlock()
	logs := h.errs.String()
	for _, w := range []string{`[error]`, `limiting requests, excess: 3.000 by zone "one", client: 127.0.0.1`,
		`[warn]`, `delaying request, excess: 1.000, by zone "one", client: 127.0.0.1`} {
		if !strings.Contains(logs, w) {
			t.Errorf("error log lacks %q:\n%s", w, logs)
		}
	}
}

func TestRealIPAndAccess(t *testing.T) {
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18080;
			set_real_ip_from 127.0.0.0/8;
			real_ip_header X-Forwarded-For;
			real_ip_recursive on;
			location / { return 200 "$remote_addr $realip_remote_addr"; }
			# return would answer before the access check, as in nginx
			location /deny { deny 203.0.113.0/24; allow all; error_page 404 =200 /ok; }
			location = /ok { return 200 ok; } } }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	cases := []struct{ path, xff, want string }{
		{"/", "198.51.100.1, 127.0.0.5", "198.51.100.1 127.0.0.1"},
		{"/", "", "127.0.0.1 127.0.0.1"},
		{"/deny", "203.0.113.9", "403"},
		{"/deny", "198.51.100.1", "ok"},
	}
	for _, tc := range cases {
		hdr := ""
		if tc.xff != "" {
			hdr = "X-Forwarded-For: " + tc.xff + "\r\n"
		}
		got := rawRequest(t, addr, "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\n"+hdr+"Connection: close\r\n\r\n")
		_, body, _ := strings.Cut(got, "\r\n\r\n")
		if tc.want == "403" {
			if !strings.HasPrefix(got, "HTTP/1.1 403") {
				t.Errorf("%s %s: %q", tc.path, tc.xff, firstLine(got))
			}
			continue
		}
		if body != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.path, tc.xff, body, tc.want)
		}
	}
}
