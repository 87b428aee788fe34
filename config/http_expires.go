package config

import (
	"strings"
)

// The modes of the expires directive.
const (
	ExpiresOff      = ""         // no Expires or Cache-Control is added (the default)
	ExpiresAccess   = "access"   // Time after the response is made
	ExpiresModified = "modified" // Time after the response's Last-Modified
	ExpiresEpoch    = "epoch"    // "Thu, 01 Jan 1970 00:00:01 GMT", no-cache
	ExpiresMax      = "max"      // "Thu, 31 Dec 2037 23:55:55 GMT", ten years
	ExpiresDaily    = "daily"    // the next time of day Time ("@15h30m")
)

// HTTPExpires is the expires directive of a level (ngx_http_headers_module).
type HTTPExpires struct {
	// Mode is one of the Expires* modes; ExpiresOff when expires is not
	// set or is "off".
	Mode string `json:",omitempty"`
	// Time is in seconds: after the access or Last-Modified time (it may
	// be negative), or the time of day for ExpiresDaily.
	Time int64 `json:",omitempty"`
	// Value, when not empty, is an argument with variables, parsed with
	// ParseExpires for each response; Mode is then ExpiresAccess or
	// ExpiresModified.
	Value string `json:",omitempty"`
}

func init() {
	httpInherit = append(httpInherit, httpInheritRule{"expires", func(d, s *HTTPSettings) { d.Expires = s.Expires }})
	register(httpExpiresDirectives)
}

var httpExpiresDirectives = []*Spec{
	{Name: "expires", Ctx: ctxHTTPAll | CtxHTTPIf, Args: Args12, Set: setHTTPExpires},
}

// setHTTPExpires parses "expires [modified] time | epoch | max | off".
func setHTTPExpires(c *compiler, d *Directive, parent any) (any, error) {
	e := HTTPExpires{Mode: ExpiresAccess}
	arg := d.Args[0]
	if len(d.Args) == 2 {
		if d.Args[0] != "modified" {
			return nil, errorf(d.File, d.Line, `"%s" directive invalid value`, d.Name)
		}
		e.Mode, arg = ExpiresModified, d.Args[1]
	}
	if hasVariables(arg) {
		e.Value = arg
	} else {
		mode, t, msg := ParseExpires(arg, e.Mode == ExpiresModified)
		if msg != "" {
			return nil, errorf(d.File, d.Line, `"%s" directive %s`, d.Name, msg)
		}
		e.Mode, e.Time = mode, t
	}
	s := hset(c, parent)
	s.Expires = e
	s.mark(d.Name)
	return nil, nil
}

// ParseExpires parses the time argument of expires as nginx does
// (ngx_http_parse_expires): "epoch", "max" and "off" (not after
// "modified"), "@time" for a time of day (at most 24h, not after
// "modified"), or a time in seconds with an optional sign. It returns the
// mode, the time in seconds and, when the value is bad, nginx's message
// (empty otherwise).
func ParseExpires(v string, modified bool) (mode string, secs int64, msg string) {
	mode = ExpiresAccess
	if modified {
		mode = ExpiresModified
		switch v {
		case "epoch", "max", "off":
			return "", 0, "invalid value"
		}
	} else {
		switch v {
		case "epoch":
			return ExpiresEpoch, 0, ""
		case "max":
			return ExpiresMax, 0, ""
		case "off":
			return ExpiresOff, 0, ""
		}
	}
	minus := false
	switch {
	case strings.HasPrefix(v, "@"):
		if modified {
			return "", 0, `daily time cannot be used with "modified" parameter`
		}
		v, mode = v[1:], ExpiresDaily
	case strings.HasPrefix(v, "+"):
		v = v[1:]
	case strings.HasPrefix(v, "-"):
		v, minus = v[1:], true
	}
	t, err := parseTime(v, true)
	if err != nil {
		return "", 0, "invalid value"
	}
	if mode == ExpiresDaily && t > 24*60*60 {
		return "", 0, "daily time value must be less than 24 hours"
	}
	if minus {
		t = -t
	}
	return mode, t, ""
}
