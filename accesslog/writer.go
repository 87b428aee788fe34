package accesslog

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/errlog"
)

// Options are the buffering parameters of one log file, from buffer=,
// gzip= and flush=.
type Options struct {
	Buffer int           // bytes held before writing; 0 writes every line at once
	Gzip   int           // compress each written chunk as a gzip member, level 1-9; 0 off
	Flush  time.Duration // write a non-empty buffer at most this long after its first line
}

// TimerFunc starts a timer and returns its channel and a stop function, as
// time.NewTimer does. Tests inject a fake one.
type TimerFunc func(d time.Duration) (<-chan time.Time, func() bool)

func realTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Files is the set of open access log files, one Writer per path shared by
// every server and location that logs there, as nginx shares them. The zero
// value is not usable; create it with NewFiles. Safe for concurrent use.
type Files struct {
	mu      sync.Mutex
	files   map[string]*Writer
	syslogs map[string]*errlog.Syslog
	onError func(path string, err error)
	timer   TimerFunc
}

// NewFiles returns an empty set. onError receives write, flush and reopen
// failures (with the file's path); nil drops them.
func NewFiles(onError func(path string, err error)) *Files {
	if onError == nil {
		onError = func(string, error) {}
	}
	return &Files{files: map[string]*Writer{}, syslogs: map[string]*errlog.Syslog{}, onError: onError, timer: realTimer}
}

// SetTimer replaces the timer used for flush= (for tests). It affects
// writers opened afterwards.
func (fs *Files) SetTimer(f TimerFunc) { fs.timer = f }

