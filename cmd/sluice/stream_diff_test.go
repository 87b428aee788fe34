package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// The differential tests run each stream configuration of
// testdata/streamdiff under the real nginx and under sluice, on different
// listen ports but against the same backends, drive the same clients
// through both, and compare what the clients saw and what the access logs
// say once ports are replaced by names.

const (
	nginxBinary       = "/usr/sbin/nginx"
	nginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"
	diffIOTimeout     = 3 * time.Second  // one client exchange
	diffLogTimeout    = 3 * time.Second  // one access log line
	diffBudget        = 50 * time.Second // the whole test: past it, every wait ends at once
	diffMsg           = "ping\n"
)

// diffWorld is what both implementations run against: TCP backends that
// answer their name and then echo, UDP backends that answer name:datagram,
// and addresses where nothing listens.
type diffWorld struct {
	B, U  map[string]string // backend name -> address
	Dead  []string
	names *strings.Replacer // backend address -> name
	end   time.Time         // the end of the test's time budget
}

func newDiffWorld(t *testing.T) *diffWorld {
	t.Helper()
	w := &diffWorld{B: map[string]string{}, U: map[string]string{}, end: time.Now().Add(diffBudget)}
	var pairs []string
	for _, n := range []string{"b1", "b2", "b3", "b4"} {
		w.B[n] = nameServer(t, n)
		pairs = append(pairs, w.B[n], n)
	}
	for _, n := range []string{"u1", "u2"} {
		w.U[n] = udpNameServer(t, n)
		pairs = append(pairs, w.U[n], n)
	}
	for i := 0; i < 2; i++ {
		d := deadAddr(t)
		w.Dead = append(w.Dead, d)
		pairs = append(pairs, d, "dead"+strconv.Itoa(i))
	}
	w.names = strings.NewReplacer(pairs...)
	return w
}

// udpNameServer answers every datagram with "name:" and the datagram.
func udpNameServer(t *testing.T, name string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte(name+":"), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().String()
}

