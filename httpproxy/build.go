package httpproxy

import (
	"context"
	"errors"
	"fmt"
	"github.com/sluicelb/sluice/internal/logconf"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/accesslog"
	"github.com/sluicelb/sluice/admin"
	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/httpproxy/cache"
	"github.com/sluicelb/sluice/httpproxy/h1"
	"github.com/sluicelb/sluice/httpproxy/route"
	"github.com/sluicelb/sluice/internal/listen"
	ups "github.com/sluicelb/sluice/upstream"
	"github.com/sluicelb/sluice/vars"
)

// DefaultVersion is the version in the Server header and error pages when
// Options.Version is empty.
const DefaultVersion = "0.1.0"

// Options are what Build needs besides the configuration. The zero value
// uses the real clock, a fresh peer registry and a discarding log.
type Options struct {
	// Log is the main error log. Nil discards messages.
	Log *slog.Logger
	// Registry keeps peer state (active requests, failures) across
	// reloads. Nil creates a fresh one.
	Registry *balance.Registry
	// Now is the clock for request times, limit_req and time variables;
	// nil means time.Now.
	Now func() time.Time
	// Version is Sluice's version, for "Server: sluice/VERSION" and
	// $nginx_version; empty means DefaultVersion.
	Version string
	// Dial opens upstream connections; nil uses net.Dialer. Tests may
	// replace it.
	Dial func(network, address string, timeout time.Duration, local net.Addr) (net.Conn, error)
	// Sleep waits for limit_req delays; nil uses a timer. Tests may
	// replace it.
	Sleep func(d time.Duration)
	// Workers is the number of nginx worker processes the configuration
	// asks for (worker_processes; 0 means 1). nginx keeps "keepalive N"
	// idle upstream connections per worker; Sluice, one process, keeps N
	// times Workers.
	Workers int
	// Upstreams collects the groups of the configuration's upstream
	// blocks, the http ones this build makes added to the stream ones
	// built before it: what the api directive reports and changes. Nil
	// makes a set of the http groups alone.
	Upstreams *balance.GroupSet
	// Generation numbers the configuration among those the process
	// loaded, 1 for the first, and LoadTime is when it was loaded: the
	// api directive's nginx generation and load_timestamp. Zero values
	// mean 1 and the time of the build.
	Generation uint64
	LoadTime   time.Time
}

// Listener is a socket the http block needs, with its handler.
type Listener = listen.Socket[*Handler]

// Built is the result of Build: the listeners to open, and the functions
// that release the generation's resources (log files, idle upstream
// connections) and reopen its log files.
type Built = listen.Built[*Handler]

// proxy is the state shared by every server of one http block.
type proxy struct {
	opts      Options
	now       func() time.Time
	sleep     func(time.Duration)
	tab       *vars.Table[*request]
	router    *route.Router
	groups    map[string]*upstream                 // the upstream blocks, by lower-case name; read-only once built
	resolving ups.Resolving                        // keeps the servers with the resolve parameter up to date
	dyn       atomic.Pointer[map[string]*upstream] // see dynamicUpstream
	dynMu     sync.Mutex
	connZones map[string]*connZone
	reqZones  map[string]*reqZone
	servers   map[*config.HTTPServer]*server
	locs      map[*config.HTTPLocation]*location
	files     *accesslog.Files
	built     *Built                            // the build's closers and reopeners
	locLogs   map[*config.ErrorLog]*slog.Logger // location error logs (locationLog)
	formats   *vars.LogFormats[*request]
	tokens    [3][]byte // Server header value and error page footer by server_tokens: on, off, build
	epoch     uint64
	tlsb      *tlsBuilder            // certificates loaded by this build (tls.go)
	charsets  []string               // the charset table (config.HTTP.Charsets)
	caches    map[string]*cache.Zone // proxy_cache_path zones by name (cache.go)
	checks    *ups.Checks            // the active health checks of the groups (health.go)

	vBinaryRemoteAddr vars.Var

	// bg counts the mirror subrequests running in the background; the
	// build's first closer waits for them (subrequest.go).
	bg sync.WaitGroup
	// idle are the keep-alive connections waiting for a request, closed
	// when the build stops serving (idle.go).
	idle idleConns
}

// buildEpoch numbers successful builds.
var buildEpoch atomic.Uint64

