package stream

import (
	"context"
	"fmt"
	"github.com/sluicelb/sluice/internal/logconf"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/internal/listen"
	ups "github.com/sluicelb/sluice/upstream"
	"github.com/sluicelb/sluice/vars"
)

// Options are what Build needs besides the configuration.
type Options struct {
	// Log is the main error log. Nil discards messages.
	Log *slog.Logger
	// Registry keeps peer state (active connections, failures) across
	// reloads. Nil creates a fresh one, so state does not carry over.
	Registry *balance.Registry
	// Now is the clock for session times and time variables; nil means
	// time.Now.
	Now func() time.Time
	// Version is the value of $nginx_version.
	Version string
	// Dial opens upstream connections; nil uses net.Dialer. Tests may
	// replace it.
	Dial func(network, address string, timeout time.Duration, local net.Addr) (net.Conn, error)
	// Upstreams, when not nil, collects the groups of the upstream
	// blocks, for the http block's api directive.
	Upstreams *balance.GroupSet
}

// Listener is a socket the stream block needs, with its handler.
type Listener = listen.Socket[*Handler]

// Built is the result of Build: the listeners to open, and the functions
// that release the generation's resources (access log files) and reopen
// its log files.
type Built = listen.Built[*Handler]

// proxy is the state shared by every server of one stream block.
type proxy struct {
	opts   Options
	now    func() time.Time
	tab    *vars.Table[*session]
	groups map[string]*upstream
	zones  map[string]*zone
	// resolving keeps the servers with the resolve parameter up to date
	resolving ups.Resolving
	// syslogs are the access logs' syslog senders, by target
	syslogs map[string]*errlog.Syslog

	// variables the proxy itself reads
	vBinaryRemoteAddr vars.Var
}

// upstream is a balance group and how to compute its hash key.
type upstream struct {
	name  string
	group *balance.Group
	key   *vars.Template[*session] // hash KEY, or nil
}

// server is the compiled form of one server {} block, shared by the
// handlers of its listen addresses.
type server struct {
	p       *proxy
	cfg     *config.StreamServer
	log     *slog.Logger
	sets    []setOp
	access  []config.StreamAccessRule
	limits  []limitRef
	ret     *vars.Template[*session]
	target  *upstream                // constant proxy_pass
	pass    *vars.Template[*session] // proxy_pass with variables
	bind    *vars.Template[*session]
	logs    []accessLog
	limitLv slog.Level
	tls     *serverTLS   // listen ... ssl, or nil
	upTLS   *upstreamTLS // proxy_ssl on, or nil
}

// listenRcvBuf reports whether a listen directive of s sets rcvbuf=.
func (s *server) listenRcvBuf() bool {
	for _, l := range s.cfg.Listens {
		if l.RcvBuf > 0 {
			return true
		}
	}
	return false
}

type setOp struct {
	v    vars.Var
	tmpl *vars.Template[*session]
}

type limitRef struct {
	z *zone
	n int
}

// accessLog is one access_log directive: a file or a syslog sender.
type accessLog struct {
	f      *logFile
	sys    *errlog.Syslog
	format *vars.LogFormat[*session]
	cond   *vars.Template[*session]
}

// openSyslog returns the sender of a "syslog:" access log, shared by the
// access logs of the generation that name the same target and closed with
// it; failed sends are reported to the main error log.
func (p *proxy) openSyslog(al config.StreamAccessLog, b *Built) (*errlog.Syslog, error) {
	if s := p.syslogs[al.Path]; s != nil {
		return s, nil
	}
	s, err := errlog.NewSyslog(errlog.SyslogConfig(*al.Syslog), errlog.SyslogOptions{Now: p.now,
		Report: func(level slog.Level, msg string) { p.opts.Log.Log(context.Background(), level, msg) }})
	if err != nil {
		return nil, fmt.Errorf("%v in %s", err, al.Pos)
	}
	if p.syslogs == nil {
		p.syslogs = map[string]*errlog.Syslog{}
	}
	p.syslogs[al.Path] = s
	b.Closers = append(b.Closers, func() { s.Close() })
	return s, nil
}

// connSeq numbers client connections for $connection and the error log's
// "*N", across generations, as nginx's connection counter does.
var connSeq atomic.Uint64

