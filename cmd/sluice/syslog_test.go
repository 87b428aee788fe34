package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// syslogWait bounds the wait for one datagram.
const syslogWait = 5 * time.Second

// syslogConf is the configuration of the syslog tests: the main error log,
// an http server and a stream server log to syslog receivers over UDP and
// a unix datagram socket, in the forms production configurations use.
const syslogConf = `error_log syslog:server={{.Main}},tag={{.MainTag}} notice;
http {
    log_format f '$remote_addr "$request" $status "$http_x_test"';
    log_format j escape=json '{"uri":"$uri","x":"$http_x_test"}';
    server {
        listen {{.L}};
        access_log syslog:server={{.Unix}},tag=nginx,severity=info combined;
        access_log syslog:server={{.UDP}},tag={{.AccTag}},nohostname,facility=user,severity=warn f if=$arg_log;
        access_log syslog:server={{.UDP}},facility=local0 j;
        error_log syslog:server={{.Err}},tag=srv warn;
        location / { return 200 ok; }
        location /nf { root {{.Dir}}/nonexistent; }
        location /loc { error_log syslog:server={{.Err}},tag=loc,facility=local1 error; root {{.Dir}}/nonexistent; }
    }
}
stream {
    log_format s '$remote_addr $protocol $status $bytes_sent "$upstream_addr"';
    server {
        listen {{.SL}};
        access_log syslog:server={{.Unix}},facility=daemon s;
        error_log syslog:server={{.Err}},tag=srv2,nohostname error;
        proxy_pass {{.Dead}};
    }
}
`

// syslogData fills syslogConf.
type syslogData struct {
	Main, Unix, UDP, Err string // receivers
	MainTag, AccTag      string
	L, SL, Dead, Dir     string
}

// syslogReceivers are the receivers of one run.
type syslogReceivers struct {
	main, unix, udp, err *testutil.Datagrams
}

func newSyslogRun(t *testing.T) (*syslogReceivers, syslogData) {
	r := &syslogReceivers{main: testutil.UDPDatagrams(t), unix: testutil.UnixDatagrams(t),
		udp: testutil.UDPDatagrams(t), err: testutil.UDPDatagrams(t)}
	d := syslogData{Main: r.main.Addr, Unix: r.unix.Addr, UDP: r.udp.Addr, Err: r.err.Addr,
		MainTag: "main", AccTag: "acc", L: freeAddr(t), SL: freeAddr(t), Dead: deadAddr(t), Dir: t.TempDir()}
	return r, d
}

