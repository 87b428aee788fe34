package config

import (
	"strings"
	"time"
)

// HealthCheck holds the parameters of NGINX Plus's health_check
// directive that http and stream share.
type HealthCheck struct {
	Interval time.Duration // interval=, default 5s
	Jitter   time.Duration `json:",omitempty"` // jitter=, default none
	Fails    int           // fails=, default 1
	Passes   int           // passes=, default 1
	// Mandatory keeps a server in the "checking" state, with no client
	// traffic, until its first check passes; with Persistent, a server
	// that was healthy before a reload stays so.
	Mandatory  bool `json:",omitempty"`
	Persistent bool `json:",omitempty"`
	// Match names the match block the check uses; empty for the
	// default check.
	Match string `json:",omitempty"`
	// Port is port=: the port checked instead of each server's own (0).
	Port int `json:",omitempty"`
	Pos  string
}

// parseHealthCheck reads the arguments of the health_check directive d:
// the shared ones into a HealthCheck with nginx's defaults, the others
// through other, which reports whether it knows the argument (a = key=val
// or a flag). An unknown argument or an invalid value is refused as
// "invalid parameter".
func parseHealthCheck(d *Directive, other func(a, key, val string, hasVal bool) (known bool, err error)) (HealthCheck, error) {
	hc := HealthCheck{Interval: 5 * time.Second, Fails: 1, Passes: 1, Pos: pos(d)}
	invalid := func(a string) error { return errorf(d.File, d.Line, "invalid parameter %s", quote(a)) }
	persistent := false
	for _, a := range d.Args {
		key, val, hasVal := strings.Cut(a, "=")
		switch {
		case hasVal && (key == "interval" || key == "jitter"):
			t, err := ParseTime(val)
			if err != nil || key == "interval" && t <= 0 {
				return hc, invalid(a)
			}
			if key == "interval" {
				hc.Interval = t
			} else {
				hc.Jitter = t
			}
		case hasVal && (key == "fails" || key == "passes"):
			n, ok := parseDigits(val)
			if !ok || n < 1 || n > 1<<31-1 {
				return hc, invalid(a)
			}
			if key == "fails" {
				hc.Fails = int(n)
			} else {
				hc.Passes = int(n)
			}
		case hasVal && key == "match":
			if val == "" {
				return hc, invalid(a)
			}
			hc.Match = val
		case hasVal && key == "port":
			n, ok := parseDigits(val)
			if !ok || n < 1 || n > 65535 {
				return hc, invalid(a)
			}
			hc.Port = int(n)
		case a == "mandatory":
			hc.Mandatory = true
		case a == "persistent":
			persistent = true
		default:
			known, err := other(a, key, val, hasVal)
			if err != nil {
				return hc, err
			}
			if !known {
				return hc, invalid(a)
			}
		}
	}
	if persistent {
		if !hc.Mandatory {
			return hc, errorf(d.File, d.Line, `"persistent" requires "mandatory"`)
		}
		hc.Persistent = true
	}
	return hc, nil
}