// Build compiles the stream block of a configuration into handlers, one
// per listen address. Nothing is bound; log files are opened (and closed
// by the returned Closers). Errors name the file and line.
func Build(st *config.Stream, opts Options) (b *Built, err error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = balance.NewRegistry(nil)
	}
	p := &proxy{opts: opts, now: opts.Now, groups: map[string]*upstream{}, zones: map[string]*zone{}}
	if p.now == nil {
		p.now = time.Now
	}
	b = &Built{}
	defer func() {
		if err != nil {
			for _, c := range b.Closers {
				c()
			}
			b = nil
		}
	}()
	p.tab = vars.NewTable[*session]()
	p.tab.OnWarn(func(msg, pos string) { opts.Log.Warn(msg + " in " + pos) })
	if err := p.tab.DefineStock(vars.Stock{Clock: p.now, Version: opts.Version}); err != nil {
		return b, err
	}
	if err := defineVars(p.tab); err != nil {
		return b, err
	}
	if p.vBinaryRemoteAddr, err = p.tab.Ref("binary_remote_addr", ""); err != nil {
		return b, err
	}
	for _, vb := range st.VarBlocks {
		lines := make([]vars.Line, len(vb.Lines))
		for i, l := range vb.Lines {
			lines[i] = vars.Line{Args: l.Args, Pos: l.Pos}
		}
		err = p.tab.AddBlock(vb.Kind, vb.Source, vb.Var, lines, vb.Pos)
		if err != nil {
			return b, vars.NginxError(err)
		}
	}
	formats := vars.NewLogFormats(p.tab, false)
	for _, f := range st.LogFormats {
		if err := formats.Add(f.Args, f.Pos); err != nil {
			return b, vars.NginxError(err)
		}
	}
	for _, z := range st.LimitConnZones {
		key, err := p.tab.Compile(z.Key, z.Pos)
		if err != nil {
			return b, vars.NginxError(err)
		}
		p.zones[z.Name] = newZone(z.Name, key)
	}
	p.resolving.Log = resolveLog(opts.Log)
	b.Starters = append(b.Starters, p.resolving.Start)
	b.Stoppers = append(b.Stoppers, p.resolving.Stop)
	// every group is tracked, so that the servers of a group whose checks
	// a reload removed are healthy again
	checks := &ups.Checks{}
	for _, u := range st.Upstreams {
		up, err := p.buildUpstream(u)
		if err != nil {
			return b, err
		}
		p.groups[u.Name] = up
		checks.Track(up.group)
	}
	files := map[string]*logFile{}
	var servers []*server
	for _, sc := range st.Servers {
		s, err := p.buildServer(sc, formats, files, b)
		if err != nil {
			return b, err
		}
		servers = append(servers, s)
		if err := p.addHealthChecks(st, s, checks); err != nil {
			return b, err
		}
	}
	b.Starters = append(b.Starters, checks.Start)
	b.Stoppers = append(b.Stoppers, checks.Stop)
	if err := p.tab.Freeze(); err != nil {
		return b, vars.NginxError(err)
	}
	for _, s := range servers {
		for _, l := range s.cfg.Listens {
			h := &Handler{s: s, listen: l}
			h.serverName = l.Address
			if l.Network == "unix" {
				h.serverName = "unix:" + l.Address
			}
			network := l.Network
			if l.UDP {
				network = "udp"
			}
			b.Listeners = append(b.Listeners, Listener{
				Network: network, Address: l.Address, Handler: h,
				Options: listen.Options{Backlog: l.Backlog, ReusePort: l.ReusePort, RcvBuf: l.RcvBuf, SndBuf: l.SndBuf, IPv6Only: l.IPv6Only, FastOpen: l.FastOpen,
					SteerLocal: network == "tcp"},
			})
		}
	}
	return b, nil
}

