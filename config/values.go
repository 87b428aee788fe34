package config

import (
	"errors"
	"math"
	"strconv"
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

// ParseTime parses an nginx time such as "30s", "1h 30m", "500ms" or "10"
// (seconds), as ngx_parse_time: units y M w d h m s ms in decreasing order,
// optionally separated by spaces; the total must fit nginx's 32-bit limit
// in milliseconds.
func ParseTime(s string) (time.Duration, error) {
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
	)
	if s == "" {
		return 0, errInvalid
	}
	var total, value int64
	step := stStart
	valid := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			value = value*10 + int64(c-'0')
			if value > math.MaxInt32 {
				return 0, errInvalid
			}
			valid = true
			continue
		}
		var st int
		var scale int64 // milliseconds
		switch c {
		case 'y':
			st, scale = stYear, 365*24*3600*1000
		case 'M':
			st, scale = stMonth, 30*24*3600*1000
		case 'w':
			st, scale = stWeek, 7*24*3600*1000
		case 'd':
			st, scale = stDay, 24*3600*1000
		case 'h':
			st, scale = stHour, 3600*1000
		case 'm':
			if i+1 < len(s) && s[i+1] == 's' {
				i++
				st, scale = stMsec, 1
			} else {
				st, scale = stMin, 60*1000
			}
		case 's':
			st, scale = stSec, 1000
		default:
			return 0, errInvalid
		}
		if !valid || st <= step {
			return 0, errInvalid
		}
		step = st
		total += value * scale
		if total > math.MaxInt32 {
			return 0, errInvalid
		}
		value = 0
		valid = false
		for i+1 < len(s) && s[i+1] == ' ' {
			i++
		}
	}
	if valid {
		if step >= stSec {
			// a bare number after seconds or milliseconds
			return 0, errInvalid
		}
		total += value * 1000
	} else if step == stStart {
		return 0, errInvalid
	}
	if total > math.MaxInt32 {
		return 0, errInvalid
	}
	return time.Duration(total) * time.Millisecond, nil
}

// parseFlag parses on/off with nginx's error text.
func parseFlag(d *Directive) (bool, error) {
	switch d.Args[0] {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, errorf(d.File, d.Line, "invalid value %q in %q directive, it must be \"on\" or \"off\"", d.Args[0], d.Name)
}

// parseNum parses a non-negative integer argument the way ngx_conf_set_num_slot does.
func parseNum(d *Directive, s string) (int, error) {
	n, ok := parseDigits(s)
	if !ok || n > math.MaxInt32 {
		return 0, errorf(d.File, d.Line, "%q directive invalid number", d.Name)
	}
	return int(n), nil
}

// sizeArg parses a size argument with nginx's error text.
func sizeArg(d *Directive, s string) (int64, error) {
	n, err := ParseSize(s)
	if err != nil {
		return 0, errorf(d.File, d.Line, "%q directive invalid value", d.Name)
	}
	return n, nil
}

// timeArg parses a time argument with nginx's error text.
func timeArg(d *Directive, s string) (time.Duration, error) {
	t, err := ParseTime(s)
	if err != nil {
		return 0, errorf(d.File, d.Line, "%q directive invalid value", d.Name)
	}
	return t, nil
}

// quote renders a value for an error message.
func quote(s string) string { return strconv.Quote(s) }
