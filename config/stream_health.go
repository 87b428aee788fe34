package config

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// StreamHealthCheck is one health_check directive of a stream server
// (NGINX Plus's ngx_stream_upstream_hc_module): periodic checks of the
// servers of the upstream group its proxy_pass names.
type StreamHealthCheck struct {
	HealthCheck
	UDP bool `json:",omitempty"` // udp: a UDP check
	// Timeout is the server's health_check_timeout (default 5s): the time
	// a check has, once connected, to send and to read what match expects.
	Timeout time.Duration
}

// StreamMatch is a match block of the stream block: what a health check
// sends and what it expects back.
type StreamMatch struct {
	Name string
	// Send is the data sent once connected, escapes ("\x00") decoded; empty
	// for none.
	Send    string `json:",omitempty"`
	SendSet bool   `json:",omitempty"`
	// Expect is what the data read must contain: a literal string (escapes
	// decoded) or, with ExpectRegex, a regular expression (caseless with
	// ExpectCaseless, written "~*"); empty for none.
	Expect         string `json:",omitempty"`
	ExpectRegex    bool   `json:",omitempty"`
	ExpectCaseless bool   `json:",omitempty"`
	Pos            string
}

var streamHealthDirectives = []*Spec{
	{Name: "health_check", Ctx: CtxStreamServer, Args: ArgsAny, Multi: true, Set: setStreamHealthCheck},
	{Name: "health_check_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, timeValue, func(s *StreamSettings) *time.Duration { return &s.healthCheckTimeout })},
	{Name: "match", Ctx: CtxStream, Args: Args1, Block: CtxRaw, Multi: true, Set: setStreamMatch},
}

func init() {
	register(streamHealthDirectives)
	inherit = append(inherit, struct {
		key  string
		copy func(dst, src *StreamSettings)
	}{"health_check_timeout", func(d, s *StreamSettings) { d.healthCheckTimeout = s.healthCheckTimeout }})
	defaultStreamSettings.healthCheckTimeout = 5 * time.Second
}

// setStreamHealthCheck parses health_check [interval=T] [jitter=T]
// [fails=N] [passes=N] [mandatory [persistent]] [match=NAME] [port=N]
// [udp]. The match name and the upstream are checked when the stream
// block ends.
func setStreamHealthCheck(c *compiler, d *Directive, parent any) (any, error) {
	srv := parent.(*StreamServer)
	var hc StreamHealthCheck
	var err error
	hc.HealthCheck, err = parseHealthCheck(d, func(a, key, val string, hasVal bool) (bool, error) {
		if a == "udp" {
			hc.UDP = true
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	srv.HealthChecks = append(srv.HealthChecks, hc)
	return nil, nil
}

// setStreamMatch parses match NAME { send STRING; expect STRING | ~ RE |
// ~* RE; }.
func setStreamMatch(c *compiler, d *Directive, parent any) (any, error) {
	st := parent.(*Stream)
	name := d.Args[0]
	for _, m := range st.Matches {
		if m.Name == name {
			return nil, errorf(d.File, d.Line, "duplicate match \"%s\"", name)
		}
	}
	m := &StreamMatch{Name: name, Pos: pos(d)}
	expectSet := false
	for _, l := range d.Block {
		if l.IsBlock() {
			return nil, errorf(l.File, l.Line, "unexpected \"{\"")
		}
		switch l.Name {
		case "send":
			if len(l.Args) != 1 {
				return nil, errorf(l.File, l.Line, "invalid number of arguments in \"send\" directive")
			}
			if m.SendSet {
				return nil, errorf(l.File, l.Line, "\"send\" directive is duplicate")
			}
			s, err := unescapeStreamMatch(l.Args[0])
			if err != nil {
				return nil, errorf(l.File, l.Line, "invalid \"send\" value \"%s\": %v", l.Args[0], err)
			}
			m.Send, m.SendSet = s, true
		case "expect":
			if expectSet {
				return nil, errorf(l.File, l.Line, "\"expect\" directive is duplicate")
			}
			expectSet = true
			switch {
			case len(l.Args) == 1:
				s, err := unescapeStreamMatch(l.Args[0])
				if err != nil {
					return nil, errorf(l.File, l.Line, "invalid \"expect\" value \"%s\": %v", l.Args[0], err)
				}
				if s == "" {
					return nil, errorf(l.File, l.Line, "empty \"expect\" value")
				}
				m.Expect = s
			case len(l.Args) == 2 && (l.Args[0] == "~" || l.Args[0] == "~*"):
				caseless := l.Args[0] == "~*"
				if _, err := compileNginxRegex(l.Args[1], caseless); err != nil {
					return nil, errorf(l.File, l.Line, "invalid regular expression \"%s\": %v", l.Args[1], err)
				}
				m.Expect, m.ExpectRegex, m.ExpectCaseless = l.Args[1], true, caseless
			case len(l.Args) == 2:
				return nil, errorf(l.File, l.Line, "invalid parameter \"%s\"", l.Args[0])
			default:
				return nil, errorf(l.File, l.Line, "invalid number of arguments in \"expect\" directive")
			}
		default:
			return nil, errorf(l.File, l.Line, "unknown directive \"%s\"", l.Name)
		}
	}
	st.Matches = append(st.Matches, m)
	return nil, nil
}

var errStreamMatchHex = errors.New(`"\x" needs two hexadecimal digits`)

// unescapeStreamMatch decodes the "\xHH" escapes of send and expect (the
// configuration lexer has already decoded \r, \n, \t, \" and \\).
func unescapeStreamMatch(s string) (string, error) {
	if !strings.Contains(s, `\x`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && s[i+1] == 'x' {
			if i+4 > len(s) {
				return "", errStreamMatchHex
			}
			n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				return "", errStreamMatchHex
			}
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

// MatchByName returns the match block called name, or nil.
func (s *Stream) MatchByName(name string) *StreamMatch {
	for _, m := range s.Matches {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// checkStreamHealth runs when the stream block ends, after proxy_pass is
// linked to its upstream: a server with health_check must pass to an
// upstream block with a zone (the group must "reside in the shared
// memory", as NGINX Plus requires), and every match= must name a match
// block. Each check gets the server's health_check_timeout.
func checkStreamHealth(st *Stream) error {
	for _, srv := range st.Servers {
		for i := range srv.HealthChecks {
			hc := &srv.HealthChecks[i]
			file, line := splitPos(hc.Pos)
			u := st.upstreams[srv.Upstream]
			if srv.Upstream == "" || u == nil || u.Implicit {
				return errorf(file, line, "\"health_check\" requires \"proxy_pass\" to an upstream group")
			}
			if u.Zone == "" {
				return errorf(file, line, `health checks require upstream "%s" to be in shared memory`, u.Name)
			}
			if hc.Match != "" && st.MatchByName(hc.Match) == nil {
				return errorf(file, line, "match \"%s\" not found", hc.Match)
			}
			hc.Timeout = srv.healthCheckTimeout
		}
	}
	return nil
}
