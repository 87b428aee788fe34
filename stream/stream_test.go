package stream

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/internal/testutil"
)

const logFormat = `log_format t '$status|$upstream_addr|$bytes_sent|$bytes_received|$protocol|$remote_addr|$server_port|$upstream_connect_time|$upstream_first_byte_time|$upstream_session_time|$upstream_bytes_sent|$upstream_bytes_received|$connection|$limit_conn_status';`

// byConnection sorts access log lines in logFormat by $connection: sessions
// may end (and log) in another order than they started.
func byConnection(lines []string) []string {
	sort.Slice(lines, func(i, j int) bool {
		a, _ := strconv.Atoi(field(lines[i], 12))
		b, _ := strconv.Atoi(field(lines[j], 12))
		return a < b
	})
	return lines
}

// field returns field i of an access log line in logFormat.
func field(line string, i int) string { return strings.Split(line, "|")[i] }

func TestSeedWeightedSequence(t *testing.T) {
	b1 := startBackend(t, seedHandler("8001"))
	b2 := startBackend(t, seedHandler("8002"))
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    upstream inference_tcp_backends {
        server %s weight=3;
        server %s;
    }
    server {
        listen 127.0.0.1:9000;
        proxy_pass inference_tcp_backends;
        proxy_timeout 30s;
        proxy_connect_timeout 5s;
    }
}`, logFormat, b1.addr(), b2.addr()), nil)
	var got []string
	for _, m := range []string{"A", "B", "C", "D", "E", "F", "G", "H"} {
		resp := h.request("127.0.0.1:9000", "Inference Request "+m+"\n")
		want := regexp.MustCompile(`^\[Server (800[12])\] Received: Inference Request ` + m + `$`)
		sm := want.FindStringSubmatch(resp)
		if sm == nil {
			t.Fatalf("response %q", resp)
		}
		got = append(got, sm[1])
	}
	// nginx's smooth weighted round robin for weights 3:1.
	if want := "8001 8001 8002 8001 8001 8001 8002 8001"; strings.Join(got, " ") != want {
		t.Errorf("sequence %v, want %s", got, want)
	}
	h.waitSessions(8)
	lines := byConnection(h.logLines())
	if len(lines) != 8 {
		t.Fatalf("%d log lines: %q", len(lines), lines)
	}
	wantAddr := []string{b1.addr(), b1.addr(), b2.addr(), b1.addr()}
	for i, l := range lines[:4] {
		if field(l, 0) != "200" || field(l, 1) != wantAddr[i] || field(l, 4) != "TCP" || field(l, 5) != "127.0.0.1" {
			t.Errorf("line %d: %q", i, l)
		}
		n := fmt.Sprint(len("Inference Request A\n"))
		if field(l, 3) != n || field(l, 10) != n || field(l, 2) != field(l, 11) || field(l, 2) != fmt.Sprint(len("[Server 8001] Received: Inference Request A")) {
			t.Errorf("line %d byte counts: %q", i, l)
		}
		for _, f := range []int{7, 8, 9} {
			if !regexp.MustCompile(`^\d+\.\d{3}$`).MatchString(field(l, f)) {
				t.Errorf("line %d field %d: %q", i, f, l)
			}
		}
	}
}

func TestAccessAndLimitStatus(t *testing.T) {
	hold := make(chan struct{})
	be := startBackend(t, func(c net.Conn) {
		io.WriteString(c, "hi\n")
		<-hold
	})
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    limit_conn_zone $binary_remote_addr zone=perip:1m;
    server {
        listen 127.0.0.1:1;
        deny 127.0.0.0/8;
        allow all;
        proxy_pass %[2]s;
    }
    server {
        listen 127.0.0.1:2;
        allow 127.0.0.1;
        deny all;
        limit_conn perip 1;
        proxy_pass %[2]s;
    }
}`, logFormat, be.addr()), nil)

	if got := h.request("127.0.0.1:1", "x"); got != "" {
		t.Errorf("denied client got %q", got)
	}
	h.waitSessions(1)

	first := h.dial("127.0.0.1:2")
	defer first.Close()
	if l := readLine(t, bufio.NewReader(first)); l != "hi\n" {
		t.Fatalf("first connection got %q", l)
	}
	if got := h.request("127.0.0.1:2", "x"); got != "" {
		t.Errorf("second connection over limit got %q", got)
	}
	h.waitSessions(1)
	close(hold)
	io.ReadAll(first)
	h.waitSessions(1)

	lines := h.logLines()
	if len(lines) != 3 {
		t.Fatalf("log lines %q", lines)
	}
	checks := []struct{ status, upstream, limit string }{
		{"403", "-", "-"},
		{"503", "-", "REJECTED"},
		{"200", be.addr(), "PASSED"},
	}
	for i, c := range checks {
		if field(lines[i], 0) != c.status || field(lines[i], 1) != c.upstream || field(lines[i], 13) != c.limit {
			t.Errorf("line %d = %q, want status %s upstream %s limit %s", i, lines[i], c.status, c.upstream, c.limit)
		}
	}
	errs := h.errs.String()
	for _, want := range []string{
		`[error] `, `access forbidden by rule, client: 127.0.0.1, server: 127.0.0.1:1`,
		`limiting connections by zone "perip", client: 127.0.0.1, server: 127.0.0.1:2`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("error log lacks %q:\n%s", want, errs)
		}
	}
}

