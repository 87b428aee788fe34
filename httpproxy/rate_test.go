package httpproxy

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rateBody is the response body of the rate limit tests: 400 KB, two
// seconds' worth at limit_rate 200k.
var rateBody = bytes.Repeat([]byte("0123456789abcdef"), 400<<10/16)

// rateBackend answers rateBody, with Content-Length or (?chunked) in
// pieces without one, and the X-Accel-Limit-Rate of ?xa.
func rateBackend(t *testing.T) *backend {
	return startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if xa := r.URL.Query().Get("xa"); xa != "" {
			w.Header().Set("X-Accel-Limit-Rate", xa)
		}
		if r.URL.Query().Has("chunked") {
			for b := rateBody; len(b) > 0; b = b[min(len(b), 50<<10):] {
				w.Write(b[:min(len(b), 50<<10)])
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Content-Length", "409600")
		w.Write(rateBody)
	}))
}

// TestLimitRate downloads 400 KB through locations with and without a
// response rate limit, in parallel, and checks how long each took: about
// the body size over the rate, less what limit_rate_after lets through at
// once, as with nginx 1.22 (which took 1.8-2.0 s for the same 400 KB at
// limit_rate 200k, and 1.4 s with limit_rate_after 100k).
func TestLimitRate(t *testing.T) {
	be := rateBackend(t)
	conf := `events {} http { access_log off;
	server { listen 127.0.0.1:18080;
		location /fast { proxy_pass http://BE; }
		location /rate { limit_rate 200k; proxy_pass http://BE; }
		location /after { limit_rate 200k; limit_rate_after 100k; proxy_pass http://BE; }
		location /set { set $limit_rate 200k; add_header X-Rate $limit_rate; proxy_pass http://BE; }
		location /var { set $r 200k; limit_rate $r; proxy_pass http://BE; }
		location /if { if ($arg_slow) { limit_rate 200k; } proxy_pass http://BE; }
	}
	server { listen 127.0.0.1:18081; limit_rate 256k;
		location / { proxy_pass http://BE; }
		location /off { limit_rate 0; proxy_pass http://BE; }
	}
	server { listen 127.0.0.1:18082 http2;
		location / { proxy_pass http://BE; }
		location /rate { limit_rate 200k; proxy_pass http://BE; }
	}
}`
	h := startProxy(t, strings.ReplaceAll(conf, "BE", be.addr), Options{})
	cases := []struct {
		name, url string
		min, max  time.Duration
		header    string // X-Rate wanted
		h2        bool
	}{
		{"unlimited", h.url("127.0.0.1:18080", "/fast"), 0, time.Second, "", false},
		{"unlimited_chunked", h.url("127.0.0.1:18080", "/fast?chunked=1"), 0, time.Second, "", false},
		{"limit_rate", h.url("127.0.0.1:18080", "/rate"), 1400 * time.Millisecond, 4 * time.Second, "", false},
		{"limit_rate_chunked", h.url("127.0.0.1:18080", "/rate?chunked=1"), 1400 * time.Millisecond, 4 * time.Second, "", false},
		{"limit_rate_after", h.url("127.0.0.1:18080", "/after"), 1000 * time.Millisecond, 3 * time.Second, "", false},
		{"set_limit_rate", h.url("127.0.0.1:18080", "/set"), 1400 * time.Millisecond, 4 * time.Second, "204800", false},
		{"limit_rate_variable", h.url("127.0.0.1:18080", "/var"), 1400 * time.Millisecond, 4 * time.Second, "", false},
		{"if_unlimited", h.url("127.0.0.1:18080", "/if"), 0, time.Second, "", false},
		{"if_limited", h.url("127.0.0.1:18080", "/if?slow=1"), 1400 * time.Millisecond, 4 * time.Second, "", false},
		{"x_accel_limit_rate", h.url("127.0.0.1:18080", "/fast?xa=204800&chunked=1"), 1400 * time.Millisecond, 4 * time.Second, "", false},
		{"x_accel_invalid", h.url("127.0.0.1:18080", "/fast?xa=200k"), 0, time.Second, "", false},
		{"x_accel_zero", h.url("127.0.0.1:18081", "/?xa=0"), 0, time.Second, "", false},
		{"server_limit", h.url("127.0.0.1:18081", "/"), 1200 * time.Millisecond, 4 * time.Second, "", false},
		{"inherited_limit", h.url("127.0.0.1:18081", "/?xa=204800"), 1400 * time.Millisecond, 4 * time.Second, "", false},
		{"limit_rate_0", h.url("127.0.0.1:18081", "/off"), 0, time.Second, "", false},
		{"h2_unlimited", h.url("127.0.0.1:18082", "/"), 0, time.Second, "", true},
		{"h2_limit_rate", h.url("127.0.0.1:18082", "/rate"), 1400 * time.Millisecond, 4 * time.Second, "", true},
		{"h2_x_accel_limit_rate", h.url("127.0.0.1:18082", "/?xa=204800&chunked=1"), 1400 * time.Millisecond, 4 * time.Second, "", true},
	}
	h2, _ := h2cClient(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			cl := http.DefaultClient
			if tc.h2 {
				cl = h2
			}
			resp, err := cl.Get(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if tc.h2 && resp.ProtoMajor != 2 {
				t.Errorf("protocol %s", resp.Proto)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, rateBody) {
				t.Fatalf("body: got %d bytes, want %d", len(body), len(rateBody))
			}
			if took < tc.min || took > tc.max {
				t.Errorf("took %v, want %v to %v", took, tc.min, tc.max)
			}
			if got := resp.Header.Get("X-Rate"); got != tc.header {
				t.Errorf("X-Rate: %q, want %q", got, tc.header)
			}
			if v := resp.Header.Get("X-Accel-Limit-Rate"); v != "" {
				t.Errorf("X-Accel-Limit-Rate passed to the client: %q", v)
			}
		})
	}
}

