package httpproxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestProxyBasic(t *testing.T) {
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Pad", "hidden")
		fmt.Fprintf(w, "hello %s %s host=%s conn=%q", r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("Connection"))
	}))
	h := startProxy(t, `events {} http {
		access_log off;
		upstream b { server `+be.addr+`; }
		server { listen 127.0.0.1:18080;
			location / { proxy_pass http://b; }
			location /v1/ { proxy_pass http://b/api/; }
			location = /ret { return 200 "text $host"; }
			location /none { }
		}
	}`, Options{})
	cases := []struct {
		path, want string
		status     int
	}{
		{"/x?a=1", "hello GET /x?a=1 host=b conn=\"close\"", 200},
		{"/v1/q?z=2", "hello GET /api/q?z=2 host=b conn=\"close\"", 200},
		{"/ret", "text 127.0.0.1", 200},
		{"/none", "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>sluice/0.1.0</center>\r\n</body>\r\n</html>\r\n", 404},
	}
	for _, tc := range cases {
		resp, err := http.Get(h.url("127.0.0.1:18080", tc.path))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || string(b) != tc.want {
			t.Errorf("%s: got %d %q, want %d %q", tc.path, resp.StatusCode, b, tc.status, tc.want)
		}
		if resp.Header.Get("X-Pad") != "" || !strings.HasPrefix(resp.Header.Get("Server"), "sluice") {
			t.Errorf("%s: headers %v", tc.path, resp.Header)
		}
	}
	t.Log(h.errs.String())
}
