package config

import (
	"strings"
	"time"
)

// HTTP2Settings are the HTTP/2 settings of a virtual server (nginx's
// ngx_http_v2_module server configuration). They are nil in a server that
// no http2 directive reaches; Defaults then apply.
type HTTP2Settings struct {
	// Enable is "http2 on" (nginx 1.25.1's directive): HTTP/2 is offered
	// by ALPN on TLS listeners and recognised by its preface on plain
	// ones, as "listen ... http2" does.
	Enable               bool  `json:",omitempty"`
	MaxConcurrentStreams int   // http2_max_concurrent_streams, default 128
	BodyPrereadSize      int64 // http2_body_preread_size, default 64k
	RecvBufferSize       int64 // http2_recv_buffer_size (http level only), default 256k
	StreamsIndexSize     int   // http2_streams_index_size, default 32 (accepted, unused)
	MaxConcurrentPushes  int   // http2_max_concurrent_pushes, default 10 (accepted, unused)
}

// DefaultHTTP2Settings are the HTTP/2 server settings when none is set.
var DefaultHTTP2Settings = HTTP2Settings{
	MaxConcurrentStreams: 128,
	BodyPrereadSize:      64 << 10,
	RecvBufferSize:       256 << 10,
	StreamsIndexSize:     32,
	MaxConcurrentPushes:  10,
}

// HTTP2LocationSettings are the HTTP/2 settings nginx keeps per location.
// Sluice accepts them; none changes how it serves (see docs/http2.md).
type HTTP2LocationSettings struct {
	ChunkSize   int64 // http2_chunk_size, default 8k
	Push        bool  `json:",omitempty"` // http2_push (off, or URIs: accepted, never pushed)
	PushPreload bool  `json:",omitempty"` // http2_push_preload, default off
}

// DefaultHTTP2LocationSettings are the location HTTP/2 settings when none
// is set.
var DefaultHTTP2LocationSettings = HTTP2LocationSettings{ChunkSize: 8 << 10}

// HTTPGRPCSettings are the grpc_* settings of a location (nginx's
// ngx_http_grpc_module), inherited as the proxy_* ones are. They are nil
// where no grpc_* directive reaches; DefaultHTTPGRPCSettings then apply.
type HTTPGRPCSettings struct {
	// SetHeaders are the grpc_set_header directives in order; a header
	// whose value is empty is not sent. "Host" sets :authority.
	SetHeaders          []HTTPHeader  `json:",omitempty"`
	HideHeaders         []string      `json:",omitempty"` // grpc_hide_header
	PassHeaders         []string      `json:",omitempty"` // grpc_pass_header
	ConnectTimeout      time.Duration // grpc_connect_timeout, default 60s
	ReadTimeout         time.Duration // grpc_read_timeout, default 60s
	SendTimeout         time.Duration // grpc_send_timeout, default 60s
	NextUpstream        []string      // grpc_next_upstream, default error timeout; "off" alone disables retries
	NextUpstreamTries   int           // grpc_next_upstream_tries, 0: no limit
	NextUpstreamTimeout time.Duration // grpc_next_upstream_timeout, 0: no limit
	BufferSize          int64         // grpc_buffer_size, default 4k (accepted, unused)
	InterceptErrors     bool          `json:",omitempty"` // grpc_intercept_errors (accepted, unused)
	IgnoreHeaders       []string      `json:",omitempty"` // grpc_ignore_headers (accepted, unused)
	SocketKeepalive     bool          `json:",omitempty"` // grpc_socket_keepalive
	Bind                string        `json:",omitempty"` // grpc_bind: a constant local address, "off" or empty

	SSLVerify             bool     `json:",omitempty"` // grpc_ssl_verify, default off
	SSLServerName         bool     `json:",omitempty"` // grpc_ssl_server_name, default off
	SSLName               string   `json:",omitempty"` // grpc_ssl_name; empty: the grpc_pass host
	SSLTrustedCertificate string   `json:",omitempty"` // grpc_ssl_trusted_certificate
	SSLCertificate        string   `json:",omitempty"` // grpc_ssl_certificate
	SSLCertificateKey     string   `json:",omitempty"` // grpc_ssl_certificate_key
	SSLProtocols          []string // grpc_ssl_protocols, default TLSv1 TLSv1.1 TLSv1.2 TLSv1.3
	SSLCiphers            string   // grpc_ssl_ciphers, default DEFAULT
	SSLVerifyDepth        int      // grpc_ssl_verify_depth, default 1
	SSLSessionReuse       bool     // grpc_ssl_session_reuse, default on
	SSLCRL                string   `json:",omitempty"` // grpc_ssl_crl (accepted, unused)
	SSLPasswordFile       string   `json:",omitempty"` // grpc_ssl_password_file (accepted, unused)
}

