package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// HealthCheck describes the active health checks of a Transport's
// servers, as NGINX Plus's health_check directive does for the proxy's.
type HealthCheck struct {
	Path     string        // requested with GET; "/" when empty
	Host     string        // the Host header; the server's address when empty
	Interval time.Duration // between two checks of a server; 5s when zero
	Jitter   time.Duration // each check is delayed by a random time up to this
	Timeout  time.Duration // for one check; the interval when zero
	Fails    int           // failed checks in a row that make a server unhealthy; 1 when zero
	Passes   int           // passed checks in a row that make it healthy again; 1 when zero
	// Mandatory keeps a server out of rotation until its first check
	// passes (NGINX Plus's "checking" state).
	Mandatory bool
	// Pass says whether a response passes; status 2xx and 3xx when nil.
	Pass func(*http.Response) bool
	// Report, when set, is told when a server becomes unhealthy (with the
	// failing check's error) or healthy again.
	Report func(server string, healthy bool, err error)
}

// StartHealthChecks checks t's servers (those added later too) as hc
// says, until the returned function is called. A server fails a check
// when it cannot be reached, does not answer within the timeout, or
// answers a response Pass refuses; an unhealthy server gets no requests.
func (t *Transport) StartHealthChecks(hc HealthCheck) (stop func()) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	path := hc.Path
	if path == "" {
		path = "/"
	}
	timeout := hc.Timeout
	if timeout <= 0 {
		timeout = hc.Interval
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	pass := hc.Pass
	if pass == nil {
		pass = func(r *http.Response) bool { return r.StatusCode >= 200 && r.StatusCode < 400 }
	}
	scheme := t.Scheme
	if scheme == "" {
		scheme = "http"
	}
	probe := func(ctx context.Context, p *balance.Peer) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", scheme+"://"+p.DialAddr()+path, nil)
		if err != nil {
			return err
		}
		if hc.Host != "" {
			req.Host = hc.Host
		}
		resp, err := base.RoundTrip(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if !pass(resp) {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	var report func(*balance.Peer, bool, error)
	if hc.Report != nil {
		report = func(p *balance.Peer, healthy bool, err error) { hc.Report(p.Addr(), healthy, err) }
	}
	var c balance.Checks
	c.Add(t.Group, balance.HealthCheck{
		Interval: hc.Interval, Jitter: hc.Jitter, Fails: hc.Fails, Passes: hc.Passes,
		Mandatory: hc.Mandatory, Probe: probe, Report: report,
	})
	c.Start()
	return c.Stop
}
