package httpproxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/httpproxy/h1"
	"github.com/sluicelb/sluice/internal/testutil"
)

// TestGzip fetches responses through a gzip-enabled proxy with a real
// client that does not decompress by itself: what is compressed must
// decompress to exactly what the backend sent, with nginx's headers.
func TestGzip(t *testing.T) {
	be := featureBackend(t)
	h := startProxy(t, `events {} http { access_log off;
	upstream b { server `+be.addr+`; }
	server { listen 127.0.0.1:18080;
		gzip on; gzip_vary on; gzip_types application/json; gzip_comp_level 6;
		location / { proxy_pass http://b; }
		location /v11/ { proxy_pass http://b/; proxy_http_version 1.1; }
		location /v10/ { gzip_http_version 1.0; proxy_pass http://b/; }
		location /ret { return 200 "$request_uri is not text/html"; }
		location /gone { return 404; }
	}}`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	// the bodies as the backend sends them
	plain := map[string]string{}
	direct := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: waitLimit}
	for _, p := range []string{"/html", "/json", "/chunked", "/nf", "/png"} {
		resp, err := direct.Get("http://" + be.addr + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		plain[p] = string(b)
	}
	cases := []struct {
		name, req  string
		gzipped    bool
		vary       bool
		want       string // the decompressed body; "" to skip
		keepAlive  bool
		wantLength bool // Content-Length present
	}{
		{"html", "GET /html HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n", true, true, plain["/html"], true, false},
		{"upstream http/1.1", "GET /v11/html HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n", true, true, plain["/html"], true, false},
		{"json", "GET /json HTTP/1.1\r\nHost: a\r\nAccept-Encoding: deflate, gzip\r\n\r\n", true, true, plain["/json"], true, false},
		{"chunked upstream", "GET /v11/chunked HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n", true, true, plain["/chunked"], true, false},
		{"404", "GET /nf HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n", true, true, plain["/nf"], true, false},
		{"no accept-encoding", "GET /html HTTP/1.1\r\nHost: a\r\n\r\n", false, true, plain["/html"], true, true},
		{"q=0", "GET /html HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip;q=0\r\n\r\n", false, true, plain["/html"], true, true},
		{"type not listed", "GET /png HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n", false, false, plain["/png"], true, true},
		{"http/1.0 not by default", "GET /html HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n", false, true, plain["/html"], false, true},
		{"http/1.0 close-delimited", "GET /v10/html HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n", true, true, plain["/html"], false, false},
		{"proxied request", "GET /html HTTP/1.1\r\nHost: a\r\nVia: 1.1 cache\r\nAccept-Encoding: gzip\r\n\r\n", false, true, plain["/html"], true, true},
		{"own error page", "GET /gone HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n", true, true, "", true, false},
		{"return text/plain", "GET /ret HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n", false, false, "/ret is not text/html", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", addr, waitLimit)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(waitLimit))
			io.WriteString(c, tc.req)
			resp, raw, err := readResponse(bufio.NewReader(c), false)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gzipped {
				t.Fatalf("compressed %v, want %v (headers %v)", got, tc.gzipped, resp.Header)
			}
			if got := resp.Header.Get("Vary") == "Accept-Encoding"; got != tc.vary {
				t.Errorf("Vary %q, want it %v", resp.Header.Get("Vary"), tc.vary)
			}
			if got := resp.Header.Get("Content-Length") != ""; got != tc.wantLength {
				t.Errorf("Content-Length %q, want it %v", resp.Header.Get("Content-Length"), tc.wantLength)
			}
			if tc.gzipped && resp.ProtoMinor == 1 && strings.Contains(tc.req, "HTTP/1.1") &&
				(len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked") {
				t.Errorf("Transfer-Encoding %v, want chunked", resp.TransferEncoding)
			}
			if resp.Close == tc.keepAlive {
				t.Errorf("connection closes: %v, want keep-alive %v", resp.Close, tc.keepAlive)
			}
			body := raw
			if tc.gzipped {
				zr, err := gzip.NewReader(strings.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(zr)
				if err != nil {
					t.Fatalf("decompress: %v", err)
				}
				body = string(b)
				if len(raw) >= len(body) && len(body) > 200 {
					t.Errorf("compressed %d bytes to %d", len(body), len(raw))
				}
			}
			if tc.want != "" && body != tc.want {
				t.Errorf("body %q, want %q", trim(body), trim(tc.want))
			}
			if tc.name == "own error page" && !strings.Contains(body, "<center><h1>404 Not Found</h1></center>") {
				t.Errorf("error page %q", body)
			}
		})
	}
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// TestGzipStreaming sends server-sent events through gzip: each event
// must decompress at the client before the backend writes the next one.
func TestGzipStreaming(t *testing.T) {
	for _, proto := range []string{"1.0", "1.1"} {
		t.Run("proxy_http_version "+proto, func(t *testing.T) {
			next := make(chan string)
			be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				for ev := range next {
					fmt.Fprintf(w, "data: %s\n\n", ev)
					w.(http.Flusher).Flush()
				}
			}))
			h := startProxy(t, `events {} http { access_log off; gzip on; gzip_types text/event-stream;
				server { listen 127.0.0.1:18080; location / { proxy_pass http://`+be.addr+`; proxy_http_version `+proto+`; proxy_buffering off; } } }`, Options{})
			t.Cleanup(func() { close(next) }) // runs first: the stream ends
			c, err := net.Dial("tcp", h.addr["127.0.0.1:18080"])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(waitLimit))
			fmt.Fprintf(c, "GET /events HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("not compressed: %v", resp.Header)
			}
			// the gzip header arrives with the first event
			next <- "token-0"
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if line, err := readLine(zr); err != nil || line != "data: token-0" {
				t.Fatalf("got %q, %v", line, err)
			}
			var worst time.Duration
			for i := 1; i < 20; i++ {
				ev := fmt.Sprintf("token-%d", i)
				sent := time.Now()
				next <- ev
				line, err := readLine(zr)
				if err != nil {
					t.Fatal(err)
				}
				if d := time.Since(sent); d > worst {
					worst = d
				}
				if line != "data: "+ev {
					t.Fatalf("got %q, want data: %s", line, ev)
				}
			}
			t.Logf("slowest event: %v", worst)
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	cases := []struct {
		ae   string
		want bool
	}{
		{"gzip", true},
		{"gzip, deflate", true},
		{"gzip,deflate,sdch", true},
		{"deflate, gzip", true},
		{"GZIP", true},
		{"br;q=1.0, gzip;q=0.8", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"gzip;q=0.001", true},
		{"gzip;q=1.001", false},
		{"gzip;q=0.0001", false},
		{"gzip;q=", false},
		{"xgzip", false},
		{"gzipx", false},
		{"x-gzip", false},
		{"deflate", false},
		{"gzi", false},
		{"", false},
		{"gzip ;q=0.5", true},
		{"identity;q=1, gzip;Q=0.5 ", true},
	}
	for _, tc := range cases {
		if got := acceptsGzip([]byte(tc.ae)); got != tc.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tc.ae, got, tc.want)
		}
	}
}

