package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/runtime"
)

// demoConfig is the configuration "sluice demo" runs. Its stream part is
// the first example of nginx's stream module, a TCP proxy with weights 3:1
// in front of two inference servers; its http part is seed 001's L7 setup,
// least_conn in front of two LLM-style JSON APIs with the upstream_log
// format that names the backend of every request. %[1]s is the TCP listen
// address, %[2]s and %[3]s the TCP backends, %[4]s the HTTP listen
// address, %[5]s and %[6]s the HTTP backends.
const demoConfig = `error_log stderr notice;
events {}

stream {
    log_format demo '$remote_addr:$remote_port -> $upstream_addr '
                    'status=$status in=$bytes_received out=$bytes_sent time=$session_time';
    access_log /dev/stdout demo;

    upstream inference_tcp_backends {
        server %[2]s weight=3;
        server %[3]s weight=1;
    }

    server {
        listen %[1]s;
        proxy_pass inference_tcp_backends;
        proxy_timeout 30s;
        proxy_connect_timeout 5s;
    }
}

http {
    log_format upstream_log '$remote_addr - $remote_user [$time_local] "$request" '
                            '$status $body_bytes_sent "$http_referer" '
                            '"$http_user_agent" "$http_x_forwarded_for" '
                            'to: $upstream_addr';
    access_log /dev/stdout upstream_log;

    upstream backend {
        least_conn;
        server %[5]s;
        server %[6]s;
    }

    server {
        listen %[4]s;
        location / {
            proxy_pass http://backend;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            add_header X-Upstream $upstream_addr always;
        }
        # the status of the upstreams, as NGINX Plus's API and dashboard
        location /api/ {
            api;
            access_log off;
        }
        location = /dashboard.html {
            dashboard;
            access_log off;
        }
    }
}
`

// wantDemo reports whether the command line asks for the demo: "sluice
// demo [flags]", or a plain start with no -c when the default
// configuration file does not exist. rest are the demo's own flags.
func wantDemo(args []string) (demo, implicit bool, rest []string) {
	if len(args) > 0 && args[0] == "demo" {
		return true, false, args[1:]
	}
	o, err := parseArgs(args)
	if err != nil || o.confGiven || o.help || o.version || o.versionFull || o.test || o.dump || o.signal != "" || o.directives != "" {
		return false, false, nil
	}
	if _, err := os.Stat(o.conf); err == nil || !os.IsNotExist(err) {
		return false, false, nil
	}
	return true, true, nil
}

// runDemo starts two built-in TCP backends, two built-in HTTP backends and
// a proxy in front of each pair, and runs until SIGINT or SIGTERM.
func runDemo(args []string, implicit bool, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9000", "address of the TCP proxy")
	backends := fs.String("backends", "127.0.0.1:9001,127.0.0.1:9002", "addresses of the two TCP backends (weights 3 and 1)")
	httpListen := fs.String("http-listen", "127.0.0.1:8080", "address of the HTTP proxy")
	httpBackends := fs.String("http-backends", "127.0.0.1:8001,127.0.0.1:8002", "addresses of the two HTTP backends (least_conn)")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	addrs := strings.Split(*backends, ",")
	haddrs := strings.Split(*httpBackends, ",")
	if len(addrs) != 2 || len(haddrs) != 2 {
		fmt.Fprintln(stderr, "sluice: demo: -backends and -http-backends take two addresses each")
		return 1
	}
	if implicit {
		fmt.Fprintf(stdout, "sluice: no configuration file given and conf/sluice.conf not found: running the built-in demo\n")
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	var wg sync.WaitGroup
	var lns []net.Listener
	var servers []*http.Server
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
		for _, s := range servers {
			s.Close()
		}
		wg.Wait()
	}()
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			fmt.Fprintf(stderr, "sluice: [emerg] demo backend: %v\n", err)
			return 1
		}
		lns = append(lns, ln)
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		fmt.Fprintf(stdout, "[SERVER %s] TCP server started at %s\n", port, ln.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			demoBackend(ln, port)
		}()
	}
	counts := &demoCounts{}
	var hlns []net.Listener
	for _, a := range haddrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			fmt.Fprintf(stderr, "sluice: [emerg] demo backend: %v\n", err)
			return 1
		}
		hlns = append(hlns, ln)
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		fmt.Fprintf(stdout, "[SERVER %s] HTTP API started at http://%s\n", port, ln.Addr())
		srv := &http.Server{Handler: demoAPI(port, counts.add(ln.Addr().String()))}
		servers = append(servers, srv)
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Serve(ln)
		}()
	}

	text := fmt.Sprintf(demoConfig, *listen, lns[0].Addr(), lns[1].Addr(), *httpListen, hlns[0].Addr(), hlns[1].Addr())
	const name = "/demo/sluice.conf"
	cfg, err := config.Load(config.Options{File: name, Prefix: "/demo", ReadFile: func(f string) ([]byte, error) {
		if f == name {
			return []byte(text), nil
		}
		return os.ReadFile(f)
	}})
	if err != nil {
		fmt.Fprintf(stderr, "sluice: [emerg] %v\n", err)
		return 1
	}
	elog, err := errlog.New([]errlog.Target{{Path: "stderr", Level: errlog.LevelNotice}}, errlog.Options{Stderr: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "sluice: [emerg] %v\n", err)
		return 1
	}
	defer elog.Close()
	log := elog.Logger()
	srv := runtime.NewServer(log)
	gen, err := runtime.Build(cfg, log)
	if err == nil {
		err = srv.Apply(gen)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice: [emerg] %v\n", err)
		srv.Shutdown(context.Background(), false)
		return 1
	}
	fmt.Fprintf(stdout, "# configuration of the demo (sluice -T shows yours):\n%s\n", text)
	fmt.Fprintf(stdout, "# try:  echo \"Inference Request A\" | nc %s %s\n", hostOf(*listen), portOf(*listen))
	fmt.Fprintf(stdout, "#       curl -i http://%s/\n", *httpListen)
	fmt.Fprintf(stdout, "#       curl -X POST -d '{\"message\": \"Hello\"}' http://%s/chat\n", *httpListen)
	fmt.Fprintf(stdout, "#       curl -N -X POST -d '{\"prompt\": \"Hello\", \"stream\": true}' http://%s/completions\n", *httpListen)
	fmt.Fprintf(stdout, "#       ab -n 1000 -c 10 http://%s/\n", *httpListen)
	fmt.Fprintf(stdout, "#       open http://%s/dashboard.html (the upstreams' status; the API is at /api/)\n", *httpListen)
	fmt.Fprintf(stdout, "# each connection and request is logged below with the backend that answered; Ctrl-C stops.\n")
	if f, ok := stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	stopCounts := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		counts.report(stdout, stopCounts)
	}()
	sig := <-sigs
	close(stopCounts)
	fmt.Fprintf(stderr, "sluice: signal %d received, exiting\n", sigNum(sig))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx, true)
	return 0
}