func TestNextUpstream(t *testing.T) {
	be := startBackend(t, seedHandler("live"))
	dead := testutil.FreeAddr(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    upstream u {
        server %s;
        server %s;
    }
    server {
        listen 127.0.0.1:1;
        proxy_pass u;
    }
    server {
        listen 127.0.0.1:2;
        proxy_pass u;
        proxy_next_upstream off;
    }
}`, logFormat, dead, be.addr()), nil)
	if got := h.request("127.0.0.1:1", "a"); got != "[Server live] Received: a" {
		t.Fatalf("got %q", got)
	}
	h.waitSessions(1)
	lines := h.logLines()
	l := lines[0]
	if field(l, 0) != "200" || field(l, 1) != dead+", "+be.addr() || !strings.HasPrefix(field(l, 7), "-, ") ||
		!strings.HasPrefix(field(l, 10), "0, ") {
		t.Errorf("log line %q", l)
	}
	wantErr := fmt.Sprintf(`[error] %s connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: 127.0.0.1:1, upstream: "%s", bytes from/to client:0/0, bytes from/to upstream:0/0`, "", dead)
	wantErr = strings.Replace(wantErr, "[error]  ", "[error] ", 1)
	if !regexp.MustCompile(`\[error\] \d+#\d+: \*\d+ ` + regexp.QuoteMeta(strings.TrimPrefix(wantErr, "[error] "))).MatchString(h.errs.String()) {
		t.Errorf("error log:\n%s\nwant %s", h.errs.String(), wantErr)
	}
}

