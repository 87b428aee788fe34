package httpproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/sluicelb/sluice/internal/testutil"
)

// h2cClient returns an HTTP/2 client with prior knowledge over plain TCP,
// and a counter of the connections it opened.
func h2cClient(t *testing.T) (*http.Client, *int) {
	t.Helper()
	dials := new(int)
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			*dials++
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitLimit}, dials
}

// h2EchoBackend answers with its name, the method, the request line's
// protocol and the body it read.
func h2EchoBackend(t *testing.T, name string) *backend {
	return startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s %s %s %s body=%q", name, r.Method, r.URL.RequestURI(), r.Proto, b)
	}))
}

func TestH2CPriorKnowledge(t *testing.T) {
	be := h2EchoBackend(t, "b1")
	h := startProxy(t, `events {} http {
		log_format p '$server_protocol "$request" $status $upstream_addr $connection';
		access_log {{DIR}}/logs/access.log p;
		server { listen 127.0.0.1:18201 http2;
			location / { proxy_pass http://`+be.addr+`; }
			location = /ret { return 200 "returned $server_protocol\n"; }
			location = /gone { return 444; }
			location = /deny { deny all; }
		}
	}`, Options{})
	cl, dials := h2cClient(t)
	base := h.url("127.0.0.1:18201", "")
	tests := []struct {
		name, method, path string
		body               io.Reader
		length             int64
		status             int
		want               string
	}{
		{"get", "GET", "/a?x=1", nil, 0, 200, `b1 GET /a?x=1 HTTP/1.0 body=""`},
		{"post_length", "POST", "/p", strings.NewReader("hello"), 5, 200, `b1 POST /p HTTP/1.0 body="hello"`},
		{"post_unknown_length", "POST", "/c", io.MultiReader(strings.NewReader("abc"), strings.NewReader("def")), -1, 200, `b1 POST /c HTTP/1.0 body="abcdef"`},
		{"return", "GET", "/ret", nil, 0, 200, "returned HTTP/2.0\n"},
		{"deny", "GET", "/deny", nil, 0, 403, "403 Forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, tc.body)
			if tc.body != nil {
				req.ContentLength = tc.length
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("proto %s, want HTTP/2.0", resp.Proto)
			}
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, b, tc.status, tc.want)
			}
			if resp.Header.Get("Connection") != "" || resp.Header.Get("Keep-Alive") != "" {
				t.Errorf("hop-by-hop headers in an HTTP/2 response: %v", resp.Header)
			}
		})
	}
	// return 444 resets the stream
	if resp, err := cl.Get(base + "/gone"); err == nil {
		resp.Body.Close()
		t.Errorf("444: got %d, want a reset stream", resp.StatusCode)
	}
	if *dials != 1 {
		t.Errorf("%d connections for the requests, want 1", *dials)
	}
	// HTTP/1.1 on the same listener
	resp, err := http.Get(base + "/a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 1 || !strings.Contains(string(b), "b1 GET /a") {
		t.Errorf("HTTP/1.1 on an http2 listener: %s %q", resp.Proto, b)
	}
	logPath := filepath.Join(h.dir, "logs/access.log")
	testutil.WaitFor(t, "access log", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Count(string(b), "\n") >= len(tests)+2
	})
	lb, _ := os.ReadFile(logPath)
	lines := strings.Split(strings.TrimSpace(string(lb)), "\n")
	if want := `HTTP/2.0 "GET /a?x=1 HTTP/2.0" 200 ` + be.addr; !strings.HasPrefix(lines[0], want) {
		t.Errorf("log line %q, want prefix %q", lines[0], want)
	}
	conn0 := lines[0][strings.LastIndexByte(lines[0], ' ')+1:]
	for _, l := range lines[:len(tests)] {
		if !strings.HasSuffix(l, " "+conn0) {
			t.Errorf("stream logged with another $connection: %q (first %s)", l, conn0)
		}
	}
	if l := lines[len(lines)-1]; !strings.HasPrefix(l, `HTTP/1.1 "GET /a HTTP/1.1" 200`) {
		t.Errorf("HTTP/1.1 log line %q", l)
	}
}

