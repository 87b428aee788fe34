package config

import (
	"strconv"
	"strings"
	"time"
)

// Active health checks of http upstream groups (NGINX Plus's
// ngx_http_upstream_hc_module): health_check in a location and match
// blocks in http.

// HTTPHealthCheck is one health_check directive of a location: the
// servers of the group its proxy_pass names are sent "GET URI" every
// Interval.
type HTTPHealthCheck struct {
	HealthCheck
	URI string // uri=, default "/"
	// KeepaliveTime is keepalive_time=: checks reuse a connection for
	// that long; 0 (the default) opens one per check.
	KeepaliveTime time.Duration `json:",omitempty"`
}

// HTTPMatch is a match block: the tests a health check response must pass,
// all of them.
type HTTPMatch struct {
	Name  string
	Tests []HTTPMatchTest
	Pos   string
}

// HTTPMatchTest is one test of a match block:
//
//	status [!] CODE|LOW-HIGH ...     Kind "status", Codes, Not
//	header [!] NAME                  Kind "header", Op "" (present; Not: absent)
//	header NAME =|!=|~|!~ VALUE      Kind "header", Op, Value
//	body ~|!~ REGEX                  Kind "body", Op, Value
type HTTPMatchTest struct {
	Kind  string
	Not   bool              `json:",omitempty"`
	Codes []HTTPStatusRange `json:",omitempty"`
	Name  string            `json:",omitempty"`
	Op    string            `json:",omitempty"`
	Value string            `json:",omitempty"`
	Pos   string
}

// HTTPStatusRange is a status code (Lo == Hi) or a range of them.
type HTTPStatusRange struct{ Lo, Hi int }

// Contains reports whether status is in r.
func (r HTTPStatusRange) Contains(status int) bool { return status >= r.Lo && status <= r.Hi }

func init() { register(httpHealthDirectives) }

var httpHealthDirectives = []*Spec{
	{Name: "health_check", Ctx: CtxHTTPLocation, Args: ArgsAny, Multi: true, Set: setHTTPHealthCheck},
	{Name: "match", Ctx: CtxHTTP, Args: Args1, Block: CtxRaw, Multi: true, Set: setHTTPMatch},
}