func TestMaxFailsAndFailTimeout(t *testing.T) {
	clock := testutil.NewFakeClock(time.Unix(1_700_000_000, 0))
	reg := balance.NewRegistry(clock)
	be := startBackend(t, seedHandler("live"))
	dead := testutil.FreeAddr(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    upstream u {
        server %s max_fails=1 fail_timeout=30s;
        server %s;
    }
    server {
        listen 127.0.0.1:1;
        proxy_pass u;
        proxy_next_upstream off;
    }
}`, logFormat, dead, be.addr()), reg)

	// Round robin starts with the dead server: 502, and it is marked down.
	if got := h.request("127.0.0.1:1", "a"); got != "" {
		t.Fatalf("got %q from a dead server", got)
	}
	for i := 0; i < 4; i++ {
		if got := h.request("127.0.0.1:1", "b"); got != "[Server live] Received: b" {
			t.Fatalf("while %s is down: got %q", dead, got)
		}
	}
	// After fail_timeout the dead server is tried again.
	clock.Advance(31 * time.Second)
	var statuses []string
	for i := 0; i < 4; i++ {
		h.request("127.0.0.1:1", "c")
	}
	h.waitSessions(9)
	for _, l := range byConnection(h.logLines()) {
		statuses = append(statuses, field(l, 0)+" "+field(l, 1))
	}
	want := []string{"502 " + dead, "200 " + be.addr(), "200 " + be.addr(), "200 " + be.addr(), "200 " + be.addr()}
	if strings.Join(statuses[:5], ",") != strings.Join(want, ",") {
		t.Errorf("statuses %q, want %q", statuses[:5], want)
	}
	retried := false
	for _, s := range statuses[5:] {
		retried = retried || s == "502 "+dead
	}
	if !retried {
		t.Errorf("dead server not retried after fail_timeout: %q", statuses[5:])
	}
}

func TestHalfClose(t *testing.T) {
	// The backend reads until the client's end of stream, then answers.
	be := startBackend(t, func(c net.Conn) {
		data, _ := io.ReadAll(c)
		fmt.Fprintf(c, "got %s", data)
	})
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    server {
        listen 127.0.0.1:1;
        proxy_pass %[2]s;
        proxy_half_close on;
    }
    server {
        listen 127.0.0.1:2;
        proxy_pass %[2]s;
    }
}`, logFormat, be.addr()), nil)
	tests := []struct {
		listen, want string
	}{
		{"127.0.0.1:1", "got hello"}, // the reply still flows after the client's half-close
		{"127.0.0.1:2", ""},          // nginx's default: the session ends with the client's end
	}
	for _, tc := range tests {
		c := h.dial(tc.listen)
		io.WriteString(c, "hello")
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil && tc.want != "" {
			t.Fatalf("%s: %v", tc.listen, err)
		}
		if string(got) != tc.want {
			t.Errorf("%s: got %q, want %q", tc.listen, got, tc.want)
		}
		h.waitSessions(1)
	}
}

func TestIdleTimeout(t *testing.T) {
	be := startBackend(t, func(c net.Conn) { io.Copy(c, c) })
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    server {
        listen 127.0.0.1:1;
        proxy_pass %s;
        proxy_timeout 300ms;
    }
}`, logFormat, be.addr()), nil)
	c := h.dial("127.0.0.1:1")
	defer c.Close()
	r := bufio.NewReader(c)
	// Traffic keeps the session alive past the timeout.
	began := time.Now()
	for time.Since(began) < 600*time.Millisecond {
		io.WriteString(c, "ping\n")
		if l := readLine(t, r); l != "ping\n" {
			t.Fatalf("echo %q", l)
		}
	}
	// Then silence ends it.
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	h.waitSessions(1)
	if !strings.Contains(h.errs.String(), "connection timed out (110: Connection timed out) while proxying connection") {
		t.Errorf("error log:\n%s", h.errs.String())
	}
}

func TestBulkBothWays(t *testing.T) {
	be := startBackend(t, func(c net.Conn) {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    server {
        listen 127.0.0.1:1;
        proxy_pass %s;
        proxy_half_close on;
    }
}`, logFormat, be.addr()), nil)
	data := randomBytes(1, 8<<20)
	c := h.dial("127.0.0.1:1")
	defer c.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		c.(*net.TCPConn).CloseWrite()
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	sameBytes(t, got, data)
	h.waitSessions(1)
	l := h.logLines()[0]
	n := fmt.Sprint(len(data))
	if field(l, 2) != n || field(l, 3) != n || field(l, 10) != n || field(l, 11) != n {
		t.Errorf("log line %q", l)
	}
}

