// Package errlog writes nginx's error log format through log/slog:
//
//	2026/11/22 10:04:05 [error] 4242#4242: *17 connect() failed, upstream: "127.0.0.1:8001"
//
// A Handler renders each record as one such line: the time in local time,
// the level in brackets, the process id twice (nginx's PID#TID; sluice has
// one process), the connection number from a "cid" attribute as "*CID ",
// the message, then the other attributes as `, key: value`. The levels are
// nginx's eight, mapped onto slog levels (see the Level constants).
//
// Targets are files, stderr or syslog servers (see Syslog); Reopen
// reopens files (SIGUSR1) so that rotated logs are released. A syslog
// target gets the same line, without its line feed and cut to nginx's
// 2047 bytes, after a header whose severity is the record's level.
package errlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// nginx's levels as slog levels.
const (
	LevelDebug  = slog.LevelDebug // -4
	LevelInfo   = slog.LevelInfo  // 0
	LevelNotice = slog.Level(2)
	LevelWarn   = slog.LevelWarn  // 4
	LevelError  = slog.LevelError // 8
	LevelCrit   = slog.Level(10)
	LevelAlert  = slog.Level(11)
	LevelEmerg  = slog.Level(12)
)

// ParseLevel maps an nginx level name to its slog level.
func ParseLevel(name string) (slog.Level, bool) {
	switch name {
	case "debug":
		return LevelDebug, true
	case "info":
		return LevelInfo, true
	case "notice":
		return LevelNotice, true
	case "warn":
		return LevelWarn, true
	case "error":
		return LevelError, true
	case "crit":
		return LevelCrit, true
	case "alert":
		return LevelAlert, true
	case "emerg":
		return LevelEmerg, true
	}
	return 0, false
}

// LevelName returns nginx's name of a level.
func LevelName(l slog.Level) string {
	switch {
	case l < LevelInfo:
		return "debug"
	case l < LevelNotice:
		return "info"
	case l < LevelWarn:
		return "notice"
	case l < LevelError:
		return "warn"
	case l < LevelCrit:
		return "error"
	case l < LevelAlert:
		return "crit"
	case l < LevelEmerg:
		return "alert"
	}
	return "emerg"
}

// Target is one destination of the error log with its own level.
type Target struct {
	Path   string // a file path, or "stderr"; ignored with Syslog
	Level  slog.Level
	Syslog *SyslogConfig // a syslog server, or nil
}

// Log is a set of targets, safe for concurrent use. The zero value writes
// nothing; use New.
type Log struct {
	mu      sync.Mutex
	targets []*output
	pid     string
	now     func() time.Time
	stderr  io.Writer
	report  func(level slog.Level, msg string)
	min     atomic.Int64 // lowest level any target writes
}

type output struct {
	Target
	w   io.Writer
	f   *os.File
	sys *Syslog
}

// Options configure a Log.
type Options struct {
	Now    func() time.Time // default time.Now
	Stderr io.Writer        // default os.Stderr
	Pid    int              // default os.Getpid()
	// Report is where syslog targets report failed sends (at most one a
	// second each); nil means this Log itself, whose other targets then
	// carry the report.
	Report *slog.Logger
}

// New opens the targets. A file that cannot be opened is an error that
// names it, as nginx's: open() "/x" failed (13: Permission denied).
func New(targets []Target, opts Options) (*Log, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Pid == 0 {
		opts.Pid = os.Getpid()
	}
	l := &Log{pid: strconv.Itoa(opts.Pid), now: opts.Now, stderr: opts.Stderr}
	report := opts.Report
	if report == nil {
		report = l.Logger()
	}
	l.report = func(level slog.Level, msg string) { report.Log(context.Background(), level, msg) }
	for _, t := range targets {
		o := &output{Target: t}
		if err := l.open(o); err != nil {
			l.Close()
			return nil, err
		}
		l.targets = append(l.targets, o)
	}
	l.min.Store(int64(minLevel(l.targets)))
	return l, nil
}

func (l *Log) open(o *output) error {
	if o.Syslog != nil {
		s, err := NewSyslog(*o.Syslog, SyslogOptions{Now: l.now, Report: l.report})
		if err != nil {
			return err
		}
		o.sys = s
		return nil
	}
	if o.Path == "stderr" {
		o.w = l.stderr
		return nil
	}
	f, err := os.OpenFile(o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open() %q failed (%v)", o.Path, unwrapPathErr(err))
	}
	o.f, o.w = f, f
	return nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// Reopen reopens every file target; on failure the old file stays in use
// and the error is returned.
func (l *Log) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first error
	for _, o := range l.targets {
		if o.f == nil {
			continue
		}
		n := &output{Target: o.Target}
		if err := l.open(n); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		o.f.Close()
		o.f, o.w = n.f, n.w
	}
	return first
}

