package config

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// UpstreamServer is one server of an upstream block, in the stream or the
// http context. A host name that resolves to several addresses gives one
// entry per address, all with the same Name.
type UpstreamServer struct {
	Addr        string // "ip:port" or "unix:/path"
	Name        string // the address as written
	Weight      int
	MaxConns    int           `json:",omitempty"`
	MaxFails    int           // default 1; 0 disables failure accounting
	FailTimeout time.Duration // default 10s
	Backup      bool          `json:",omitempty"`
	Down        bool          `json:",omitempty"`
	Drain       bool          `json:",omitempty"`
	SlowStart   time.Duration `json:",omitempty"`
	// Resolve (the resolve parameter): Host is looked up at run time and
	// again when its answer expires; the server has no Addr of its own,
	// and each address found becomes a server on Port.
	Resolve bool   `json:",omitempty"`
	Host    string `json:",omitempty"`
	Port    int    `json:",omitempty"`
	// Route is the NGINX Plus route= parameter (http only): the server's
	// name for "sticky route" and the value of a "sticky cookie".
	Route string `json:",omitempty"`
}

// StreamUpstreamServer is a server of a stream upstream.
type StreamUpstreamServer = UpstreamServer

// HTTPUpstreamServer is a server of an http upstream.
type HTTPUpstreamServer = UpstreamServer

// newUpstreamServer returns a server with nginx's defaults: weight 1,
// max_fails 1, fail_timeout 10s.
func newUpstreamServer(name, addr string) UpstreamServer {
	return UpstreamServer{Addr: addr, Name: name, Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}
}

// upstreamFields points at the parts of a StreamUpstream or an
// HTTPUpstream that the directives both upstream blocks have write.
type upstreamFields struct {
	name            string
	servers         *[]UpstreamServer
	method          *string
	hashKey         *string
	consistent      *bool
	randomTwo       *bool
	randomTwoMethod *string
	leastTimeMetric *string
	inflight        *bool
	zone            *string
	zoneSize        *int64
	// keepalive is the keepalive directive of an http upstream; always 0
	// in stream, which has no such directive.
	keepalive int
}

// upstreamSpecs returns the directives both upstream blocks have (server,
// hash, least_conn, random, least_time, zone) for the upstream context ctx,
// with the rules of dialect dl.
func upstreamSpecs(ctx Context, dl *dialect) []*Spec {
	return []*Spec{
		{Name: "server", Ctx: ctx, Args: Args1More, Multi: true, Set: dl.setUpstreamServer},
		{Name: "hash", Ctx: ctx, Args: Args12, Set: dl.setUpstreamMethod},
		{Name: "least_conn", Ctx: ctx, Args: Args0, Set: dl.setUpstreamMethod},
		{Name: "random", Ctx: ctx, Args: Args0 | Args12, Set: dl.setUpstreamMethod},
		{Name: "least_time", Ctx: ctx, Args: Args12, Set: dl.setUpstreamMethod},
		{Name: "zone", Ctx: ctx, Args: Args12, Set: dl.setUpstreamZone},
	}
}

// methodNoBackup reports whether a balancing method ignores backup servers
// (and refuses backup and slow_start= after it). ip_hash exists in http
// only.
func methodNoBackup(m string) bool { return m == "hash" || m == "ip_hash" || m == "random" }