// DefaultHTTPGRPCSettings are the grpc_* settings when none is set.
var DefaultHTTPGRPCSettings = HTTPGRPCSettings{
	ConnectTimeout:  60 * time.Second,
	ReadTimeout:     60 * time.Second,
	SendTimeout:     60 * time.Second,
	NextUpstream:    []string{"error", "timeout"},
	BufferSize:      4 << 10,
	SSLProtocols:    []string{"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"},
	SSLCiphers:      "DEFAULT",
	SSLVerifyDepth:  1,
	SSLSessionReuse: true,
}

// grpc returns the grpc settings of a level, created with the defaults.
func (s *HTTPSettings) grpc() *HTTPGRPCSettings {
	if s.GRPC == nil {
		g := DefaultHTTPGRPCSettings
		s.GRPC = &g
	}
	return s.GRPC
}

func (s *HTTPSettings) http2() *HTTP2LocationSettings {
	if s.HTTP2 == nil {
		v := DefaultHTTP2LocationSettings
		s.HTTP2 = &v
	}
	return s.HTTP2
}

func (s *HTTPServerSettings) http2() *HTTP2Settings {
	if s.HTTP2 == nil {
		v := DefaultHTTP2Settings
		s.HTTP2 = &v
	}
	return s.HTTP2
}

