package errlog

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// SyslogConfig is a parsed "syslog:" log target. Its fields match
// config.Syslog, so a config.Syslog converts to it.
type SyslogConfig struct {
	Server     string // "127.0.0.1:514", "[::1]:514" or "unix:/dev/log"
	Facility   int    // 0 (kern) ... 23 (local7)
	Severity   int    // 0 (emerg) ... 7 (debug): the severity of access log lines
	Tag        string // may be empty
	NoHostname bool
}

// SyslogOptions are what a Syslog needs besides its target.
type SyslogOptions struct {
	// Now is the clock of the header's timestamp; nil means time.Now.
	Now func() time.Time
	// Report receives send failures, at most one a second; nil drops them.
	Report func(level slog.Level, msg string)
	// Hostname is the header's HOSTNAME; empty means the system's host
	// name in lower case, as nginx writes it.
	Hostname string
}

// syslogMaxError is the longest error log line nginx sends to syslog
// (NGX_MAX_ERROR_STR less the line feed); longer lines are cut.
const syslogMaxError = 2047

// Syslog sends messages to one syslog server in nginx's format,
//
//	<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MESSAGE
//
// with PRI = facility*8 + severity, one UDP or unix datagram per message.
// The socket is opened at the first message (so a configuration naming
// /dev/log loads where there is none yet) and again after a failed send.
// Sends never block: a message the socket cannot take at once (no
// receiver, a full buffer, a datagram too large) is dropped and the
// failure reported. Safe for concurrent use.
type Syslog struct {
	cfg    SyslogConfig
	net    string // "udp" or "unixgram"
	udp    *net.UDPAddr
	host   string // "HOSTNAME " or ""
	now    func() time.Time
	report func(level slog.Level, msg string)

	mu     sync.Mutex // held while (re)connecting and closing
	conn   atomic.Pointer[syslogConn]
	closed atomic.Bool
	last   atomic.Int64 // unix nanoseconds of the last report
}

type syslogConn struct {
	c  net.Conn
	rc syscall.RawConn
}

// NewSyslog returns a sender for cfg. It opens nothing yet.
func NewSyslog(cfg SyslogConfig, opts SyslogOptions) (*Syslog, error) {
	s := &Syslog{cfg: cfg, now: opts.Now, report: opts.Report}
	if s.now == nil {
		s.now = time.Now
	}
	if s.report == nil {
		s.report = func(slog.Level, string) {}
	}
	if path, ok := strings.CutPrefix(cfg.Server, "unix:"); ok {
		if path == "" {
			return nil, fmt.Errorf("errlog: syslog server %q: no path", cfg.Server)
		}
		s.net = "unixgram"
	} else {
		ap, err := netip.ParseAddrPort(cfg.Server)
		if err != nil {
			return nil, fmt.Errorf("errlog: syslog server %q: %w", cfg.Server, err)
		}
		s.net, s.udp = "udp", net.UDPAddrFromAddrPort(ap)
	}
	if !cfg.NoHostname {
		h := opts.Hostname
		if h == "" {
			h = systemHostname()
		}
		s.host = h + " "
	}
	return s, nil
}

// systemHostname is gethostname() in lower case, as nginx keeps it (read
// again for each configuration, as nginx does).
func systemHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return strings.ToLower(h)
}

// Server returns the server address, as the configuration resolved it.
func (s *Syslog) Server() string { return s.cfg.Server }

// Severity returns the configured severity (severity=, info by default).
func (s *Syslog) Severity() int { return s.cfg.Severity }

// AppendHeader appends the message header for severity: the priority, the
// time (local, to the second), the host name unless nohostname, and the
// tag with ": ".
func (s *Syslog) AppendHeader(dst []byte, severity int) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(s.cfg.Facility*8+severity), 10)
	dst = append(dst, '>')
	dst = s.now().AppendFormat(dst, time.Stamp) // "Jan _2 15:04:05"
	dst = append(dst, ' ')
	dst = append(dst, s.host...)
	dst = append(dst, s.cfg.Tag...)
	return append(dst, ':', ' ')
}

