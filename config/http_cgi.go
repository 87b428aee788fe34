package config

import (
	"strings"
	"time"
)

// The gateway protocols of fastcgi_pass, uwsgi_pass and scgi_pass, as
// HTTPCGIPass.Proto.
const (
	ProtoFastCGI = "fastcgi"
	ProtoUWSGI   = "uwsgi"
	ProtoSCGI    = "scgi"
)

// HTTPCGIPass is a fastcgi_pass, uwsgi_pass or scgi_pass directive: the
// request is sent to an application server in that protocol, with the
// parameters of the location's *_param directives.
type HTTPCGIPass struct {
	Proto string // ProtoFastCGI, ProtoUWSGI or ProtoSCGI
	// Pass is the address: an upstream name, host:port or unix:/path
	// (Scheme is Proto), or a value with variables (HasVars).
	Pass *HTTPProxyPass
}

// HTTPCGIParam is one fastcgi_param (uwsgi_param, scgi_param).
type HTTPCGIParam struct {
	Name  string
	Value string // may hold variables
	// IfNotEmpty is the if_not_empty parameter: an empty value is not
	// sent.
	IfNotEmpty bool `json:",omitempty"`
}

// HTTPCGISettings are the settings of one of the fastcgi, uwsgi and scgi
// modules, inherited as the proxy_* ones are; nil where none of the
// module's directives reaches (DefaultHTTPCGISettings then apply).
type HTTPCGISettings struct {
	// Params are the *_param directives in order; a level that has any
	// replaces the outer list.
	Params              []HTTPCGIParam `json:",omitempty"`
	Index               string         `json:",omitempty"` // fastcgi_index
	SplitPathInfo       string         `json:",omitempty"` // fastcgi_split_path_info: a regular expression with 2 captures
	ConnectTimeout      time.Duration
	ReadTimeout         time.Duration
	SendTimeout         time.Duration
	HideHeaders         []string `json:",omitempty"`
	PassHeaders         []string `json:",omitempty"`
	IgnoreHeaders       []string `json:",omitempty"` // accepted; see docs/http.md
	NextUpstream        []string // default error timeout; "off" alone disables retries
	NextUpstreamTries   int
	NextUpstreamTimeout time.Duration
	InterceptErrors     bool `json:",omitempty"`
	KeepConn            bool `json:",omitempty"` // fastcgi_keep_conn
	Buffering           bool
	RequestBuffering    bool
	BufferSize          int64
	BuffersNum          int
	BuffersSize         int64
	BusyBuffersSize     int64 `json:",omitempty"` // 0: twice the larger of BufferSize and BuffersSize
	PassRequestHeaders  bool
	PassRequestBody     bool
	IgnoreClientAbort   bool   `json:",omitempty"`
	SocketKeepalive     bool   `json:",omitempty"`
	Bind                string `json:",omitempty"` // *_bind: a constant local address, "off" or empty
	Modifier1           int    `json:",omitempty"` // uwsgi_modifier1
	Modifier2           int    `json:",omitempty"` // uwsgi_modifier2
}

// DefaultHTTPCGISettings are the settings of each gateway module when none
// of its directives is set.
var DefaultHTTPCGISettings = HTTPCGISettings{
	ConnectTimeout:     60 * time.Second,
	ReadTimeout:        60 * time.Second,
	SendTimeout:        60 * time.Second,
	NextUpstream:       []string{"error", "timeout"},
	Buffering:          true,
	RequestBuffering:   true,
	BufferSize:         4 << 10,
	BuffersNum:         8,
	BuffersSize:        4 << 10,
	PassRequestHeaders: true,
	PassRequestBody:    true,
}

// CGI returns the settings of the gateway module proto at this level: the
// defaults where none of its directives reaches.
func (s *HTTPSettings) CGI(proto string) *HTTPCGISettings {
	p := s.cgiPtr(proto)
	if *p == nil {
		return &DefaultHTTPCGISettings
	}
	return *p
}

func (s *HTTPSettings) cgiPtr(proto string) **HTTPCGISettings {
	switch proto {
	case ProtoUWSGI:
		return &s.UWSGI
	case ProtoSCGI:
		return &s.SCGI
	}
	return &s.FastCGI
}