// serving holds, per listen address, the newest build that listens there.
// A keep-alive connection of an older build closes after its current
// request, so that a reload reaches every keep-alive client. (A build
// that is never applied, after a failed reload, still counts: keep-alive
// connections of the running build then close after each request until
// the next successful reload.)
var serving sync.Map // listen key -> *atomic.Uint64

// markServing records that h's build serves its address and returns the
// address's record. Build calls it.
func (h *Handler) markServing() *atomic.Uint64 {
	v, ok := serving.Load(h.key)
	if !ok {
		v, _ = serving.LoadOrStore(h.key, new(atomic.Uint64))
	}
	cur := v.(*atomic.Uint64)
	for {
		old := cur.Load()
		if old >= h.p.epoch || cur.CompareAndSwap(old, h.p.epoch) {
			return cur
		}
	}
}

// superseded reports whether a newer build serves h's address.
func (h *Handler) superseded() bool { return h.serving.Load() > h.p.epoch }

// upstream is a balance group, its hash key and its idle connection pool.
type upstream struct {
	name  string
	cfg   *config.HTTPUpstream
	group *balance.Group
	key   *vars.Template[*request] // hash KEY, or nil
	pool  *pool                    // nil without keepalive
	// sticky is the upstream's session persistence, or nil (sticky.go).
	sticky *sticky
	// queue is the upstream's NGINX Plus queue, or nil (queue.go).
	queue *upQueue
}

// server is the compiled form of one server {} block.
type server struct {
	cfg    *config.HTTPServer
	name   string // the first server_name
	log    *slog.Logger
	limits h1.Limits
	def    *location  // the settings used when no location matches
	script []scriptOp // the server-level rewrite directives (rewrite.go)
	// captures are the variables of the named groups of the server's
	// regular expression names, by pattern.
	captures map[string][]namedCapture
}