// TestH2PerStreamBalancing checks that the streams of one connection are
// balanced one by one.
func TestH2PerStreamBalancing(t *testing.T) {
	var addrs []string
	for i := range 3 {
		addrs = append(addrs, "server "+h2EchoBackend(t, fmt.Sprintf("b%d", i)).addr+";")
	}
	h := startProxy(t, `events {} http { access_log off;
		upstream u { `+strings.Join(addrs, " ")+` }
		server { listen 127.0.0.1:18202; http2 on; location / { proxy_pass http://u; } }
	}`, Options{})
	cl, dials := h2cClient(t)
	count := map[string]int{}
	for range 30 {
		resp, err := cl.Get(h.url("127.0.0.1:18202", "/"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		count[resp.Header.Get("X-Backend")]++
	}
	if *dials != 1 {
		t.Errorf("%d client connections, want 1", *dials)
	}
	for i := range 3 {
		if n := count[fmt.Sprintf("b%d", i)]; n != 10 {
			t.Errorf("backend b%d served %d of 30 streams, want 10 (%v)", i, n, count)
		}
	}
}

// TestH2Streaming checks that a response body goes out as the upstream
// produces it.
func TestH2Streaming(t *testing.T) {
	release := make(chan struct{})
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(waitLimit):
		}
		io.WriteString(w, "data: second\n\n")
	}))
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18203 http2; location / { proxy_pass http://`+be.addr+`; proxy_http_version 1.1; } }
	}`, Options{})
	cl, _ := h2cClient(t)
	resp, err := cl.Get(h.url("127.0.0.1:18203", "/events"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event %q %v", line, err)
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "\ndata: second\n\n" {
		t.Fatalf("rest %q %v", rest, err)
	}
}

// TestH2KeepaliveRequests checks that keepalive_requests ends an HTTP/2
// connection (GOAWAY) after that many streams.
func TestH2KeepaliveRequests(t *testing.T) {
	h := startProxy(t, `events {} http { access_log off; keepalive_requests 3;
		server { listen 127.0.0.1:18204 http2; location / { return 200 ok; } }
	}`, Options{})
	cl, dials := h2cClient(t)
	for range 7 {
		resp, err := cl.Get(h.url("127.0.0.1:18204", "/"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if *dials != 3 {
		t.Errorf("%d connections for 7 requests with keepalive_requests 3, want 3", *dials)
	}
}

// TestH2NotEnabled checks that the preface on a listener without http2 is
// an HTTP/1.1 request line nginx refuses.
func TestH2NotEnabled(t *testing.T) {
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18205; location / { return 200 ok; } }
	}`, Options{})
	got := rawRequest(t, h.addr["127.0.0.1:18205"], h2Preface)
	if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Errorf("preface without http2: %q", got)
	}
}

