package accesslog

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/internal/testutil"
	"github.com/sluicelb/sluice/vars"
)

func TestParseDirective(t *testing.T) {
	tests := []struct {
		args []string
		want Directive
		err  string
	}{
		{args: []string{"off"}, want: Directive{Off: true}},
		{args: []string{"off", "x"}, err: `invalid parameter "x"`},
		{args: []string{"/l"}, want: Directive{Path: "/l"}},
		{args: []string{"/l", "main", "buffer=32k", "flush=5s", "if=$ok"},
			want: Directive{Path: "/l", Format: "main", Buffer: 32 << 10, Flush: 5 * time.Second, If: "$ok"}},
		{args: []string{"/l", "main", "gzip"}, want: Directive{Path: "/l", Format: "main", Buffer: 64 << 10, Gzip: 1}},
		{args: []string{"/l", "main", "buffer=1m", "gzip=9", "flush=1m30s"},
			want: Directive{Path: "/l", Format: "main", Buffer: 1 << 20, Gzip: 9, Flush: 90 * time.Second}},
		{args: []string{"/l", "main", "buffer=100", "flush=250ms"},
			want: Directive{Path: "/l", Format: "main", Buffer: 100, Flush: 250 * time.Millisecond}},
		{args: []string{"/l", "main", "buffer=0"}, err: `invalid buffer size "0"`},
		{args: []string{"/l", "main", "buffer=x"}, err: `invalid buffer size "x"`},
		{args: []string{"/l", "main", "flush=5s"}, err: `no buffer is defined for access_log "/l"`},
		{args: []string{"/l", "main", "buffer=1k", "flush=5q"}, err: `invalid flush time "5q"`},
		{args: []string{"/l", "main", "gzip=10"}, err: `invalid compression level "10"`},
		{args: []string{"/l", "main", "bogus"}, err: `invalid parameter "bogus"`},
		{args: []string{"syslog:server=127.0.0.1"}, want: Directive{Path: "syslog:server=127.0.0.1"}},
		{args: []string{"syslog:server=127.0.0.1,tag=$x", "main", "if=$ok"}, want: Directive{Path: "syslog:server=127.0.0.1,tag=$x", Format: "main", If: "$ok"}},
		{args: []string{"syslog:server=127.0.0.1", "main", "buffer=1k"}, err: `logs to syslog cannot be buffered`},
		{args: []string{"syslog:server=127.0.0.1", "main", "gzip"}, err: `logs to syslog cannot be buffered`},
		{args: []string{"/logs/$host.log"}, err: `access_log "/logs/$host.log": paths with variables are not supported`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			d, err := ParseDirective(tc.args)
			if tc.err != "" {
				var e *Error
				if !errors.As(err, &e) || e.Msg != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || d != tc.want {
				t.Fatalf("got %+v, %v; want %+v", d, err, tc.want)
			}
		})
	}
}

type fakeTimers struct {
	started chan time.Duration
	fire    chan time.Time
}

func newFakeTimers() *fakeTimers {
	return &fakeTimers{started: make(chan time.Duration, 16), fire: make(chan time.Time)}
}

func (f *fakeTimers) new(d time.Duration) (<-chan time.Time, func() bool) {
	f.started <- d
	return f.fire, func() bool { return true }
}

func recv[V any](t *testing.T, c <-chan V, what string) V {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero V
	return zero
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) add(_ string, err error) { e.mu.Lock(); e.list = append(e.list, err); e.mu.Unlock() }