// Build compiles the http block of a configuration into handlers, one per
// listen address. Nothing is bound; access log files are opened (and
// closed by the returned Closers), so a path that cannot be opened fails
// the build, as it fails nginx's start. Errors name the file and line.
func Build(hc *config.HTTP, opts Options) (b *Built, err error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = balance.NewRegistry(nil)
	}
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.Upstreams == nil {
		opts.Upstreams = new(balance.GroupSet)
	}
	if opts.Generation == 0 {
		opts.Generation = 1
	}
	p := &proxy{opts: opts, now: opts.Now, sleep: opts.Sleep, groups: map[string]*upstream{},
		connZones: map[string]*connZone{}, reqZones: map[string]*reqZone{},
		servers: map[*config.HTTPServer]*server{}, locs: map[*config.HTTPLocation]*location{},
		charsets: hc.Charsets}
	if p.now == nil {
		p.now = time.Now
	}
	if p.opts.LoadTime.IsZero() {
		p.opts.LoadTime = p.now()
	}
	if p.sleep == nil {
		p.sleep = time.Sleep
	}
	p.tokens[0] = []byte("sluice/" + opts.Version)
	p.tokens[1] = []byte("sluice")
	p.tokens[2] = p.tokens[0]
	b = &Built{}
	p.built = b
	p.files = accesslog.NewFiles(func(path string, err error) {
		opts.Log.Error(fmt.Sprintf("write() to %q failed (%v)", path, err))
	})
	p.resolving.Log = func(warn bool, msg string) {
		if warn {
			opts.Log.Warn(msg)
		} else {
			opts.Log.Info(msg)
		}
	}
	b.Starters = append(b.Starters, p.resolving.Start)
	b.Stoppers = append(b.Stoppers, p.resolving.Stop)
	b.Retirers = append(b.Retirers, p.idle.closeAll)
	b.Closers = append(b.Closers, p.bg.Wait) // mirrors use the logs and pools
	b.Closers = append(b.Closers, func() { p.files.Close() })
	b.Reopeners = append(b.Reopeners, func() { p.files.Reopen() })
	defer func() {
		if err != nil {
			for _, c := range b.Closers {
				c()
			}
			b = nil
		}
	}()
	if hc == nil {
		hc = &config.HTTP{}
	}
	if p.router, err = route.New(hc); err != nil {
		return b, err
	}
	p.tab = vars.NewTable[*request]()
	p.tab.OnWarn(func(msg, pos string) { opts.Log.Warn(msg + " in " + pos) })
	if err := p.tab.DefineStock(vars.Stock{Clock: p.now, Version: opts.Version}); err != nil {
		return b, err
	}
	if err := defineVars(p.tab); err != nil {
		return b, err
	}
	if err := defineGzipVars(p.tab); err != nil {
		return b, err
	}
	if err := defineRateVars(p.tab); err != nil {
		return b, err
	}
	if err := defineTLSVars(p.tab); err != nil {
		return b, err
	}
	if err := defineCGIVars(p.tab); err != nil {
		return b, err
	}
	if err := defineStaticVars(p.tab); err != nil {
		return b, err
	}
	if err := defineModsVars(p.tab); err != nil {
		return b, err
	}
	if err := p.buildCaches(hc, b); err != nil {
		return b, err
	}
	if p.vBinaryRemoteAddr, err = p.tab.Ref("binary_remote_addr", ""); err != nil {
		return b, err
	}
	for _, vb := range hc.VarBlocks {
		lines := make([]vars.Line, len(vb.Lines))
		for i, l := range vb.Lines {
			lines[i] = vars.Line{Args: l.Args, Pos: l.Pos}
		}
		err = p.tab.AddBlock(vb.Kind, vb.Source, vb.Var, lines, vb.Pos)
		if err != nil {
			return b, vars.NginxError(err)
		}
	}
	p.formats = vars.NewLogFormats(p.tab, true)
	for _, f := range hc.LogFormats {
		args := []string{f.Name}
		if f.Escape != "" && f.Escape != "default" {
			args = append(args, "escape="+f.Escape)
		}
		args = append(args, f.Format)
		if err := p.formats.Add(args, f.Pos); err != nil {
			return b, vars.NginxError(err)
		}
	}
	for _, z := range hc.LimitConnZones {
		key, err := p.tab.Compile(z.Key, z.Pos)
		if err != nil {
			return b, vars.NginxError(err)
		}
		p.connZones[z.Name] = newConnZone(z.Name, key)
	}
	for _, z := range hc.LimitReqZones {
		key, err := p.tab.Compile(z.Key, z.Pos)
		if err != nil {
			return b, vars.NginxError(err)
		}
		p.reqZones[z.Name] = newReqZone(z.Name, key, z.Rate)
	}
	p.checks = &ups.Checks{}
	for _, u := range hc.Upstreams {
		up, err := p.buildUpstream(u)
		if err != nil {
			return b, err
		}
		p.groups[strings.ToLower(u.Name)] = up
		p.checks.Track(up.group)
		if up.pool != nil {
			b.Closers = append(b.Closers, up.pool.close)
		}
	}
	if err := checkDHParams(hc); err != nil {
		return b, err
	}
	// The named groups of regular expression server names and locations
	// are variables everywhere, as in nginx: declared before anything
	// that may use them is compiled.
	srvCaps := map[*config.HTTPServer]map[string][]namedCapture{}
	locCaps := map[*config.HTTPLocation][]namedCapture{}
	if err := p.declareCaptures(hc, srvCaps, locCaps); err != nil {
		return b, err
	}
	matches, err := buildMatches(hc.Matches)
	if err != nil {
		return b, err
	}
	for _, sc := range hc.Servers {
		s, err := p.buildServer(sc, b)
		if err != nil {
			return b, err
		}
		s.captures = srvCaps[sc]
		p.servers[sc] = s
		var walk func(list []*config.HTTPLocation) error
		walk = func(list []*config.HTTPLocation) error {
			for _, lc := range list {
				l, err := p.buildLocation(s, lc.Name, lc, &lc.Settings)
				if err != nil {
					return err
				}
				l.captures = locCaps[lc]
				p.locs[lc] = l
				if len(lc.HealthChecks) > 0 {
					if err := p.addHealthChecks(l, lc, matches); err != nil {
						return err
					}
				}
				if err := walk(lc.Locations); err != nil {
					return err
				}
			}
			return nil
		}
		if err := walk(sc.Locations); err != nil {
			return b, err
		}
	}
	if err := p.tab.Freeze(); err != nil {
		return b, vars.NginxError(err)
	}
	// the checks start when the build begins serving and stop, before
	// their kept connections close, when it stops (health.go)
	b.Starters = append(b.Starters, p.checks.Start)
	b.Stoppers = append([]func(){p.checks.Stop}, b.Stoppers...)
	p.epoch = buildEpoch.Add(1)
	seen := map[string]bool{}
	for _, sc := range hc.Servers {
		for _, l := range sc.Listens {
			key := l.Key()
			if seen[key] {
				continue
			}
			seen[key] = true
			a := p.router.AddrByKey(key)
			h := &Handler{p: p, addr: a, listen: l, def: p.servers[a.Default().Conf], key: key}
			h.serving = h.markServing()
			b.Retirers = append(b.Retirers, h.retireH2)
			if l.SSL {
				if h.tls, err = p.buildListenTLS(h, hc); err != nil {
					return b, err
				}
			}
			b.Listeners = append(b.Listeners, Listener{
				Network: l.Network, Address: l.Address, Handler: h,
				Options: listen.Options{Backlog: l.Backlog, ReusePort: l.ReusePort, RcvBuf: l.RcvBuf, SndBuf: l.SndBuf, IPv6Only: l.IPv6Only, Deferred: l.Deferred, FastOpen: l.FastOpen},
			})
		}
	}
	return b, nil
}