// Write sends msg, which starts with a header from AppendHeader, as one
// datagram. It never blocks; on failure msg is dropped.
func (s *Syslog) Write(msg []byte) {
	if s.closed.Load() {
		return
	}
	c := s.conn.Load()
	if c == nil {
		var err error
		if c, err = s.connect(); err != nil {
			if err != errSyslogClosed {
				s.fail(LevelAlert, "connect() failed", err)
			}
			return
		}
	}
	var werr error
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			_, werr = syscall.Write(int(fd), msg)
			if werr != syscall.EINTR {
				return true // done, even on EAGAIN: never wait
			}
		}
	})
	if err == nil {
		err = werr
	}
	if err == nil || s.closed.Load() {
		return
	}
	if !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EMSGSIZE) {
		// As nginx does, close the socket and open it again for the
		// next message (a unix socket whose reader restarted needs it).
		if s.conn.CompareAndSwap(c, nil) {
			c.c.Close()
		}
	}
	s.fail(LevelError, "send() failed", err)
}

var errSyslogClosed = errors.New("errlog: syslog sender closed")

// connect opens the socket, unless another writer just did.
func (s *Syslog) connect() (*syslogConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, errSyslogClosed
	}
	if c := s.conn.Load(); c != nil {
		return c, nil
	}
	var nc interface {
		net.Conn
		SyscallConn() (syscall.RawConn, error)
	}
	var err error
	if s.net == "udp" {
		nc, err = net.DialUDP("udp", nil, s.udp)
	} else {
		nc, err = net.DialUnix("unixgram", nil, &net.UnixAddr{Name: s.cfg.Server[len("unix:"):], Net: "unixgram"})
	}
	if err != nil {
		return nil, err
	}
	rc, err := nc.SyscallConn()
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &syslogConn{c: nc, rc: rc}
	s.conn.Store(c)
	return c, nil
}

// fail reports a failure, unless one was reported less than a second ago.
// The time is taken before reporting, so a report that comes back to this
// sender (the main error log logging to the syslog that failed) is
// dropped rather than looping.
func (s *Syslog) fail(level slog.Level, what string, err error) {
	now := time.Now().UnixNano()
	last := s.last.Load()
	if last != 0 && now-last < int64(time.Second) {
		return
	}
	if !s.last.CompareAndSwap(last, now) {
		return
	}
	s.report(level, what+" ("+ErrnoText(err)+") while logging to syslog, server: "+s.cfg.Server)
}

// Close closes the socket; later messages are dropped.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed.Store(true)
	if c := s.conn.Swap(nil); c != nil {
		return c.c.Close()
	}
	return nil
}

// ErrnoText renders an error as nginx renders errno, "111: Connection
// refused", when it carries one, and as its text otherwise.
func ErrnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		t := errno.Error()
		if t != "" {
			t = strings.ToUpper(t[:1]) + t[1:]
		}
		return strconv.Itoa(int(errno)) + ": " + t
	}
	return err.Error()
}

// SyslogSeverity maps a level to its syslog severity: emerg 0, alert 1,
// crit 2, error 3, warn 4, notice 5, info 6, debug 7.
func SyslogSeverity(l slog.Level) int {
	switch LevelName(l) {
	case "emerg":
		return 0
	case "alert":
		return 1
	case "crit":
		return 2
	case "error":
		return 3
	case "warn":
		return 4
	case "notice":
		return 5
	case "info":
		return 6
	}
	return 7
}

// sendLine sends an error log line (without its line feed), cut to
// nginx's limit, with the header for level.
func (s *Syslog) sendLine(level slog.Level, line []byte) {
	if len(line) > syslogMaxError {
		line = line[:syslogMaxError]
	}
	bp := syslogPool.Get().(*[]byte)
	b := s.AppendHeader((*bp)[:0], SyslogSeverity(level))
	b = append(b, line...)
	s.Write(b)
	*bp = b
	syslogPool.Put(bp)
}

var syslogPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