// Open returns the Writer for path, opening the file (append, create, mode
// 0644) the first time. A path opened again shares the Writer; asking for a
// buffer with parameters different from the buffered Writer already there
// is refused, in nginx's words. A buffer requested for a path first opened
// unbuffered is granted if nothing was written yet.
func (fs *Files) Open(path string, o Options) (*Writer, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if w, ok := fs.files[path]; ok {
		if o.Buffer == 0 {
			return w, nil
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.opts.Buffer != 0 {
			if w.opts != o {
				return nil, errorf("access_log \"%s\" already defined with conflicting parameters", path)
			}
			return w, nil
		}
		if w.written {
			return nil, errorf("access_log \"%s\": cannot add a buffer to a log in use", path)
		}
		w.setOptions(o)
		return w, nil
	}
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	w := &Writer{path: path, f: f, onError: fs.onError, timer: fs.timer, done: make(chan struct{})}
	w.setOptions(o)
	fs.files[path] = w
	return w, nil
}

// OpenSyslog returns the sender for a "syslog:" target: one per target
// text, shared by every access_log that names it, closed by Close. It
// opens no socket yet (see errlog.Syslog).
func (fs *Files) OpenSyslog(target string, cfg errlog.SyslogConfig, opts errlog.SyslogOptions) (*errlog.Syslog, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if s, ok := fs.syslogs[target]; ok {
		return s, nil
	}
	s, err := errlog.NewSyslog(cfg, opts)
	if err != nil {
		return nil, err
	}
	fs.syslogs[target] = s
	return s, nil
}

// OpenError is a log file that could not be opened. It reads as nginx's
// error, with no file and line: open() "/var/log/access.log" failed (2:
// No such file or directory).
type OpenError struct {
	Path string
	Err  error // from os.OpenFile
}

func (e *OpenError) Error() string {
	var errno syscall.Errno
	if errors.As(e.Err, &errno) {
		t := errno.Error()
		return fmt.Sprintf("open() \"%s\" failed (%d: %s)", e.Path, int(errno), strings.ToUpper(t[:1])+t[1:])
	}
	return fmt.Sprintf("open() \"%s\" failed (%v)", e.Path, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// openFile opens a log file for appending.
func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, &OpenError{Path: path, Err: err}
	}
	return f, nil
}

// Reopen reopens every file (what SIGUSR1 asks for), after writing out
// buffered lines. It returns the first failure; a file that cannot be
// reopened keeps writing to the old one.
func (fs *Files) Reopen() error {
	var first error
	for _, w := range fs.list() {
		if err := w.Reopen(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Flush writes out every buffer.
func (fs *Files) Flush() {
	for _, w := range fs.list() {
		w.Flush()
	}
}

// Close flushes and closes every file and stops their flush timers.
func (fs *Files) Close() error {
	var first error
	for _, w := range fs.list() {
		if err := w.Close(); err != nil && first == nil {
			first = err
		}
	}
	fs.mu.Lock()
	for _, s := range fs.syslogs {
		s.Close()
	}
	fs.files, fs.syslogs = map[string]*Writer{}, map[string]*errlog.Syslog{}
	fs.mu.Unlock()
	return first
}

func (fs *Files) list() []*Writer {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]*Writer, 0, len(fs.files))
	for _, w := range fs.files {
		out = append(out, w)
	}
	return out
}

// Writer appends log lines to one file. Each Write is one or more whole
// lines; a line is never split between two writes to the file. Safe for
// concurrent use.
type Writer struct {
	path    string
	onError func(path string, err error)
	timer   TimerFunc

	mu      sync.Mutex
	opts    Options
	f       *os.File
	buf     []byte
	written bool
	closed  bool
	gz      *gzip.Writer
	gzOut   bytes.Buffer

	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	afterFlush func() // test hook, called after a timer-driven flush
}

func (w *Writer) setOptions(o Options) {
	w.opts = o
	if o.Buffer > 0 && cap(w.buf) < o.Buffer {
		w.buf = make([]byte, 0, o.Buffer)
	}
	if o.Flush > 0 && w.kick == nil {
		w.kick = make(chan struct{}, 1)
		w.wg.Add(1)
		go w.flusher()
	}
}

// Path returns the file's path.
func (w *Writer) Path() string { return w.path }

// Write appends p, which must hold whole lines ending in '\n'. Unbuffered,
// p is written at once with one write. Buffered, p joins the buffer; a
// buffer that cannot take it is written out first, and a p larger than the
// whole buffer is written directly. Failures go to the error callback.
func (w *Writer) Write(p []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.written = true
	if w.opts.Buffer == 0 {
		w.writeOut(p)
		return
	}
	if len(p) > cap(w.buf)-len(w.buf) {
		w.flushLocked()
	}
	if len(p) > cap(w.buf) {
		w.writeOut(p)
		return
	}
	wasEmpty := len(w.buf) == 0
	w.buf = append(w.buf, p...)
	if wasEmpty && w.kick != nil {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// Flush writes out the buffer.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
}

func (w *Writer) flushLocked() {
	if len(w.buf) == 0 || w.f == nil {
		return
	}
	w.writeOut(w.buf)
	w.buf = w.buf[:0]
}

// writeOut writes b (gzip-compressed as one member when configured) with a
// single write call.
func (w *Writer) writeOut(b []byte) {
	if w.opts.Gzip > 0 {
		w.gzOut.Reset()
		if w.gz == nil {
			gz, err := gzip.NewWriterLevel(&w.gzOut, w.opts.Gzip)
			if err != nil {
				w.onError(w.path, fmt.Errorf("accesslog: gzip %q: %w", w.path, err))
				return
			}
			w.gz = gz
		} else {
			w.gz.Reset(&w.gzOut)
		}
		w.gz.Write(b)
		w.gz.Close()
		b = w.gzOut.Bytes()
	}
	n, err := w.f.Write(b)
	if err != nil {
		w.onError(w.path, fmt.Errorf("accesslog: write %q: %w", w.path, err))
	} else if n != len(b) {
		w.onError(w.path, fmt.Errorf("accesslog: write %q was incomplete: %d of %d", w.path, n, len(b)))
	}
}

// flusher writes the buffer out Flush after its first line, as nginx's
// flush= timer does. It stops when the Writer is closed.
func (w *Writer) flusher() {
	defer w.wg.Done()
	for {
		select {
		case <-w.done:
			return
		case <-w.kick:
		}
		c, stop := w.timer(w.opts.Flush)
		select {
		case <-w.done:
			stop()
			return
		case <-c:
			w.Flush()
			if w.afterFlush != nil {
				w.afterFlush()
			}
		}
	}
}

// Reopen writes out the buffer, then reopens the file by its path (after a
// log rotation moved it). On failure the old file stays in use.
func (w *Writer) Reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.flushLocked()
	f, err := openFile(w.path)
	if err != nil {
		w.onError(w.path, err)
		return err
	}
	old := w.f
	w.f = f
	if err := old.Close(); err != nil {
		w.onError(w.path, fmt.Errorf("accesslog: close %q: %w", w.path, err))
	}
	return nil
}

// Close writes out the buffer, stops the flush timer and closes the file.
// Later writes are dropped.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.flushLocked()
	close(w.done)
	w.mu.Unlock()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("accesslog: close %q: %w", w.path, err)
	}
	return nil
}
