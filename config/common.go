package config

import (
	"net/netip"
	"strings"
	"time"
)

// dialect holds every way in which the stream and the http contexts treat
// the directives they share (upstream blocks, listen, access rules, logs,
// limit_conn, variable blocks, proxy_bind, TLS settings), so that each
// such directive is parsed by one function. streamDialect and httpDialect
// are the two values.
type dialect struct {
	// quote renders a value in an error message.
	quote func(string) string

	// upstream returns the fields of the context's upstream type.
	upstream func(block any) upstreamFields
	// maxWeight is the largest weight= of an upstream server.
	maxWeight int64
	// serverTime parses fail_timeout= and slow_start=.
	serverTime func(string) (time.Duration, error)
	// plusServerParams refuses the NGINX Plus server parameter service=
	// by name; without it, it is an invalid parameter.
	plusServerParams bool
	// defaultPort is the port of an upstream server given without one
	// (0: a port is required).
	defaultPort int
	// upstreamAddrs resolves the address of an upstream server line.
	upstreamAddrs func(d *Directive, s string) ([]string, error)
	// leastTimeMetrics are what least_time and random two least_time=
	// measure.
	leastTimeMetrics []string
	// slowStartBeforeMethod refuses hash or random after a server with
	// slow_start=.
	slowStartBeforeMethod bool

	// keepaliveResets makes a repeated so_keepalive= start afresh instead
	// of keeping the times an earlier one set.
	keepaliveResets bool
	// listenUDP accepts listen ... udp; listenHTTP accepts default_server
	// (or default), http2 and deferred.
	listenUDP, listenHTTP bool
	// unknownListenParam is the error format for an unknown listen
	// parameter, with %s for the quoted parameter.
	unknownListenParam string

	// defaultLogFormat is the format of an access_log that names none;
	// empty: the format must be given.
	defaultLogFormat string
	// logPathVars keeps an access_log path with variables as written
	// instead of resolving it against the prefix.
	logPathVars bool

	// minZone is the smallest limit_conn_zone (and limit_req_zone) size;
	// zoneTooSmall the error format for a smaller one, with %s for the
	// quoted zone= parameter.
	minZone      int64
	zoneTooSmall string

	// varNames checks that map, geo and split_clients define a $variable.
	varNames bool
	// bindOffAlone refuses "proxy_bind off" with a second argument.
	bindOffAlone bool
	// strictSessionCache refuses "off" or "none" with other values, and
	// builtin:0, in ssl_session_cache.
	strictSessionCache bool
	// foldValues matches keyword values (ssl_protocols, ssl_verify_client,
	// the log levels, ...) in any letter case.
	foldValues bool
}

// listenParams are the parameters of a listen directive after its address.
type listenParams struct {
	ssl, udp, proxyProtocol, reusePort, bind bool
	defaultServer, http2, deferred           bool
	backlog, rcvBuf, sndBuf                  int
	fastOpen                                 int // fastopen=, 0 for none
	backlogSet                               bool
	ipv6Only, ipv6OnlySet                    bool
	keepalive                                soKeepalive
	// optionsSet says a parameter was given that nginx allows once per
	// address (http): bind, reuseport, deferred, backlog, rcvbuf, sndbuf,
	// ipv6only, so_keepalive or fastopen.
	optionsSet bool
}

// soKeepalive is so_keepalive=on|off|[idle]:[intvl]:[cnt].
type soKeepalive struct {
	mode        string // "on", "off" or "" (not given)
	idle, intvl time.Duration
	cnt         int
}