// TestLimitRateNginx downloads the same 400 KB through nginx and sluice
// with the same rate limits, all at once, and checks that each took about
// as long through both (within a factor of two), and that $limit_rate
// reads the same.
func TestLimitRateNginx(t *testing.T) {
	be := rateBackend(t)
	body := strings.ReplaceAll(`server { listen LISTEN;
		location /rate { limit_rate 200k; proxy_pass http://BE; }
		location /after { limit_rate 200k; limit_rate_after 100k; proxy_pass http://BE; }
		location /set { set $limit_rate 200k; add_header X-Rate $limit_rate; proxy_pass http://BE; }
		location /xa { proxy_pass http://BE; }
	}
`, "BE", be.addr)
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18080")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]
	for _, p := range []string{"/rate", "/after", "/set", "/xa?xa=204800&chunked=1"} {
		t.Run(strings.TrimPrefix(p, "/"), func(t *testing.T) {
			t.Parallel()
			type result struct {
				took time.Duration
				rate string
				err  error
			}
			get := func(addr string, out chan<- result) {
				start := time.Now()
				resp, err := http.Get("http://" + addr + p)
				if err != nil {
					out <- result{err: err}
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && !bytes.Equal(b, rateBody) {
					err = io.ErrUnexpectedEOF
				}
				out <- result{time.Since(start), resp.Header.Get("X-Rate"), err}
			}
			nc, sc := make(chan result, 1), make(chan result, 1)
			go get(nginxAddr, nc)
			go get(sluiceAddr, sc)
			n, s := <-nc, <-sc
			if n.err != nil || s.err != nil {
				t.Fatalf("nginx: %v, sluice: %v", n.err, s.err)
			}
			if s.took < n.took/2 || s.took > n.took*2 {
				t.Errorf("sluice took %v, nginx %v", s.took, n.took)
			}
			if s.rate != n.rate {
				t.Errorf("X-Rate: sluice %q, nginx %q", s.rate, n.rate)
			}
			t.Logf("sluice %v, nginx %v", s.took, n.took)
		})
	}
}

// TestLimitRateGzipAndErrors checks that a paced response compressed by
// gzip arrives whole, and that an invalid `set $limit_rate` or limit_rate
// value is logged as nginx logs it and leaves the response unlimited.
func TestLimitRateGzipAndErrors(t *testing.T) {
	be := rateBackend(t)
	conf := `events {} http { access_log off;
	server { listen 127.0.0.1:18080;
		location /gz { gzip on; gzip_types text/plain; gzip_proxied any; limit_rate 200k; proxy_pass http://BE; }
		location /bad { set $limit_rate foo; proxy_pass http://BE; }
		location /badvar { limit_rate $arg_r; proxy_pass http://BE; }
	}
}`
	h := startProxy(t, strings.ReplaceAll(conf, "BE", be.addr), Options{})
	for _, p := range []string{"/gz?chunked=1", "/bad", "/badvar?r=zz"} {
		start := time.Now()
		resp, err := http.Get(h.url("127.0.0.1:18080", p))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(body, rateBody) {
			t.Fatalf("%s: got %d bytes (%v), want %d", p, len(body), err, len(rateBody))
		}
		if p == "/gz?chunked=1" && !resp.Uncompressed {
			t.Errorf("%s: not compressed", p)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: took %v", p, took)
		}
	}
	for _, msg := range []string{`invalid $limit_rate "foo"`, `invalid size "zz"`} {
		if !strings.Contains(h.errs.String(), msg) {
			t.Errorf("error log lacks %q:\n%s", msg, h.errs.String())
		}
	}
}
