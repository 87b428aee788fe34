package httpproxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// seedAPI answers like the Python servers of seed 001: GET returns the
// port, POST /chat and /completions answer JSON naming the server, and GET
// /stream sends a completion as server-sent events.
func seedAPI(port string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"server": %s, "path": %q}`, port, r.URL.Path)
	})
	mux.HandleFunc("POST /chat", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Message string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error": "Invalid JSON format", "server": %s}`, port)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"original": in.Message,
			"response": "Processed by chat API: " + strings.ToUpper(in.Message), "server": port})
	})
	mux.HandleFunc("POST /completions", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s := string(b)
		head, tail := s, s
		if len(head) > 5 {
			head, tail = s[:5], s[len(s)-5:]
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"completions": []map[string]any{
			{"text": "Completion 1: " + head + "...", "index": 0}, {"text": "Completion 2: " + tail + "...", "index": 1}},
			"server": port})
	})
	return mux
}

// seedConf is seed 001's configuration shape: least_conn over two
// backends, the X-Upstream header and the upstream_log format.
const seedConf = `events {}
http {
    log_format upstream_log '$remote_addr - $remote_user [$time_local] "$request" '
                            '$status $body_bytes_sent "$http_referer" '
                            '"$http_user_agent" "$http_x_forwarded_for" '
                            'to: $upstream_addr';
    access_log {{DIR}}/logs/access.log upstream_log;
    upstream backend {
        least_conn;
        server %s;
        server %s;
    }
    server {
        listen 127.0.0.1:18080;
        location / {
            proxy_pass http://backend;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            add_header X-Upstream $upstream_addr always;
        }
    }
}`

func startSeed(t *testing.T) (*harness, [2]*backend) {
	var bes [2]*backend
	for i := range bes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := portOf(ln.Addr().String())
		tl := &trackingListener{Listener: ln}
		b := &backend{ln: tl, addr: ln.Addr().String(), srv: &http.Server{Handler: seedAPI(port)}}
		go b.srv.Serve(tl)
		t.Cleanup(b.kill)
		bes[i] = b
	}
	h := startProxy(t, fmt.Sprintf(seedConf, bes[0].addr, bes[1].addr), Options{})
	return h, bes
}

// countLog counts the access log lines ending in "to: addr" for each
// backend.
func countLog(t *testing.T, path string, bes [2]*backend) (int, int, int) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var n0, n1, total int
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		total++
		switch {
		case strings.HasSuffix(line, "to: "+bes[0].addr):
			n0++
		case strings.HasSuffix(line, "to: "+bes[1].addr):
			n1++
		}
	}
	return n0, n1, total
}

