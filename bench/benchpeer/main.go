// Command benchpeer is the backend and the client of the benchmarks in
// bench/: a TCP source that streams bytes, a minimal HTTP/1.1 server, a
// bulk-transfer client and an idle-connection holder.
//
//	benchpeer source -listen 127.0.0.1:7001          # writes zeros until the client closes
//	benchpeer http   -listen 127.0.0.1:7002 -size 64  # keep-alive HTTP, fixed body
//	benchpeer bulk   -addr 127.0.0.1:7101 -bytes 4G -buf 8k  # reads, prints bytes/s
//	benchpeer idle   -addr 127.0.0.1:7101 -n 4000     # holds n connections, prints when all are up
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchpeer source|http|bulk|idle [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:7001", "address to listen on")
	addr := fs.String("addr", "127.0.0.1:7101", "address to connect to")
	size := fs.Int("size", 64, "HTTP body size")
	total := fs.String("bytes", "2G", "bytes to transfer (k, M, G suffixes)")
	rbuf := fs.String("buf", "8k", "bulk: bytes asked of each read (k, M, G suffixes)")
	n := fs.Int("n", 4000, "idle connections")
	fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "source":
		err = source(*listen)
	case "http":
		err = httpServer(*listen, *size)
	case "bulk":
		err = bulk(*addr, parseBytes(*total), int(parseBytes(*rbuf)))
	case "idle":
		err = idle(*addr, *n)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchpeer:", err)
		os.Exit(1)
	}
}

func parseBytes(s string) int64 {
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult, s = 1<<10, s[:len(s)-1]
	case 'm', 'M':
		mult, s = 1<<20, s[:len(s)-1]
	case 'g', 'G':
		mult, s = 1<<30, s[:len(s)-1]
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return v * mult
}

func serve(listen string, h func(net.Conn)) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go h(c)
	}
}

// source writes zeros until the peer goes away.
func source(listen string) error {
	buf := make([]byte, 256<<10)
	return serve(listen, func(c net.Conn) {
		defer c.Close()
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
}

// httpServer answers every request on a connection with a fixed body.
func httpServer(listen string, size int) error {
	body := bytes.Repeat([]byte("x"), size)
	resp := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", size, body))
	return serve(listen, func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReaderSize(c, 4096)
		w := bufio.NewWriterSize(c, 4096)
		for {
			// read a request head; bodies are not expected
			closeAfter := false
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) <= 2 {
					break
				}
				if bytes.HasPrefix(bytes.ToLower(line), []byte("connection: close")) {
					closeAfter = true
				}
			}
			w.Write(resp)
			if r.Buffered() == 0 || closeAfter {
				if err := w.Flush(); err != nil {
					return
				}
			}
			if closeAfter {
				return
			}
		}
	})
}

// bulk reads total bytes through one connection, bufSize bytes per
// read at most, and prints the rate. (io.Copy to io.Discard reads 8 KB at
// a time; a client such as iperf3 reads 128 KB.)
func bulk(addr string, total int64, bufSize int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, bufSize)
	var n int64
	start := time.Now()
	for n < total {
		k, err := c.Read(buf[:min(int64(len(buf)), total-n)])
		n += int64(k)
		if err != nil {
			return fmt.Errorf("after %d bytes: %w", n, err)
		}
	}
	el := time.Since(start)
	fmt.Printf("%.3f GB/s\n", float64(n)/el.Seconds()/1e9)
	return nil
}

// idle opens n connections, says "ready", and holds them until stdin
// closes or a signal arrives.
func idle(addr string, n int) error {
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
	}
	// Each connection must really be proxied: send a byte, expect nothing back yet.
	for _, c := range conns {
		c.Write([]byte("x"))
	}
	fmt.Println("ready", len(conns))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		sig <- syscall.SIGTERM
	}()
	<-sig
	for _, c := range conns {
		c.Close()
	}
	return nil
}