// setUpstreamServer parses server ADDRESS [weight=N] [max_conns=N]
// [max_fails=N] [fail_timeout=T] [backup] [down] [slow_start=T] [drain].
func (dl *dialect) setUpstreamServer(c *compiler, d *Directive, parent any) (any, error) {
	u := dl.upstream(parent)
	s := newUpstreamServer(d.Args[0], "")
	invalid := func(a string) error { return errorf(d.File, d.Line, "invalid parameter %s", dl.quote(a)) }
	unsupported := func(a string) error {
		return errorf(d.File, d.Line, "balancing method does not support parameter %s", dl.quote(a))
	}
	for _, a := range d.Args[1:] {
		key, val, hasVal := strings.Cut(a, "=")
		switch {
		case hasVal && key == "weight":
			n, ok := parseDigits(val)
			if !ok || n < 1 || n > dl.maxWeight {
				return nil, invalid(a)
			}
			s.Weight = int(n)
		case hasVal && key == "max_conns":
			n, ok := parseDigits(val)
			if !ok || n > 1<<31-1 {
				return nil, invalid(a)
			}
			s.MaxConns = int(n)
		case hasVal && key == "max_fails":
			n, ok := parseDigits(val)
			if !ok || n > 1<<31-1 {
				return nil, invalid(a)
			}
			s.MaxFails = int(n)
		case hasVal && key == "fail_timeout":
			t, err := dl.serverTime(val)
			if err != nil {
				return nil, invalid(a)
			}
			s.FailTimeout = t
		case hasVal && key == "slow_start":
			t, err := dl.serverTime(val)
			if err != nil {
				return nil, invalid(a)
			}
			if methodNoBackup(*u.method) {
				return nil, unsupported(a)
			}
			s.SlowStart = t
		case a == "backup":
			if methodNoBackup(*u.method) {
				return nil, unsupported(a)
			}
			s.Backup = true
		case a == "down":
			s.Down = true
		case a == "drain":
			s.Drain = true
		case a == "resolve":
			s.Resolve = true
		case dl.plusServerParams && hasVal && key == "route":
			if val == "" || len(val) > maxRouteLen {
				return nil, invalid(a)
			}
			s.Route = val
		case dl.plusServerParams && key == "service":
			return nil, errorf(d.File, d.Line, "the %s parameter of the \"server\" directive is not supported by sluice", dl.quote(key))
		default:
			return nil, invalid(a)
		}
	}
	if s.Resolve {
		host, port, ok := dl.splitResolve(d.Args[0])
		if ok {
			s.Host, s.Port = host, port
			*u.servers = append(*u.servers, s)
			return nil, nil
		}
		s.Resolve = false // an address, or a unix socket: nothing to resolve
	}
	addrs, err := dl.upstreamAddrs(d, d.Args[0])
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		s.Addr = a
		*u.servers = append(*u.servers, s)
	}
	return nil, nil
}

// setUpstreamMethod parses the balancing methods: least_conn, ip_hash,
// hash KEY [consistent], random [two [least_conn|least_time=M]] and
// least_time M [inflight].
func (dl *dialect) setUpstreamMethod(c *compiler, d *Directive, parent any) (any, error) {
	u := dl.upstream(parent)
	if *u.method != "round_robin" {
		c.warnf(d, "load balancing method redefined")
		*u.hashKey, *u.consistent, *u.randomTwo, *u.randomTwoMethod, *u.leastTimeMetric, *u.inflight = "", false, false, "", "", false
	}
	if u.keepalive > 0 {
		// nginx wants the method before keepalive and otherwise loses
		// keepalive; sluice keeps both and warns as nginx does
		c.warnf(d, "load balancing method redefined")
	}
	if dl.slowStartBeforeMethod && (d.Name == "hash" || d.Name == "random") {
		for _, s := range *u.servers {
			if s.SlowStart > 0 {
				return nil, errorf(d.File, d.Line, "balancing method does not support parameter \"slow_start=\"")
			}
		}
	}
	invalid := func(a string) error { return errorf(d.File, d.Line, "invalid parameter %s", dl.quote(a)) }
	*u.method = d.Name
	switch d.Name {
	case "hash":
		*u.hashKey = d.Args[0]
		if len(d.Args) == 2 {
			if d.Args[1] != "consistent" {
				return nil, invalid(d.Args[1])
			}
			*u.consistent = true
		}
	case "random":
		if len(d.Args) == 0 {
			return nil, nil
		}
		if d.Args[0] != "two" {
			return nil, invalid(d.Args[0])
		}
		*u.randomTwo, *u.randomTwoMethod = true, "least_conn"
		if len(d.Args) == 2 {
			switch a := d.Args[1]; {
			case a == "least_conn":
			case strings.HasPrefix(a, "least_time="):
				m := a[len("least_time="):]
				if !slices.Contains(dl.leastTimeMetrics, m) {
					return nil, invalid(a)
				}
				*u.randomTwoMethod, *u.leastTimeMetric = "least_time", m
			default:
				return nil, invalid(a)
			}
		}
	case "least_time":
		if !slices.Contains(dl.leastTimeMetrics, d.Args[0]) {
			return nil, invalid(d.Args[0])
		}
		*u.leastTimeMetric = d.Args[0]
		if len(d.Args) == 2 {
			if d.Args[1] != "inflight" {
				return nil, invalid(d.Args[1])
			}
			*u.inflight = true
		}
	}
	return nil, nil
}

