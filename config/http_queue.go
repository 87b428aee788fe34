package config

import (
	"strings"
	"time"
)

func init() {
	register(httpQueueDirectives)
}

// httpQueueDirectives is NGINX Plus's queue of an http upstream: a
// request that finds no server free waits for one (docs/balancing.md).
var httpQueueDirectives = []*Spec{
	{Name: "queue", Ctx: CtxHTTPUpstream, Args: Args12, Set: setHTTPQueue},
}

// defaultQueueTimeout is the timeout= of queue when it is not given.
const defaultQueueTimeout = 60 * time.Second

// setHTTPQueue parses, as NGINX Plus does,
//
//	queue number [timeout=time];
func setHTTPQueue(c *compiler, d *Directive, parent any) (any, error) {
	u := parent.(*HTTPUpstream)
	if u.Queue > 0 {
		return nil, errorf(d.File, d.Line, `"queue" directive is duplicate`)
	}
	n, ok := parseDigits(d.Args[0])
	if !ok || n == 0 || n > 1<<31-1 {
		return nil, errorf(d.File, d.Line, `invalid value "%s" in "%s" directive`, d.Args[0], d.Name)
	}
	timeout := defaultQueueTimeout
	if len(d.Args) == 2 {
		v, found := strings.CutPrefix(d.Args[1], "timeout=")
		if !found {
			return nil, errorf(d.File, d.Line, `invalid parameter "%s"`, d.Args[1])
		}
		ms, err := parseTime(v, false)
		if err != nil || v == "" {
			return nil, errorf(d.File, d.Line, `invalid timeout "%s"`, v)
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	u.Queue, u.QueueTimeout = int(n), timeout
	return nil, nil
}