// TestH2CurlPriorKnowledge runs curl --http2-prior-knowledge.
func TestH2CurlPriorKnowledge(t *testing.T) {
	curl := testutil.Need(t, "curl")
	be := h2EchoBackend(t, "c1")
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18206 http2; location / { proxy_pass http://`+be.addr+`; } }
	}`, Options{})
	out, err := exec.Command(curl, "-sS", "--max-time", "10", "--http2-prior-knowledge", "-o", "-",
		"-w", "\n%{http_version} %{response_code}", "-d", "x=1", h.url("127.0.0.1:18206", "/form")).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v: %s", err, out)
	}
	if want := "c1 POST /form HTTP/1.0 body=\"x=1\"\n2 200"; string(out) != want {
		t.Errorf("curl got %q, want %q", out, want)
	}
}

// TestH2TLS serves HTTP/2 after ALPN "h2" and checks with curl --http2
// that TLS variables reach streams.
func TestH2TLS(t *testing.T) {
	curl := testutil.Need(t, "curl")
	dir := t.TempDir()
	c := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "h2", DNS: []string{"h2.example"}})
	be := h2EchoBackend(t, "t1")
	h := startProxy(t, fmt.Sprintf(`events {} http { access_log off;
		server { listen 127.0.0.1:18207 ssl http2; ssl_certificate %s; ssl_certificate_key %s;
			location / { proxy_pass http://%s; }
			location = /vars { return 200 "$server_protocol $scheme $https\n"; }
		}
	}`, c.CertFile, c.KeyFile, be.addr), Options{})
	addr := h.addr["127.0.0.1:18207"]
	for _, tc := range []struct{ path, want string }{
		{"/vars", "HTTP/2.0 https on\n\n2 200"},
		{"/x", "t1 GET /x HTTP/1.0 body=\"\"\n2 200"},
	} {
		out, err := exec.Command(curl, "-sS", "-k", "--max-time", "10", "--http2", "-o", "-",
			"-w", "\n%{http_version} %{response_code}", "https://"+addr+tc.path).CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v: %s", err, out)
		}
		if string(out) != tc.want {
			t.Errorf("curl %s: got %q, want %q", tc.path, out, tc.want)
		}
	}
}

// BenchmarkH2Proxy measures HTTP/2 streams proxied to an HTTP/1.1
// backend with upstream keepalive, 10 at a time over one connection.
func BenchmarkH2Proxy(b *testing.B) {
	be := rawBackend(b)
	benchH2(b, `location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; } } upstream u { server `+be+`; keepalive 16; `)
}

// BenchmarkH2Return measures HTTP/2 streams answered by return, 10 at a
// time over one h2c connection.
func BenchmarkH2Return(b *testing.B) {
	benchH2(b, `location / { return 200 "0123456789012345678901234567890123456789012345678901234567890123"; }`)
}

func benchH2(b *testing.B, loc string) {
	h := startProxyB(b, `events {} http { access_log off; keepalive_requests 1000000;
		server { listen 127.0.0.1:18290 http2; `+loc+` } }`, "")
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	url := "http://" + h + "/"
	b.ReportAllocs()
	b.SetParallelism(10)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := cl.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// TestH2Reload checks that an HTTP/2 connection of a build that a newer
// one replaced ends after its next response (GOAWAY), as HTTP/1.1
// keep-alive connections do.
func TestH2Reload(t *testing.T) {
	conf := `events {} http { access_log off;
		server { listen 127.0.0.1:18225 http2; location / { return 200 ok; } } }`
	h := startProxy(t, conf, Options{})
	cl, dials := h2cClient(t)
	get := func() {
		t.Helper()
		resp, err := cl.Get(h.url("127.0.0.1:18225", "/"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get()
	get()
	if *dials != 1 {
		t.Fatalf("%d connections before the reload, want 1", *dials)
	}
	b, err := Build(loadHTTP(t, t.TempDir(), conf), Options{Log: noLog})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range b.Closers {
			c()
		}
	}()
	get() // answered on the old connection, which then goes away
	get()
	if *dials != 2 {
		t.Errorf("%d connections, want 2: the old build's connection must close after a reload", *dials)
	}
}

// TestH2Settings checks the SETTINGS the server announces for nginx's
// limits.
func TestH2Settings(t *testing.T) {
	tests := []struct {
		name, conf string
		want       map[http2.SettingID]uint32
	}{
		{"defaults", "", map[http2.SettingID]uint32{
			http2.SettingMaxConcurrentStreams: 128, http2.SettingInitialWindowSize: 65536,
			http2.SettingMaxHeaderListSize: 4*8192 + 32*10}},
		{"set", "http2_max_concurrent_streams 7; http2_body_preread_size 256k; large_client_header_buffers 2 16k;", map[http2.SettingID]uint32{
			http2.SettingMaxConcurrentStreams: 7, http2.SettingInitialWindowSize: 256 << 10,
			http2.SettingMaxHeaderListSize: 2*16384 + 32*10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startProxy(t, `events {} http { access_log off;
				server { listen 127.0.0.1:18226 http2; `+tc.conf+` location / { return 200; } } }`, Options{})
			c, err := net.DialTimeout("tcp", h.addr["127.0.0.1:18226"], waitLimit)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(waitLimit))
			io.WriteString(c, h2Preface)
			fr := http2.NewFramer(c, c)
			if err := fr.WriteSettings(); err != nil {
				t.Fatal(err)
			}
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			sf, ok := f.(*http2.SettingsFrame)
			if !ok {
				t.Fatalf("first frame %v, want SETTINGS", f)
			}
			for id, want := range tc.want {
				if got, ok := sf.Value(id); !ok || got != want {
					t.Errorf("%v = %d (sent %v), want %d", id, got, ok, want)
				}
			}
		})
	}
}