func hostOf(a string) string { h, _, _ := net.SplitHostPort(a); return h }
func portOf(a string) string { _, p, _ := net.SplitHostPort(a); return p }

// demoBackend answers like the Python servers of the stream example: it
// reads one message, answers "[Server PORT] Received: MESSAGE. Time: T"
// and closes the connection.
func demoBackend(ln net.Listener, port string) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			buf := make([]byte, 1024)
			n, _ := c.Read(buf)
			now := float64(time.Now().UnixMicro()) / 1e6
			fmt.Fprintf(c, "[Server %s] Received: %s. Time: %s", port, strings.TrimSpace(string(buf[:n])), strconv.FormatFloat(now, 'f', 6, 64))
		}()
	}
}

// demoCounts counts the requests each HTTP backend answered, for the live
// count the demo prints.
type demoCounts struct {
	mu     sync.Mutex
	addrs  []string
	counts []*atomic.Int64
}

func (d *demoCounts) add(addr string) *atomic.Int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := new(atomic.Int64)
	d.addrs = append(d.addrs, addr)
	d.counts = append(d.counts, n)
	return n
}

// report prints the counts once a second while they change.
func (d *demoCounts) report(w io.Writer, stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		d.mu.Lock()
		var b strings.Builder
		b.WriteString("[requests per backend]")
		var total int64
		for i, a := range d.addrs {
			n := d.counts[i].Load()
			total += n
			fmt.Fprintf(&b, " %s: %d", a, n)
		}
		d.mu.Unlock()
		if line := b.String(); line != last && total > 0 {
			fmt.Fprintln(w, line)
			last = line
		}
	}
}

// demoAPI answers like seed 001's Python servers: GET returns which
// server answered, POST /chat and POST /completions are the JSON API, and
// a completion asked for with "stream": true comes as server-sent events,
// one token at a time.
func demoAPI(port string, hits *atomic.Int64) http.Handler {
	p, _ := strconv.Atoi(port)
	now := func() string { return time.Now().Format("2006-01-02T15:04:05.000000") }
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		reply(w, 200, map[string]any{"message": "Response from: " + port, "server": p, "path": r.URL.Path})
	})
	mux.HandleFunc("POST /chat", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		var in struct {
			Message string `json:"message"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
			reply(w, 400, map[string]any{"error": "Invalid JSON format", "server": p, "timestamp": now()})
			return
		}
		reply(w, 200, map[string]any{"original": in.Message, "response": "Processed by chat API: " + strings.ToUpper(in.Message),
			"server": p, "timestamp": now()})
	})
	mux.HandleFunc("POST /completions", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var in struct {
			Prompt string `json:"prompt"`
			Stream bool   `json:"stream"`
		}
		text := string(body)
		if json.Unmarshal(body, &in) == nil && in.Prompt != "" {
			text = in.Prompt
		}
		if in.Stream || r.URL.Query().Get("stream") == "true" {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			fl, _ := w.(http.Flusher)
			words := strings.Fields("Sure! Here is a completion of: " + text)
			for i, word := range words {
				b, _ := json.Marshal(map[string]any{"index": i, "token": word + " ", "server": p})
				fmt.Fprintf(w, "data: %s\n\n", b)
				if fl != nil {
					fl.Flush()
				}
				select {
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
			fmt.Fprint(w, "data: [DONE]\n\n")
			return
		}
		head, tail := text, text
		if len(text) > 5 {
			head, tail = text[:5], text[len(text)-5:]
		}
		reply(w, 200, map[string]any{"completions": []map[string]any{
			{"text": "Completion 1: " + head + "...", "index": 0},
			{"text": "Completion 2: " + tail + "...", "index": 1}}, "server": p, "timestamp": now()})
	})
	return mux
}