// grpcInherit lists how each grpc setting is copied from the enclosing
// level when a level does not set it.
var grpcInherit = []struct {
	key  string
	copy func(d, s *HTTPGRPCSettings)
}{
	{"grpc_set_header", func(d, s *HTTPGRPCSettings) { d.SetHeaders = s.SetHeaders }},
	{"grpc_hide_header", func(d, s *HTTPGRPCSettings) { d.HideHeaders = s.HideHeaders }},
	{"grpc_pass_header", func(d, s *HTTPGRPCSettings) { d.PassHeaders = s.PassHeaders }},
	{"grpc_connect_timeout", func(d, s *HTTPGRPCSettings) { d.ConnectTimeout = s.ConnectTimeout }},
	{"grpc_read_timeout", func(d, s *HTTPGRPCSettings) { d.ReadTimeout = s.ReadTimeout }},
	{"grpc_send_timeout", func(d, s *HTTPGRPCSettings) { d.SendTimeout = s.SendTimeout }},
	{"grpc_next_upstream", func(d, s *HTTPGRPCSettings) { d.NextUpstream = s.NextUpstream }},
	{"grpc_next_upstream_tries", func(d, s *HTTPGRPCSettings) { d.NextUpstreamTries = s.NextUpstreamTries }},
	{"grpc_next_upstream_timeout", func(d, s *HTTPGRPCSettings) { d.NextUpstreamTimeout = s.NextUpstreamTimeout }},
	{"grpc_buffer_size", func(d, s *HTTPGRPCSettings) { d.BufferSize = s.BufferSize }},
	{"grpc_intercept_errors", func(d, s *HTTPGRPCSettings) { d.InterceptErrors = s.InterceptErrors }},
	{"grpc_ignore_headers", func(d, s *HTTPGRPCSettings) { d.IgnoreHeaders = s.IgnoreHeaders }},
	{"grpc_socket_keepalive", func(d, s *HTTPGRPCSettings) { d.SocketKeepalive = s.SocketKeepalive }},
	{"grpc_bind", func(d, s *HTTPGRPCSettings) { d.Bind = s.Bind }},
	{"grpc_ssl_verify", func(d, s *HTTPGRPCSettings) { d.SSLVerify = s.SSLVerify }},
	{"grpc_ssl_server_name", func(d, s *HTTPGRPCSettings) { d.SSLServerName = s.SSLServerName }},
	{"grpc_ssl_name", func(d, s *HTTPGRPCSettings) { d.SSLName = s.SSLName }},
	{"grpc_ssl_trusted_certificate", func(d, s *HTTPGRPCSettings) { d.SSLTrustedCertificate = s.SSLTrustedCertificate }},
	{"grpc_ssl_certificate", func(d, s *HTTPGRPCSettings) { d.SSLCertificate = s.SSLCertificate }},
	{"grpc_ssl_certificate_key", func(d, s *HTTPGRPCSettings) { d.SSLCertificateKey = s.SSLCertificateKey }},
	{"grpc_ssl_protocols", func(d, s *HTTPGRPCSettings) { d.SSLProtocols = s.SSLProtocols }},
	{"grpc_ssl_ciphers", func(d, s *HTTPGRPCSettings) { d.SSLCiphers = s.SSLCiphers }},
	{"grpc_ssl_verify_depth", func(d, s *HTTPGRPCSettings) { d.SSLVerifyDepth = s.SSLVerifyDepth }},
	{"grpc_ssl_session_reuse", func(d, s *HTTPGRPCSettings) { d.SSLSessionReuse = s.SSLSessionReuse }},
	{"grpc_ssl_crl", func(d, s *HTTPGRPCSettings) { d.SSLCRL = s.SSLCRL }},
	{"grpc_ssl_password_file", func(d, s *HTTPGRPCSettings) { d.SSLPasswordFile = s.SSLPasswordFile }},
}

var http2LocInherit = []struct {
	key  string
	copy func(d, s *HTTP2LocationSettings)
}{
	{"http2_chunk_size", func(d, s *HTTP2LocationSettings) { d.ChunkSize = s.ChunkSize }},
	{"http2_push", func(d, s *HTTP2LocationSettings) { d.Push = s.Push }},
	{"http2_push_preload", func(d, s *HTTP2LocationSettings) { d.PushPreload = s.PushPreload }},
}

var http2SrvInherit = []struct {
	key  string
	copy func(d, s *HTTP2Settings)
}{
	{"http2", func(d, s *HTTP2Settings) { d.Enable = s.Enable }},
	{"http2_max_concurrent_streams", func(d, s *HTTP2Settings) { d.MaxConcurrentStreams = s.MaxConcurrentStreams }},
	{"http2_body_preread_size", func(d, s *HTTP2Settings) { d.BodyPrereadSize = s.BodyPrereadSize }},
	{"http2_recv_buffer_size", func(d, s *HTTP2Settings) { d.RecvBufferSize = s.RecvBufferSize }},
	{"http2_streams_index_size", func(d, s *HTTP2Settings) { d.StreamsIndexSize = s.StreamsIndexSize }},
	{"http2_max_concurrent_pushes", func(d, s *HTTP2Settings) { d.MaxConcurrentPushes = s.MaxConcurrentPushes }},
}

// mergeExt merges settings held behind a pointer: a level that sets none
// shares its parent's (compiled settings are read-only), one that sets
// some takes the others from its parent.
func mergeExt[T any](set map[string]bool, d **T, s *T, table []struct {
	key  string
	copy func(d, s *T)
}) {
	if s == nil {
		return
	}
	if *d == nil {
		*d = s
		return
	}
	for _, in := range table {
		if !set[in.key] {
			in.copy(*d, s)
		}
	}
}