// cgi returns the settings of proto at this level, created with the
// defaults.
func (s *HTTPSettings) cgi(proto string) *HTTPCGISettings {
	p := s.cgiPtr(proto)
	if *p == nil {
		v := DefaultHTTPCGISettings
		*p = &v
	}
	return *p
}

type cgiInheritRule = struct {
	key  string
	copy func(d, s *HTTPCGISettings)
}

// cgiInherit lists how each setting of module proto is copied from the
// enclosing level when a level does not set it.
func cgiInherit(proto string) []cgiInheritRule {
	p := proto + "_"
	return []cgiInheritRule{
		{p + "param", func(d, s *HTTPCGISettings) { d.Params = s.Params }},
		{p + "index", func(d, s *HTTPCGISettings) { d.Index = s.Index }},
		{p + "split_path_info", func(d, s *HTTPCGISettings) { d.SplitPathInfo = s.SplitPathInfo }},
		{p + "connect_timeout", func(d, s *HTTPCGISettings) { d.ConnectTimeout = s.ConnectTimeout }},
		{p + "read_timeout", func(d, s *HTTPCGISettings) { d.ReadTimeout = s.ReadTimeout }},
		{p + "send_timeout", func(d, s *HTTPCGISettings) { d.SendTimeout = s.SendTimeout }},
		{p + "hide_header", func(d, s *HTTPCGISettings) { d.HideHeaders = s.HideHeaders }},
		{p + "pass_header", func(d, s *HTTPCGISettings) { d.PassHeaders = s.PassHeaders }},
		{p + "ignore_headers", func(d, s *HTTPCGISettings) { d.IgnoreHeaders = s.IgnoreHeaders }},
		{p + "next_upstream", func(d, s *HTTPCGISettings) { d.NextUpstream = s.NextUpstream }},
		{p + "next_upstream_tries", func(d, s *HTTPCGISettings) { d.NextUpstreamTries = s.NextUpstreamTries }},
		{p + "next_upstream_timeout", func(d, s *HTTPCGISettings) { d.NextUpstreamTimeout = s.NextUpstreamTimeout }},
		{p + "intercept_errors", func(d, s *HTTPCGISettings) { d.InterceptErrors = s.InterceptErrors }},
		{p + "keep_conn", func(d, s *HTTPCGISettings) { d.KeepConn = s.KeepConn }},
		{p + "buffering", func(d, s *HTTPCGISettings) { d.Buffering = s.Buffering }},
		{p + "request_buffering", func(d, s *HTTPCGISettings) { d.RequestBuffering = s.RequestBuffering }},
		{p + "buffer_size", func(d, s *HTTPCGISettings) { d.BufferSize = s.BufferSize }},
		{p + "buffers", func(d, s *HTTPCGISettings) { d.BuffersNum, d.BuffersSize = s.BuffersNum, s.BuffersSize }},
		{p + "busy_buffers_size", func(d, s *HTTPCGISettings) { d.BusyBuffersSize = s.BusyBuffersSize }},
		{p + "pass_request_headers", func(d, s *HTTPCGISettings) { d.PassRequestHeaders = s.PassRequestHeaders }},
		{p + "pass_request_body", func(d, s *HTTPCGISettings) { d.PassRequestBody = s.PassRequestBody }},
		{p + "ignore_client_abort", func(d, s *HTTPCGISettings) { d.IgnoreClientAbort = s.IgnoreClientAbort }},
		{p + "socket_keepalive", func(d, s *HTTPCGISettings) { d.SocketKeepalive = s.SocketKeepalive }},
		{p + "bind", func(d, s *HTTPCGISettings) { d.Bind = s.Bind }},
		{p + "modifier1", func(d, s *HTTPCGISettings) { d.Modifier1 = s.Modifier1 }},
		{p + "modifier2", func(d, s *HTTPCGISettings) { d.Modifier2 = s.Modifier2 }},
	}
}

func init() {
	fc, uw, sc := cgiInherit(ProtoFastCGI), cgiInherit(ProtoUWSGI), cgiInherit(ProtoSCGI)
	httpInherit = append(httpInherit, httpInheritRule{"", func(d, s *HTTPSettings) {
		mergeExt(d.set, &d.FastCGI, s.FastCGI, fc)
		mergeExt(d.set, &d.UWSGI, s.UWSGI, uw)
		mergeExt(d.set, &d.SCGI, s.SCGI, sc)
	}})
	for _, proto := range []string{ProtoFastCGI, ProtoUWSGI, ProtoSCGI} {
		register(cgiDirectives(proto))
	}
}