func TestSeedAB(t *testing.T) {
	if _, err := exec.LookPath("ab"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ab (apache2-utils) is required in CI")
		}
		t.Skip("ab not installed (apt-get install apache2-utils)")
	}
	h, bes := startSeed(t)
	out, err := exec.Command("ab", "-n", "1000", "-c", "10", h.url("127.0.0.1:18080", "/")).CombinedOutput()
	if err != nil {
		t.Fatalf("ab: %v\n%s", err, out)
	}
	for _, want := range []string{"Complete requests:      1000", "Failed requests:        0"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Fatalf("ab output lacks %q:\n%s", want, out)
		}
	}
	if bytes.Contains(out, []byte("Non-2xx responses")) {
		t.Fatalf("ab saw non-2xx responses:\n%s", out)
	}
	logPath := filepath.Join(h.dir, "logs", "access.log")
	var n0, n1, total int
	testutil.WaitFor(t, "1000 access log lines", func() bool {
		n0, n1, total = countLog(t, logPath, bes)
		return total >= 1000
	})
	if total != 1000 || n0+n1 != 1000 {
		t.Fatalf("log has %d lines, %d+%d naming the backends", total, n0, n1)
	}
	if n0 < 450 || n0 > 550 {
		t.Errorf("least_conn spread %d / %d, want 50±5%% each", n0, n1)
	}
	line := strings.SplitN(string(must(os.ReadFile(logPath))), "\n", 2)[0]
	if !strings.Contains(line, `"GET / HTTP/1.0" 200 `) || !strings.Contains(line, `"ApacheBench/2.3" "-" to: 127.0.0.1:`) {
		t.Errorf("log line %q is not in the seed's format", line)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSeedJSONAPI(t *testing.T) {
	h, bes := startSeed(t)
	client := &http.Client{Timeout: waitLimit}
	seen := map[string]int{}
	for i := 0; i < 10; i++ {
		resp, err := client.Post(h.url("127.0.0.1:18080", "/chat"), "application/json", strings.NewReader(`{"message": "Hello, sync chat!"}`))
		if err != nil {
			t.Fatalf("request %d: %v\n%s", i, err, h.errs.String())
		}
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if out["response"] != "Processed by chat API: HELLO, SYNC CHAT!" || out["original"] != "Hello, sync chat!" {
			t.Fatalf("chat answered %v", out)
		}
		up := resp.Header.Get("X-Upstream")
		if up != bes[0].addr && up != bes[1].addr {
			t.Fatalf("X-Upstream %q", up)
		}
		if fmt.Sprint(out["server"]) != portOf(up) {
			t.Fatalf("answer from %v but X-Upstream %s", out["server"], up)
		}
		seen[up]++
	}
	if len(seen) != 2 {
		t.Errorf("requests went to %v, want both backends", seen)
	}
	text := strings.Repeat("The quick brown fox. ", 50)
	resp, err := client.Post(h.url("127.0.0.1:18080", "/completions"), "text/plain", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Completions []struct{ Text string }
	}
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if len(out.Completions) != 2 || out.Completions[0].Text != "Completion 1: The q..." || out.Completions[1].Text != "Completion 2: fox. ..." {
		t.Errorf("completions answered %+v", out)
	}
	// a chunked request body (no Content-Length) reaches the API whole
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"message": `))
		pw.Write([]byte(`"chunked"}`))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", h.url("127.0.0.1:18080", "/chat"), pr)
	req.Header.Set("Content-Type", "application/json")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "Processed by chat API: CHUNKED") {
		t.Errorf("chunked POST answered %d %s", resp.StatusCode, b)
	}
}

// TestBackendDies stops one backend in the middle of a run of requests:
// every request must still succeed, retried on the other backend.
func TestBackendDies(t *testing.T) {
	h, bes := startSeed(t)
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: waitLimit}
	var firstErr atomic.Value
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(h.url("127.0.0.1:18080", "/x"))
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, resp.Status)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	testutil.WaitFor(t, "200 requests", func() bool { return ok.Load() >= 200 })
	bes[0].kill() // the backend dies: listener and connections closed
	before := ok.Load()
	testutil.WaitFor(t, "200 more requests", func() bool { return ok.Load() >= before+200 })
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d client-visible errors (first: %v)", failed.Load(), firstErr.Load())
	}
	// the requests after the death went to the survivor
	resp, err := client.Get(h.url("127.0.0.1:18080", "/y"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if up := resp.Header.Get("X-Upstream"); up != bes[1].addr && !strings.HasSuffix(up, ", "+bes[1].addr) {
		t.Errorf("after the death X-Upstream is %q", up)
	}
}

// TestSSEStreaming checks that events written by the backend reach the
// client within 10 ms through the default settings (proxy_buffering on).
func TestSSEStreaming(t *testing.T) {
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
			h := startProxy(t, `events {} http { access_log off;
				server { listen 127.0.0.1:18080; location / { proxy_pass http://`+be.addr+`; proxy_http_version `+proto+`; } } }`, Options{})
			t.Cleanup(func() { close(next) }) // runs first: the stream ends
			c, err := net.Dial("tcp", h.addr["127.0.0.1:18080"])
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(waitLimit))
			fmt.Fprintf(c, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Header.Get("Content-Type"); got != "text/event-stream" {
				t.Errorf("Content-Type %q", got)
			}
			var worst time.Duration
			for i := 0; i < 20; i++ {
				ev := fmt.Sprintf("token-%d", i)
				sent := time.Now()
				next <- ev
				line, err := readLine(resp.Body)
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
			if worst > 10*time.Millisecond {
				t.Errorf("an event took %v to arrive, want <= 10ms", worst)
			}
			t.Logf("slowest event: %v", worst)
		})
	}
}

// readLine reads one non-empty line from r byte by byte (no read-ahead
// that would hide latency).
func readLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		if _, err := io.ReadFull(r, one); err != nil {
			return string(b), err
		}
		if one[0] == '\n' {
			if len(b) == 0 {
				continue
			}
			return string(b), nil
		}
		b = append(b, one[0])
	}
}

// TestClientAbortClosesUpstream checks that a client leaving a stream
// while the upstream is silent (a model still thinking) makes the proxy
// close the upstream connection at once, so the backend can stop.
func TestClientAbortClosesUpstream(t *testing.T) {
	cancelled := make(chan struct{})
	be := startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(waitLimit):
		}
	}))
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18080; location / { proxy_pass http://`+be.addr+`; proxy_http_version 1.1; } } }`, Options{})
	c, err := net.Dial("tcp", h.addr["127.0.0.1:18080"])
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(waitLimit))
	fmt.Fprintf(c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if line, err := readLine(resp.Body); err != nil || line != "data: first" {
		t.Fatalf("first event %q %v", line, err)
	}
	c.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend's request was not cancelled after the client left")
	}
}

// TestCurl drives the seed setup with curl: a JSON POST to /chat, and the
// response headers of a GET.
func TestCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is required in CI")
		}
		t.Skip("curl not installed")
	}
	h, bes := startSeed(t)
	out, err := exec.Command("curl", "-sS", "--max-time", "10", "-X", "POST", "-H", "Content-Type: application/json",
		"-d", `{"message": "Hello, curl!"}`, h.url("127.0.0.1:18080", "/chat")).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"response":"Processed by chat API: HELLO, CURL!"`) {
		t.Errorf("curl POST /chat: %s", out)
	}
	out, err = exec.Command("curl", "-sS", "-i", "--max-time", "10", h.url("127.0.0.1:18080", "/")).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	head, _, _ := strings.Cut(string(out), "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\nServer: sluice/0.1.0\r\nDate: ") ||
		!(strings.Contains(head, "\r\nX-Upstream: "+bes[0].addr) || strings.Contains(head, "\r\nX-Upstream: "+bes[1].addr)) ||
		!strings.Contains(head, "\r\nConnection: keep-alive") {
		t.Errorf("curl -i head:\n%s", head)
	}
}
