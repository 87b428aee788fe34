package httpproxy

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// TestH2NginxDifferential sends the same HTTP/2 requests (h2c) to nginx
// and sluice on the same configuration and compares the answers: status,
// headers, body, and for proxied requests the request head the upstream
// received.
func TestH2NginxDifferential(t *testing.T) {
	be := headBackend(t)
	body := `
	upstream b { server ` + be + `; }
	server { listen LISTEN http2; server_name example.com;
		location / { proxy_pass http://b; }
		location /v1/ { proxy_pass http://b/api/; proxy_set_header X-Proto $server_protocol; }
		location /ret { return 200 "$server_protocol|$request|$request_uri|$host|$scheme\n"; }
		location /deny { deny all; }
		location /redir { return 302 /elsewhere; }
	}`
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18224")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18224"]
	cl, _ := h2cClient(t)
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	type req struct {
		method, path, body string
		unknownLength      bool
		hdr                map[string]string
	}
	reqs := []req{
		{method: "GET", path: "/ret?x=1"},
		{method: "GET", path: "/a/b?x=1", hdr: map[string]string{"X-Custom": "v", "Cookie": "a=1"}},
		{method: "GET", path: "/v1/x%20y?q"},
		{method: "POST", path: "/a", body: "hello"},
		{method: "POST", path: "/a", body: "chunks", unknownLength: true},
		{method: "HEAD", path: "/a"},
		{method: "GET", path: "/deny"},
		{method: "GET", path: "/redir"},
		{method: "GET", path: "/../x"},
	}
	do := func(addr string, r req) string {
		var rd io.Reader
		if r.body != "" {
			rd = strings.NewReader(r.body)
			if r.unknownLength {
				rd = io.MultiReader(rd)
			}
		}
		hr, _ := http.NewRequest(r.method, "http://"+addr+r.path, rd)
		if r.path == "/../x" {
			hr.URL.Opaque = "/../x"
		}
		hr.Host = "example.com"
		if r.unknownLength {
			hr.ContentLength = -1
		}
		hr.Header.Set("User-Agent", "test")
		for k, v := range r.hdr {
			hr.Header.Set(k, v)
		}
		resp, err := cl.Do(hr)
		if err != nil {
			return "error: " + err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var hs []string
		for k, vv := range resp.Header {
			switch k {
			case "Date", "Server", "Content-Length":
				continue
			}
			hs = append(hs, k+": "+strings.Join(vv, ","))
		}
		sort.Strings(hs)
		text := string(b)
		if i := strings.Index(text, "<hr><center>"); i >= 0 {
			text = text[:i]
		}
		if head, rest, ok := strings.Cut(text, "\r\n\r\n"); ok && strings.Contains(head, " HTTP/1.") {
			rl := strings.Split(head, "\r\n")
			sort.Strings(rl[1:])
			text = strings.Join(rl, "\r\n") + "\r\n\r\n" + rest
		}
		out := fmt.Sprintf("%s %d\n%s\n\n%s", resp.Proto, resp.StatusCode, strings.Join(hs, "\n"), text)
		out = strings.ReplaceAll(out, addr, "PROXY")
		return strings.ReplaceAll(out, ":"+portOf(addr), ":PORT")
	}
	for _, r := range reqs {
		want := do(nginxAddr, r)
		got := do(sluiceAddr, r)
		if got != want {
			t.Errorf("%s %s:\nsluice:\n%s\nnginx:\n%s", r.method, r.path, got, want)
		}
	}
}
