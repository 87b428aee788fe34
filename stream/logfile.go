package stream

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// logFile is an access log file shared by the servers of a generation that
// name the same path. Lines are written at once, or collected in a buffer
// of the configured size and written when it fills, when flush= time has
// passed since the first buffered line, and on Close. It is safe for
// concurrent use.
type logFile struct {
	path  string
	size  int
	flush time.Duration

	mu     sync.Mutex
	f      *os.File
	buf    []byte
	timer  *time.Timer
	closed bool
}

func openLogFile(path string, size int, flush time.Duration) (*logFile, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &logFile{path: path, size: size, flush: flush, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		// nginx's words: open() "/x/access.log" failed (2: No such file or directory)
		var errno syscall.Errno
		if errors.As(err, &errno) {
			t := errno.Error()
			return nil, fmt.Errorf("open() %q failed (%d: %s)", path, int(errno), strings.ToUpper(t[:1])+t[1:])
		}
		if pe, ok := err.(*os.PathError); ok {
			err = pe.Err
		}
		return nil, fmt.Errorf("open() %q failed (%v)", path, err)
	}
	return f, nil
}

// Write writes one line (with its newline).
func (l *logFile) Write(line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.size <= 0 {
		l.f.Write(line)
		return
	}
	if len(l.buf)+len(line) > l.size {
		l.flushLocked()
		if len(line) > l.size {
			l.f.Write(line)
			return
		}
	}
	if len(l.buf) == 0 && l.flush > 0 {
		if l.timer == nil {
			l.timer = time.AfterFunc(l.flush, l.Flush)
		} else {
			l.timer.Reset(l.flush)
		}
	}
	l.buf = append(l.buf, line...)
}

// Flush writes the buffered lines.
func (l *logFile) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *logFile) flushLocked() {
	if len(l.buf) > 0 && l.f != nil {
		l.f.Write(l.buf)
	}
	l.buf = l.buf[:0]
}

// Reopen flushes and reopens the file (SIGUSR1, after log rotation). On
// failure the old file stays in use.
func (l *logFile) Reopen() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.flushLocked()
	f, err := openAppend(l.path)
	if err != nil {
		return
	}
	l.f.Close()
	l.f = f
}

// Close flushes and closes the file.
func (l *logFile) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.flushLocked()
	if l.timer != nil {
		l.timer.Stop()
	}
	l.closed = true
	l.f.Close()
}