// deadAddr returns a loopback address that refuses connections: its port
// is held by a bound socket that does not listen, so nothing else can take
// it while the test runs.
func deadAddr(t *testing.T) string {
	t.Helper()
	_, port := testutil.BoundSocket(t)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func freeUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// diffData is what a template of testdata/streamdiff sees.
type diffData struct {
	L, UL []string          // this implementation's TCP and UDP listen addresses
	B, U  map[string]string // backends by name
	Dead  []string
	Log   string // access log path
}

// diffRun is one implementation running one case: the transcript of what
// the clients saw and the access log lines, both normalised.
type diffRun struct {
	t     *testing.T
	impl  string // "nginx" or "sluice"
	w     *diffWorld
	data  diffData
	norm  *strings.Replacer
	out   []string // transcript
	lines int      // access log lines seen so far
}

// startDiffImpl writes the configuration and starts nginx or sluice on it.
// It returns when the pid file exists, which both write after binding all
// their listeners.
func startDiffImpl(t *testing.T, impl, dir, body string) {
	t.Helper()
	common := "pid " + dir + "/run.pid;\nerror_log " + dir + "/error.log info;\nevents {}\n" + body
	var cmd *exec.Cmd
	conf := filepath.Join(dir, impl+".conf")
	if impl == "nginx" {
		writeFile(t, conf, "load_module "+nginxStreamModule+";\ndaemon off;\nmaster_process off;\n"+common)
		cmd = exec.Command(nginxBinary, "-c", conf, "-p", dir+"/", "-e", dir+"/error.log")
	} else {
		writeFile(t, conf, common)
		cmd = exec.Command(binary, "-c", conf, "-p", dir, "-e", dir+"/error.log")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	deadline := time.After(10 * time.Second)
	for {
		if b, _ := os.ReadFile(filepath.Join(dir, "run.pid")); len(bytes.TrimSpace(b)) > 0 {
			return
		}
		select {
		case <-done:
			elog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("%s exited at start: %s\n%s", impl, out.String(), elog)
		case <-deadline:
			t.Fatalf("%s wrote no pid file", impl)
		case <-time.After(10 * time.Millisecond): // polling a file the child writes; no event to wait on
		}
	}
}

func newDiffRun(t *testing.T, impl string, w *diffWorld, tmpl *template.Template, nL, nUL int) *diffRun {
	t.Helper()
	dir := t.TempDir()
	r := &diffRun{t: t, impl: impl, w: w, data: diffData{B: w.B, U: w.U, Dead: w.Dead,
		Log: filepath.Join(dir, "access.log")}}
	var pairs []string
	for i := 0; i < nL; i++ {
		r.data.L = append(r.data.L, freeAddr(t))
		pairs = append(pairs, r.data.L[i], "L"+strconv.Itoa(i))
	}
	for i := 0; i < nUL; i++ {
		r.data.UL = append(r.data.UL, freeUDPAddr(t))
		pairs = append(pairs, r.data.UL[i], "UL"+strconv.Itoa(i))
	}
	r.norm = strings.NewReplacer(pairs...)
	var body bytes.Buffer
	if err := tmpl.Execute(&body, r.data); err != nil {
		t.Fatal(err)
	}
	startDiffImpl(t, impl, dir, body.String())
	return r
}

// normalise replaces listen and backend addresses by their names.
func (r *diffRun) normalise(s string) string {
	return r.w.names.Replace(r.norm.Replace(s))
}

func (r *diffRun) note(format string, args ...any) {
	r.out = append(r.out, fmt.Sprintf(format, args...))
}

// deadline returns the time d from now, or the end of the test's budget if
// that comes first.
func (r *diffRun) deadline(d time.Duration) time.Time {
	if t := time.Now().Add(d); t.Before(r.w.end) {
		return t
	}
	return r.w.end
}

// dial connects from the source address src to the i-th listener.
func (r *diffRun) dial(src string, i int) (net.Conn, error) {
	d := net.Dialer{Deadline: r.deadline(diffIOTimeout), LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", r.data.L[i])
	if err != nil {
		return nil, err
	}
	c.SetDeadline(r.deadline(diffIOTimeout))
	return c, nil
}

// exchange writes msg and reads until the connection ends or the answer
// is complete: a first line, then anything ending with echo.
func exchange(c net.Conn, msg, echo []byte) (string, error) {
	var got []byte
	buf := make([]byte, 4096)
	_, werr := c.Write(msg)
	for {
		if i := bytes.IndexByte(got, '\n'); i >= 0 && bytes.HasSuffix(got[i+1:], echo) {
			return string(got), nil
		}
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return string(got), nil
		}
		if err != nil {
			if werr != nil {
				err = werr
			}
			return string(got), err
		}
	}
}

// errText describes a client error without the addresses it names.
func errText(err error) string {
	var se syscall.Errno
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &se):
		return se.Error()
	}
	return fmt.Sprintf("%T", err)
}

var proxyLine = regexp.MustCompile(`PROXY TCP4 (\S+) (\S+) (\d+) (\d+)\r\n`)

// describe turns an answer into a transcript entry: the backend's name
// (with whatever came between the name and the echo), "closed", or the
// normalised text.
func (r *diffRun) describe(reply string, msg []byte, c net.Conn, listen string) string {
	if reply == "" {
		return "closed"
	}
	// A PROXY header carries the client's and the listener's ports.
	reply = proxyLine.ReplaceAllStringFunc(reply, func(h string) string {
		m := proxyLine.FindStringSubmatch(h)
		_, cport, _ := net.SplitHostPort(c.LocalAddr().String())
		_, lport, _ := net.SplitHostPort(listen)
		if m[3] == cport {
			m[3] = "CLIENTPORT"
		}
		if m[4] == lport {
			m[4] = "LISTENPORT"
		}
		return fmt.Sprintf("PROXY TCP4 %s %s %s %s\r\n", m[1], m[2], m[3], m[4])
	})
	if name, rest, ok := strings.Cut(reply, "\n"); ok {
		if _, known := r.w.B[name]; known && strings.HasSuffix(rest, string(msg)) {
			if extra := strings.TrimSuffix(rest, string(msg)); extra != "" {
				return name + " " + strconv.Quote(r.normalise(extra))
			}
			return name
		}
	}
	return strconv.Quote(r.normalise(reply))
}