// cgiSetting is setting for a value of module proto's settings.
func cgiSetting[T any](proto string, parse func(*compiler, *Directive) (T, error), field func(*HTTPCGISettings) *T) func(*compiler, *Directive, any) (any, error) {
	return extSetting(func(s *HTTPSettings) *HTTPCGISettings { return s.cgi(proto) }, parse, field)
}

// cgiHeaderValues are the values of fastcgi_ignore_headers (and
// proxy_ignore_headers), in nginx's spelling.
var cgiHeaderValues = []string{"X-Accel-Redirect", "X-Accel-Expires", "X-Accel-Limit-Rate",
	"X-Accel-Buffering", "X-Accel-Charset", "Expires", "Cache-Control", "Set-Cookie", "Vary"}

// cgiDirectives returns the directives of the gateway module proto
// (ngx_http_fastcgi_module, ngx_http_uwsgi_module, ngx_http_scgi_module).
func cgiDirectives(proto string) []*Spec {
	p := proto + "_"
	g := func(s *HTTPSettings) *HTTPCGISettings { return s.cgi(proto) }
	list := func(field func(*HTTPCGISettings) *[]string) func(*compiler, *Directive, any) (any, error) {
		return extList(g, field)
	}
	specs := []*Spec{
		{Name: p + "pass", Ctx: CtxHTTPLocation | CtxHTTPIf, Args: Args1, Set: setCGIPass(proto)},
		{Name: p + "param", Ctx: ctxHTTPAll, Args: Args23, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
			if len(d.Args) == 3 && d.Args[2] != "if_not_empty" {
				return nil, errorf(d.File, d.Line, `invalid parameter "%s"`, d.Args[2])
			}
			s := hset(c, parent)
			cs := s.cgi(proto)
			if !s.set[d.Name] {
				cs.Params = nil
			}
			cs.Params = append(cs.Params, HTTPCGIParam{Name: d.Args[0], Value: d.Args[1], IfNotEmpty: len(d.Args) == 3})
			s.mark(d.Name)
			return nil, nil
		}},
		{Name: p + "connect_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: cgiSetting(proto, timeValue, func(g *HTTPCGISettings) *time.Duration { return &g.ConnectTimeout })},
		{Name: p + "read_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: cgiSetting(proto, timeValue, func(g *HTTPCGISettings) *time.Duration { return &g.ReadTimeout })},
		{Name: p + "send_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: cgiSetting(proto, timeValue, func(g *HTTPCGISettings) *time.Duration { return &g.SendTimeout })},
		{Name: p + "hide_header", Ctx: ctxHTTPAll, Args: Args1, Multi: true, Set: list(func(g *HTTPCGISettings) *[]string { return &g.HideHeaders })},
		{Name: p + "pass_header", Ctx: ctxHTTPAll, Args: Args1, Multi: true, Set: list(func(g *HTTPCGISettings) *[]string { return &g.PassHeaders })},
		{Name: p + "ignore_headers", Ctx: ctxHTTPAll, Args: Args1More, Set: func(c *compiler, d *Directive, parent any) (any, error) {
			var vals []string
			for _, a := range d.Args {
				v := canonical(a, cgiHeaderValues)
				if v == "" {
					return nil, errorf(d.File, d.Line, `invalid value "%s"`, a)
				}
				vals = append(vals, v)
			}
			s := hset(c, parent)
			s.cgi(proto).IgnoreHeaders = vals
			s.mark(d.Name)
			return nil, nil
		}},
		{Name: p + "next_upstream", Ctx: ctxHTTPAll, Args: Args1More, Set: func(c *compiler, d *Directive, parent any) (any, error) {
			list, err := nextUpstreamList(c, d)
			if err != nil {
				return nil, err
			}
			s := hset(c, parent)
			s.cgi(proto).NextUpstream = list
			s.mark(d.Name)
			return nil, nil
		}},
		{Name: p + "next_upstream_tries", Ctx: ctxHTTPAll, Args: Args1, Set: cgiSetting(proto, numValue, func(g *HTTPCGISettings) *int { return &g.NextUpstreamTries })},
		{Name: p + "next_upstream_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: cgiSetting(proto, timeValue, func(g *HTTPCGISettings) *time.Duration { return &g.NextUpstreamTimeout })},
		{Name: p + "intercept_errors", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: cgiSetting(proto, flagValue, func(g *HTTPCGISettings) *bool { return &g.InterceptErrors })},
		{Name: p + "buffering", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: cgiSetting(proto, flagValue, func(g *HTTPCGISettings) *bool { return &g.Buffering })},
		{Name: p + "request_buffering", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: cgiSetting(proto, flagValue, func(g *HTTPCGISettings) *bool { return &g.RequestBuffering })},
		{Name: p + "buffer_size", Ctx: ctxHTTPAll, Args: Args1, Set: cgiSetting(proto, sizeValue, func(g *HTTPCGISettings) *int64 { return &g.BufferSize })},
		{Name: p + "buffers", Ctx: ctxHTTPAll, Args: Args2, Set: func(c *compiler, d *Directive, parent any) (any, error) {
			n, size, err := bufsArg(d)
			if err != nil {
				return nil, err
			}
			s := hset(c, parent)
			cs := s.cgi(proto)
			cs.BuffersNum, cs.BuffersSize = n, size
			s.mark(d.Name)
			return nil, nil
		}},
		{Name: p + "busy_buffers_size", Ctx: ctxHTTPAll, Args: Args1, Set: cgiSetting(proto, sizeValue, func(g *HTTPCGISettings) *int64 { return &g.BusyBuffersSize })},
		{Name: p + "pass_request_headers", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: cgiSetting(proto, flagValue, func(g *HTTPCGISettings) *bool { return &g.PassRequestHeaders })},
		{Name: p + "pass_request_body", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: cgiSetting(proto, flagValue, func(g *HTTPCGISettings) *bool { return &g.PassRequestBody })},
		{Name: p + "ignore_client_abort", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: cgiSetting(proto, flagValue, func(g *HTTPCGISettings) *bool { return &g.IgnoreClientAbort })},
		{Name: p + "socket_keepalive", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: cgiSetting(proto, flagValue, func(g *HTTPCGISettings) *bool { return &g.SocketKeepalive })},
		{Name: p + "bind", Ctx: ctxHTTPAll, Args: Args12, Set: func(c *compiler, d *Directive, parent any) (any, error) {
			if len(d.Args) == 2 {
				if d.Args[1] != "transparent" {
					return nil, errorf(d.File, d.Line, `invalid parameter "%s"`, d.Args[1])
				}
				return nil, errorf(d.File, d.Line, "the \"transparent\" parameter of the \"%s\" directive is not supported by sluice", d.Name)
			}
			s := hset(c, parent)
			s.cgi(proto).Bind = d.Args[0]
			s.mark(d.Name)
			return nil, nil
		}},
	}
	switch proto {
	case ProtoFastCGI:
		specs = append(specs,
			&Spec{Name: p + "index", Ctx: ctxHTTPAll, Args: Args1, Set: cgiSetting(proto, stringValue, func(g *HTTPCGISettings) *string { return &g.Index })},
			&Spec{Name: p + "split_path_info", Ctx: ctxHTTPAll, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
				re, err := compileNginxRegex(d.Args[0], false)
				if err != nil {
					return nil, errorf(d.File, d.Line, `invalid regular expression "%s": %v`, d.Args[0], err)
				}
				if re.NumSubexp() != 2 {
					return nil, errorf(d.File, d.Line, `pattern "%s" must have 2 captures`, d.Args[0])
				}
				s := hset(c, parent)
				s.cgi(proto).SplitPathInfo = d.Args[0]
				s.mark(d.Name)
				return nil, nil
			}},
			&Spec{Name: p + "keep_conn", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: cgiSetting(proto, flagValue, func(g *HTTPCGISettings) *bool { return &g.KeepConn })},
		)
	case ProtoUWSGI:
		mod := func(c *compiler, d *Directive) (int, error) {
			n, err := numValue(c, d)
			if err == nil && n > 255 {
				return 0, errorf(d.File, d.Line, "value must be between 0 and 255")
			}
			return n, err
		}
		specs = append(specs,
			&Spec{Name: p + "modifier1", Ctx: ctxHTTPAll, Args: Args1, Set: cgiSetting(proto, mod, func(g *HTTPCGISettings) *int { return &g.Modifier1 })},
			&Spec{Name: p + "modifier2", Ctx: ctxHTTPAll, Args: Args1, Set: cgiSetting(proto, mod, func(g *HTTPCGISettings) *int { return &g.Modifier2 })},
		)
	}
	return specs
}

// nextUpstreamList parses the conditions of fastcgi_next_upstream (and
// its uwsgi and scgi twins), proxy_next_upstream's.
// canonical returns the value of values that a names, ignoring case, or
// "" when a names none.
func canonical(a string, values []string) string {
	v := ""
	for _, n := range values {
		if strings.EqualFold(a, n) {
			v = n
		}
	}
	return v
}

func nextUpstreamList(c *compiler, d *Directive) ([]string, error) {
	var list []string
	off := false
	for _, a := range d.Args {
		v := canonical(a, nextUpstreamValues)
		if v == "" {
			return nil, errorf(d.File, d.Line, `invalid value "%s"`, a)
		}
		if v == "off" {
			off = true
		}
		if v != "updating" {
			list = append(list, v)
		}
	}
	if off {
		list = []string{"off"}
	}
	return list, nil
}

// setCGIPass parses fastcgi_pass (uwsgi_pass, scgi_pass): an upstream
// name, host:port or unix:/path, or a value with variables. A constant
// address is linked to its upstream (or an implicit one, which needs a
// port) when the http block closes, as proxy_pass's. As in nginx, a
// location with several handlers (proxy_pass, fastcgi_pass, ...) uses the
// last one.
func setCGIPass(proto string) func(c *compiler, d *Directive, parent any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		l := parent.(*HTTPLocation)
		h := httpOf(c)
		url := d.Args[0]
		pp := &HTTPProxyPass{URL: url, Pos: pos(d), file: d.File, line: d.Line, Scheme: proto}
		if l.Name != "" && strings.HasSuffix(l.Name, "/") {
			l.AutoRedirect = true
		}
		cp := &HTTPCGIPass{Proto: proto, Pass: pp}
		if hasVariables(url) {
			pp.HasVars, pp.Scheme = true, ""
			l.setHandler()
			l.CGIPass = cp
			return nil, nil
		}
		rest := url
		if proto == ProtoUWSGI {
			switch {
			case len(url) >= 8 && strings.EqualFold(url[:8], "uwsgi://"):
				rest = url[8:]
			case len(url) >= 9 && strings.EqualFold(url[:9], "suwsgi://"):
				return nil, errorf(d.File, d.Line, `"uwsgi_pass" with "suwsgi://" is not supported by sluice`)
			}
		}
		if err := h.passHost(d, pp, rest); err != nil {
			return nil, err
		}
		l.setHandler()
		l.CGIPass = cp
		h.passes = append(h.passes, pp)
		return nil, nil
	}
}

// checkCGIBuffers makes nginx's checks between *_buffer_size, *_buffers
// and *_busy_buffers_size for each gateway module a level sets.
func checkCGIBuffers(s *HTTPSettings, file string, line int) error {
	for _, proto := range []string{ProtoFastCGI, ProtoUWSGI, ProtoSCGI} {
		g := *s.cgiPtr(proto)
		if g == nil {
			continue
		}
		size := max(g.BufferSize, g.BuffersSize)
		busy := g.BusyBuffersSize
		if busy == 0 {
			busy = 2 * size
		}
		switch {
		case g.BuffersNum < 2:
			return errorf(file, line, `there must be at least 2 "%s_buffers"`, proto)
		case busy < size:
			return errorf(file, line, `"%[1]s_busy_buffers_size" must be equal to or greater than the maximum of the value of "%[1]s_buffer_size" and one of the "%[1]s_buffers"`, proto)
		case busy > int64(g.BuffersNum-1)*g.BuffersSize:
			return errorf(file, line, `"%[1]s_busy_buffers_size" must be less than the size of all "%[1]s_buffers" minus one buffer`, proto)
		}
	}
	return nil
}