func renderSyslogConf(t *testing.T, d syslogData) string {
	t.Helper()
	var b strings.Builder
	if err := template.Must(template.New("c").Parse(syslogConf)).Execute(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// syslogRequests drives the clients: three HTTP requests, one TCP session
// to the stream server whose upstream refuses.
func syslogRequests(t *testing.T, d syslogData) {
	t.Helper()
	c := &http.Client{Timeout: syslogWait, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, path := range []string{"/x?log=1", "/nf/y", "/loc/z"} {
		req, _ := http.NewRequest("GET", "http://"+d.L+path, nil)
		req.Header.Set("X-Test", "a\"b\\\u00fc")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	conn, err := net.DialTimeout("tcp", d.SL, syslogWait)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(syslogWait))
	io.Copy(io.Discard, conn) // the server closes when the upstream refuses
	conn.Close()
}

var (
	syslogTime  = regexp.MustCompile(`^<(\d+)>[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d `)
	syslogEntry = regexp.MustCompile(`\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (\*\d+ )?`)
	syslogLocal = regexp.MustCompile(`\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]`)
	syslogConnN = regexp.MustCompile(`\*\d+ `)
)

// normSyslog masks what changes from run to run: the header's time, the
// error line's date, pid and connection number, $time_local, and the
// addresses of this run.
func normSyslog(msg string, d syslogData) string {
	msg = syslogTime.ReplaceAllString(msg, "<$1>TIME ")
	msg = syslogEntry.ReplaceAllString(msg, "DATE [$1] PID: $2")
	msg = syslogConnN.ReplaceAllString(msg, "*N ")
	msg = syslogLocal.ReplaceAllString(msg, "[TIME_LOCAL]")
	return strings.NewReplacer(d.L, "L", d.SL, "SL", d.Dead, "DEAD", d.Dir, "DIR").Replace(msg)
}

// collect reads n datagrams from r and normalises them.
func collect(t *testing.T, r *testutil.Datagrams, n int, d syslogData) []string {
	t.Helper()
	var out []string
	for range n {
		out = append(out, normSyslog(r.Next(t, syslogWait), d))
	}
	return out
}

func hostName(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return strings.ToLower(h)
}

// TestSyslogLogging runs sluice with syslog targets and checks every
// datagram: the priority, the host name (or none), the tag and the
// message, for the main error log, http and stream; then reloads with
// other tags and checks that the new generation's targets are used.
func TestSyslogLogging(t *testing.T) {
	r, d := newSyslogRun(t)
	dir := t.TempDir()
	startDiffImpl(t, "sluice", dir, renderSyslogConf(t, d))
	host := hostName(t)
	pid, _ := os.ReadFile(filepath.Join(dir, "run.pid"))

	if got, want := normSyslog(r.main.Next(t, syslogWait), d), "<189>TIME "+host+" main: DATE [notice] PID: sluice/"+Version+" started, pid: "+strings.TrimSpace(string(pid)); got != want {
		t.Errorf("main error log:\n got  %q\n want %q", got, want)
	}
	syslogRequests(t, d)
	check := func(name string, got, want []string) {
		t.Helper()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n got  %q\n want %q", name, got, want)
		}
	}
	check("unix access log", collect(t, r.unix, 4, d), []string{
		`<190>TIME ` + host + ` nginx: 127.0.0.1 - - [TIME_LOCAL] "GET /x?log=1 HTTP/1.1" 200 2 "-" "Go-http-client/1.1"`,
		`<190>TIME ` + host + ` nginx: 127.0.0.1 - - [TIME_LOCAL] "GET /nf/y HTTP/1.1" 404 153 "-" "Go-http-client/1.1"`,
		`<190>TIME ` + host + ` nginx: 127.0.0.1 - - [TIME_LOCAL] "GET /loc/z HTTP/1.1" 404 153 "-" "Go-http-client/1.1"`,
		`<30>TIME ` + host + ` nginx: 127.0.0.1 TCP 502 0 "DEAD"`,
	})
	check("udp access log", collect(t, r.udp, 4, d), []string{
		`<12>TIME acc: 127.0.0.1 "GET /x?log=1 HTTP/1.1" 200 "a\x22b\x5C\xC3\xBC"`,
		`<134>TIME ` + host + ` nginx: {"uri":"/x","x":"a\"b\\` + "\u00fc" + `"}`,
		`<134>TIME ` + host + ` nginx: {"uri":"/nf/y","x":"a\"b\\` + "\u00fc" + `"}`,
		`<134>TIME ` + host + ` nginx: {"uri":"/loc/z","x":"a\"b\\` + "\u00fc" + `"}`,
	})
	check("error logs", collect(t, r.err, 3, d), []string{
		`<187>TIME ` + host + ` srv: DATE [error] PID: *N open() "DIR/nonexistent/nf/y" failed (2: No such file or directory), client: 127.0.0.1, server: , request: "GET /nf/y HTTP/1.1", host: "L"`,
		`<139>TIME ` + host + ` loc: DATE [error] PID: *N open() "DIR/nonexistent/loc/z" failed (2: No such file or directory), client: 127.0.0.1, server: , request: "GET /loc/z HTTP/1.1", host: "L"`,
		`<187>TIME srv2: DATE [error] PID: *N connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: SL, upstream: "DEAD", bytes from/to client:0/0, bytes from/to upstream:0/0`,
	})

	// Reload with other tags: the new targets carry the messages.
	d2 := d
	d2.MainTag, d2.AccTag = "main2", "acc2"
	writeFile(t, filepath.Join(dir, "sluice.conf"), "pid "+dir+"/run.pid;\nerror_log "+dir+"/error.log info;\nevents {}\n"+renderSyslogConf(t, d2))
	p, err := os.FindProcess(atoi(t, strings.TrimSpace(string(pid))))
	if err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGHUP)
	check("main error log on reload", collect(t, r.main, 2, d), []string{
		"<189>TIME " + host + " main: DATE [notice] PID: signal 1 (SIGHUP) received, reconfiguring",
		"<189>TIME " + host + " main2: DATE [notice] PID: configuration reloaded",
	})
	c := &http.Client{Timeout: syslogWait, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + d.L + "/after?log=yes")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	check("udp access log after reload", collect(t, r.udp, 2, d), []string{
		`<12>TIME acc2: 127.0.0.1 "GET /after?log=yes HTTP/1.1" 200 "-"`,
		`<134>TIME ` + host + ` nginx: {"uri":"/after","x":""}`,
	})
	r.unix.Next(t, syslogWait)
	for name, rc := range map[string]*testutil.Datagrams{"main": r.main, "unix": r.unix, "udp": r.udp, "err": r.err} {
		if extra := rc.Pending(); len(extra) > 0 {
			t.Errorf("%s: unexpected datagrams %q", name, extra)
		}
	}
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// TestSyslogNginxDifferential runs nginx and sluice on the same
// configuration, each with receivers of its own, drives the same clients
// through both and compares the datagrams once times, pids, connection
// numbers and addresses are masked. The main error log is left out: its
// start and stop notices differ.
func TestSyslogNginxDifferential(t *testing.T) {
	testutil.NeedNginx(t)
	if _, err := os.Stat(nginxStreamModule); err != nil {
		t.Skip("nginx's stream module is not installed")
	}
	counts := map[string]int{"unix": 4, "udp": 4, "err": 3}
	runs := map[string]map[string][]string{}
	for _, impl := range []string{"nginx", "sluice"} {
		r, d := newSyslogRun(t)
		startDiffImpl(t, impl, t.TempDir(), renderSyslogConf(t, d))
		syslogRequests(t, d)
		runs[impl] = map[string][]string{
			"unix": collect(t, r.unix, counts["unix"], d),
			"udp":  collect(t, r.udp, counts["udp"], d),
			"err":  collect(t, r.err, counts["err"], d),
		}
	}
	for name := range counts {
		n, s := runs["nginx"][name], runs["sluice"][name]
		for i := range n {
			if n[i] != s[i] {
				t.Errorf("%s datagram %d:\n nginx  %q\n sluice %q\nall of nginx's:\n %q\nall of sluice's:\n %q", name, i, n[i], s[i], n, s)
				break
			}
		}
	}
}