// conn runs one whole connection from src to listener li and waits for
// its access log line.
func (r *diffRun) conn(src string, li int) { r.connMsg(src, li, []byte(diffMsg), []byte(diffMsg)) }

// connMsg is conn with msg sent; echo is the part of msg a backend
// receives and echoes (msg without what the proxy consumes).
func (r *diffRun) connMsg(src string, li int, msg, echo []byte) {
	r.t.Helper()
	c, err := r.dial(src, li)
	if err != nil {
		r.note("error: dial: %s", errText(err))
		return
	}
	reply, err := exchange(c, msg, echo)
	c.Close()
	if err != nil {
		r.note("error after %q: %s", r.normalise(reply), errText(err))
	} else {
		r.note("%s", r.describe(reply, echo, c, r.data.L[li]))
	}
	r.waitLog(1)
}

// connHalfClose sends msg, ends its side of the connection and reads the
// answer to its end.
func (r *diffRun) connHalfClose(src string, li int, msg []byte) {
	r.t.Helper()
	c, err := r.dial(src, li)
	if err != nil {
		r.note("error: dial: %s", errText(err))
		return
	}
	_, err = c.Write(msg)
	if err == nil {
		err = c.(*net.TCPConn).CloseWrite()
	}
	var reply []byte
	if err == nil {
		reply, err = io.ReadAll(c)
	}
	c.Close()
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		r.note("error after %q: %s", r.normalise(string(reply)), errText(err))
	} else {
		r.note("%s (half-closed)", r.describe(string(reply), msg, c, r.data.L[li]))
	}
	r.waitLog(1)
}

// heldConn is a connection kept open while others run.
type heldConn struct {
	r *diffRun
	c net.Conn
}

// hold opens a connection, completes the exchange and keeps it open.
func (r *diffRun) hold(src string, li int) *heldConn {
	r.t.Helper()
	c, err := r.dial(src, li)
	if err != nil {
		r.note("error: dial: %s", errText(err))
		return nil
	}
	c.SetDeadline(r.deadline(diffBudget)) // held while other connections run
	reply, err := exchange(c, []byte(diffMsg), []byte(diffMsg))
	if err != nil {
		r.note("error after %q: %s", r.normalise(reply), errText(err))
	} else {
		r.note("%s (held)", r.describe(reply, []byte(diffMsg), c, r.data.L[li]))
	}
	return &heldConn{r: r, c: c}
}

// close ends a held connection and waits for its access log line.
func (h *heldConn) close() {
	if h == nil {
		return
	}
	h.c.Close()
	h.r.waitLog(1)
}

// udp sends one datagram on pc to the i-th UDP listener, reads the answer
// and waits for the session's access log line.
func (r *diffRun) udp(pc net.PacketConn, li int, msg string) {
	r.t.Helper()
	to, err := net.ResolveUDPAddr("udp", r.data.UL[li])
	if err != nil {
		r.t.Fatal(err)
	}
	pc.SetDeadline(r.deadline(diffIOTimeout))
	if _, err := pc.WriteTo([]byte(msg), to); err != nil {
		r.note("error: write: %s", errText(err))
		return
	}
	buf := make([]byte, 65536)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		r.note("error: read: %s", errText(err))
		return
	}
	reply := string(buf[:n])
	if name, rest, ok := strings.Cut(reply, ":"); ok && rest == msg {
		reply = name
	} else {
		reply = strconv.Quote(r.normalise(reply))
	}
	r.note("%s", reply)
	r.waitLog(1)
}

