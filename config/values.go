package config

import (
	"errors"
	"math"
	"strings"
	"time"
)

var errInvalid = errors.New("invalid value")

// ParseSize parses an nginx size: a number of bytes with an optional k/K
// (kibibytes) or m/M (mebibytes) suffix, as ngx_parse_size.
func ParseSize(s string) (int64, error) {
	return parseScaled(s, false)
}

// ParseOffset parses an nginx offset: like ParseSize, with g/G allowed.
func ParseOffset(s string) (int64, error) {
	return parseScaled(s, true)
}

func parseScaled(s string, giga bool) (int64, error) {
	if s == "" {
		return 0, errInvalid
	}
	scale := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		scale = 1 << 10
		s = s[:len(s)-1]
	case 'm', 'M':
		scale = 1 << 20
		s = s[:len(s)-1]
	case 'g', 'G':
		if giga {
			scale = 1 << 30
			s = s[:len(s)-1]
		}
	}
	n, ok := parseDigits(s)
	if !ok || n > math.MaxInt64/scale {
		return 0, errInvalid
	}
	return n * scale, nil
}

// ParseDigits parses a non-empty string of ASCII digits, as ngx_atoi:
// false for anything else or a value past int64.
func ParseDigits(s string) (int64, bool) { return parseDigits(s) }

// parseDigits parses a non-empty string of ASCII digits.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// ParseTime parses an nginx time for a directive kept in milliseconds
// (proxy_timeout, proxy_connect_timeout, ...), as nginx's ngx_parse_time
// does for them: numbers with the units w (weeks), d, h, m, s and ms, in
// decreasing order, such as "30s", "1h 30m" (quoted in a configuration
// file) or "500ms"; a number without a unit counts seconds, so "10" is ten
// seconds. Units of months and years are refused here, as in nginx.
// Spaces may follow a unit. Like nginx it also takes a few odd forms:
// "30s 5" (a last bare number adds seconds), "1h m" (a unit without a
// number adds nothing). Values beyond what a time.Duration holds (about
// 292 years) are accepted and saturate to the largest Duration.
func ParseTime(s string) (time.Duration, error) {
	ms, err := parseTime(s, false)
	if err != nil {
		return 0, err
	}
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// ParseSeconds parses an nginx time for a directive kept in seconds
// (fail_timeout, slow_start, ...): like ParseTime, but with the units y
// (365 days) and M (30 days) allowed and ms refused.
func ParseSeconds(s string) (time.Duration, error) {
	sec, err := parseTime(s, true)
	if err != nil {
		return 0, err
	}
	if sec > math.MaxInt64/int64(time.Second) {
		return math.MaxInt64, nil
	}
	return time.Duration(sec) * time.Second, nil
}

// parseTime follows ngx_parse_time: the result is in seconds (isSec) or
// milliseconds.
func parseTime(s string, isSec bool) (int64, error) {
	const (
		stStart = iota
		stYear
		stMonth
		stWeek
		stDay
		stHour
		stMin
		stSec
		stMsec
		stLast
	)
	const day = 24 * 60 * 60
	step := stStart
	if !isSec {
		step = stMonth // months and years are for times in seconds only
	}
	var total, value int64
	valid := false
	for i := 0; i < len(s); {
		c := s[i]
		i++
		if c >= '0' && c <= '9' {
			d := int64(c - '0')
			if value > (math.MaxInt64-d)/10 {
				return 0, errInvalid
			}
			value = value*10 + d
			valid = true
			continue
		}
		var next int
		var scale int64 // in seconds, or milliseconds for "ms"
		switch c {
		case 'y':
			next, scale = stYear, 365*day
		case 'M':
			next, scale = stMonth, 30*day
		case 'w':
			next, scale = stWeek, 7*day
		case 'd':
			next, scale = stDay, day
		case 'h':
			next, scale = stHour, 60*60
		case 'm':
			if i < len(s) && s[i] == 's' {
				if isSec {
					return 0, errInvalid
				}
				i++
				next, scale = stMsec, 1
			} else {
				next, scale = stMin, 60
			}
		case 's':
			next, scale = stSec, 1
		case ' ':
			// a bare number followed by a space counts seconds
			if step >= stSec {
				return 0, errInvalid
			}
			next, scale = stLast, 1
		default:
			return 0, errInvalid
		}
		if next != stLast && step >= next {
			return 0, errInvalid
		}
		step = next
		max := int64(math.MaxInt64) / scale
		if next != stMsec && !isSec {
			scale *= 1000
			max /= 1000
		}
		if value > max {
			return 0, errInvalid
		}
		value *= scale
		if total > math.MaxInt64-value {
			return 0, errInvalid
		}
		total += value
		value = 0
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	if !valid {
		return 0, errInvalid
	}
	if !isSec {
		if value > math.MaxInt64/1000 {
			return 0, errInvalid
		}
		value *= 1000
	}
	if total > math.MaxInt64-value {
		return 0, errInvalid
	}
	return total + value, nil
}

// parseFlag parses on/off, in any letter case, with nginx's error text.
func parseFlag(d *Directive) (bool, error) {
	switch {
	case strings.EqualFold(d.Args[0], "on"):
		return true, nil
	case strings.EqualFold(d.Args[0], "off"):
		return false, nil
	}
	return false, errorf(d.File, d.Line, `invalid value "%s" in "%s" directive, it must be "on" or "off"`, d.Args[0], d.Name)
}

// parseNum parses a non-negative integer argument the way ngx_conf_set_num_slot does.
func parseNum(d *Directive, s string) (int, error) {
	n, ok := parseDigits(s)
	if !ok || n > math.MaxInt {
		return 0, errorf(d.File, d.Line, `"%s" directive invalid number`, d.Name)
	}
	return int(n), nil
}

// sizeArg parses a size argument with nginx's error text.
func sizeArg(d *Directive, s string) (int64, error) {
	n, err := ParseSize(s)
	if err != nil {
		return 0, errorf(d.File, d.Line, `"%s" directive invalid value`, d.Name)
	}
	return n, nil
}

// timeArg parses a time in milliseconds (ParseTime) with nginx's error text.
func timeArg(d *Directive, s string) (time.Duration, error) {
	t, err := ParseTime(s)
	if err != nil {
		return 0, errorf(d.File, d.Line, `"%s" directive invalid value`, d.Name)
	}
	return t, nil
}

// secondsArg parses a time in seconds (ParseSeconds) with nginx's error text.
func secondsArg(d *Directive, s string) (time.Duration, error) {
	t, err := ParseSeconds(s)
	if err != nil {
		return 0, errorf(d.File, d.Line, `"%s" directive invalid value`, d.Name)
	}
	return t, nil
}

// quote renders a value for an error message as nginx does: between
// double quotes, with nothing escaped.
func quote(s string) string { return `"` + s + `"` }