func init() {
	register(httpGRPCDirectives)
	httpInherit = append(httpInherit,
		httpInheritRule{"", func(d, s *HTTPSettings) {
			mergeExt(d.set, &d.GRPC, s.GRPC, grpcInherit)
			mergeExt(d.set, &d.HTTP2, s.HTTP2, http2LocInherit)
		}})
	httpServerInherit = append(httpServerInherit,
		struct {
			key  string
			copy func(dst, src *HTTPServerSettings)
		}{"", func(d, s *HTTPServerSettings) { mergeExt(d.set, &d.HTTP2, s.HTTP2, http2SrvInherit) }})
}

// grpcSetting is setting for a value of HTTPGRPCSettings.
func grpcSetting[T any](parse func(*compiler, *Directive) (T, error), field func(*HTTPGRPCSettings) *T) func(*compiler, *Directive, any) (any, error) {
	return extSetting((*HTTPSettings).grpc, parse, field)
}

// grpcList is the Set of a repeatable grpc directive that appends to a
// list; the first one at a level replaces the inherited list.
func grpcList(field func(*HTTPGRPCSettings) *[]string) func(*compiler, *Directive, any) (any, error) {
	return extList((*HTTPSettings).grpc, field)
}

// extSetting is setting for a value of a group of HTTPSettings that ext
// returns (made on first use, as grpc and proxyCache make theirs).
func extSetting[E, T any](ext func(*HTTPSettings) *E, parse func(*compiler, *Directive) (T, error), field func(*E) *T) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		v, err := parse(c, d)
		if err != nil {
			return nil, err
		}
		s := hset(c, parent)
		*field(ext(s)) = v
		s.mark(d.Name)
		return nil, nil
	}
}

// extList is the Set of a repeatable directive of a group of
// HTTPSettings whose arguments, over all its occurrences at a level, form
// a list; the first one at a level replaces the inherited list.
func extList[E any](ext func(*HTTPSettings) *E, field func(*E) *[]string) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		p := field(ext(s))
		if !s.set[d.Name] {
			*p = nil
		}
		*p = append(*p, d.Args...)
		s.mark(d.Name)
		return nil, nil
	}
}

func http2Setting[T any](parse func(*compiler, *Directive) (T, error), field func(*HTTP2Settings) *T) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		v, err := parse(c, d)
		if err != nil {
			return nil, err
		}
		s := hsrv(c, parent)
		*field(s.http2()) = v
		s.mark(d.Name)
		return nil, nil
	}
}

func http2LocSetting[T any](parse func(*compiler, *Directive) (T, error), field func(*HTTP2LocationSettings) *T) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		v, err := parse(c, d)
		if err != nil {
			return nil, err
		}
		s := hset(c, parent)
		*field(s.http2()) = v
		s.mark(d.Name)
		return nil, nil
	}
}

// obsoleteHTTP2 accepts an http2 directive that nginx 1.19.7 made
// obsolete, with nginx's warning; its value is ignored, as nginx ignores
// it.
func obsoleteHTTP2(instead string) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		c.warnf(d, `the "%s" directive is obsolete, use the "%s" directive instead`, d.Name, instead)
		return nil, nil
	}
}

// powerOfTwo parses a number that must be a power of two.
func powerOfTwo(c *compiler, d *Directive) (int, error) {
	n, err := numValue(c, d)
	if err == nil && (n == 0 || n&(n-1) != 0) {
		return 0, errorf(d.File, d.Line, `"%s" directive must be a power of two`, d.Name)
	}
	return n, err
}