func TestGzipProxied(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	past, future := "Thu, 01 Jan 2026 00:00:00 GMT", "Sat, 01 Jan 2028 00:00:00 GMT"
	cases := []struct {
		name    string
		proxied []string
		auth    bool
		hs      []h1.Header
		want    bool
	}{
		{"off", []string{"off"}, false, nil, false},
		{"off wins over any", []string{"off", "any"}, false, nil, false},
		{"any", []string{"any"}, false, nil, true},
		{"auth", []string{"auth"}, true, []h1.Header{{Name: []byte("Cache-Control"), Value: []byte("public")}}, true},
		{"expired past", []string{"expired"}, false, []h1.Header{{Name: []byte("Expires"), Value: []byte(past)}}, true},
		{"expired future", []string{"expired"}, false, []h1.Header{{Name: []byte("Expires"), Value: []byte(future)}}, false},
		{"expires not allowed", []string{"no-cache"}, false, []h1.Header{{Name: []byte("Expires"), Value: []byte(past)}}, false},
		{"expired bad date", []string{"expired"}, false, []h1.Header{{Name: []byte("Expires"), Value: []byte("0")}}, false},
		{"no-cache", []string{"no-cache"}, false, []h1.Header{{Name: []byte("Cache-Control"), Value: []byte("max-age=0, no-cache")}}, true},
		{"no-store second line", []string{"no-store"}, false, []h1.Header{{Name: []byte("Cache-Control"), Value: []byte("public")}, {Name: []byte("cache-control"), Value: []byte("no-store")}}, true},
		{"private wanted, public sent", []string{"private"}, false, []h1.Header{{Name: []byte("Cache-Control"), Value: []byte("public")}}, false},
		{"no_last_modified with it", []string{"no_last_modified"}, false, []h1.Header{{Name: []byte("Last-Modified"), Value: []byte(past)}}, false},
		{"no_last_modified without", []string{"no_last_modified"}, false, nil, true},
		{"no_etag with it", []string{"no_etag"}, false, []h1.Header{{Name: []byte("ETag"), Value: []byte(`"x"`)}}, false},
		{"expired alone, plain response", []string{"expired"}, false, nil, true},
	}
	for _, tc := range cases {
		var p uint16
		for _, v := range tc.proxied {
			p |= gzipProxiedBits[v]
		}
		var rh respHeaders
		scanRespHeaders(tc.hs, &rh)
		if got := proxiedOK(p, tc.auth, &rh, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIsMSIE6(t *testing.T) {
	cases := []struct {
		ua   string
		want bool
	}{
		{"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0)", true},
		{"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", false},
		{"Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)", true},
		{"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)", false},
		{"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", false},
		{"MSIE 6.", false},
	}
	for _, tc := range cases {
		if got := isMSIE6([]byte(tc.ua)); got != tc.want {
			t.Errorf("isMSIE6(%q) = %v, want %v", tc.ua, got, tc.want)
		}
	}
}

// TestGzipBodyRoundTrip checks the in-memory compressor at every level.
func TestGzipBodyRoundTrip(t *testing.T) {
	body := bytes.Repeat([]byte("sluice gzip round trip "), 100)
	for level := 1; level <= 9; level++ {
		for _, chunked := range []bool{false, true} {
			out := gzipBody(nil, nil, body, level, chunked)
			if chunked {
				var dec h1.ChunkedDecoder
				var data []byte
				for len(out) > 0 && !dec.Done() {
					n, d, err := dec.Decode(out)
					if err != nil {
						t.Fatalf("level %d: chunked: %v", level, err)
					}
					data = append(data, d...)
					out = out[n:]
				}
				out = data
			}
			zr, err := gzip.NewReader(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("level %d chunked %v: %v, %d bytes", level, chunked, err, len(got))
			}
		}
	}
}

// BenchmarkGzipProxy measures a keep-alive client fetching a 1 KB
// text/html response through the proxy with gzip off and on (level 1),
// with allocations; the difference between the two is gzip's cost (the
// backend and the client run in the same process and allocate too).
func BenchmarkGzipProxy(b *testing.B) {
	page := strings.Repeat("<p>benchmark body</p>\n", 50)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, page)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	for _, mode := range []string{"off", "on"} {
		b.Run("gzip_"+mode, func(b *testing.B) {
			h := startProxyB(b, `events {} http { access_log off; gzip `+mode+`; keepalive_requests 100000000;
	upstream b { server {{BACKEND}}; keepalive 8; }
	server { listen 127.0.0.1:18080; location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`, ln.Addr().String())
			c, err := net.Dial("tcp", h)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Write(req)
				resp, _, err := readResponse(br, false)
				if err != nil || (resp.Header.Get("Content-Encoding") == "gzip") != (mode == "on") {
					b.Fatalf("%v %v", err, resp)
				}
			}
		})
	}
}

// FuzzAcceptsGzip reads arbitrary Accept-Encoding values: the reader must
// not fail, must find gzip only where the word is, and must agree with a
// plain restatement of nginx's rule for the simple forms.
func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"gzip", "gzip, deflate", "br;q=1.0, gzip;q=0.8", "gzip;q=0", "gzip;q=1.001",
		"gzip ;q=0.5", "xgzip", "gzip;q=", "gzip;q", "GZIP;Q=0.1", "deflate,gzip;q=0.0001", "gzip;q=0.5,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ae string) {
		got := acceptsGzip([]byte(ae))
		lb := []byte(ae) // ASCII lower case, keeping byte offsets
		for i, b := range lb {
			if 'A' <= b && b <= 'Z' {
				lb[i] = b + 'a' - 'A'
			}
		}
		low := string(lb)
		if got && !strings.Contains(low, "gzip") {
			t.Fatalf("acceptsGzip(%q) without gzip", ae)
		}
		// a bare "gzip" item where the word first appears is accepted
		if k := strings.Index(low, "gzip"); k >= 0 && (k == 0 || ae[k-1] == ',' || ae[k-1] == ' ') {
			rest := strings.TrimLeft(ae[k+4:], " ")
			if (rest == "" || rest[0] == ',') && !got {
				t.Fatalf("acceptsGzip(%q) = false with a bare gzip item", ae)
			}
			if strings.HasPrefix(rest, ";q=0,") || rest == ";q=0" {
				if got {
					t.Fatalf("acceptsGzip(%q) = true with q=0", ae)
				}
			}
		}
	})
}