// parseListenParams parses the parameters of listen that follow the
// address, with backlog's default of 511.
func (dl *dialect) parseListenParams(d *Directive) (listenParams, error) {
	p := listenParams{backlog: 511}
	for _, a := range d.Args[1:] {
		switch {
		case a == "ssl":
			p.ssl = true
		case a == "udp" && dl.listenUDP:
			p.udp = true
		case (a == "default_server" || a == "default") && dl.listenHTTP:
			p.defaultServer = true
		case a == "http2" && dl.listenHTTP:
			p.http2 = true
		case a == "deferred" && dl.listenHTTP:
			p.deferred, p.optionsSet = true, true
		case a == "proxy_protocol":
			p.proxyProtocol = true
		case a == "reuseport":
			p.reusePort, p.optionsSet = true, true
		case a == "bind":
			p.bind, p.optionsSet = true, true
		case strings.HasPrefix(a, "backlog="):
			n, ok := parseDigits(a[8:])
			if !ok || n == 0 || n > 1<<31-1 {
				return p, errorf(d.File, d.Line, "invalid backlog %s", dl.quote(a))
			}
			p.backlog, p.backlogSet, p.optionsSet = int(n), true, true
		case strings.HasPrefix(a, "rcvbuf=") || strings.HasPrefix(a, "sndbuf="):
			n, err := ParseSize(a[7:])
			if err != nil || n > 1<<31-1 {
				return p, errorf(d.File, d.Line, "invalid %s %s", a[:6], dl.quote(a[7:]))
			}
			if a[0] == 'r' {
				p.rcvBuf = int(n)
			} else {
				p.sndBuf = int(n)
			}
			p.optionsSet = true
		case strings.HasPrefix(a, "ipv6only="):
			switch a[9:] {
			case "on":
				p.ipv6Only = true
			case "off":
				p.ipv6Only = false
			default:
				return p, errorf(d.File, d.Line, "invalid ipv6only flags %s", dl.quote(a[9:]))
			}
			p.ipv6OnlySet, p.optionsSet = true, true
		case strings.HasPrefix(a, "fastopen="):
			n, ok := parseDigits(a[9:])
			if !ok || n > 1<<31-1 {
				return p, errorf(d.File, d.Line, "invalid fastopen %s", dl.quote(a))
			}
			p.fastOpen, p.optionsSet = int(n), true
		case strings.HasPrefix(a, "so_keepalive="):
			k := p.keepalive
			if dl.keepaliveResets {
				k = soKeepalive{}
			}
			k, err := parseSoKeepalive(d, a[13:], k)
			if err != nil {
				return p, err
			}
			p.keepalive, p.optionsSet = k, true
		default:
			return p, errorf(d.File, d.Line, dl.unknownListenParam, dl.quote(a))
		}
	}
	return p, nil
}

// ipv6OnlyFor returns ipv6only for a listen on address: on by default for
// an IPv6 address, as nginx.
func (p *listenParams) ipv6OnlyFor(address string) bool {
	if !p.ipv6OnlySet && strings.HasPrefix(address, "[") {
		return true
	}
	return p.ipv6Only
}

// parseSoKeepalive parses the value of so_keepalive= into k, keeping the
// fields of k that the value leaves out.
func parseSoKeepalive(d *Directive, v string, k soKeepalive) (soKeepalive, error) {
	bad := errorf(d.File, d.Line, "invalid so_keepalive value: %q", "so_keepalive="+v)
	switch v {
	case "on", "off":
		k.mode = v
		return k, nil
	}
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return k, bad
	}
	if parts[0] != "" {
		t, err := ParseTime(parts[0])
		if err != nil || t < time.Second {
			return k, bad
		}
		k.idle = t
	}
	if parts[1] != "" {
		t, err := ParseTime(parts[1])
		if err != nil || t < time.Second {
			return k, bad
		}
		k.intvl = t
	}
	if parts[2] != "" {
		n, ok := parseDigits(parts[2])
		if !ok || n == 0 || n > 1<<31-1 {
			return k, bad
		}
		k.cnt = int(n)
	}
	k.mode = "on"
	return k, nil
}

// netAddr is a listening address: network "tcp" or "unix".
type netAddr struct{ network, address string }

// unixListenAddr parses the address of listen unix:PATH.
func (dl *dialect) unixListenAddr(d *Directive, s string) ([]netAddr, error) {
	if len(s) == 5 {
		return nil, errorf(d.File, d.Line, "no path in the unix domain socket in %s of the \"listen\" directive", dl.quote(s))
	}
	return []netAddr{{"unix", s[5:]}}, nil
}

// parseAccessRule parses allow or deny ADDRESS | CIDR | unix: | all.
func (dl *dialect) parseAccessRule(c *compiler, d *Directive) (StreamAccessRule, error) {
	r := StreamAccessRule{Allow: d.Name == "allow"}
	switch a := d.Args[0]; {
	case a == "all":
		r.All = true
	case a == "unix:":
		r.Unix = true
	default:
		p, err := parseCIDR(a)
		if err != nil {
			return r, errorf(d.File, d.Line, "invalid parameter %s", dl.quote(a))
		}
		r.Net = maskedPrefix(c, d, a, p)
	}
	return r, nil
}

// maskedPrefix returns p without the host bits written in a, with nginx's
// warning when there are some.
func maskedPrefix(c *compiler, d *Directive, a string, p netip.Prefix) netip.Prefix {
	if p.Masked() != p {
		c.warnf(d, "low address bits of %s are meaningless", a)
		p = p.Masked()
	}
	return p
}