// SetTargets replaces the targets, as a reload that changes error_log does.
// The new files are opened first; if one fails, the old targets stay.
func (l *Log) SetTargets(targets []Target) error {
	var opened []*output
	for _, t := range targets {
		o := &output{Target: t}
		if err := l.open(o); err != nil {
			for _, p := range opened {
				p.close()
			}
			return err
		}
		opened = append(opened, o)
	}
	l.mu.Lock()
	old := l.targets
	l.targets = opened
	l.min.Store(int64(minLevel(opened)))
	l.mu.Unlock()
	for _, o := range old {
		o.close()
	}
	return nil
}

func (o *output) close() {
	if o.f != nil {
		o.f.Close()
	}
	if o.sys != nil {
		o.sys.Close()
	}
}

// Close closes the file targets and the syslog sockets.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.targets {
		if o.f != nil {
			o.f.Close()
			o.f = nil
			o.w = io.Discard
		}
		if o.sys != nil {
			o.sys.Close()
		}
	}
	return nil
}

// MinLevel is the lowest level any target writes.
func (l *Log) MinLevel() slog.Level { return slog.Level(l.min.Load()) }

func minLevel(targets []*output) slog.Level {
	min := LevelEmerg + 1
	for _, o := range targets {
		if o.Level < min {
			min = o.Level
		}
	}
	return min
}

// Logger returns a slog.Logger writing to l.
func (l *Log) Logger() *slog.Logger { return slog.New(&Handler{log: l}) }

// Handler is the slog.Handler of a Log.
type Handler struct {
	log    *Log
	prefix string // rendered attributes from WithAttrs
	cid    string
	group  string
}

var _ slog.Handler = (*Handler)(nil)

// Enabled reports whether any target writes level.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.log.MinLevel()
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	var sb strings.Builder
	sb.WriteString(h.prefix)
	for _, a := range attrs {
		n.appendAttr(&sb, a)
	}
	n.prefix = sb.String()
	return &n
}

// WithGroup returns a handler that qualifies attribute keys with name.
func (h *Handler) WithGroup(name string) slog.Handler {
	n := *h
	if n.group != "" {
		n.group += "."
	}
	n.group += name
	return &n
}

func (h *Handler) appendAttr(sb *strings.Builder, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Key == "cid" && h.group == "" {
		h.cid = a.Value.String()
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			h.appendAttr(sb, g)
		}
		return
	}
	sb.WriteString(", ")
	if h.group != "" {
		sb.WriteString(h.group)
		sb.WriteByte('.')
	}
	sb.WriteString(a.Key)
	sb.WriteString(": ")
	v := a.Value.String()
	if a.Value.Kind() == slog.KindString && v != "" && !strings.ContainsAny(v, " ,\"") {
		sb.WriteString(v)
	} else if a.Value.Kind() == slog.KindString {
		sb.WriteString(strconv.Quote(v))
	} else {
		sb.WriteString(v)
	}
}

// Handle writes r as one line to every target whose level admits it.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	hh := *h
	var attrs strings.Builder
	attrs.WriteString(h.prefix)
	r.Attrs(func(a slog.Attr) bool {
		hh.appendAttr(&attrs, a)
		return true
	})
	t := h.log.now() // the Log's clock, so tests can fix it
	var line strings.Builder
	line.Grow(64 + len(r.Message) + attrs.Len())
	line.WriteString(t.Format("2006/01/02 15:04:05"))
	line.WriteString(" [")
	line.WriteString(LevelName(r.Level))
	line.WriteString("] ")
	line.WriteString(h.log.pid)
	line.WriteByte('#')
	line.WriteString(h.log.pid)
	line.WriteString(": ")
	if hh.cid != "" {
		line.WriteByte('*')
		line.WriteString(hh.cid)
		line.WriteByte(' ')
	}
	line.WriteString(r.Message)
	line.WriteString(attrs.String())
	line.WriteByte('\n')
	b := []byte(line.String())
	h.log.mu.Lock()
	targets := h.log.targets
	syslogs := false
	for _, o := range targets {
		if r.Level >= o.Level && o.w != nil {
			o.w.Write(b)
		}
		syslogs = syslogs || o.sys != nil
	}
	h.log.mu.Unlock()
	if !syslogs {
		return nil
	}
	// Sent outside the lock: a failed send is reported through a Log,
	// possibly this one.
	for _, o := range targets {
		if r.Level >= o.Level && o.sys != nil {
			o.sys.sendLine(r.Level, b[:len(b)-1])
		}
	}
	return nil
}