// TestSeedGzip runs the gzip lines of the seed configurations through curl
// asking for compression: seed 001's "gzip on;" (text/html only), the
// same with its commented-out lines enabled (JSON too, Vary, level 6,
// proxied requests), and seed 004's gzip_types without gzip on (nothing
// compressed). curl must decode exactly what the backend sent.
func TestSeedGzip(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is required in CI")
		}
		t.Skip("curl not installed")
	}
	page := strings.Repeat("<li>item</li>\n", 100)
	js := `{"data": "` + strings.Repeat("x", 500) + `"}`
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, js)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, page)
	}))
	seed001 := "gzip on;\n"
	seed001All := seed001 + `gzip_vary on;
gzip_proxied any;
gzip_comp_level 6;
gzip_buffers 16 8k;
gzip_http_version 1.1;
gzip_types text/plain text/css application/json application/javascript text/xml application/xml application/xml+rss text/javascript;
`
	seed004 := `gzip_types text/plain text/css application/json application/x-javascript
              text/xml application/xml application/xml+rss text/javascript;
`
	cases := []struct {
		name, gzip     string
		htmlGz, jsonGz bool
		vary           bool
		via            bool
	}{
		{"seed 001", seed001, true, false, false, false},
		{"seed 001 all lines", seed001All, true, true, true, true},
		{"seed 004", seed004, false, false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := startProxy(t, `events {} http { access_log off;
`+tc.gzip+`
	upstream backend { least_conn; server `+be.addr+`; }
	server { listen 127.0.0.1:18080; server_name localhost;
		location / { proxy_pass http://backend; proxy_set_header Host $host; } } }`, Options{})
			for _, p := range []struct {
				path, want string
				gz         bool
			}{{"/", page, tc.htmlGz}, {"/api", js, tc.jsonGz}} {
				args := []string{"-sS", "-i", "--compressed", "--max-time", "10", h.url("127.0.0.1:18080", p.path)}
				if tc.via {
					args = append(args, "-H", "Via: 1.1 squid")
				}
				out, err := exec.Command("curl", args...).CombinedOutput()
				if err != nil {
					t.Fatalf("curl: %v\n%s", err, out)
				}
				head, body, _ := strings.Cut(string(out), "\r\n\r\n")
				if got := strings.Contains(head, "\r\nContent-Encoding: gzip"); got != p.gz {
					t.Errorf("%s: compressed %v, want %v:\n%s", p.path, got, p.gz, head)
				}
				if got := strings.Contains(head, "\r\nVary: Accept-Encoding"); got != tc.vary {
					t.Errorf("%s: Vary %v, want %v:\n%s", p.path, got, tc.vary, head)
				}
				if body != p.want {
					t.Errorf("%s: curl decoded %d bytes, want the %d the backend sent", p.path, len(body), len(p.want))
				}
			}
		})
	}
}