func (r *diffRun) udpSocket(src string) net.PacketConn {
	r.t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(src, "0"))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { pc.Close() })
	return pc
}

// readLog returns the complete lines of the access log.
func (r *diffRun) readLog() []string {
	b, _ := os.ReadFile(r.data.Log)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return strings.Split(string(b[:i]), "\n")
	}
	return nil
}

// waitLog waits until n more access log lines have been written; a line
// that never comes is noted in the transcript.
func (r *diffRun) waitLog(n int) {
	want := r.lines + n
	deadline := r.deadline(diffLogTimeout)
	for len(r.readLog()) < want {
		if time.Now().After(deadline) {
			r.note("error: no access log line %d within %v", want, diffLogTimeout)
			break
		}
		time.Sleep(5 * time.Millisecond) // polling a file the server writes; no event to wait on
	}
	r.lines = want
}

// logLines returns the normalised access log.
func (r *diffRun) logLines() []string {
	lines := r.readLog()
	for i := range lines {
		lines[i] = r.normalise(lines[i])
	}
	return lines
}

// clientHello returns the first TLS record crypto/tls sends for the given
// server name and ALPN protocols.
func clientHello(t *testing.T, sni string, alpn []string) []byte {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tls.Client(a, &tls.Config{ServerName: sni, NextProtos: alpn, InsecureSkipVerify: true}).Handshake()
		a.Close()
	}()
	b.SetDeadline(time.Now().Add(diffIOTimeout))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 5+(int(hdr[3])<<8|int(hdr[4])))
	copy(rec, hdr)
	if _, err := io.ReadFull(b, rec[5:]); err != nil {
		t.Fatal(err)
	}
	b.Close()
	<-done
	return rec
}

// diffSources are client addresses spread over 127.0.0.0/16.
var diffSources = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4",
	"127.0.1.1", "127.0.1.2", "127.0.2.9", "127.0.3.4", "127.0.3.200", "127.0.9.77"}