// setHTTPHealthCheck parses health_check [interval=] [jitter=] [fails=]
// [passes=] [uri=] [mandatory [persistent]] [match=] [port=]
// [keepalive_time=].
func setHTTPHealthCheck(c *compiler, d *Directive, parent any) (any, error) {
	l := parent.(*HTTPLocation)
	hc := HTTPHealthCheck{URI: "/"}
	invalid := func(a string) error { return errorf(d.File, d.Line, "invalid parameter %s", quote(a)) }
	var err error
	hc.HealthCheck, err = parseHealthCheck(d, func(a, key, val string, hasVal bool) (bool, error) {
		switch {
		case hasVal && key == "keepalive_time":
			t, err := ParseTime(val)
			if err != nil {
				return true, invalid(a)
			}
			hc.KeepaliveTime = t
		case hasVal && key == "uri":
			if val == "" {
				return true, invalid(a)
			}
			hc.URI = val
		case hasVal && (key == "type" || key == "grpc_service" || key == "grpc_status"):
			return true, errorf(d.File, d.Line, `the %s parameter of the "health_check" directive is not supported by sluice`, quote(key))
		default:
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	l.HealthChecks = append(l.HealthChecks, hc)
	return nil, nil
}

// setHTTPMatch parses a match block; its body is read here (status,
// header, body; require is refused by name).
func setHTTPMatch(c *compiler, d *Directive, parent any) (any, error) {
	h := parent.(*HTTP)
	name := d.Args[0]
	for _, m := range h.Matches {
		if m.Name == name {
			return nil, errorf(d.File, d.Line, `duplicate match %s`, quote(name))
		}
	}
	m := &HTTPMatch{Name: name, Pos: pos(d)}
	for _, t := range d.Block {
		if t.IsBlock() {
			return nil, errorf(t.File, t.Line, `directive "%s" is not terminated by ";"`, t.Name)
		}
		test, err := parseMatchTest(t)
		if err != nil {
			return nil, err
		}
		m.Tests = append(m.Tests, test)
	}
	h.Matches = append(h.Matches, m)
	return nil, nil
}

// parseMatchTest parses one line of a match block.
func parseMatchTest(t *Directive) (HTTPMatchTest, error) {
	test := HTTPMatchTest{Kind: t.Name, Pos: pos(t)}
	args := t.Args
	nargs := func() error {
		return errorf(t.File, t.Line, `invalid number of arguments in "%s" directive`, t.Name)
	}
	switch t.Name {
	case "status":
		if len(args) > 0 && args[0] == "!" {
			test.Not, args = true, args[1:]
		}
		if len(args) == 0 {
			return test, nargs()
		}
		for _, a := range args {
			r, ok := parseStatusRange(a)
			if !ok {
				return test, errorf(t.File, t.Line, "invalid status %s", quote(a))
			}
			test.Codes = append(test.Codes, r)
		}
	case "header":
		switch {
		case len(args) == 1:
			test.Name = args[0]
		case len(args) == 2 && args[0] == "!":
			test.Name, test.Not = args[1], true
		case len(args) == 3:
			test.Name, test.Op, test.Value = args[0], args[1], args[2]
			switch test.Op {
			case "=", "!=":
			case "~", "!~":
				if _, err := compileNginxRegex(test.Value, false); err != nil {
					return test, errorf(t.File, t.Line, `invalid regular expression "%s": %v`, test.Value, err)
				}
			default:
				return test, errorf(t.File, t.Line, "invalid parameter %s", quote(test.Op))
			}
		default:
			return test, nargs()
		}
		if test.Name == "" || test.Name == "!" {
			return test, errorf(t.File, t.Line, "invalid parameter %s", quote(test.Name))
		}
	case "body":
		if len(args) != 2 {
			return test, nargs()
		}
		test.Op, test.Value = args[0], args[1]
		if test.Op != "~" && test.Op != "!~" {
			return test, errorf(t.File, t.Line, "invalid parameter %s", quote(test.Op))
		}
		if _, err := compileNginxRegex(test.Value, false); err != nil {
			return test, errorf(t.File, t.Line, `invalid regular expression "%s": %v`, test.Value, err)
		}
	case "require":
		return test, errorf(t.File, t.Line, `"require" in "match" is not supported by sluice`)
	default:
		return test, errorf(t.File, t.Line, `unknown directive "%s"`, t.Name)
	}
	return test, nil
}

// parseStatusRange parses "200" or "200-399" (codes 100 to 999).
func parseStatusRange(s string) (HTTPStatusRange, bool) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || a < 100 || a > 999 || len(lo) != 3 {
		return HTTPStatusRange{}, false
	}
	if !isRange {
		return HTTPStatusRange{a, a}, true
	}
	b, err := strconv.Atoi(hi)
	if err != nil || b < a || b > 999 || len(hi) != 3 {
		return HTTPStatusRange{}, false
	}
	return HTTPStatusRange{a, b}, true
}

// checkHealthChecks runs when the http block closes, once proxy_pass is
// linked to its upstream: each health_check must be in a location that
// proxies to an upstream block with a zone (NGINX Plus keeps the state of
// checked groups in shared memory and refuses a group without one; Sluice
// refuses it too, so that a configuration it runs also runs there), and
// name a match block that exists.
func checkHealthChecks(h *HTTP) error {
	matches := map[string]bool{}
	for _, m := range h.Matches {
		matches[m.Name] = true
	}
	var err error
	for _, srv := range h.Servers {
		walkLocations(srv.Locations, func(l *HTTPLocation) {
			for _, hc := range l.HealthChecks {
				if err != nil {
					return
				}
				err = checkHealthCheck(h, l, &hc, matches)
			}
		})
	}
	return err
}

func checkHealthCheck(h *HTTP, l *HTTPLocation, hc *HTTPHealthCheck, matches map[string]bool) error {
	file, line := splitPos(hc.Pos)
	pp := l.ProxyPass
	if pp == nil || pp.HasVars {
		return errorf(file, line, `"health_check" requires "proxy_pass" to an upstream group`)
	}
	u := h.UpstreamByName(pp.Upstream)
	if u == nil || u.Implicit {
		return errorf(file, line, `"health_check" requires "proxy_pass" to an upstream group, not to "%s"`, pp.Host)
	}
	if u.Zone == "" {
		return errorf(file, line, `health checks require upstream "%s" to be in shared memory`, u.Name)
	}
	if hc.Match != "" && !matches[hc.Match] {
		return errorf(file, line, `match "%s" not found`, hc.Match)
	}
	return nil
}