var httpGRPCDirectives = []*Spec{
	// HTTP/2
	{Name: "http2", Ctx: ctxHTTPSrv, Args: ArgsFlag, Set: http2Setting(flagValue, func(s *HTTP2Settings) *bool { return &s.Enable })},
	{Name: "http2_max_concurrent_streams", Ctx: ctxHTTPSrv, Args: Args1, Set: http2Setting(numValue, func(s *HTTP2Settings) *int { return &s.MaxConcurrentStreams })},
	{Name: "http2_body_preread_size", Ctx: ctxHTTPSrv, Args: Args1, Set: http2Setting(sizeValue, func(s *HTTP2Settings) *int64 { return &s.BodyPrereadSize })},
	{Name: "http2_recv_buffer_size", Ctx: CtxHTTP, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		n, err := sizeValue(c, d)
		if err != nil {
			return nil, err
		}
		if n <= 2*16 { // nginx: twice NGX_HTTP_V2_STATE_BUFFER_SIZE
			return nil, errorf(d.File, d.Line, `"%s" directive value is too small`, d.Name)
		}
		s := hsrv(c, parent)
		s.http2().RecvBufferSize = n
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "http2_streams_index_size", Ctx: ctxHTTPSrv, Args: Args1, Set: http2Setting(powerOfTwo, func(s *HTTP2Settings) *int { return &s.StreamsIndexSize })},
	{Name: "http2_max_concurrent_pushes", Ctx: ctxHTTPSrv, Args: Args1, Set: http2Setting(numValue, func(s *HTTP2Settings) *int { return &s.MaxConcurrentPushes })},
	{Name: "http2_chunk_size", Ctx: ctxHTTPAll, Args: Args1, Set: http2LocSetting(func(c *compiler, d *Directive) (int64, error) {
		n, err := sizeValue(c, d)
		if err == nil && n == 0 {
			return 0, errorf(d.File, d.Line, `the http2 chunk size cannot be zero`)
		}
		return n, err
	}, func(s *HTTP2LocationSettings) *int64 { return &s.ChunkSize })},
	{Name: "http2_push", Ctx: ctxHTTPAll, Args: Args1, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		s.http2().Push = !strings.EqualFold(d.Args[0], "off")
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "http2_push_preload", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: http2LocSetting(flagValue, func(s *HTTP2LocationSettings) *bool { return &s.PushPreload })},
	{Name: "http2_idle_timeout", Ctx: ctxHTTPSrv, Args: Args1, Set: obsoleteHTTP2("keepalive_timeout")},
	{Name: "http2_max_requests", Ctx: ctxHTTPSrv, Args: Args1, Set: obsoleteHTTP2("keepalive_requests")},
	{Name: "http2_max_field_size", Ctx: ctxHTTPSrv, Args: Args1, Set: obsoleteHTTP2("large_client_header_buffers")},
	{Name: "http2_max_header_size", Ctx: ctxHTTPSrv, Args: Args1, Set: obsoleteHTTP2("large_client_header_buffers")},
	{Name: "http2_recv_timeout", Ctx: ctxHTTPSrv, Args: Args1, Set: obsoleteHTTP2("client_header_timeout")},
	{Name: "http2_pool_size", Ctx: ctxHTTPSrv, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		c.warnf(d, `the "http2_pool_size" directive is obsolete, ignored`)
		return nil, nil
	}},

	// gRPC
	{Name: "grpc_pass", Ctx: CtxHTTPLocation | CtxHTTPIf, Args: Args1, Set: setGRPCPass},
	{Name: "grpc_set_header", Ctx: ctxHTTPAll, Args: Args2, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		g := s.grpc()
		if !s.set[d.Name] {
			g.SetHeaders = nil
		}
		g.SetHeaders = append(g.SetHeaders, HTTPHeader{Name: d.Args[0], Value: d.Args[1]})
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "grpc_hide_header", Ctx: ctxHTTPAll, Args: Args1, Multi: true, Set: grpcList(func(g *HTTPGRPCSettings) *[]string { return &g.HideHeaders })},
	{Name: "grpc_pass_header", Ctx: ctxHTTPAll, Args: Args1, Multi: true, Set: grpcList(func(g *HTTPGRPCSettings) *[]string { return &g.PassHeaders })},
	{Name: "grpc_ignore_headers", Ctx: ctxHTTPAll, Args: Args1More, Set: grpcList(func(g *HTTPGRPCSettings) *[]string { return &g.IgnoreHeaders })},
	{Name: "grpc_connect_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(timeValue, func(g *HTTPGRPCSettings) *time.Duration { return &g.ConnectTimeout })},
	{Name: "grpc_read_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(timeValue, func(g *HTTPGRPCSettings) *time.Duration { return &g.ReadTimeout })},
	{Name: "grpc_send_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(timeValue, func(g *HTTPGRPCSettings) *time.Duration { return &g.SendTimeout })},
	{Name: "grpc_next_upstream", Ctx: ctxHTTPAll, Args: Args1More, Set: setGRPCNextUpstream},
	{Name: "grpc_next_upstream_tries", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(numValue, func(g *HTTPGRPCSettings) *int { return &g.NextUpstreamTries })},
	{Name: "grpc_next_upstream_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(timeValue, func(g *HTTPGRPCSettings) *time.Duration { return &g.NextUpstreamTimeout })},
	{Name: "grpc_buffer_size", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(sizeValue, func(g *HTTPGRPCSettings) *int64 { return &g.BufferSize })},
	{Name: "grpc_intercept_errors", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: grpcSetting(flagValue, func(g *HTTPGRPCSettings) *bool { return &g.InterceptErrors })},
	{Name: "grpc_socket_keepalive", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: grpcSetting(flagValue, func(g *HTTPGRPCSettings) *bool { return &g.SocketKeepalive })},
	{Name: "grpc_bind", Ctx: ctxHTTPAll, Args: Args12, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		if len(d.Args) == 2 && d.Args[1] != "transparent" {
			return nil, errorf(d.File, d.Line, `invalid parameter "%s"`, d.Args[1])
		}
		s := hset(c, parent)
		s.grpc().Bind = d.Args[0]
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "grpc_ssl_verify", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: grpcSetting(flagValue, func(g *HTTPGRPCSettings) *bool { return &g.SSLVerify })},
	{Name: "grpc_ssl_server_name", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: grpcSetting(flagValue, func(g *HTTPGRPCSettings) *bool { return &g.SSLServerName })},
	{Name: "grpc_ssl_session_reuse", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: grpcSetting(flagValue, func(g *HTTPGRPCSettings) *bool { return &g.SSLSessionReuse })},
	{Name: "grpc_ssl_name", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(stringValue, func(g *HTTPGRPCSettings) *string { return &g.SSLName })},
	{Name: "grpc_ssl_trusted_certificate", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(pathValue, func(g *HTTPGRPCSettings) *string { return &g.SSLTrustedCertificate })},
	{Name: "grpc_ssl_certificate", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(pathValue, func(g *HTTPGRPCSettings) *string { return &g.SSLCertificate })},
	{Name: "grpc_ssl_certificate_key", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(pathValue, func(g *HTTPGRPCSettings) *string { return &g.SSLCertificateKey })},
	{Name: "grpc_ssl_crl", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(pathValue, func(g *HTTPGRPCSettings) *string { return &g.SSLCRL })},
	{Name: "grpc_ssl_password_file", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(pathValue, func(g *HTTPGRPCSettings) *string { return &g.SSLPasswordFile })},
	{Name: "grpc_ssl_ciphers", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(stringValue, func(g *HTTPGRPCSettings) *string { return &g.SSLCiphers })},
	{Name: "grpc_ssl_verify_depth", Ctx: ctxHTTPAll, Args: Args1, Set: grpcSetting(numValue, func(g *HTTPGRPCSettings) *int { return &g.SSLVerifyDepth })},
	{Name: "grpc_ssl_protocols", Ctx: ctxHTTPAll, Args: Args1More, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		for _, a := range d.Args {
			switch a {
			case "SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3":
			default:
				return nil, errorf(d.File, d.Line, `invalid value "%s"`, a)
			}
		}
		s := hset(c, parent)
		s.grpc().SSLProtocols = append([]string(nil), d.Args...)
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "grpc_ssl_conf_command", Ctx: ctxHTTPAll, Args: Args2, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		c.warnf(d, `"grpc_ssl_conf_command" is ignored by sluice`)
		return nil, nil
	}},
}

// setGRPCNextUpstream parses grpc_next_upstream with proxy_next_upstream's
// values.
func setGRPCNextUpstream(c *compiler, d *Directive, parent any) (any, error) {
	var list []string
	off := false
	for _, a := range d.Args {
		v := ""
		for _, n := range nextUpstreamValues {
			if strings.EqualFold(a, n) && n != "updating" {
				v = n
			}
		}
		if v == "" {
			return nil, errorf(d.File, d.Line, `invalid value "%s"`, a)
		}
		if v == "off" {
			off = true
		}
		list = append(list, v)
	}
	if off {
		list = []string{"off"}
	}
	s := hset(c, parent)
	s.grpc().NextUpstream = list
	s.mark(d.Name)
	return nil, nil
}

// passHost sets the address of a grpc_pass or *_pass (fastcgi_pass,
// ...) without its scheme, rest: unix:/path, or a host with an optional
// port, which an upstream of that name may not have.
func (h *HTTP) passHost(d *Directive, pp *HTTPProxyPass, rest string) error {
	if strings.HasPrefix(rest, "unix:") {
		if len(rest) == 5 {
			return errorf(d.File, d.Line, `no path in the unix domain socket in upstream "%s"`, rest)
		}
		pp.Host = rest
		return nil
	}
	if rest == "" {
		return errorf(d.File, d.Line, `no host in upstream "%s"`, rest)
	}
	if strings.ContainsAny(rest, "/?") {
		return errorf(d.File, d.Line, `invalid host in upstream "%s"`, rest)
	}
	host, _, n, err := splitUpstreamHost(d, rest, rest)
	if err != nil {
		return err
	}
	if n != 0 {
		pp.port = n
	}
	pp.Host = rest
	if u := h.ups[strings.ToLower(host)]; u != nil && !u.Implicit && n != 0 {
		return errorf(d.File, d.Line, `upstream "%s" may not have port %d`, host, n)
	}
	return nil
}

// setGRPCPass parses grpc_pass [grpc://|grpcs://]host[:port], an upstream
// name or unix:/path. The address is linked to its upstream (or an
// implicit one) when the http block closes, as proxy_pass's.
func setGRPCPass(c *compiler, d *Directive, parent any) (any, error) {
	l := parent.(*HTTPLocation)
	h := httpOf(c)
	if l.GRPCPass != nil {
		return nil, errorf(d.File, d.Line, `"grpc_pass" directive is duplicate`)
	}
	url := d.Args[0]
	pp := &HTTPProxyPass{URL: url, Pos: pos(d), file: d.File, line: d.Line}
	if l.Name != "" && strings.HasSuffix(l.Name, "/") {
		l.AutoRedirect = true
	}
	if hasVariables(url) {
		return nil, errorf(d.File, d.Line, `"grpc_pass" with variables is not supported by sluice yet`)
	}
	rest := url
	pp.Scheme, pp.def = "grpc", 80
	switch {
	case len(url) >= 7 && strings.EqualFold(url[:7], "grpc://"):
		rest = url[7:]
	case len(url) >= 8 && strings.EqualFold(url[:8], "grpcs://"):
		pp.Scheme, rest, pp.def = "grpcs", url[8:], 443
	}
	if err := h.passHost(d, pp, rest); err != nil {
		return nil, err
	}
	l.setHandler()
	l.GRPCPass = pp
	h.passes = append(h.passes, pp)
	return nil, nil
}
