package httpproxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// headBackend answers every request with the request head it received as
// the body, and a few headers nginx hides or passes.
func headBackend(t *testing.T) string {
	ln := testutil.Listen(t)
	testutil.Serve(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(waitLimit))
		br := bufio.NewReader(c)
		for {
			var head bytes.Buffer
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(line)
				if line == "\r\n" {
					break
				}
			}
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head.Bytes())))
			if err != nil {
				return
			}
			if req.ContentLength > 0 {
				b := make([]byte, req.ContentLength)
				io.ReadFull(br, b)
				head.Write(b)
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Pad: pad\r\nX-Accel-Buffering: no\r\nX-Kept: yes\r\nContent-Length: %d\r\n\r\n", head.Len())
			c.Write(head.Bytes())
			if req.Close {
				return
			}
		}
	})
	return ln.Addr().String()
}

// TestNginxDifferentialProxy runs nginx and sluice on the same http block
// and sends both the same requests: statuses, the request the upstream
// receives (request line, Host, Connection, X-Forwarded-For, body) and the
// response headers (but Date and Server) must be the same.
func TestNginxDifferentialProxy(t *testing.T) {
	testutil.NeedNginx(t)
	be := headBackend(t)
	body := `
	upstream b { server ` + be + `; }
	map $http_upgrade $connection_upgrade { default upgrade; '' close; }
	server { listen LISTEN; server_name example.com;
		location / { proxy_pass http://b; }
		location /v1/ { proxy_pass http://b/api/; }
		location = /exact { proxy_pass http://b/other; }
		location /hdr { proxy_pass http://b;
			proxy_set_header Host $host;
			proxy_set_header X-Real-IP $remote_addr;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_hide_header X-Kept;
			add_header X-Up $upstream_status always; }
		location /ws { proxy_pass http://b; proxy_http_version 1.1;
			proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; }
		location /ret { return 200 "text $host $request_uri"; }
	}`
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]

	requests := []string{
		"GET /a/b?x=1 HTTP/1.1\r\nHost: Example.COM\r\nConnection: close\r\n\r\n",
		"GET /v1/x%20y?q HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /exact?z=2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		// (nginx would also pass a header the client's Connection header
		// names; sluice drops it, as RFC 9110 asks)
		"GET /hdr HTTP/1.1\r\nHost: example.com:8080\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Other: 1\r\n\r\n",
		"POST /hdr HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
		"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /ret?k=v HTTP/1.1\r\nHost: Example.com\r\nConnection: close\r\n\r\n",
		"GET /../x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: a\r\nX_Under: 1\r\nConnection: close\r\n\r\n",
		"HEAD /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /v1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET http://other.example/a?b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	}
	for _, req := range requests {
		want := normalizeResponse(rawRequest(t, nginxAddr, req), nginxAddr)
		got := normalizeResponse(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if got != want {
			t.Errorf("request %q:\nsluice:\n%s\nnginx:\n%s", firstLine(req), got, want)
		}
	}
}

// normalizeResponse keeps the status line, the response headers sorted
// (without Date, Server, and Content-Length of error pages, whose footer
// differs) and the body with the proxy's own address replaced; a body
// that echoes a request head has its header lines sorted (nginx and
// sluice order the headers they set differently).
func normalizeResponse(resp, addr string) string {
	head, body, _ := strings.Cut(resp, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	var hs []string
	isPage := strings.Contains(body, "<hr><center>")
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(strings.ToLower(l), ":")
		switch name {
		case "date", "server":
			continue
		case "content-length":
			if isPage {
				continue
			}
		}
		hs = append(hs, l)
	}
	sort.Strings(hs)
	if isPage {
		body = body[:strings.Index(body, "<hr><center>")]
	}
	if reqHead, reqBody, ok := strings.Cut(body, "\r\n\r\n"); ok && strings.Contains(reqHead, " HTTP/1.") {
		rl := strings.Split(reqHead, "\r\n")
		sort.Strings(rl[1:])
		body = strings.Join(rl, "\r\n") + "\r\n\r\n" + reqBody
	}
	_, port, _ := net.SplitHostPort(addr)
	out := lines[0] + "\n" + strings.Join(hs, "\n") + "\n\n" + body
	out = strings.ReplaceAll(out, addr, "PROXY")
	return strings.ReplaceAll(out, ":"+port, ":PORT")
}