func TestUnbufferedAndShared(t *testing.T) {
	dir := t.TempDir()
	fs := NewFiles(nil)
	defer fs.Close()
	p := filepath.Join(dir, "a.log")
	w1, err := fs.Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w2, _ := fs.Open(p, Options{})
	if w1 != w2 {
		t.Fatal("same path gave two writers")
	}
	w1.Write([]byte("one\n"))
	w2.Write([]byte("two\n"))
	if got := read(t, p); got != "one\ntwo\n" {
		t.Fatalf("file %q", got)
	}
	if _, err := fs.Open(p, Options{Buffer: 100}); err == nil {
		t.Fatal("adding a buffer to a log in use accepted")
	}
	q := filepath.Join(dir, "b.log")
	if _, err := fs.Open(q, Options{Buffer: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Open(q, Options{Buffer: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Open(q, Options{Buffer: 200}); err == nil || err.Error() != `accesslog: access_log "`+q+`" already defined with conflicting parameters` {
		t.Fatalf("conflict error %v", err)
	}
	if _, err := fs.Open(filepath.Join(dir, "missing", "c.log"), Options{}); err == nil {
		t.Fatal("open in a missing directory succeeded")
	}
}

func TestBuffering(t *testing.T) {
	dir := t.TempDir()
	fs := NewFiles(nil)
	defer fs.Close()
	p := filepath.Join(dir, "a.log")
	w, err := fs.Open(p, Options{Buffer: 16})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct{ write, file string }{
		{"aaaa\n", ""},
		{"bbbb\n", ""},
		{"cccc\n", ""},                 // 15 of 16 bytes
		{"dd\n", "aaaa\nbbbb\ncccc\n"}, // does not fit: buffer written first
		{"this line is longer than the buffer\n", "aaaa\nbbbb\ncccc\ndd\nthis line is longer than the buffer\n"},
	}
	for _, s := range steps {
		w.Write([]byte(s.write))
		if got := read(t, p); got != s.file {
			t.Fatalf("after %q: file %q, want %q", s.write, got, s.file)
		}
	}
	w.Write([]byte("e\n"))
	w.Flush()
	if got := read(t, p); !strings.HasSuffix(got, "buffer\ne\n") {
		t.Fatalf("after Flush: %q", got)
	}
}

func TestFlushTimer(t *testing.T) {
	dir := t.TempDir()
	fs := NewFiles(nil)
	ft := newFakeTimers()
	fs.SetTimer(ft.new)
	p := filepath.Join(dir, "a.log")
	w, err := fs.Open(p, Options{Buffer: 1024, Flush: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	flushed := make(chan struct{}, 1)
	w.afterFlush = func() { flushed <- struct{}{} }
	w.Write([]byte("first\n"))
	if d := recv(t, ft.started, "timer start"); d != 3*time.Second {
		t.Fatalf("timer for %v", d)
	}
	w.Write([]byte("second\n")) // buffer not empty: no new timer
	if got := read(t, p); got != "" {
		t.Fatalf("written before the timer fired: %q", got)
	}
	ft.fire <- time.Time{}
	recv(t, flushed, "flush")
	if got := read(t, p); got != "first\nsecond\n" {
		t.Fatalf("after timer: %q", got)
	}
	select {
	case d := <-ft.started:
		t.Fatalf("timer started (%v) with an empty buffer", d)
	default:
	}
	w.Write([]byte("third\n"))
	recv(t, ft.started, "second timer start")
	if err := fs.Close(); err != nil { // stops the timer goroutine and flushes
		t.Fatal(err)
	}
	if got := read(t, p); got != "first\nsecond\nthird\n" {
		t.Fatalf("after Close: %q", got)
	}
	w.Write([]byte("late\n"))
	if got := read(t, p); strings.Contains(got, "late") {
		t.Fatal("write after Close reached the file")
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	e := &errs{}
	fs := NewFiles(e.add)
	defer fs.Close()
	p := filepath.Join(dir, "a.log")
	w, err := fs.Open(p, Options{Buffer: 1024})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("before\n"))
	rotated := filepath.Join(dir, "a.log.1")
	if err := os.Rename(p, rotated); err != nil {
		t.Fatal(err)
	}
	if err := fs.Reopen(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("after\n"))
	w.Flush()
	if got := read(t, rotated); got != "before\n" {
		t.Fatalf("rotated file %q", got)
	}
	if got := read(t, p); got != "after\n" {
		t.Fatalf("new file %q", got)
	}
	// A reopen that fails keeps the old file and reports the error.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o700); err != nil { // the path is now a directory
		t.Fatal(err)
	}
	if err := w.Reopen(); err == nil || len(e.list) == 0 {
		t.Fatalf("reopen onto a directory: %v, callback %v", err, e.list)
	}
	w.Write([]byte("still\n"))
	w.Flush()
	if got := read(t, filepath.Join(dir, "a.log.1")); got != "before\n" {
		t.Fatalf("rotated file changed: %q", got)
	}
}

func TestWriteErrorCallback(t *testing.T) {
	dir := t.TempDir()
	e := &errs{}
	fs := NewFiles(e.add)
	w, err := fs.Open(filepath.Join(dir, "a.log"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.f.Close() // the descriptor goes bad under the writer
	w.Write([]byte("x\n"))
	if len(e.list) != 1 || !strings.Contains(e.list[0].Error(), "accesslog: write") {
		t.Fatalf("callback got %v", e.list)
	}
}

func TestConcurrentWholeLines(t *testing.T) {
	dir := t.TempDir()
	fs := NewFiles(nil)
	p := filepath.Join(dir, "a.log")
	w, err := fs.Open(p, Options{Buffer: 1000})
	if err != nil {
		t.Fatal(err)
	}
	const workers, per = 8, 300
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				w.Write(fmt.Appendf(nil, "worker=%d line=%d %s\n", g, i, strings.Repeat("x", i%50)))
			}
		}()
	}
	wg.Wait()
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ln := range strings.Split(strings.TrimSuffix(read(t, p), "\n"), "\n") {
		var g, i int
		var pad string
		if n, _ := fmt.Sscanf(ln, "worker=%d line=%d %s", &g, &i, &pad); n < 2 || (i%50 != 0 && pad != strings.Repeat("x", i%50)) {
			t.Fatalf("torn line %q", ln)
		}
		seen[fmt.Sprint(g, i)] = true
	}
	if len(seen) != workers*per {
		t.Fatalf("%d distinct lines, want %d", len(seen), workers*per)
	}
}

func TestGzip(t *testing.T) {
	dir := t.TempDir()
	fs := NewFiles(nil)
	p := filepath.Join(dir, "a.log.gz")
	w, err := fs.Open(p, Options{Buffer: 64, Gzip: 5})
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 20 {
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		w.Write([]byte(line))
	}
	must(t, fs.Close())
	zr, err := gzip.NewReader(bytes.NewReader([]byte(read(t, p))))
	must(t, err)
	got, err := io.ReadAll(zr) // several members, read as one stream
	must(t, err)
	if string(got) != want.String() {
		t.Fatalf("decompressed %q", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type sess struct {
	st   vars.State
	cond string
}

func (s *sess) VarState() *vars.State { return &s.st }

func TestLogWithCondition(t *testing.T) {
	tab := vars.NewTable[*sess]()
	must(t, tab.Define("cond", func(dst []byte, s *sess) ([]byte, bool) { return append(dst, s.cond...), true }, 0))
	must(t, tab.Define("remote_addr", func(dst []byte, s *sess) ([]byte, bool) { return append(dst, "10.0.0.1"...), true }, 0))
	formats := vars.NewLogFormats(tab, false)
	must(t, formats.Add([]string{"basic", `$remote_addr "$cond"`}, ""))
	d, err := ParseDirective([]string{filepath.Join(t.TempDir(), "s.log"), "basic", "if=$cond"})
	must(t, err)
	cond, err := tab.Compile(d.If, "")
	must(t, err)
	f, err := formats.Lookup(d.Format, "")
	must(t, err)
	must(t, tab.Freeze())
	fs := NewFiles(nil)
	defer fs.Close()
	w, err := fs.Open(d.Path, Options{Buffer: d.Buffer, Gzip: d.Gzip, Flush: d.Flush})
	must(t, err)
	l := &Log[*sess]{W: w, Format: f, If: cond}
	for _, c := range []string{"", "0", "1", "yes", "00"} {
		l.Write(&sess{cond: c})
	}
	if got := read(t, d.Path); got != "10.0.0.1 \"1\"\n10.0.0.1 \"yes\"\n10.0.0.1 \"00\"\n" {
		t.Fatalf("log %q", got)
	}
}

// TestLogToSyslog: a "syslog:" access log sends each line, without its
// line feed, after the header, as one datagram; if= still applies; a line
// too long for a datagram is dropped and reported, never cut.
func TestLogToSyslog(t *testing.T) {
	tab := vars.NewTable[*sess]()
	must(t, tab.Define("cond", func(dst []byte, s *sess) ([]byte, bool) { return append(dst, s.cond...), true }, 0))
	formats := vars.NewLogFormats(tab, false)
	must(t, formats.Add([]string{"basic", `x="$cond"`}, ""))
	d, err := ParseDirective([]string{"syslog:server=127.0.0.1", "basic", "if=$cond"})
	must(t, err)
	cond, err := tab.Compile(d.If, "")
	must(t, err)
	f, err := formats.Lookup(d.Format, "")
	must(t, err)
	must(t, tab.Freeze())

	rcv := testutil.UDPDatagrams(t)
	var mu sync.Mutex
	var reports []string
	fs := NewFiles(nil)
	defer fs.Close()
	opts := errlog.SyslogOptions{Hostname: "h", Now: func() time.Time { return time.Date(2026, 3, 14, 15, 9, 26, 0, time.Local) },
		Report: func(_ slog.Level, msg string) { mu.Lock(); reports = append(reports, msg); mu.Unlock() }}
	s, err := fs.OpenSyslog(d.Path, errlog.SyslogConfig{Server: rcv.Addr, Facility: 1, Severity: 5, Tag: "web"}, opts)
	must(t, err)
	if again, _ := fs.OpenSyslog(d.Path, errlog.SyslogConfig{}, opts); again != s {
		t.Fatal("the same target gave two senders")
	}
	l := &Log[*sess]{S: s, Format: f, If: cond}
	for _, c := range []string{"0", "a\"\\", ""} {
		l.Write(&sess{cond: c})
	}
	if got, want := rcv.Next(t, 5*time.Second), `<13>Mar 14 15:09:26 h web: x="a\x22\x5C"`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	l.Write(&sess{cond: strings.Repeat("z", 70000)})
	l.Write(&sess{cond: "next"})
	if got := rcv.Next(t, 5*time.Second); !strings.HasSuffix(got, `x="next"`) {
		t.Fatalf("got %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 || reports[0] != "send() failed (90: Message too long) while logging to syslog, server: "+rcv.Addr {
		t.Fatalf("reports %q", reports)
	}
}