// setUpstreamZone parses zone NAME [SIZE].
func (dl *dialect) setUpstreamZone(c *compiler, d *Directive, parent any) (any, error) {
	u := dl.upstream(parent)
	*u.zone = d.Args[0]
	if len(d.Args) == 2 {
		n, err := ParseSize(d.Args[1])
		if err != nil {
			return nil, errorf(d.File, d.Line, "invalid zone size %s", dl.quote(d.Args[1]))
		}
		if n < 8<<12 {
			return nil, errorf(d.File, d.Line, "zone %s is too small", dl.quote(d.Args[0]))
		}
		*u.zoneSize = n
	}
	return nil, nil
}

// resolves reports whether a server of list has the resolve parameter.
func resolves(list []UpstreamServer) bool {
	return slices.ContainsFunc(list, func(s UpstreamServer) bool { return s.Resolve })
}

// splitResolve splits the address of a server with the resolve parameter
// into a host name and a port (the dialect's default port when there is
// none, if it has one). ok is false for an IP address or a unix socket,
// and for an address whose port is missing or invalid (the caller's
// usual parsing then reports it).
func (dl *dialect) splitResolve(s string) (host string, port int, ok bool) {
	if strings.HasPrefix(s, "unix:") {
		return "", 0, false
	}
	h, p, err := net.SplitHostPort(s)
	switch {
	case err == nil:
		n, digits := parseDigits(p)
		if !digits || n < 1 || n > 65535 {
			return "", 0, false
		}
		host, port = h, int(n)
	case dl.defaultPort > 0 && !strings.Contains(s, ":"):
		host, port = s, dl.defaultPort
	default:
		return "", 0, false
	}
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return "", 0, false
	}
	return host, port, true
}

// closeUpstream checks an upstream block when it ends: it must have a
// server that is not a backup. Backup servers given before a method that
// ignores them are dropped, as nginx never uses them.
func (dl *dialect) closeUpstream(c *compiler, d *Directive, child any) error {
	u := dl.upstream(child)
	if len(*u.servers) == 0 {
		return errorf(d.File, d.EndLine, "no servers are inside upstream")
	}
	if *u.zone == "" && resolves(*u.servers) {
		return errorf(d.File, d.Line, "resolving names at run time requires upstream %s to be in shared memory", dl.quote(u.name))
	}
	if methodNoBackup(*u.method) {
		*u.servers = slices.DeleteFunc(*u.servers, func(s UpstreamServer) bool { return s.Backup })
	}
	if !slices.ContainsFunc(*u.servers, func(s UpstreamServer) bool { return !s.Backup }) {
		return errorf(d.File, d.Line, "no servers in upstream %s", dl.quote(u.name))
	}
	return nil
}

// resolveHostPort returns every address of host with port, or nil. An IP
// literal is not looked up.
func resolveHostPort(host string, port int) []string {
	if a, err := netip.ParseAddr(host); err == nil {
		return []string{netip.AddrPortFrom(a, uint16(port)).String()}
	}
	ips, err := LookupHost(host)
	if err != nil {
		return nil
	}
	var out []string
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil {
			out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		}
	}
	return out
}
