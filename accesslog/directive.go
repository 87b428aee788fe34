package accesslog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Directive is one parsed access_log directive:
//
//	access_log path [format [buffer=size] [gzip[=level]] [flush=time] [if=condition]];
//	access_log off;
type Directive struct {
	Off    bool
	Path   string
	Format string        // empty when not given: http uses "combined", stream refuses
	Buffer int           // buffer= in bytes; 0 means unbuffered
	Gzip   int           // gzip level 1-9; 0 means no compression
	Flush  time.Duration // flush=; 0 means only when the buffer fills
	If     string        // if= condition, a complex value; empty means always
}

// Error is an access_log configuration error worded as nginx words it.
type Error struct {
	Msg string
}

// Error returns "accesslog: Msg".
func (e *Error) Error() string { return "accesslog: " + e.Msg }

func errorf(format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// ParseDirective parses the arguments of access_log with nginx's rules and
// messages. gzip without buffer= implies a 64k buffer; flush= requires a
// buffer. A "syslog:" target is kept as written (the config package parses
// its parameters) and cannot be buffered. Paths containing variables are
// refused: this version cannot serve them.
func ParseDirective(args []string) (Directive, error) {
	var d Directive
	if len(args) == 0 {
		return d, errorf("invalid number of arguments in \"access_log\" directive")
	}
	if args[0] == "off" {
		if len(args) > 1 {
			return d, errorf("invalid parameter \"%s\"", args[1])
		}
		d.Off = true
		return d, nil
	}
	d.Path = args[0]
	syslog := strings.HasPrefix(d.Path, "syslog:")
	if !syslog && strings.Contains(d.Path, "$") {
		return d, errorf("access_log \"%s\": paths with variables are not supported", d.Path)
	}
	if len(args) > 1 {
		d.Format = args[1]
	}
	for _, a := range args[min(2, len(args)):] {
		switch {
		case strings.HasPrefix(a, "buffer="):
			n, ok := parseSize(a[len("buffer="):])
			if !ok || n == 0 {
				return d, errorf("invalid buffer size \"%s\"", a[len("buffer="):])
			}
			d.Buffer = n
		case strings.HasPrefix(a, "flush="):
			t, ok := parseTime(a[len("flush="):])
			if !ok || t == 0 {
				return d, errorf("invalid flush time \"%s\"", a[len("flush="):])
			}
			d.Flush = t
		case a == "gzip" || strings.HasPrefix(a, "gzip="):
			if d.Buffer == 0 {
				d.Buffer = 64 << 10
			}
			d.Gzip = 1
			if a != "gzip" {
				lvl, err := strconv.Atoi(a[len("gzip="):])
				if err != nil || lvl < 1 || lvl > 9 {
					return d, errorf("invalid compression level \"%s\"", a[len("gzip="):])
				}
				d.Gzip = lvl
			}
		case strings.HasPrefix(a, "if="):
			d.If = a[len("if="):]
		default:
			return d, errorf("invalid parameter \"%s\"", a)
		}
	}
	if d.Flush != 0 && d.Buffer == 0 {
		return d, errorf("no buffer is defined for access_log \"%s\"", d.Path)
	}
	if syslog && d.Buffer != 0 {
		return d, errorf("logs to syslog cannot be buffered")
	}
	return d, nil
}

// parseSize parses nginx sizes: a number with an optional k/K or m/M suffix.
func parseSize(s string) (int, bool) {
	mult := 1
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult, s = 1<<10, s[:len(s)-1]
		case 'm', 'M':
			mult, s = 1<<20, s[:len(s)-1]
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<30/mult {
		return 0, false
	}
	return n * mult, true
}

// parseTime parses nginx times such as "5s", "1m30s", "500ms" or "10"
// (seconds).
func parseTime(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	units := []struct {
		suffix string
		d      time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour},
		{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"M", 30 * 24 * time.Hour}, {"y", 365 * 24 * time.Hour}}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, false
		}
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil {
			return 0, false
		}
		s = s[i:]
		unit := time.Second
		if s != "" {
			matched := false
			for _, u := range units {
				if strings.HasPrefix(s, u.suffix) {
					unit, s, matched = u.d, s[len(u.suffix):], true
					break
				}
			}
			if !matched {
				return 0, false
			}
		}
		total += time.Duration(n) * unit
	}
	return total, true
}
