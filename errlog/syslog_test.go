package errlog

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

const wait = 5 * time.Second

// reports collects what senders report.
type reports struct {
	mu   sync.Mutex
	msgs []string
}

func (r *reports) add(level slog.Level, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, "["+LevelName(level)+"] "+msg)
}

func (r *reports) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func newSyslog(t *testing.T, cfg SyslogConfig, r *reports) *Syslog {
	t.Helper()
	opts := SyslogOptions{Now: fixed, Hostname: "web1"}
	if r != nil {
		opts.Report = r.add
	}
	s, err := NewSyslog(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSyslogHeader checks nginx's header: <PRI>, the time with a
// space-padded day, the host name unless nohostname, the tag.
func TestSyslogHeader(t *testing.T) {
	jan2 := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local) }
	tests := []struct {
		cfg      SyslogConfig
		severity int
		want     string
	}{
		{SyslogConfig{Facility: 23, Severity: 6, Tag: "nginx"}, 6, "<190>Jan  2 03:04:05 web1 nginx: "},
		{SyslogConfig{Facility: 0, Tag: "k"}, 0, "<0>Jan  2 03:04:05 web1 k: "},
		{SyslogConfig{Facility: 1, Tag: "acc", NoHostname: true}, 4, "<12>Jan  2 03:04:05 acc: "},
		{SyslogConfig{Facility: 16, Tag: ""}, 7, "<135>Jan  2 03:04:05 web1 : "},
	}
	for _, tc := range tests {
		tc.cfg.Server = "127.0.0.1:514"
		s, err := NewSyslog(tc.cfg, SyslogOptions{Now: jan2, Hostname: "web1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(s.AppendHeader(nil, tc.severity)); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.cfg, got, tc.want)
		}
	}
	s, _ := NewSyslog(SyslogConfig{Server: "127.0.0.1:514", Tag: "t"}, SyslogOptions{Now: fixed})
	if h, _ := os.Hostname(); !strings.Contains(string(s.AppendHeader(nil, 0)), " "+strings.ToLower(h)+" t: ") {
		t.Errorf("default host name: %q", s.AppendHeader(nil, 0))
	}
}

func TestSyslogSeverity(t *testing.T) {
	for i, name := range []string{"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"} {
		l, _ := ParseLevel(name)
		if got := SyslogSeverity(l); got != i {
			t.Errorf("%s: severity %d, want %d", name, got, i)
		}
	}
}

// TestSyslogSend sends over UDP and a unix datagram socket.
func TestSyslogSend(t *testing.T) {
	for _, d := range []*testutil.Datagrams{testutil.UDPDatagrams(t), testutil.UnixDatagrams(t)} {
		s := newSyslog(t, SyslogConfig{Server: d.Addr, Facility: 23, Severity: 6, Tag: "nginx"}, nil)
		s.Write(append(s.AppendHeader(nil, 6), "one"...))
		s.Write(append(s.AppendHeader(nil, 3), "two"...))
		for _, want := range []string{"one", "two"} {
			pri := map[string]string{"one": "<190>", "two": "<187>"}[want]
			if got := d.Next(t, wait); got != pri+"Nov 22 10:04:05 web1 nginx: "+want {
				t.Errorf("%s: got %q", d.Addr, got)
			}
		}
		s.Close()
		s.Write([]byte("after close"))
		if got, ok := d.Wait(50 * time.Millisecond); ok {
			t.Errorf("sent after Close: %q", got)
		}
	}
}

// TestSyslogNoReceiver: a unix socket that does not exist (yet) costs
// nothing at load; messages are dropped with one report a second; once a
// receiver appears, messages arrive.
func TestSyslogNoReceiver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.sock")
	r := &reports{}
	s := newSyslog(t, SyslogConfig{Server: "unix:" + path, Facility: 23, Tag: "nginx", NoHostname: true}, r)
	for range 5 {
		s.Write([]byte("lost"))
	}
	want := "[alert] connect() failed (2: No such file or directory) while logging to syslog, server: unix:" + path
	if got := r.list(); len(got) != 1 || got[0] != want {
		t.Fatalf("reports %q, want one %q", got, want)
	}
	d := testutil.UnixDatagramsAt(t, path)
	s.Write([]byte("found"))
	if got := d.Next(t, wait); got != "found" {
		t.Fatalf("got %q", got)
	}
	// The receiver restarts: the old socket fails once, then a new one
	// reaches the new receiver.
	d.Close()
	os.Remove(path)
	d2 := testutil.UnixDatagramsAt(t, path)
	deadline := time.Now().Add(wait)
	for {
		s.Write([]byte("again"))
		if got, ok := d2.Wait(10 * time.Millisecond); ok {
			if got != "again" {
				t.Fatalf("got %q", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no datagram after the receiver restarted")
		}
	}
}

// TestSyslogRefused: UDP to a port nobody reads fails with ECONNREFUSED
// after the ICMP error comes back; the sender reports it and goes on.
func TestSyslogRefused(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	r := &reports{}
	s := newSyslog(t, SyslogConfig{Server: addr, Tag: "t"}, r)
	deadline := time.Now().Add(wait)
	for len(r.list()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failure reported")
		}
		s.Write([]byte("x")) // the first goes out; a later one meets the ICMP error
	}
	want := "[error] send() failed (111: Connection refused) while logging to syslog, server: " + addr
	if got := r.list(); got[0] != want {
		t.Fatalf("report %q, want %q", got[0], want)
	}
}

// TestSyslogNeverBlocks fills a unix socket nobody reads: sends return at
// once and the overflow is dropped.
func TestSyslogNeverBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "full.sock")
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := &reports{}
	s := newSyslog(t, SyslogConfig{Server: "unix:" + path, Tag: "t"}, r)
	msg := bytes.Repeat([]byte("x"), 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2000 {
			s.Write(msg)
		}
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("sending to a full socket blocked")
	}
	got := r.list()
	if len(got) != 1 || !strings.Contains(got[0], "send() failed (11: Resource temporarily unavailable) while logging to syslog") {
		t.Fatalf("reports %q", got)
	}
}