func TestProxyPassVariableAndProtocol(t *testing.T) {
	got := make(chan string, 4)
	be := startBackend(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		l, _ := r.ReadString('\n')
		got <- l
		io.WriteString(c, "ok")
	})
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    upstream named {
        server %[2]s;
    }
    map $server_port $target {
        default named;
    }
    map $server_port $direct {
        default %[2]s;
    }
    server {
        listen 127.0.0.1:1;
        proxy_pass $target;
    }
    server {
        listen 127.0.0.1:2;
        proxy_pass $direct;
        proxy_protocol on;
    }
    server {
        listen 127.0.0.1:3;
        return "$remote_addr $protocol\n";
    }
}`, logFormat, be.addr()), nil)
	if r := h.request("127.0.0.1:1", "plain\n"); r != "ok" {
		t.Errorf("via map to upstream: %q", r)
	}
	if l := <-got; l != "plain\n" {
		t.Errorf("backend got %q", l)
	}
	c := h.dial("127.0.0.1:2")
	io.WriteString(c, "after header\n")
	io.ReadAll(c)
	local, remote := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
	c.Close()
	want := fmt.Sprintf("PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\n", local.Port, remote.Port)
	if l := <-got; l != want {
		t.Errorf("PROXY header %q, want %q", l, want)
	}
	if r := h.request("127.0.0.1:3", ""); r != "127.0.0.1 TCP\n" {
		t.Errorf("return: %q", r)
	}
	h.waitSessions(3)
	lines := byConnection(h.logLines())
	if field(lines[0], 1) != be.addr() || field(lines[1], 1) != be.addr() || field(lines[2], 0) != "200" || field(lines[2], 1) != "-" {
		t.Errorf("log %q", lines)
	}
}

func TestAcceptProxyProtocol(t *testing.T) {
	got := make(chan string, 1)
	be := startBackend(t, func(c net.Conn) {
		b, _ := io.ReadAll(c)
		got <- string(b)
	})
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    log_format pp '$status $remote_addr $proxy_protocol_addr:$proxy_protocol_port $proxy_protocol_server_addr:$proxy_protocol_server_port';
    access_log {{LOG}} pp;
    server {
        listen 127.0.0.1:1 proxy_protocol;
        proxy_pass %s;
        proxy_half_close on;
    }
}`, be.addr()), nil)
	c := h.dial("127.0.0.1:1")
	io.WriteString(c, "PROXY TCP4 192.0.2.1 198.51.100.2 1234 443\r\npayload")
	c.(*net.TCPConn).CloseWrite()
	io.ReadAll(c)
	c.Close()
	if b := <-got; b != "payload" {
		t.Errorf("backend got %q", b)
	}
	h.waitSessions(1)
	if r := h.request("127.0.0.1:1", "GARBAGE\r\n"); r != "" {
		t.Errorf("broken header answered %q", r)
	}
	h.waitSessions(1)
	lines := h.logLines()
	if want := []string{"200 127.0.0.1 192.0.2.1:1234 198.51.100.2:443", "400 127.0.0.1 -:- -:-"}; strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("log %q, want %q", lines, want)
	}
}

func TestNoLiveUpstreams(t *testing.T) {
	dead := testutil.FreeAddr(t)
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    upstream u {
        server %s down;
        server %[2]s backup down;
    }
    server {
        listen 127.0.0.1:1;
        proxy_pass u;
    }
}`, logFormat, dead), nil)
	h.request("127.0.0.1:1", "x")
	h.waitSessions(1)
	if l := h.logLines()[0]; field(l, 0) != "502" || field(l, 1) != "u" {
		t.Errorf("log %q", l)
	}
	if !strings.Contains(h.errs.String(), `no live upstreams while connecting to upstream, client: 127.0.0.1, server: 127.0.0.1:1, upstream: "u"`) {
		t.Errorf("error log:\n%s", h.errs.String())
	}
}

func TestMatchAccess(t *testing.T) {
	// exercised through configuration so the rules are parsed as nginx's
	be := startBackend(t, seedHandler("x"))
	h := startProxy(t, fmt.Sprintf(`events {}
stream {
    %s
    access_log {{LOG}} t;
    server {
        listen 127.0.0.1:1;
        allow 127.0.0.2;
        allow 10.0.0.0/8;
        deny 127.0.0.0/8;
        proxy_pass %s;
    }
}`, logFormat, be.addr()), nil)
	if got := h.request("127.0.0.1:1", "x"); got != "" {
		t.Errorf("denied: %q", got)
	}
	h.waitSessions(1)
	if l := h.logLines()[0]; field(l, 0) != "403" {
		t.Errorf("log %q", l)
	}
}

var _ = bytes.Equal
