package httpproxy

import (
	"strings"
	"testing"
)

// moduleDiff runs nginx and sluice on one http block (LISTEN is the
// listen address; DIR, when the block holds it, is replaced by dir in
// both) and sends both each request, comparing what normalizeResponse
// keeps: status line, headers but Date and Server, and body.
func moduleDiff(t *testing.T, dir, body string, requests []string) {
	t.Helper()
	moduleDiffNorm(t, dir, body, requests, nil)
}

// moduleDiffNorm is moduleDiff with norm, when not nil, applied to both
// normalized responses before they are compared.
func moduleDiffNorm(t *testing.T, dir, body string, requests []string, norm func(string) string) {
	t.Helper()
	body = strings.ReplaceAll(body, "DIR", dir)
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]
	for _, req := range requests {
		want := normalizeResponse(rawRequest(t, nginxAddr, req), nginxAddr)
		got := normalizeResponse(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if norm != nil {
			want, got = norm(want), norm(got)
		}
		if got != want {
			t.Errorf("request %q:\nsluice:\n%q\nnginx:\n%q", firstLine(req), got, want)
		}
	}
}