// TestLogSyslogTarget: an error log target sends the usual line, without
// its line feed and cut to 2047 bytes, with the record's severity.
func TestLogSyslogTarget(t *testing.T) {
	d := testutil.UDPDatagrams(t)
	var buf bytes.Buffer
	l, err := New([]Target{
		{Level: LevelWarn, Syslog: &SyslogConfig{Server: d.Addr, Facility: 23, Tag: "srv"}},
		{Path: "stderr", Level: LevelInfo},
	}, Options{Now: fixed, Stderr: &buf, Pid: 42})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	host := systemHostname()
	stamp := fixed().Format("2006/01/02 15:04:05")
	log := l.Logger()
	log.Info("not sent")
	log.Error("open() failed", "cid", 7, "client", "127.0.0.1")
	if got, want := d.Next(t, wait), "<187>Nov 22 10:04:05 "+host+" srv: "+stamp+" [error] 42#42: *7 open() failed, client: 127.0.0.1"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	log.Log(context.Background(), LevelCrit, strings.Repeat("y", 3000))
	got := d.Next(t, wait)
	prefix := "<186>Nov 22 10:04:05 " + host + " srv: " + stamp + " [crit] 42#42: "
	if !strings.HasPrefix(got, prefix) || len(got) != len(prefix)-len(stamp+" [crit] 42#42: ")+2047 {
		t.Errorf("long line: %d bytes %q...", len(got), got[:min(len(got), 80)])
	}
	if strings.Count(buf.String(), "\n") != 3 {
		t.Errorf("stderr target: %q", buf.String())
	}
}

// TestLogSyslogReportsToItself: with no Report, a failing syslog target
// of a Log reports to the Log's other targets, once, without looping.
func TestLogSyslogReportsToItself(t *testing.T) {
	var buf bytes.Buffer
	path := filepath.Join(t.TempDir(), "none.sock")
	l, err := New([]Target{
		{Level: LevelInfo, Syslog: &SyslogConfig{Server: "unix:" + path, Tag: "t"}},
		{Path: "stderr", Level: LevelInfo},
	}, Options{Now: fixed, Stderr: &buf, Pid: 42})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Logger().Error("first")
	l.Logger().Error("second")
	want := stampLine("[error] 42#42: first") +
		stampLine("[alert] 42#42: connect() failed (2: No such file or directory) while logging to syslog, server: unix:"+path) +
		stampLine("[error] 42#42: second")
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
}

func stampLine(s string) string { return fixed().Format("2006/01/02 15:04:05") + " " + s + "\n" }

// TestLogSyslogSetTargets: a reload that replaces the targets closes the
// old syslog sockets and sends through the new ones.
func TestLogSyslogSetTargets(t *testing.T) {
	d1, d2 := testutil.UDPDatagrams(t), testutil.UnixDatagrams(t)
	l, err := New([]Target{{Level: LevelInfo, Syslog: &SyslogConfig{Server: d1.Addr, Tag: "a"}}}, Options{Now: fixed, Pid: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Logger().Info("one")
	if got := d1.Next(t, wait); !strings.HasSuffix(got, "a: "+stampLine("[info] 1#1: one")[:len(stampLine("[info] 1#1: one"))-1]) {
		t.Errorf("got %q", got)
	}
	old := l.targets[0].sys
	if err := l.SetTargets([]Target{{Level: LevelInfo, Syslog: &SyslogConfig{Server: d2.Addr, Tag: "b", NoHostname: true}}}); err != nil {
		t.Fatal(err)
	}
	if !old.closed.Load() {
		t.Error("old sender not closed")
	}
	l.Logger().Info("two")
	if got, want := d2.Next(t, wait), "<6>Nov 22 10:04:05 b: "+stampLine("[info] 1#1: two"); got+"\n" != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, ok := d1.Wait(50 * time.Millisecond); ok {
		t.Errorf("old target still sent %q", got)
	}
}
