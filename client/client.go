// Package client balances a Go program's own HTTP requests over a group
// of servers, in process, with the methods and server parameters of
// nginx's upstream block (package balance): what Ribbon or Spring Cloud
// LoadBalancer do for Java services, without a proxy in between.
//
// A Transport is an http.RoundTripper. Give it the servers and a balancing
// configuration; each request, sent to any host (the host part is
// replaced), goes to the server the group picks:
//
//	t, err := client.New([]balance.Server{{Addr: "10.0.0.1:8080", Weight: 3}, {Addr: "10.0.0.2:8080"}},
//		balance.Config{Method: balance.LeastConn})
//	hc := &http.Client{Transport: t}
//	resp, err := hc.Get("http://backend/api/items")
//
// As nginx's proxy_next_upstream, a request that fails on one server is
// tried on the next: always when it never reached the server (refused or
// failed connection), and when it did, only for an idempotent method
// without a body that cannot be sent again. Failures count against
// max_fails, so a dead server is skipped for fail_timeout; RetryStatus
// adds status codes that count as failures and are retried (nginx's
// http_502 and the like). The response time feeds least_time, and a
// request counts as an active connection of its server until its
// response body is closed (least_conn).
//
// Servers can change at run time: Update replaces the list (keeping what
// was learnt about servers that stay), and Discover runs a discovery
// function, such as DNS, at an interval.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// Transport is an http.RoundTripper that sends each request to a server of
// its group. Its fields must not change once it is in use.
type Transport struct {
	// Group is the servers and how to pick among them (see New).
	Group *balance.Group
	// Base sends the request once its server is chosen;
	// http.DefaultTransport when nil.
	Base http.RoundTripper
	// Scheme is the servers' scheme, "http" or "https"; the request's own
	// when empty.
	Scheme string
	// MaxTries bounds the attempts per request (nginx's
	// proxy_next_upstream_tries); 0 means as many as there are servers.
	MaxTries int
	// RetryStatus, when set, says which response status codes count as a
	// failed attempt to be retried on another server (nginx's
	// proxy_next_upstream http_502 http_503 ...). The response of the last
	// attempt is returned whatever its status.
	RetryStatus func(code int) bool
	// Key, when set, gives the hash key of a request (the hash method);
	// Client gives the client address (ip_hash). Both default to nothing.
	Key    func(*http.Request) []byte
	Client func(*http.Request) netip.Addr
}

// New returns a Transport over servers, balanced as cfg says, with a
// registry of its own.
func New(servers []balance.Server, cfg balance.Config) (*Transport, error) {
	g, err := balance.NewRegistry(nil).Build("client", servers, cfg)
	if err != nil {
		return nil, err
	}
	return &Transport{Group: g}, nil
}

// Update replaces the servers. What was learnt about a server that stays
// (failures, latency, active requests) is kept.
func (t *Transport) Update(servers []balance.Server) error { return t.Group.Update(servers) }

// ErrNoServer is returned, wrapped, when no server can take a request.
var ErrNoServer = balance.ErrNoPeer

// RoundTrip sends req to a server of the group, trying others as
// described in the package documentation.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	var br balance.Request
	if t.Key != nil {
		br.Key = t.Key(req)
	}
	if t.Client != nil {
		br.Client = t.Client(req)
	}
	tries := t.MaxTries
	if tries <= 0 {
		tries = len(t.Group.Peers())
	}
	// a body can be sent again only if it can be had again
	resendable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	var lastErr error
	for attempt := 0; ; attempt++ {
		sel, err := t.Group.Pick(&br)
		if err != nil {
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, fmt.Errorf("client: %w", err)
		}
		out, err := t.outgoing(req, sel.Peer, attempt)
		if err != nil {
			sel.Done(balance.Outcome{})
			return nil, err
		}
		start := time.Now()
		resp, err := base.RoundTrip(out)
		last := attempt+1 >= tries
		if err != nil {
			sel.Done(balance.Outcome{Failed: true})
			lastErr = fmt.Errorf("client: server %s: %w", sel.Peer.Addr(), err)
			retry := !last && resendable && req.Context().Err() == nil && (notSent(err) || idempotent(req.Method))
			if !retry {
				return nil, lastErr
			}
			continue
		}
		latency := time.Since(start)
		if t.RetryStatus != nil && t.RetryStatus(resp.StatusCode) && !last && resendable && idempotent(req.Method) {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			sel.Done(balance.Outcome{Failed: true})
			lastErr = fmt.Errorf("client: server %s: status %d", sel.Peer.Addr(), resp.StatusCode)
			continue
		}
		failed := t.RetryStatus != nil && t.RetryStatus(resp.StatusCode)
		resp.Body = &body{ReadCloser: resp.Body, sel: sel, start: start, header: latency,
			lastByte: t.Group.Metric() == balance.MetricLastByte, failed: failed}
		return resp, nil
	}
}