// parseCIDR parses an address or a network in CIDR notation.
func parseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// AccessLog is one access_log target, in the stream or the http context.
type AccessLog struct {
	Path   string        // a file path (may hold variables)
	Format string        // a log_format name
	Buffer int64         `json:",omitempty"` // 0: write each line at once
	Flush  time.Duration `json:",omitempty"` // 0: flush when the buffer fills
	If     string        `json:",omitempty"` // condition (complex value)
	Syslog *Syslog       `json:",omitempty"` // a "syslog:" target (Path as written), or nil
	Pos    string
}

// StreamAccessLog is an access_log of the stream context.
type StreamAccessLog = AccessLog

// HTTPAccessLog is an access_log of the http context (format "combined"
// unless named).
type HTTPAccessLog = AccessLog

// parseAccessLog parses access_log off | PATH [FORMAT [buffer=SIZE]
// [flush=TIME] [if=CONDITION]]; off reports "access_log off". known says
// whether a log_format name exists.
func (dl *dialect) parseAccessLog(c *compiler, d *Directive, known func(string) bool) (al AccessLog, off bool, err error) {
	if d.Args[0] == "off" {
		if len(d.Args) > 1 {
			return al, false, errorf(d.File, d.Line, "invalid parameter %s", dl.quote(d.Args[1]))
		}
		return al, true, nil
	}
	al = AccessLog{Path: d.Args[0], Format: dl.defaultLogFormat, Pos: pos(d)}
	if isSyslog(al.Path) {
		if al.Syslog, err = parseSyslog(d, al.Path); err != nil {
			return al, false, err
		}
	} else if !dl.logPathVars || !hasVariables(al.Path) {
		al.Path = c.path(al.Path)
	}
	if len(d.Args) < 2 {
		if al.Format == "" {
			return al, false, errorf(d.File, d.Line, "log format is not specified")
		}
		return al, false, nil
	}
	al.Format = d.Args[1]
	if !known(al.Format) {
		return al, false, errorf(d.File, d.Line, "unknown log format %s", dl.quote(al.Format))
	}
	gzip := false
	for _, a := range d.Args[2:] {
		switch {
		case strings.HasPrefix(a, "buffer="):
			n, err := ParseSize(a[7:])
			if err != nil || n == 0 {
				return al, false, errorf(d.File, d.Line, "invalid buffer size %s", dl.quote(a[7:]))
			}
			al.Buffer = n
		case strings.HasPrefix(a, "flush="):
			t, err := ParseTime(a[6:])
			if err != nil {
				return al, false, errorf(d.File, d.Line, "invalid flush time %s", dl.quote(a[6:]))
			}
			al.Flush = t
		case strings.HasPrefix(a, "if="):
			al.If = a[3:]
		case a == "gzip" || strings.HasPrefix(a, "gzip="):
			if al.Syslog == nil {
				return al, false, errorf(d.File, d.Line, "the \"gzip\" parameter of the \"access_log\" directive is not supported by sluice")
			}
			if lvl, ok := parseDigits(strings.TrimPrefix(a[4:], "=")); a != "gzip" && (!ok || lvl < 1 || lvl > 9) {
				return al, false, errorf(d.File, d.Line, "invalid compression level %s", dl.quote(a[5:]))
			}
			gzip = true // implies a buffer, which syslog refuses below
		default:
			return al, false, errorf(d.File, d.Line, "invalid parameter %s", dl.quote(a))
		}
	}
	if al.Flush > 0 && al.Buffer == 0 && !gzip {
		return al, false, errorf(d.File, d.Line, "no buffer is defined for access_log %s", dl.quote(d.Args[0]))
	}
	if al.Syslog != nil && (al.Buffer > 0 || gzip) {
		return al, false, errorf(d.File, d.Line, "logs to syslog cannot be buffered")
	}
	return al, false, nil
}

// LimitConn is one limit_conn directive, in the stream or the http
// context.
type LimitConn struct {
	Zone string
	Conn int
	Pos  string
}

// StreamLimitConn is a limit_conn of the stream context.
type StreamLimitConn = LimitConn

// HTTPLimitConn is a limit_conn of the http context.
type HTTPLimitConn = LimitConn

// parseLimitConn parses limit_conn ZONE NUMBER; have are the limit_conn
// directives of the same level.
func (dl *dialect) parseLimitConn(d *Directive, have []LimitConn) (LimitConn, error) {
	n, ok := parseDigits(d.Args[1])
	if !ok || n < 1 || n > 65535 {
		return LimitConn{}, errorf(d.File, d.Line, "invalid number of connections %s", dl.quote(d.Args[1]))
	}
	for _, lc := range have {
		if lc.Zone == d.Args[0] {
			return LimitConn{}, errorf(d.File, d.Line, "%s directive is duplicate", dl.quote(d.Name))
		}
	}
	return LimitConn{Zone: d.Args[0], Conn: int(n), Pos: pos(d)}, nil
}