func TestAppendRatio(t *testing.T) {
	cases := []struct {
		in, out int64
		want    string
	}{{2125, 1000, "2.13"}, {1999, 1000, "2.00"}, {1, 3, "0.33"}, {2, 3, "0.67"}, {1000, 10, "100.00"}, {105, 100, "1.05"}}
	for _, tc := range cases {
		if got := string(appendRatio(nil, tc.in, tc.out)); got != tc.want {
			t.Errorf("appendRatio(%d, %d) = %q, want %q", tc.in, tc.out, got, tc.want)
		}
	}
}

// TestGzipRatioLog logs $gzip_ratio: the size the backend sent over the
// compressed $body_bytes_sent, and "-" for a response sent as is.
func TestGzipRatioLog(t *testing.T) {
	page := strings.Repeat("<p>ratio</p>\n", 300)
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, page)
	}))
	h := startProxy(t, `events {} http { gzip on; log_format r "$request_uri $gzip_ratio $body_bytes_sent";
	server { listen 127.0.0.1:18080; access_log {{DIR}}/logs/r.log r; location / { proxy_pass http://`+be.addr+`; } } }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	get(t, addr, "GET /gz HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
	get(t, addr, "GET /plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	path := h.dir + "/logs/r.log"
	var lines []string
	testutil.WaitFor(t, "two log lines", func() bool {
		b, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) == 2
	})
	sort.Strings(lines) // each line is written after its response: in either order
	var sent int64
	if _, err := fmt.Sscanf(strings.Fields(lines[0])[2], "%d", &sent); err != nil || sent == 0 {
		t.Fatalf("log line %q", lines[0])
	}
	want := "/gz " + string(appendRatio(nil, int64(len(page)), sent)) + " " + fmt.Sprint(sent)
	if lines[0] != want {
		t.Errorf("log line %q, want %q", lines[0], want)
	}
	if ratio := float64(len(page)) / float64(sent); ratio < 5 {
		t.Errorf("a repetitive page compressed only %.2f times", ratio)
	}
	if want := fmt.Sprintf("/plain - %d", len(page)); lines[1] != want {
		t.Errorf("log line %q, want %q", lines[1], want)
	}
}

// TestGzipHTTP2 fetches compressed responses and an error page over
// HTTP/2 (h2c): the stream carries Content-Encoding and the compressed
// bytes, which decompress to what the backend sent.
func TestGzipHTTP2(t *testing.T) {
	be := featureBackend(t)
	h := startProxy(t, `events {} http { access_log off; gzip on; gzip_vary on;
	upstream dead { server 127.0.0.1:1; }
	server { listen 127.0.0.1:18204 http2;
		location / { proxy_pass http://`+be.addr+`; }
		location /down { proxy_pass http://dead; error_page 502 =200 /html; } } }`, Options{})
	direct, _ := http.Get("http://" + be.addr + "/html")
	want, _ := io.ReadAll(direct.Body)
	direct.Body.Close()
	client, _ := h2cClient(t)
	for _, path := range []string{"/html", "/down"} {
		req, _ := http.NewRequest("GET", h.url("127.0.0.1:18204", path), nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("%s: %s %d %v", path, resp.Proto, resp.StatusCode, resp.Header)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: decompressed %d bytes (%v), want the %d the backend sent", path, len(got), err, len(want))
		}
	}
}