// outgoing is req addressed to peer. Attempts after the first get a new
// body from GetBody.
func (t *Transport) outgoing(req *http.Request, peer *balance.Peer, attempt int) (*http.Request, error) {
	out := req.Clone(req.Context())
	u := *req.URL
	out.URL = &u
	if t.Scheme != "" {
		out.URL.Scheme = t.Scheme
	}
	out.URL.Host = peer.DialAddr()
	if peer.Network() == "unix" {
		return nil, fmt.Errorf("client: server %s: unix sockets need a Base transport that dials them", peer.Addr())
	}
	if out.Host == "" {
		out.Host = req.URL.Host
	}
	if attempt > 0 && req.GetBody != nil {
		b, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		out.Body = b
	}
	return out, nil
}

// idempotent reports whether a request with method m may be sent twice
// (nginx does not retry POST, LOCK and PATCH unless told to).
func idempotent(m string) bool {
	switch m {
	case "POST", "LOCK", "PATCH":
		return false
	}
	return true
}

// notSent reports whether err says the request never reached the server:
// it could not connect.
func notSent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// body ends the attempt when the response body is closed: the request
// was active until then.
type body struct {
	io.ReadCloser
	sel      balance.Selection
	start    time.Time
	header   time.Duration
	lastByte bool
	failed   bool
	once     sync.Once
	readErr  bool
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.readErr = true
	}
	return n, err
}

func (b *body) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		o := balance.Outcome{Failed: b.failed || b.readErr, Latency: b.header}
		if b.lastByte {
			o.Latency = time.Since(b.start)
		}
		if o.Failed {
			o.Latency = 0
		}
		b.sel.Done(o)
	})
	return err
}

// Discover keeps t's servers up to date: it calls find at once and then
// every interval until ctx ends, and replaces the servers with what it
// returns. A call that fails, or finds no server, leaves the servers as
// they are; report, when not nil, is told of its error.
func Discover(ctx context.Context, t *Transport, interval time.Duration, find func(context.Context) ([]balance.Server, error), report func(error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		servers, err := find(ctx)
		if err == nil && len(servers) == 0 {
			err = errors.New("client: discovery found no server")
		}
		if err == nil {
			err = t.Update(servers)
		}
		if err != nil && report != nil && ctx.Err() == nil {
			report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// DNS returns a discovery function for Discover: the addresses host
// resolves to, each a server on port with the parameters of tmpl (its
// Addr is ignored), as nginx makes a server line's name into one server
// per address.
func DNS(r *net.Resolver, host string, port int, tmpl balance.Server) func(context.Context) ([]balance.Server, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	return func(ctx context.Context) ([]balance.Server, error) {
		addrs, err := r.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		servers := make([]balance.Server, 0, len(addrs))
		seen := map[netip.Addr]bool{}
		for _, a := range addrs {
			a = a.Unmap()
			if seen[a] {
				continue
			}
			seen[a] = true
			s := tmpl
			s.Addr = netip.AddrPortFrom(a, uint16(port)).String()
			s.Name = ""
			servers = append(servers, s)
		}
		return servers, nil
	}
}