// LimitConnZone is one limit_conn_zone directive, in the stream or the
// http context.
type LimitConnZone struct {
	Name string
	Key  string // complex value
	Size int64
	Pos  string
}

// StreamLimitConnZone is a limit_conn_zone of the stream context.
type StreamLimitConnZone = LimitConnZone

// HTTPLimitConnZone is a limit_conn_zone of the http context.
type HTTPLimitConnZone = LimitConnZone

// parseLimitConnZone parses limit_conn_zone KEY zone=NAME:SIZE; have are
// the zones declared before.
func (dl *dialect) parseLimitConnZone(d *Directive, have []LimitConnZone) (LimitConnZone, error) {
	a := d.Args[1]
	if !strings.HasPrefix(a, "zone=") {
		return LimitConnZone{}, errorf(d.File, d.Line, "invalid parameter %s", dl.quote(a))
	}
	name, n, err := dl.zoneArg(d, a)
	if err != nil {
		return LimitConnZone{}, err
	}
	for _, z := range have {
		if z.Name == name {
			return LimitConnZone{}, errorf(d.File, d.Line, "limit_conn_zone %s is already bound to key %s", dl.quote(name), dl.quote(z.Key))
		}
	}
	return LimitConnZone{Name: name, Key: d.Args[0], Size: n, Pos: pos(d)}, nil
}

// zoneArg parses zone=name:size as limit_conn_zone and limit_req_zone do.
func (dl *dialect) zoneArg(d *Directive, a string) (string, int64, error) {
	name, size, ok := strings.Cut(a[5:], ":")
	if !ok || name == "" {
		return "", 0, errorf(d.File, d.Line, "invalid zone size %s", dl.quote(a))
	}
	n, err := ParseSize(size)
	if err != nil {
		return "", 0, errorf(d.File, d.Line, "invalid zone size %s", dl.quote(a))
	}
	if n < dl.minZone {
		return "", 0, errorf(d.File, d.Line, dl.zoneTooSmall, dl.quote(a))
	}
	return name, n, nil
}

// VarLine is one statement inside a map, geo or split_clients block.
type VarLine struct {
	Args []string
	Pos  string
}

// StreamVarLine is a line of a stream variable block.
type StreamVarLine = VarLine

// HTTPVarLine is a line of an http variable block.
type HTTPVarLine = VarLine

// VarBlock is a map, geo or split_clients block, kept as lines for the
// variable system to compile.
type VarBlock struct {
	Kind   string // "map", "geo" or "split_clients"
	Source string // the source string or variable ("" for geo's default)
	Var    string // the variable defined, with its '$'
	Lines  []VarLine
	Pos    string
}

// StreamVarBlock is a variable block of the stream context.
type StreamVarBlock = VarBlock

// HTTPVarBlock is a variable block of the http context.
type HTTPVarBlock = VarBlock

// parseVarBlock reads map SOURCE $VAR {...}, geo [SOURCE] $VAR {...} or
// split_clients SOURCE $VAR {...}.
func (dl *dialect) parseVarBlock(d *Directive) (VarBlock, error) {
	b := VarBlock{Kind: d.Name, Pos: pos(d)}
	if len(d.Args) == 2 {
		b.Source, b.Var = d.Args[0], d.Args[1]
	} else {
		b.Var = d.Args[0]
	}
	if dl.varNames && (len(b.Var) < 2 || b.Var[0] != '$') {
		return b, errorf(d.File, d.Line, "invalid variable name %s", dl.quote(b.Var))
	}
	for _, l := range d.Block {
		if l.IsBlock() {
			return b, errorf(l.File, l.Line, "unexpected \"{\"")
		}
		b.Lines = append(b.Lines, VarLine{Args: append([]string{l.Name}, l.Args...), Pos: l.Pos()})
	}
	return b, nil
}

// parseProxyBind parses proxy_bind ADDRESS | off; off gives "".
func (dl *dialect) parseProxyBind(d *Directive) (string, error) {
	if d.Args[0] == "off" {
		if dl.bindOffAlone && len(d.Args) > 1 {
			return "", errorf(d.File, d.Line, "invalid number of arguments in %s directive", dl.quote(d.Name))
		}
		return "", nil
	}
	if len(d.Args) == 2 {
		if d.Args[1] != "transparent" {
			return "", errorf(d.File, d.Line, "invalid parameter %s", dl.quote(d.Args[1]))
		}
		return "", errorf(d.File, d.Line, "the \"transparent\" parameter of the %s directive is not supported by sluice", dl.quote(d.Name))
	}
	if !strings.Contains(d.Args[0], "$") {
		if _, err := netip.ParseAddr(d.Args[0]); err != nil {
			return "", errorf(d.File, d.Line, "invalid address %s", dl.quote(d.Args[0]))
		}
	}
	return d.Args[0], nil
}