func (p *proxy) buildUpstream(u *config.HTTPUpstream) (*upstream, error) {
	m := ups.Method{Name: u.Method, Consistent: u.Consistent, RandomTwo: u.RandomTwo,
		RandomTwoMethod: u.RandomTwoMethod, LeastTimeMetric: u.LeastTimeMetric, Inflight: u.Inflight}
	up := &upstream{name: u.Name, cfg: u}
	if u.Method == "hash" {
		key, err := p.tab.Compile(u.HashKey, u.Pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		up.key = key
	}
	st, err := p.buildSticky(u)
	if err != nil {
		return nil, err
	}
	up.sticky = st
	if u.Queue > 0 {
		up.queue = &upQueue{max: u.Queue, timeout: u.QueueTimeout}
	}
	// http and stream upstreams of the same name are different groups
	g, err := p.resolving.Build(p.opts.Registry, "http:"+u.Name, m, u.Servers, u.Pos, u.Resolver, u.ResolverTimeout)
	if err != nil {
		return nil, err
	}
	up.group = g
	p.opts.Upstreams.Add(g, u.Zone)
	if u.Keepalive > 0 {
		w := p.opts.Workers
		if w < 1 {
			w = 1
		}
		up.pool = newPool(u.Keepalive*w, u.KeepaliveRequests, u.KeepaliveTime, u.KeepaliveTimeout, p.now)
	}
	return up, nil
}

// syslogOptions are the options of the access logs' syslog senders: the
// build's clock, and failures reported to the main error log.
func (p *proxy) syslogOptions() errlog.SyslogOptions {
	return errlog.SyslogOptions{Now: p.now, Report: func(level slog.Level, msg string) {
		p.opts.Log.Log(context.Background(), level, msg)
	}}
}

// errorLog opens the targets of an error_log list (files, stderr, syslog)
// for this build; failed syslog sends are reported to the main log.
func (p *proxy) errorLog(els []config.ErrorLog, pos string) (*slog.Logger, error) {
	l, err := errlog.New(logconf.ErrorTargets(els), errlog.Options{Now: p.now, Report: p.opts.Log})
	if err != nil {
		return nil, fmt.Errorf("%v in %s", err, pos)
	}
	p.built.Closers = append(p.built.Closers, func() { l.Close() })
	p.built.Reopeners = append(p.built.Reopeners, func() { l.Reopen() })
	return l.Logger(), nil
}

// locationLog returns the error log of a location whose error_log is not
// its server's (set in the location or in one around it), or nil.
// Locations sharing one list share one log.
func (p *proxy) locationLog(s *server, st *config.HTTPSettings, pos string) (*slog.Logger, error) {
	els, srv := st.ErrorLogs, s.cfg.Settings.ErrorLogs
	if len(els) == 0 || len(srv) == len(els) && &srv[0] == &els[0] {
		return nil, nil
	}
	if l := p.locLogs[&els[0]]; l != nil {
		return l, nil
	}
	l, err := p.errorLog(els, pos)
	if err != nil {
		return nil, err
	}
	if p.locLogs == nil {
		p.locLogs = map[*config.ErrorLog]*slog.Logger{}
	}
	p.locLogs[&els[0]] = l
	return l, nil
}

// declareCaptures declares the variables of the named groups of every
// regular expression server name and location of hc.
func (p *proxy) declareCaptures(hc *config.HTTP, srvCaps map[*config.HTTPServer]map[string][]namedCapture, locCaps map[*config.HTTPLocation][]namedCapture) error {
	var walk func(list []*config.HTTPLocation) error
	walk = func(list []*config.HTTPLocation) error {
		for _, lc := range list {
			if lc.Modifier == config.LocRegex || lc.Modifier == config.LocRegexCase {
				re, err := config.CompileRegex(lc.Name, lc.Modifier == config.LocRegexCase)
				if err != nil {
					return fmt.Errorf("%v in %s:%d", err, lc.File, lc.Line)
				}
				if locCaps[lc], err = p.namedCaptures(re, fmt.Sprintf("%s:%d", lc.File, lc.Line)); err != nil {
					return err
				}
			}
			if err := walk(lc.Locations); err != nil {
				return err
			}
		}
		return nil
	}
	for _, sc := range hc.Servers {
		for _, n := range sc.Names {
			if n.Regex == "" {
				continue
			}
			re, err := config.CompileRegex(n.Regex, true)
			if err != nil {
				return fmt.Errorf("%v in %s", err, sc.Pos())
			}
			named, err := p.namedCaptures(re, sc.Pos())
			if err != nil {
				return err
			}
			if len(named) > 0 {
				if srvCaps[sc] == nil {
					srvCaps[sc] = map[string][]namedCapture{}
				}
				srvCaps[sc][n.Regex] = named
			}
		}
		if err := walk(sc.Locations); err != nil {
			return err
		}
	}
	return nil
}

func (p *proxy) buildServer(sc *config.HTTPServer, b *Built) (*server, error) {
	s := &server{cfg: sc, log: p.opts.Log}
	if len(sc.Names) > 0 && sc.Names[0].Regex == "" {
		s.name = sc.Names[0].Name
	}
	s.limits = h1.Limits{
		HeaderBufferSize:     int(sc.ClientHeaderBufferSize),
		LargeBufferSize:      int(sc.LargeClientHeaderBuffersSize),
		LargeBuffers:         sc.LargeClientHeaderBuffersNum,
		UnderscoresInHeaders: sc.UnderscoresInHeaders,
		KeepInvalidHeaders:   !sc.IgnoreInvalidHeaders,
		NoMergeSlashes:       !sc.MergeSlashes,
	}
	var err error
	if len(sc.Settings.ErrorLogs) > 0 {
		if s.log, err = p.errorLog(sc.Settings.ErrorLogs, sc.Pos()); err != nil {
			return nil, err
		}
	}
	if s.def, err = p.buildLocation(s, "", nil, &sc.Settings); err != nil {
		return nil, err
	}
	if s.script, err = p.buildScript(sc.Script, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// passConf is a compiled proxy_pass.
type passConf struct {
	up       *upstream                // constant target
	url      *vars.Template[*request] // with variables
	hostName string                   // $proxy_host
	port     string                   // $proxy_port
	uri      string                   // the URI part
	hasURI   bool
	prefix   string       // the scheme and host as written, for proxy_redirect default
	tls      *upstreamTLS // https:// (or variables): TLS to the servers (upstream_tls.go)
}

// setHeader is one proxy_set_header other than Host and Connection.
type setHeader struct {
	name  []byte
	value *vars.Template[*request]
	konst []byte // the value when constant
	isVar bool
}

// appendValue appends the header's value for r to dst.
func (s *setHeader) appendValue(dst []byte, r *request) []byte {
	if s.isVar {
		return s.value.Append(dst, r)
	}
	return append(dst, s.konst...)
}

type addHeader struct {
	name   string
	value  *vars.Template[*request]
	always bool
}

type retConf struct {
	code int
	text *vars.Template[*request] // nil: none
}

// location is the compiled form of one location (or of a server's own
// settings, for requests that match no location).
type location struct {
	srv *server
	// captures are the variables of the named groups of a regular
	// expression location.
	captures []namedCapture
	log      *slog.Logger         // the location's own error_log, or nil: the server's
	cfg      *config.HTTPLocation // nil for the server-level settings
	set      *config.HTTPSettings
	name     string
	exact    bool

	script []scriptOp // the rewrite directives (rewrite.go)
	stub   bool
	gif    bool       // empty_gif (emptygif.go)
	api    *admin.API // api (api.go)
	pass   *passConf
	grpc   *grpcConf // grpc_pass (grpc.go)
	cgi    *cgiConf  // fastcgi_pass, uwsgi_pass, scgi_pass (cgi.go)
	fsplit *cgiSplit // fastcgi_split_path_info, fastcgi_index; nil for none

	metrics   *admin.Metrics   // metrics (metrics.go)
	dashboard *admin.Dashboard // dashboard (dashboard.go)

	http10      bool
	keepalive   bool // upstream connections may be pooled
	hostTmpl    *vars.Template[*request]
	connTmpl    *vars.Template[*request]
	connConst   []byte // Connection value when constant
	connVar     bool
	hostConst   []byte
	hostVar     bool
	sets        []setHeader
	hide        []string // response headers not passed (lower case)
	addHeaders  []addHeader
	logs        []*accesslog.Log[*request]
	next        nextUpstream
	acc         accessConf       // allow/deny, auth_basic, satisfy, auth_request (auth.go)
	internal    bool             // internal: 404 for the client's own requests
	mirror      *mirrorConf      // mirror, nil for none (subrequest.go)
	limitExcept *limitExceptConf // limit_except, nil for none (auth.go)
	connLimits  []connLimit
	reqLimits   []reqLimit
	realIP      bool
	realHeader  string
	tokens      []byte
	bind        net.Addr // proxy_bind, or nil

	redirects       []redirectRule // proxy_redirect rules (redirect.go)
	cookies         *cookieRules   // proxy_cookie_* rules (cookie.go); nil for none
	errPages        []errPage      // error_page (errorpage.go)
	recursiveErrors bool           // recursive_error_pages
	gz              *gzipConf      // gzip, nil when off (gzip.go)
	sub             *subConf       // sub_filter, nil for none (subfilter.go)
	charset         *charsetConf   // charset, nil when off (headers.go)
	exp             *expiresConf   // expires, nil when off (headers.go)
	rate            *rateConf      // limit_rate, limit_rate_after; nil for none (rate.go)
	static          *staticConf    // root, alias, index, try_files, types (static.go)
	cache           *cacheConf     // proxy_cache, nil when off (cache.go)
	mods            *modsConf      // secure_link, userid, gunzip; nil for none (mods.go)
}

// nextUpstream is a compiled proxy_next_upstream.
type nextUpstream struct {
	mask    uint32
	tries   int
	timeout time.Duration
}

const (
	nuError uint32 = 1 << iota
	nuTimeout
	nuInvalidHeader
	nuHTTP500
	nuHTTP502
	nuHTTP503
	nuHTTP504
	nuHTTP403
	nuHTTP404
	nuHTTP429
	nuNonIdempotent
)

var nuNames = map[string]uint32{
	"error": nuError, "timeout": nuTimeout, "invalid_header": nuInvalidHeader,
	"http_500": nuHTTP500, "http_502": nuHTTP502, "http_503": nuHTTP503, "http_504": nuHTTP504,
	"http_403": nuHTTP403, "http_404": nuHTTP404, "http_429": nuHTTP429, "non_idempotent": nuNonIdempotent,
}

// statusCond maps a response status to its proxy_next_upstream condition.
func statusCond(s int) uint32 {
	switch s {
	case 500:
		return nuHTTP500
	case 502:
		return nuHTTP502
	case 503:
		return nuHTTP503
	case 504:
		return nuHTTP504
	case 403:
		return nuHTTP403
	case 404:
		return nuHTTP404
	case 429:
		return nuHTTP429
	}
	return 0
}

// defaultHidden are the upstream response headers nginx does not pass.
var defaultHidden = []string{"date", "server", "x-pad", "x-accel-expires", "x-accel-redirect",
	"x-accel-limit-rate", "x-accel-buffering", "x-accel-charset"}

func (p *proxy) buildReturn(r *config.HTTPReturn) (*retConf, error) {
	rc := &retConf{code: r.Code}
	if r.Text != "" {
		t, err := p.tab.Compile(r.Text, r.Pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		rc.text = t
	}
	return rc, nil
}

func (p *proxy) buildLocation(s *server, name string, lc *config.HTTPLocation, st *config.HTTPSettings) (*location, error) {
	proto := ""
	if lc != nil && lc.CGIPass != nil {
		proto = lc.CGIPass.Proto
	}
	return p.buildLocationFor(s, name, lc, st, proto)
}

// buildLocationFor builds a location whose content handler is the gateway
// module proto ("" for another handler): its upstream settings are then
// the module's (cgi_build.go).
func (p *proxy) buildLocationFor(s *server, name string, lc *config.HTTPLocation, st *config.HTTPSettings, proto string) (*location, error) {
	if proto != "" {
		st = cgiSettings(st, proto)
	}
	l := &location{srv: s, cfg: lc, set: st, name: name}
	pos := s.cfg.Pos()
	if lc != nil {
		pos = lc.Pos()
		var err error
		if l.log, err = p.locationLog(s, st, pos); err != nil {
			return nil, err
		}
		l.exact = lc.Modifier == config.LocExact
		l.stub, l.gif = lc.StubStatus, lc.EmptyGIF
		if lc.API != nil {
			l.api = p.newAPI(lc.API) // api.go
		}
		if lc.Metrics {
			l.metrics = p.newMetrics() // metrics.go
		}
		if lc.ProxyPass != nil {
			pc, err := p.buildPass(lc.ProxyPass)
			if err != nil {
				return nil, err
			}
			if err := p.attachUpstreamTLS(pc, lc.ProxyPass, st); err != nil {
				return nil, err
			}
			l.pass = pc
		}
		if lc.GRPCPass != nil {
			g, err := p.buildGRPC(lc.GRPCPass, st, pos)
			if err != nil {
				return nil, err
			}
			l.grpc = g
		}
		if lc.CGIPass != nil {
			cc, err := p.buildCGI(lc.CGIPass, st, pos)
			if err != nil {
				return nil, err
			}
			l.cgi = cc
		}
	} else {
		l.stub = s.cfg.StubStatus
	}
	switch st.ServerTokens {
	case "off":
		l.tokens = p.tokens[1]
	default:
		l.tokens = p.tokens[0]
	}
	l.http10 = st.ProxyHTTPVersion != "1.1"
	for _, h := range st.ProxySetHeaders {
		t, err := p.tab.Compile(h.Value, pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		c, isConst := t.Const()
		switch strings.ToLower(h.Name) {
		case "host":
			l.hostTmpl, l.hostConst, l.hostVar = t, []byte(c), !isConst
		case "connection":
			l.connTmpl, l.connConst, l.connVar = t, []byte(c), !isConst
		default:
			l.sets = append(l.sets, setHeader{name: []byte(h.Name), value: t, konst: []byte(c), isVar: !isConst})
		}
	}
	// pooling needs HTTP/1.1 and a Connection header other than "close"
	if l.pass != nil && l.pass.up != nil && l.pass.up.pool != nil && !l.http10 {
		l.keepalive = l.connVar || !strings.EqualFold(string(l.connConst), "close")
	}
	pass := map[string]bool{}
	for _, h := range st.ProxyPassHeaders {
		pass[strings.ToLower(h)] = true
	}
	hidden := defaultHidden
	if proto != "" {
		hidden = cgiHidden
	}
	for _, h := range hidden {
		if !pass[h] {
			l.hide = append(l.hide, h)
		}
	}
	for _, h := range st.ProxyHideHeaders {
		l.hide = append(l.hide, strings.ToLower(h))
	}
	for _, h := range st.AddHeaders {
		t, err := p.tab.Compile(h.Value, pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		l.addHeaders = append(l.addHeaders, addHeader{name: h.Name, value: t, always: h.Always})
	}
	if lc != nil && lc.Dashboard != nil {
		if err := p.buildDashboard(l, lc.Dashboard); err != nil { // dashboard.go
			return nil, vars.NginxError(err)
		}
	}
	for _, c := range st.ProxyNextUpstream {
		if c == "off" {
			l.next.mask = 0
			break
		}
		l.next.mask |= nuNames[c]
	}
	l.next.tries, l.next.timeout = st.ProxyNextUpstreamTries, st.ProxyNextUpstreamTimeout
	acc, err := p.buildAccess(st, pos)
	if err != nil {
		return nil, err
	}
	l.acc = acc
	l.mirror = buildMirror(st)
	l.internal = lc != nil && lc.Internal
	if l.limitExcept, err = p.buildLimitExcept(lc); err != nil {
		return nil, err
	}
	for _, lc := range st.LimitConns {
		z := p.connZones[lc.Zone]
		if z == nil {
			return nil, fmt.Errorf("zero size shared memory zone %q in %s", lc.Zone, lc.Pos)
		}
		l.connLimits = append(l.connLimits, connLimit{z: z, n: lc.Conn})
	}
	for _, lr := range st.LimitReqs {
		z := p.reqZones[lr.Zone]
		if z == nil {
			return nil, fmt.Errorf("zero size shared memory zone %q in %s", lr.Zone, lr.Pos)
		}
		delay := lr.Delay
		if lr.NoDelay {
			delay = lr.Burst
		}
		l.reqLimits = append(l.reqLimits, reqLimit{z: z, burst: lr.Burst, delay: delay})
	}
	if st.ProxyBind != "" && st.ProxyBind != "off" {
		ip, err := netip.ParseAddr(st.ProxyBind)
		if err != nil {
			return nil, fmt.Errorf("httpproxy: proxy_bind %q: only a constant IP address is supported by sluice yet in %s", st.ProxyBind, pos)
		}
		l.bind = &net.TCPAddr{IP: ip.AsSlice()}
	}
	if l.fsplit, err = buildCGISplit(st); err != nil {
		return nil, err
	}
	l.realIP = len(st.RealIPFrom) > 0
	l.realHeader = strings.ToLower(st.RealIPHeader)
	if err := p.buildRedirects(l, st, pos); err != nil {
		return nil, err
	}
	if err := p.buildCookies(l, st, pos); err != nil {
		return nil, err
	}
	if err := p.buildErrorPages(l, st); err != nil {
		return nil, err
	}
	gz, err := buildGzip(&st.Gzip, pos)
	if err != nil {
		return nil, err
	}
	l.gz = gz
	if l.sub, err = p.buildSub(&st.SubFilter, pos); err != nil {
		return nil, err
	}
	if l.charset, err = p.buildCharset(&st.Charset, p.charsets, pos); err != nil {
		return nil, err
	}
	if l.exp, err = p.buildExpires(&st.Expires, pos); err != nil {
		return nil, err
	}
	if l.rate, err = p.buildRate(st, pos); err != nil {
		return nil, err
	}
	if l.static, err = p.buildStatic(lc, st, pos); err != nil {
		return nil, err
	}
	if err := p.buildCache(l, st, pos); err != nil {
		return nil, err
	}
	if l.mods, err = p.buildMods(st, pos); err != nil {
		return nil, err
	}
	if !st.AccessLogOff {
		for _, al := range st.AccessLogs {
			f, err := p.formats.Lookup(al.Format, al.Pos)
			if err != nil {
				return nil, vars.NginxError(err)
			}
			lg := &accesslog.Log[*request]{Format: f}
			switch {
			case al.Syslog != nil:
				lg.S, err = p.files.OpenSyslog(al.Path, errlog.SyslogConfig(*al.Syslog), p.syslogOptions())
			case strings.Contains(al.Path, "$"):
				return nil, fmt.Errorf("access_log %q is not supported by sluice in %s", al.Path, al.Pos)
			default:
				lg.W, err = p.files.Open(al.Path, accesslog.Options{Buffer: int(al.Buffer), Flush: al.Flush})
			}
			var oe *accesslog.OpenError
			if errors.As(err, &oe) {
				// nginx opens log files once the configuration is read:
				// its error names the file but no line (nor has the
				// default log one)
				return nil, err
			}
			if err != nil {
				return nil, fmt.Errorf("%v in %s", err, al.Pos)
			}
			if al.If != "" {
				if lg.If, err = p.tab.Compile(al.If, al.Pos); err != nil {
					return nil, vars.NginxError(err)
				}
			}
			l.logs = append(l.logs, lg)
		}
	}
	if lc != nil {
		script, err := p.buildScript(lc.Script, l)
		if err != nil {
			return nil, err
		}
		l.script = script
	}
	return l, nil
}

func (p *proxy) buildPass(pp *config.HTTPProxyPass) (*passConf, error) {
	pc := &passConf{uri: pp.URI, hasURI: pp.HasURI}
	if pp.HasVars {
		t, err := p.tab.Compile(pp.URL, pp.Pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		pc.url = t
		return pc, nil
	}
	pc.up = p.groups[strings.ToLower(pp.Upstream)]
	if pc.up == nil {
		return nil, fmt.Errorf("httpproxy: no upstream %q in %s", pp.Upstream, pp.Pos)
	}
	pc.hostName, pc.port = proxyHostPort(pp.Scheme, pp.Host)
	pc.prefix = pp.Scheme + "://" + pp.Host
	return pc, nil
}

// proxyHostPort returns $proxy_host and $proxy_port for a proxy_pass host
// part: the host with its port unless it is the scheme's default.
func proxyHostPort(scheme, host string) (string, string) {
	def := "80"
	if scheme == "https" {
		def = "443"
	}
	if strings.HasPrefix(host, "unix:") {
		return "localhost", def
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return host, def
	}
	if port == def {
		if strings.Contains(h, ":") {
			return "[" + h + "]", port
		}
		return h, port
	}
	if _, err := strconv.Atoi(port); err != nil {
		return host, def
	}
	return host, port
}
