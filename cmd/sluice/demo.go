package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/runtime"
)

// demoConfig is the configuration "sluice demo" runs: the first example of
// nginx's stream module, a TCP proxy with weights 3:1 in front of two
// inference servers. %[1]s is the listen address, %[2]s and %[3]s the
// backends.
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

// runDemo starts two built-in TCP backends and a stream proxy in front of
// them, and runs until SIGINT or SIGTERM.
func runDemo(args []string, implicit bool, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9000", "address of the proxy")
	backends := fs.String("backends", "127.0.0.1:8001,127.0.0.1:8002", "addresses of the two backends (weights 3 and 1)")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	addrs := strings.Split(*backends, ",")
	if len(addrs) != 2 {
		fmt.Fprintln(stderr, "sluice: demo: -backends takes two addresses")
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
	defer func() {
		for _, ln := range lns {
			ln.Close()
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

	text := fmt.Sprintf(demoConfig, *listen, lns[0].Addr(), lns[1].Addr())
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
	fmt.Fprintf(stdout, "# each connection is logged below with the backend that answered; Ctrl-C stops.\n")
	if f, ok := stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	sig := <-sigs
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