// checkSessionCache checks ssl_session_cache off | none | [builtin[:size]]
// [shared:name:size].
func (dl *dialect) checkSessionCache(d *Directive) error {
	for _, a := range d.Args {
		invalid := errorf(d.File, d.Line, "invalid session cache %s", dl.quote(a))
		switch {
		case a == "off" || a == "none":
			if dl.strictSessionCache && len(d.Args) > 1 {
				return invalid
			}
		case a == "builtin":
		case strings.HasPrefix(a, "builtin:"):
			if n, ok := parseDigits(a[8:]); !ok || n == 0 && dl.strictSessionCache {
				return invalid
			}
		case strings.HasPrefix(a, "shared:"):
			name, size, ok := strings.Cut(a[7:], ":")
			if !ok || name == "" {
				return invalid
			}
			n, err := ParseSize(size)
			if err != nil {
				return invalid
			}
			if n < 8<<12 {
				return errorf(d.File, d.Line, "session cache %s is too small", dl.quote(a))
			}
		default:
			return invalid
		}
	}
	return nil
}

// sslProtocolNames are the values ssl_protocols and proxy_ssl_protocols
// accept, as nginx 1.22.
var sslProtocolNames = []string{"SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}

// parseSSLProtocols parses the arguments of ssl_protocols.
func (dl *dialect) parseSSLProtocols(_ *compiler, d *Directive) ([]string, error) {
	var list []string
	for _, a := range d.Args {
		ok := false
		for _, p := range sslProtocolNames {
			if a == p || dl.foldValues && strings.EqualFold(a, p) {
				ok = true
				list = append(list, p)
			}
		}
		if !ok {
			return nil, errorf(d.File, d.Line, "invalid value %s", dl.quote(a))
		}
	}
	return list, nil
}

// setting returns the Set function of an inheritable directive with one
// value: parse reads the value, level finds the settings of the block the
// directive is in, and field the setting in them, which is then marked as
// set at that level.
func setting[S interface{ mark(string) }, T any](level func(*compiler, any) S, parse func(*compiler, *Directive) (T, error), field func(S) *T) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		v, err := parse(c, d)
		if err != nil {
			return nil, err
		}
		s := level(c, parent)
		*field(s) = v
		s.mark(d.Name)
		return nil, nil
	}
}

// The parsers of single-argument values for setting.

func stringValue(_ *compiler, d *Directive) (string, error) { return d.Args[0], nil }

func flagValue(_ *compiler, d *Directive) (bool, error) { return parseFlag(d) }

func numValue(_ *compiler, d *Directive) (int, error) { return parseNum(d, d.Args[0]) }

func sizeValue(_ *compiler, d *Directive) (int64, error) { return sizeArg(d, d.Args[0]) }

func timeValue(_ *compiler, d *Directive) (time.Duration, error) { return timeArg(d, d.Args[0]) }

func secondsValue(_ *compiler, d *Directive) (time.Duration, error) { return secondsArg(d, d.Args[0]) }

// pathValue resolves a certificate or key path (pathArg).
func pathValue(c *compiler, d *Directive) (string, error) { return pathArg(c, d.Args[0]), nil }

// statusValue parses an HTTP error status, 400 to 599.
func statusValue(_ *compiler, d *Directive) (int, error) {
	n, ok := parseDigits(d.Args[0])
	if !ok {
		return 0, errorf(d.File, d.Line, `"%s" directive invalid number`, d.Name)
	}
	if n < 400 || n > 599 {
		return 0, errorf(d.File, d.Line, "value must be between 400 and 599")
	}
	return int(n), nil
}

// enum returns a parser of a value that must be one of values
// (ngx_conf_set_enum_slot); it gives the value as listed.
func (dl *dialect) enum(values ...string) func(*compiler, *Directive) (string, error) {
	return func(_ *compiler, d *Directive) (string, error) {
		for _, v := range values {
			if d.Args[0] == v || dl.foldValues && strings.EqualFold(d.Args[0], v) {
				return v, nil
			}
		}
		return "", errorf(d.File, d.Line, "invalid value %s", dl.quote(d.Args[0]))
	}
}