func TestStreamDiff(t *testing.T) {
	for _, f := range []string{nginxBinary, nginxStreamModule} {
		if _, err := os.Stat(f); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("nginx is needed: %v", err)
			}
			t.Skipf("nginx is not installed: %v", err)
		}
	}
	w := newDiffWorld(t)
	helloA := clientHello(t, "a.example.com", []string{"h2", "http/1.1"})
	helloB := clientHello(t, "b.example.com", nil)
	helloX := clientHello(t, "other.example.com", []string{"grpc-exp"})
	helloNone := clientHello(t, "", nil)

	tests := []struct {
		name    string
		conf    string // file in testdata/streamdiff
		listens int    // TCP listeners (L)
		udp     int    // UDP listeners (UL)
		setOnly bool   // compare only the set of answers and of $status
		drive   func(r *diffRun)
	}{
		{"round robin 3:1", "rr_weights.conf", 1, 0, false, func(r *diffRun) {
			for i := 0; i < 8; i++ {
				r.conn("127.0.0.1", 0)
			}
		}},
		{"least_conn held", "least_conn.conf", 1, 0, false, func(r *diffRun) {
			h1 := r.hold("127.0.0.1", 0)
			h2 := r.hold("127.0.0.1", 0)
			h1.close()
			h3 := r.hold("127.0.0.1", 0)
			h4 := r.hold("127.0.0.1", 0)
			h5 := r.hold("127.0.0.1", 0)
			h3.close()
			r.conn("127.0.0.1", 0)
			h2.close()
			h4.close()
			h5.close()
			r.conn("127.0.0.1", 0)
			r.conn("127.0.0.1", 0)
		}},
		{"hash remote_addr", "hash.conf", 1, 0, false, func(r *diffRun) {
			for _, src := range diffSources {
				r.conn(src, 0)
			}
			r.conn(diffSources[0], 0)
		}},
		{"hash consistent", "hash_consistent.conf", 1, 0, false, func(r *diffRun) {
			for _, src := range diffSources {
				r.conn(src, 0)
			}
			r.conn(diffSources[4], 0)
		}},
		{"random", "random.conf", 1, 0, true, func(r *diffRun) {
			for i := 0; i < 20; i++ {
				r.conn("127.0.0.1", 0)
			}
		}},
		{"next upstream on", "next_upstream_on.conf", 1, 0, false, func(r *diffRun) {
			for i := 0; i < 4; i++ {
				r.conn("127.0.0.1", 0)
			}
		}},
		{"next upstream off", "next_upstream_off.conf", 1, 0, false, func(r *diffRun) {
			for i := 0; i < 4; i++ {
				r.conn("127.0.0.1", 0)
			}
		}},
		{"all servers dead", "all_dead.conf", 1, 0, false, func(r *diffRun) {
			// The first connection tries both; then no server is live
			// until fail_timeout has passed.
			for i := 0; i < 5; i++ {
				r.conn("127.0.0.1", 0)
			}
		}},
		{"backup", "backup.conf", 2, 0, false, func(r *diffRun) {
			for i := 0; i < 3; i++ {
				r.conn("127.0.0.1", 0)
				r.conn("127.0.0.1", 1)
			}
		}},
		{"allow deny geo", "access.conf", 1, 0, false, func(r *diffRun) {
			for _, src := range []string{"127.0.0.1", "127.0.0.2", "127.0.1.7", "127.0.2.1", "127.0.0.3"} {
				r.conn(src, 0)
			}
		}},
		{"limit_conn", "limit_conn.conf", 1, 0, false, func(r *diffRun) {
			h := r.hold("127.0.0.1", 0)
			r.conn("127.0.0.1", 0)
			r.conn("127.0.0.2", 0)
			h.close()
			r.conn("127.0.0.1", 0)
		}},
		{"return", "return.conf", 1, 0, false, func(r *diffRun) {
			r.conn("127.0.0.1", 0)
			r.conn("127.0.3.3", 0)
		}},
		{"map to proxy_pass variable", "map_var.conf", 1, 0, false, func(r *diffRun) {
			for _, src := range diffSources {
				r.conn(src, 0)
			}
		}},
		{"split_clients", "split_clients.conf", 1, 0, false, func(r *diffRun) {
			for _, src := range diffSources {
				r.conn(src, 0)
			}
		}},
		{"proxy_protocol to backend", "proxy_protocol.conf", 1, 0, false, func(r *diffRun) {
			r.conn("127.0.0.1", 0)
			r.conn("127.0.2.3", 0)
		}},
		{"proxy_protocol from client", "proxy_protocol_in.conf", 2, 0, false, func(r *diffRun) {
			hdr := "PROXY TCP4 192.0.2.1 198.51.100.2 40000 443\r\n"
			r.connMsg("127.0.0.1", 0, []byte(hdr+diffMsg), []byte(diffMsg))
			r.connMsg("127.0.0.1", 1, []byte(hdr+diffMsg), []byte(diffMsg))
			r.connMsg("127.0.1.1", 1, []byte(hdr+diffMsg), []byte(diffMsg)) // not a trusted peer
			r.connMsg("127.0.0.1", 1, []byte("PROXY UNKNOWN\r\n"+diffMsg), []byte(diffMsg))
			r.connMsg("127.0.0.1", 0, []byte("PROXY TCP4 nonsense\r\n"+diffMsg), []byte(diffMsg))
		}},
		{"ssl_preread SNI map", "ssl_preread.conf", 1, 0, false, func(r *diffRun) {
			for _, h := range [][]byte{helloA, helloB, helloX, helloNone, []byte(diffMsg), helloA} {
				r.connMsg("127.0.0.1", 0, h, h)
			}
			// A handshake record that is not a ClientHello, then an SSL 2
			// record type: both are "not TLS" to the preread phase.
			r.connMsg("127.0.0.1", 0, []byte("\x16\x03\x01\x00\x04\x02\x00\x00\x00\n"), []byte("\x16\x03\x01\x00\x04\x02\x00\x00\x00\n"))
			r.connMsg("127.0.0.1", 0, []byte("\x16\x02\x01\x00\x04hello\n"), []byte("\x16\x02\x01\x00\x04hello\n"))
			// A client that closes in the middle of its ClientHello.
			r.connHalfClose("127.0.0.1", 0, helloA[:100])
		}},
		{"udp proxy_responses 1", "udp.conf", 0, 1, false, func(r *diffRun) {
			for i := 0; i < 5; i++ {
				r.udp(r.udpSocket("127.0.0.1"), 0, "query "+strconv.Itoa(i))
			}
			// Every datagram is a session of its own, even from one socket.
			pc := r.udpSocket("127.0.0.2")
			r.udp(pc, 0, "again 1")
			r.udp(pc, 0, "again 2")
		}},
	}
	began := time.Now()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := template.New(tc.conf).Option("missingkey=error").ParseFiles(filepath.Join("testdata", "streamdiff", tc.conf))
			if err != nil {
				t.Fatal(err)
			}
			if time.Now().After(w.end) {
				t.Fatalf("the test ran past its %v budget", diffBudget)
			}
			runs := map[string]*diffRun{}
			for _, impl := range []string{"nginx", "sluice"} {
				r := newDiffRun(t, impl, w, tmpl, tc.listens, tc.udp)
				tc.drive(r)
				runs[impl] = r
			}
			ng, sl := runs["nginx"], runs["sluice"]
			ngOut, slOut := ng.out, sl.out
			ngLog, slLog := ng.logLines(), sl.logLines()
			if tc.setOnly {
				ngOut, slOut = uniqSorted(ngOut), uniqSorted(slOut)
				ngLog, slLog = uniqSorted(ngLog), uniqSorted(slLog)
			}
			t.Logf("nginx:  %s", strings.Join(ngOut, ", "))
			for _, r := range runs {
				for _, e := range r.out {
					if strings.HasPrefix(e, "error") {
						t.Errorf("a client of %s failed: %s", r.impl, e)
					}
				}
			}
			if !slices.Equal(ngOut, slOut) {
				t.Errorf("clients saw different answers\nnginx:  %q\nsluice: %q", ngOut, slOut)
			}
			compareLogs(t, ngLog, slLog)
		})
	}
	t.Logf("%d cases in %v", len(tests), time.Since(began).Round(time.Millisecond))
}

func uniqSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// compareLogs compares two access logs line by line and field by field
// (fields are name=value, separated by '|').
func compareLogs(t *testing.T, ngLog, slLog []string) {
	t.Helper()
	if len(ngLog) != len(slLog) {
		t.Errorf("nginx wrote %d access log lines, sluice %d\nnginx:\n%s\nsluice:\n%s",
			len(ngLog), len(slLog), strings.Join(ngLog, "\n"), strings.Join(slLog, "\n"))
	}
	for i := 0; i < min(len(ngLog), len(slLog)); i++ {
		nf, sf := strings.Split(ngLog[i], "|"), strings.Split(slLog[i], "|")
		if len(nf) != len(sf) {
			t.Errorf("log line %d: nginx %q, sluice %q", i+1, ngLog[i], slLog[i])
			continue
		}
		for j := range nf {
			if nf[j] != sf[j] {
				t.Errorf("log line %d field %d: nginx %q, sluice %q\n  nginx:  %s\n  sluice: %s",
					i+1, j+1, nf[j], sf[j], ngLog[i], slLog[i])
			}
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("nginx access log:\n%s\nsluice access log:\n%s", strings.Join(ngLog, "\n"), strings.Join(slLog, "\n"))
	}
}