func (p *proxy) buildUpstream(u *config.StreamUpstream) (*upstream, error) {
	m := ups.Method{Name: u.Method, Consistent: u.Consistent, RandomTwo: u.RandomTwo,
		RandomTwoMethod: u.RandomTwoMethod, LeastTimeMetric: u.LeastTimeMetric, Inflight: u.Inflight}
	up := &upstream{name: u.Name}
	if u.Method == "hash" {
		key, err := p.tab.Compile(u.HashKey, u.Pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		up.key = key
	}
	g, err := p.resolving.Build(p.opts.Registry, u.Name, m, u.Servers, u.Pos, u.Resolver, u.ResolverTimeout)
	if err != nil {
		return nil, err
	}
	up.group = g
	if p.opts.Upstreams != nil {
		p.opts.Upstreams.Add(g, u.Zone)
	}
	return up, nil
}

func (p *proxy) buildServer(sc *config.StreamServer, formats *vars.LogFormats[*session], files map[string]*logFile, b *Built) (*server, error) {
	s := &server{p: p, cfg: sc, log: p.opts.Log, access: sc.Access}
	if len(sc.ErrorLogs) > 0 {
		l, err := errlog.New(logconf.ErrorTargets(sc.ErrorLogs), errlog.Options{Now: p.now, Report: p.opts.Log})
		if err != nil {
			return nil, fmt.Errorf("%v in %s", err, sc.Pos())
		}
		b.Closers = append(b.Closers, func() { l.Close() })
		b.Reopeners = append(b.Reopeners, func() { l.Reopen() })
		s.log = l.Logger()
	}
	s.limitLv, _ = errlog.ParseLevel(sc.LimitConnLogLevel)
	for _, st := range sc.Sets {
		v, err := p.tab.Settable(strings.TrimPrefix(st.Var, "$"), st.Pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		tmpl, err := p.tab.Compile(st.Value, st.Pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		s.sets = append(s.sets, setOp{v: v, tmpl: tmpl})
	}
	for _, lc := range sc.LimitConns {
		s.limits = append(s.limits, limitRef{z: p.zones[lc.Zone], n: lc.Conn})
	}
	var err error
	switch {
	case sc.ReturnSet:
		if s.ret, err = p.tab.Compile(sc.Return, sc.Pos()); err != nil {
			return nil, vars.NginxError(err)
		}
	case sc.Upstream != "":
		s.target = p.groups[sc.Upstream]
		if s.target == nil {
			return nil, fmt.Errorf("stream: no upstream %q in %s", sc.Upstream, sc.ProxyPassPos)
		}
	default:
		if s.pass, err = p.tab.Compile(sc.ProxyPass, sc.ProxyPassPos); err != nil {
			return nil, vars.NginxError(err)
		}
	}
	for _, l := range sc.Listens {
		if l.SSL {
			if s.tls, err = p.buildServerTLS(sc); err != nil {
				return nil, err
			}
			break
		}
	}
	if sc.ProxySSL.Enable {
		if s.upTLS, err = p.buildUpstreamTLS(sc); err != nil {
			return nil, err
		}
	}
	if sc.ProxyBind != "" {
		if s.bind, err = p.tab.Compile(sc.ProxyBind, sc.Pos()); err != nil {
			return nil, vars.NginxError(err)
		}
	}
	if !sc.AccessLogOff {
		for _, al := range sc.AccessLogs {
			f, err := formats.Lookup(al.Format, al.Pos)
			if err != nil {
				return nil, vars.NginxError(err)
			}
			a := accessLog{format: f}
			if al.Syslog != nil {
				if a.sys, err = p.openSyslog(al, b); err != nil {
					return nil, err
				}
			} else {
				lf := files[al.Path]
				if lf == nil {
					lf, err = openLogFile(al.Path, int(al.Buffer), al.Flush)
					if err != nil {
						// nginx opens log files once the configuration
						// is read: its error names no line
						return nil, err
					}
					files[al.Path] = lf
					b.Closers = append(b.Closers, lf.Close)
					b.Reopeners = append(b.Reopeners, lf.Reopen)
				}
				a.f = lf
			}
			if al.If != "" {
				if a.cond, err = p.tab.Compile(al.If, al.Pos); err != nil {
					return nil, vars.NginxError(err)
				}
			}
			s.logs = append(s.logs, a)
		}
	}
	return s, nil
}

// matchAccess applies allow/deny rules; it reports whether the client is
// allowed.
func matchAccess(rules []config.StreamAccessRule, addr netip.Addr, unix bool) bool {
	for _, r := range rules {
		switch {
		case r.All:
			return r.Allow
		case r.Unix:
			if unix {
				return r.Allow
			}
		case !unix && addr.IsValid() && r.Net.Contains(addr.Unmap()):
			return r.Allow
		}
	}
	return true
}

// resolveLog writes the messages of the upstream names' resolution to
// the error log.
func resolveLog(log *slog.Logger) func(warn bool, msg string) {
	return func(warn bool, msg string) {
		if warn {
			log.Warn(msg)
		} else {
			log.Info(msg)
		}
	}
}
