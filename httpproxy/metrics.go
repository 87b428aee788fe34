package httpproxy

import (
	"github.com/sluicelb/sluice/admin"
)

// newMetrics builds the Prometheus metrics of a location with the metrics
// directive (package admin writes them; this file sends them).
func (p *proxy) newMetrics() *admin.Metrics {
	return &admin.Metrics{
		Upstreams:  p.opts.Upstreams,
		Version:    p.opts.Version,
		Generation: p.opts.Generation,
		Loaded:     p.opts.LoadTime,
		Counters:   apiCounters,
	}
}

// serveMetrics answers r with the metrics of l: GET and HEAD get them,
// other methods 405. It reports whether the connection stays open.
//
//go:noinline
func (c *conn) serveMetrics(r *request, l *location) bool {
	c.discardBody(r)
	status, body := l.metrics.Serve(string(r.h1.Method), r.scratch[:0])
	if status != 200 {
		return c.sendError(r, status)
	}
	r.scratch = body
	return c.sendSimple(r, status, admin.MetricsContentType, body, nil)
}
