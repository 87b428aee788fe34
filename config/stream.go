package config

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Stream holds the stream {} block: the TCP proxy's upstreams, servers,
// log formats, variable blocks and connection-limit zones, typed and
// defaulted. Settings written at the stream level are already merged into
// every server (StreamServer.StreamSettings), as nginx inherits them. The
// zero value is an empty block.
type Stream struct {
	// Upstreams are the upstream blocks in configuration order, followed by
	// the implicit upstreams that "proxy_pass host:port" creates.
	Upstreams []*StreamUpstream `json:",omitempty"`
	// Servers are the server blocks in configuration order.
	Servers []*StreamServer `json:",omitempty"`
	// LogFormats are the log_format directives in order.
	LogFormats []StreamLogFormat `json:",omitempty"`
	// VarBlocks are the map, geo and split_clients blocks in order.
	VarBlocks []StreamVarBlock `json:",omitempty"`
	// LimitConnZones are the limit_conn_zone directives.
	LimitConnZones []StreamLimitConnZone `json:",omitempty"`
	// Matches are the match blocks of health checks (stream_health.go).
	Matches []*StreamMatch `json:",omitempty"`

	defaults  *StreamSettings // stream-level values of inheritable directives
	listens   map[string]bool // network+address of every listen, for duplicates
	upstreams map[string]*StreamUpstream
}

// StreamSettings are the directives a stream server inherits from the
// stream block when it does not set them itself. The values are nginx's
// defaults unless the configuration says otherwise.
type StreamSettings struct {
	ProxyConnectTimeout      time.Duration // proxy_connect_timeout, default 60s
	ProxyTimeout             time.Duration // proxy_timeout (idle), default 10m
	ProxyNextUpstream        bool          // proxy_next_upstream, default on
	ProxyNextUpstreamTries   int           // proxy_next_upstream_tries, 0: no limit
	ProxyNextUpstreamTimeout time.Duration // proxy_next_upstream_timeout, 0: no limit
	ProxyBufferSize          int64         // proxy_buffer_size, default 16k
	// ProxyProtocol is the version of the PROXY protocol header sent
	// upstream: 0 (proxy_protocol off), 1 (on) or 2 (the extension v2).
	ProxyProtocol int
	// ProxyBind is the local address for upstream connections (a complex
	// value), empty for none; ProxyBindTransparent is its "transparent".
	ProxyBind            string `json:",omitempty"`
	ProxyBindTransparent bool   `json:",omitempty"`
	ProxySocketKeepalive bool   // proxy_socket_keepalive, default off
	ProxyHalfClose       bool   // proxy_half_close, default off
	ProxyUploadRate      int64  // proxy_upload_rate in bytes/s, 0: no limit
	ProxyDownloadRate    int64  // proxy_download_rate in bytes/s, 0: no limit
	TCPNodelay           bool   // tcp_nodelay, default on
	PrereadBufferSize    int64  // preread_buffer_size, default 16k
	PrereadTimeout       time.Duration
	ProxyProtocolTimeout time.Duration // default 30s
	Resolver             []string      `json:",omitempty"`
	ResolverTimeout      time.Duration // default 30s

	// Access are the allow and deny rules in order; the first match wins.
	Access []StreamAccessRule `json:",omitempty"`
	// AccessLogs are the access_log targets; AccessLogOff is "access_log off".
	AccessLogs   []StreamAccessLog `json:",omitempty"`
	AccessLogOff bool              `json:",omitempty"`
	// ErrorLogs are the error_log targets of the server; empty means the
	// main error log.
	ErrorLogs         []ErrorLog        `json:",omitempty"`
	LimitConns        []StreamLimitConn `json:",omitempty"`
	LimitConnLogLevel string            // default "error"
	LimitConnDryRun   bool

	// SSLPreread is ssl_preread: read the TLS ClientHello before proxying.
	SSLPreread bool `json:",omitempty"`
	// SSL holds the ssl_* directives of TLS termination (listen ... ssl).
	SSL StreamSSL
	// ProxySSL holds proxy_ssl and the proxy_ssl_* directives: TLS towards
	// the upstream.
	ProxySSL StreamProxySSL
	// RealIPFrom are the set_real_ip_from networks: peers whose PROXY
	// protocol header replaces the client address.
	RealIPFrom []StreamAccessRule `json:",omitempty"`
	// ProxyRequests is proxy_requests (UDP): the datagrams from a client
	// after which its binding to the session is dropped; 0: no limit.
	ProxyRequests int `json:",omitempty"`
	// ProxyResponses is proxy_responses (UDP): the datagrams expected in
	// answer to each client datagram; -1 (the default): not limited.
	ProxyResponses int

	// healthCheckTimeout is health_check_timeout (default 5s), copied into
	// each StreamHealthCheck of the server.
	healthCheckTimeout time.Duration

	set map[string]bool
}

// StreamSSL is the configuration of TLS termination for a stream server.
type StreamSSL struct {
	// Certificates and CertificateKeys are the ssl_certificate and
	// ssl_certificate_key files, paired by position. A path may contain
	// variables (for example $ssl_server_name): it is then evaluated
	// during each handshake.
	Certificates    []string `json:",omitempty"`
	CertificateKeys []string `json:",omitempty"`
	// Protocols are the ssl_protocols names; default TLSv1 TLSv1.1
	// TLSv1.2, as nginx 1.22.
	Protocols []string
	// Ciphers is the OpenSSL cipher list of ssl_ciphers, default
	// "HIGH:!aNULL:!MD5".
	Ciphers             string
	PreferServerCiphers bool `json:",omitempty"`
	// SessionCache is ssl_session_cache as written: "none" (default),
	// "off", "builtin[:N]" and/or "shared:NAME:SIZE".
	SessionCache     []string
	SessionTimeout   time.Duration // ssl_session_timeout, default 5m
	SessionTickets   bool          // ssl_session_tickets, default on
	HandshakeTimeout time.Duration // ssl_handshake_timeout, default 60s
	// VerifyClient is "off" (default), "on", "optional" or
	// "optional_no_ca".
	VerifyClient       string
	ClientCertificate  string   `json:",omitempty"`
	TrustedCertificate string   `json:",omitempty"`
	VerifyDepth        int      // ssl_verify_depth, default 1
	ALPN               []string `json:",omitempty"` // ssl_alpn
	DHParam            string   `json:",omitempty"` // ssl_dhparam (checked, unused: no DHE suites)
	ECDHCurve          string   `json:",omitempty"` // ssl_ecdh_curve; empty: auto
}

// StreamProxySSL is the configuration of TLS towards upstream servers.
type StreamProxySSL struct {
	Enable bool `json:",omitempty"` // proxy_ssl
	// ServerName is proxy_ssl_server_name: send SNI (default off).
	ServerName bool `json:",omitempty"`
	// Name is proxy_ssl_name (a complex value); empty means the host of
	// proxy_pass, as nginx.
	Name               string `json:",omitempty"`
	Verify             bool   `json:",omitempty"` // proxy_ssl_verify
	VerifyDepth        int    // proxy_ssl_verify_depth, default 1
	TrustedCertificate string `json:",omitempty"`
	Certificate        string `json:",omitempty"`
	CertificateKey     string `json:",omitempty"`
	// Protocols default TLSv1 TLSv1.1 TLSv1.2; Ciphers default "DEFAULT".
	Protocols    []string
	Ciphers      string
	SessionReuse bool // proxy_ssl_session_reuse, default on
}

var defaultStreamSettings = StreamSettings{
	ProxyConnectTimeout:  60 * time.Second,
	ProxyTimeout:         10 * time.Minute,
	ProxyNextUpstream:    true,
	ProxyBufferSize:      16 << 10,
	TCPNodelay:           true,
	PrereadBufferSize:    16 << 10,
	PrereadTimeout:       30 * time.Second,
	ProxyProtocolTimeout: 30 * time.Second,
	ResolverTimeout:      30 * time.Second,
	LimitConnLogLevel:    "error",
	ProxyResponses:       -1,
	SSL: StreamSSL{
		Protocols:        []string{"TLSv1", "TLSv1.1", "TLSv1.2"},
		Ciphers:          "HIGH:!aNULL:!MD5",
		SessionCache:     []string{"none"},
		SessionTimeout:   5 * time.Minute,
		SessionTickets:   true,
		HandshakeTimeout: 60 * time.Second,
		VerifyClient:     "off",
		VerifyDepth:      1,
	},
	ProxySSL: StreamProxySSL{
		VerifyDepth:  1,
		Protocols:    []string{"TLSv1", "TLSv1.1", "TLSv1.2"},
		Ciphers:      "DEFAULT",
		SessionReuse: true,
	},
}

// StreamServer is one server {} block of the stream block.
type StreamServer struct {
	File string
	Line int
	// Listens are the listen directives.
	Listens []StreamListen
	// ProxyPass is the proxy_pass argument as written (an upstream name,
	// host:port, unix:path, or a value with variables); empty when the
	// server answers with return.
	ProxyPass    string `json:",omitempty"`
	ProxyPassPos string `json:",omitempty"`
	// Upstream names the upstream a constant ProxyPass refers to (an
	// upstream block or an implicit one); empty when ProxyPass has
	// variables.
	Upstream string `json:",omitempty"`
	// Return is the value of return (a complex value), sent to the client
	// before closing.
	Return    string `json:",omitempty"`
	ReturnSet bool   `json:",omitempty"`
	// Sets are the set directives in order.
	Sets []StreamSet `json:",omitempty"`
	// HealthChecks are the health_check directives (stream_health.go).
	HealthChecks []StreamHealthCheck `json:",omitempty"`
	StreamSettings
}

// Pos returns "file:line" of the server block.
func (s *StreamServer) Pos() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// StreamListen is one listen directive of a stream server.
type StreamListen struct {
	Network string // "tcp" or "unix"
	// Address is "ip:port" ("0.0.0.0:9000", "[::]:9000") or the socket path.
	Address       string
	SSL           bool `json:",omitempty"`
	UDP           bool `json:",omitempty"`
	ProxyProtocol bool `json:",omitempty"`
	ReusePort     bool `json:",omitempty"`
	Bind          bool `json:",omitempty"`
	Backlog       int  // default 511, as nginx
	RcvBuf        int  `json:",omitempty"`
	SndBuf        int  `json:",omitempty"`
	IPv6Only      bool // default on for IPv6 addresses, as nginx
	// SoKeepalive is "on", "off" or empty; KeepIdle, KeepIntvl and KeepCnt
	// are the fields of so_keepalive=idle:intvl:cnt (zero: system default).
	SoKeepalive string        `json:",omitempty"`
	KeepIdle    time.Duration `json:",omitempty"`
	KeepIntvl   time.Duration `json:",omitempty"`
	KeepCnt     int           `json:",omitempty"`
	FastOpen    int           `json:",omitempty"` // fastopen=: the TCP Fast Open queue length
	Pos         string
}

// StreamAccessRule is one allow or deny directive.
type StreamAccessRule struct {
	Allow bool
	// Net is the network matched; All matches every client; Unix matches
	// clients on unix sockets.
	Net  netip.Prefix `json:",omitempty"`
	All  bool         `json:",omitempty"`
	Unix bool         `json:",omitempty"`
}

// StreamSet is one set directive.
type StreamSet struct {
	Var   string // with its '$'
	Value string // complex value
	Pos   string
}

// StreamLogFormat is one log_format directive: its arguments after the
// directive name (name, optional escape=, strings).
type StreamLogFormat struct {
	Args []string
	Pos  string
}

// StreamUpstream is one upstream block, or the implicit upstream of
// "proxy_pass host:port".
type StreamUpstream struct {
	Name string
	// Implicit marks an upstream created by proxy_pass host:port.
	Implicit bool `json:",omitempty"`
	Servers  []StreamUpstreamServer
	// Method is "round_robin", "hash", "least_conn", "random" or
	// "least_time".
	Method     string
	HashKey    string `json:",omitempty"` // hash KEY (complex value)
	Consistent bool   `json:",omitempty"`
	// RandomTwo is "random two"; RandomTwoMethod is "least_conn" (default)
	// or "least_time".
	RandomTwo       bool   `json:",omitempty"`
	RandomTwoMethod string `json:",omitempty"`
	// LeastTimeMetric is "connect", "first_byte" or "last_byte" for
	// least_time (or random two least_time=); Inflight is its "inflight".
	LeastTimeMetric string `json:",omitempty"`
	Inflight        bool   `json:",omitempty"`
	Zone            string `json:",omitempty"`
	ZoneSize        int64  `json:",omitempty"`
	// Resolver and ResolverTimeout are the stream block's resolver and
	// resolver_timeout, which servers with the resolve parameter use.
	Resolver        []string      `json:",omitempty"`
	ResolverTimeout time.Duration `json:",omitempty"`
	Pos             string
}

// LookupHost resolves upstream and listen host names while a configuration
// is compiled. Tests may replace it. Addresses written as IP literals are
// never looked up.
var LookupHost = func(host string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return net.DefaultResolver.LookupHost(ctx, host)
}

func init() {
	register(streamDirectives, upstreamSpecs(CtxStreamUpstream, &streamDialect))
	// The stream block's own spec lives with the main directives; the
	// checks and the inheritance that need the whole block run when it
	// closes.
	hooked := false
	for _, s := range registry["stream"] {
		if s.Ctx&CtxMain != 0 {
			s.Close = closeStream
			hooked = true
		}
	}
	if !hooked {
		panic("config: no stream block to attach the stream checks to")
	}
}

func pos(d *Directive) string { return d.Pos() }

// streamLevel returns the settings an inheritable directive writes to: the
// stream level's or the server's.
func streamLevel(_ *compiler, parent any) *StreamSettings {
	switch p := parent.(type) {
	case *Stream:
		if p.defaults == nil {
			p.defaults = &StreamSettings{}
		}
		return p.defaults
	case *StreamServer:
		return &p.StreamSettings
	}
	panic(fmt.Sprintf("config: stream setting in %T", parent))
}

func (s *StreamSettings) mark(name string) {
	if s.set == nil {
		s.set = map[string]bool{}
	}
	s.set[name] = true
}

// streamOf finds the stream block from a server or the stream itself.
func streamOf(c *compiler) *Stream { return c.cfg.Stream }

// inherit lists how each inheritable setting is copied; the key is the
// name recorded by mark.
var inherit = []struct {
	key  string
	copy func(dst, src *StreamSettings)
}{
	{"proxy_connect_timeout", func(d, s *StreamSettings) { d.ProxyConnectTimeout = s.ProxyConnectTimeout }},
	{"proxy_timeout", func(d, s *StreamSettings) { d.ProxyTimeout = s.ProxyTimeout }},
	{"proxy_next_upstream", func(d, s *StreamSettings) { d.ProxyNextUpstream = s.ProxyNextUpstream }},
	{"proxy_next_upstream_tries", func(d, s *StreamSettings) { d.ProxyNextUpstreamTries = s.ProxyNextUpstreamTries }},
	{"proxy_next_upstream_timeout", func(d, s *StreamSettings) { d.ProxyNextUpstreamTimeout = s.ProxyNextUpstreamTimeout }},
	{"proxy_buffer_size", func(d, s *StreamSettings) { d.ProxyBufferSize = s.ProxyBufferSize }},
	{"proxy_protocol", func(d, s *StreamSettings) { d.ProxyProtocol = s.ProxyProtocol }},
	{"proxy_bind", func(d, s *StreamSettings) { d.ProxyBind, d.ProxyBindTransparent = s.ProxyBind, s.ProxyBindTransparent }},
	{"proxy_socket_keepalive", func(d, s *StreamSettings) { d.ProxySocketKeepalive = s.ProxySocketKeepalive }},
	{"proxy_half_close", func(d, s *StreamSettings) { d.ProxyHalfClose = s.ProxyHalfClose }},
	{"proxy_upload_rate", func(d, s *StreamSettings) { d.ProxyUploadRate = s.ProxyUploadRate }},
	{"proxy_download_rate", func(d, s *StreamSettings) { d.ProxyDownloadRate = s.ProxyDownloadRate }},
	{"tcp_nodelay", func(d, s *StreamSettings) { d.TCPNodelay = s.TCPNodelay }},
	{"preread_buffer_size", func(d, s *StreamSettings) { d.PrereadBufferSize = s.PrereadBufferSize }},
	{"preread_timeout", func(d, s *StreamSettings) { d.PrereadTimeout = s.PrereadTimeout }},
	{"proxy_protocol_timeout", func(d, s *StreamSettings) { d.ProxyProtocolTimeout = s.ProxyProtocolTimeout }},
	{"resolver", func(d, s *StreamSettings) { d.Resolver = s.Resolver }},
	{"resolver_timeout", func(d, s *StreamSettings) { d.ResolverTimeout = s.ResolverTimeout }},
	{"access", func(d, s *StreamSettings) { d.Access = s.Access }},
	{"access_log", func(d, s *StreamSettings) { d.AccessLogs, d.AccessLogOff = s.AccessLogs, s.AccessLogOff }},
	{"error_log", func(d, s *StreamSettings) { d.ErrorLogs = s.ErrorLogs }},
	{"limit_conn", func(d, s *StreamSettings) { d.LimitConns = s.LimitConns }},
	{"limit_conn_log_level", func(d, s *StreamSettings) { d.LimitConnLogLevel = s.LimitConnLogLevel }},
	{"limit_conn_dry_run", func(d, s *StreamSettings) { d.LimitConnDryRun = s.LimitConnDryRun }},
	{"ssl_preread", func(d, s *StreamSettings) { d.SSLPreread = s.SSLPreread }},
	{"ssl_certificate", func(d, s *StreamSettings) { d.SSL.Certificates = s.SSL.Certificates }},
	{"ssl_certificate_key", func(d, s *StreamSettings) { d.SSL.CertificateKeys = s.SSL.CertificateKeys }},
	{"ssl_protocols", func(d, s *StreamSettings) { d.SSL.Protocols = s.SSL.Protocols }},
	{"ssl_ciphers", func(d, s *StreamSettings) { d.SSL.Ciphers = s.SSL.Ciphers }},
	{"ssl_prefer_server_ciphers", func(d, s *StreamSettings) { d.SSL.PreferServerCiphers = s.SSL.PreferServerCiphers }},
	{"ssl_session_cache", func(d, s *StreamSettings) { d.SSL.SessionCache = s.SSL.SessionCache }},
	{"ssl_session_timeout", func(d, s *StreamSettings) { d.SSL.SessionTimeout = s.SSL.SessionTimeout }},
	{"ssl_session_tickets", func(d, s *StreamSettings) { d.SSL.SessionTickets = s.SSL.SessionTickets }},
	{"ssl_handshake_timeout", func(d, s *StreamSettings) { d.SSL.HandshakeTimeout = s.SSL.HandshakeTimeout }},
	{"ssl_verify_client", func(d, s *StreamSettings) { d.SSL.VerifyClient = s.SSL.VerifyClient }},
	{"ssl_client_certificate", func(d, s *StreamSettings) { d.SSL.ClientCertificate = s.SSL.ClientCertificate }},
	{"ssl_trusted_certificate", func(d, s *StreamSettings) { d.SSL.TrustedCertificate = s.SSL.TrustedCertificate }},
	{"ssl_verify_depth", func(d, s *StreamSettings) { d.SSL.VerifyDepth = s.SSL.VerifyDepth }},
	{"ssl_alpn", func(d, s *StreamSettings) { d.SSL.ALPN = s.SSL.ALPN }},
	{"ssl_dhparam", func(d, s *StreamSettings) { d.SSL.DHParam = s.SSL.DHParam }},
	{"ssl_ecdh_curve", func(d, s *StreamSettings) { d.SSL.ECDHCurve = s.SSL.ECDHCurve }},
	{"proxy_ssl", func(d, s *StreamSettings) { d.ProxySSL.Enable = s.ProxySSL.Enable }},
	{"proxy_ssl_server_name", func(d, s *StreamSettings) { d.ProxySSL.ServerName = s.ProxySSL.ServerName }},
	{"proxy_ssl_name", func(d, s *StreamSettings) { d.ProxySSL.Name = s.ProxySSL.Name }},
	{"proxy_ssl_verify", func(d, s *StreamSettings) { d.ProxySSL.Verify = s.ProxySSL.Verify }},
	{"proxy_ssl_verify_depth", func(d, s *StreamSettings) { d.ProxySSL.VerifyDepth = s.ProxySSL.VerifyDepth }},
	{"proxy_ssl_trusted_certificate", func(d, s *StreamSettings) { d.ProxySSL.TrustedCertificate = s.ProxySSL.TrustedCertificate }},
	{"proxy_ssl_certificate", func(d, s *StreamSettings) { d.ProxySSL.Certificate = s.ProxySSL.Certificate }},
	{"proxy_ssl_certificate_key", func(d, s *StreamSettings) { d.ProxySSL.CertificateKey = s.ProxySSL.CertificateKey }},
	{"proxy_ssl_protocols", func(d, s *StreamSettings) { d.ProxySSL.Protocols = s.ProxySSL.Protocols }},
	{"proxy_ssl_ciphers", func(d, s *StreamSettings) { d.ProxySSL.Ciphers = s.ProxySSL.Ciphers }},
	{"proxy_ssl_session_reuse", func(d, s *StreamSettings) { d.ProxySSL.SessionReuse = s.ProxySSL.SessionReuse }},
	{"set_real_ip_from", func(d, s *StreamSettings) { d.RealIPFrom = s.RealIPFrom }},
	{"proxy_requests", func(d, s *StreamSettings) { d.ProxyRequests = s.ProxyRequests }},
	{"proxy_responses", func(d, s *StreamSettings) { d.ProxyResponses = s.ProxyResponses }},
}

// merge fills the settings a server did not set from the stream level,
// then from nginx's defaults.
func (s *StreamSettings) merge(parent *StreamSettings) {
	for _, in := range inherit {
		switch {
		case s.set[in.key]:
		case parent != nil && parent.set[in.key]:
			in.copy(s, parent)
		default:
			in.copy(s, &defaultStreamSettings)
		}
	}
}

const ctxStreamBoth = CtxStream | CtxStreamServer

// streamDialect is how the stream context reads the directives it shares
// with http.
var streamDialect = dialect{
	quote: quote,
	upstream: func(block any) upstreamFields {
		u := block.(*StreamUpstream)
		return upstreamFields{name: u.Name, servers: &u.Servers, method: &u.Method, hashKey: &u.HashKey,
			consistent: &u.Consistent, randomTwo: &u.RandomTwo, randomTwoMethod: &u.RandomTwoMethod,
			leastTimeMetric: &u.LeastTimeMetric, inflight: &u.Inflight, zone: &u.Zone, zoneSize: &u.ZoneSize}
	},
	maxWeight:  1 << 20,
	serverTime: ParseSeconds,
	upstreamAddrs: func(d *Directive, s string) ([]string, error) {
		return upstreamAddrs(d, s, false)
	},
	leastTimeMetrics:      []string{"connect", "first_byte", "last_byte"},
	slowStartBeforeMethod: true,
	listenUDP:             true,
	unknownListenParam:    "the invalid %s parameter",
	minZone:               8 << 10,
	zoneTooSmall:          "invalid zone size %s",
	bindOffAlone:          true,
	strictSessionCache:    true,
}

var streamDirectives = []*Spec{
	{Name: "server", Ctx: CtxStream, Args: Args0, Block: CtxStreamServer, Multi: true, Set: setStreamServer, Close: closeStreamServer},
	{Name: "upstream", Ctx: CtxStream, Args: Args1, Block: CtxStreamUpstream, Multi: true, Set: setStreamUpstream, Close: streamDialect.closeUpstream},

	{Name: "listen", Ctx: CtxStreamServer, Args: Args1More, Multi: true, Set: setStreamListen},
	{Name: "proxy_pass", Ctx: CtxStreamServer, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		srv := parent.(*StreamServer)
		srv.ProxyPass, srv.ProxyPassPos = d.Args[0], pos(d)
		return nil, nil
	}},
	{Name: "return", Ctx: CtxStreamServer, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		srv := parent.(*StreamServer)
		srv.Return, srv.ReturnSet = d.Args[0], true
		return nil, nil
	}},
	{Name: "set", Ctx: CtxStreamServer, Args: Args2, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		if len(d.Args[0]) < 2 || d.Args[0][0] != '$' {
			return nil, errorf(d.File, d.Line, "invalid variable name %q", d.Args[0])
		}
		srv := parent.(*StreamServer)
		srv.Sets = append(srv.Sets, StreamSet{Var: d.Args[0], Value: d.Args[1], Pos: pos(d)})
		return nil, nil
	}},

	{Name: "proxy_connect_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, timeValue, func(s *StreamSettings) *time.Duration { return &s.ProxyConnectTimeout })},
	{Name: "proxy_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, timeValue, func(s *StreamSettings) *time.Duration { return &s.ProxyTimeout })},
	{Name: "proxy_next_upstream", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: setting(streamLevel, flagValue, func(s *StreamSettings) *bool { return &s.ProxyNextUpstream })},
	{Name: "proxy_next_upstream_tries", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, numValue, func(s *StreamSettings) *int { return &s.ProxyNextUpstreamTries })},
	{Name: "proxy_next_upstream_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, timeValue, func(s *StreamSettings) *time.Duration { return &s.ProxyNextUpstreamTimeout })},
	{Name: "proxy_buffer_size", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, sizeValue, func(s *StreamSettings) *int64 { return &s.ProxyBufferSize })},
	{Name: "proxy_protocol", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, proxyProtocolValue, func(s *StreamSettings) *int { return &s.ProxyProtocol })},
	{Name: "proxy_bind", Ctx: ctxStreamBoth, Args: Args12, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		addr, err := streamDialect.parseProxyBind(d)
		if err != nil {
			return nil, err
		}
		s := streamLevel(c, parent)
		s.ProxyBind, s.ProxyBindTransparent = addr, false
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "proxy_socket_keepalive", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: setting(streamLevel, flagValue, func(s *StreamSettings) *bool { return &s.ProxySocketKeepalive })},
	{Name: "proxy_half_close", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: setting(streamLevel, flagValue, func(s *StreamSettings) *bool { return &s.ProxyHalfClose })},
	{Name: "proxy_upload_rate", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, sizeValue, func(s *StreamSettings) *int64 { return &s.ProxyUploadRate })},
	{Name: "proxy_download_rate", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, sizeValue, func(s *StreamSettings) *int64 { return &s.ProxyDownloadRate })},
	{Name: "tcp_nodelay", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: setting(streamLevel, flagValue, func(s *StreamSettings) *bool { return &s.TCPNodelay })},
	{Name: "preread_buffer_size", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, sizeValue, func(s *StreamSettings) *int64 { return &s.PrereadBufferSize })},
	{Name: "preread_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, timeValue, func(s *StreamSettings) *time.Duration { return &s.PrereadTimeout })},
	{Name: "proxy_protocol_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, timeValue, func(s *StreamSettings) *time.Duration { return &s.ProxyProtocolTimeout })},
	{Name: "resolver", Ctx: ctxStreamBoth, Args: Args1More, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := streamLevel(c, parent)
		s.Resolver = append([]string(nil), d.Args...)
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "resolver_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, timeValue, func(s *StreamSettings) *time.Duration { return &s.ResolverTimeout })},
	{Name: "allow", Ctx: ctxStreamBoth, Args: Args1, Multi: true, Set: setStreamAccess},
	{Name: "deny", Ctx: ctxStreamBoth, Args: Args1, Multi: true, Set: setStreamAccess},
	{Name: "access_log", Ctx: ctxStreamBoth, Args: Args1More, Multi: true, Set: setStreamAccessLog},
	{Name: "error_log", Ctx: ctxStreamBoth, Args: Args1More, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		el, err := parseErrorLog(c, d)
		if err != nil {
			return nil, err
		}
		s := streamLevel(c, parent)
		s.ErrorLogs = append(s.ErrorLogs, el)
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "limit_conn", Ctx: ctxStreamBoth, Args: Args2, Multi: true, Set: setStreamLimitConn},
	{Name: "limit_conn_log_level", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, streamDialect.enum("info", "notice", "warn", "error"), func(s *StreamSettings) *string { return &s.LimitConnLogLevel })},
	{Name: "limit_conn_dry_run", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: setting(streamLevel, flagValue, func(s *StreamSettings) *bool { return &s.LimitConnDryRun })},

	{Name: "ssl_preread", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: setting(streamLevel, flagValue, func(s *StreamSettings) *bool { return &s.SSLPreread })},
	{Name: "ssl_certificate", Ctx: ctxStreamBoth, Args: Args1, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := streamLevel(c, parent)
		s.SSL.Certificates = append(s.SSL.Certificates, pathArg(c, d.Args[0]))
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "ssl_certificate_key", Ctx: ctxStreamBoth, Args: Args1, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := streamLevel(c, parent)
		s.SSL.CertificateKeys = append(s.SSL.CertificateKeys, pathArg(c, d.Args[0]))
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "ssl_protocols", Ctx: ctxStreamBoth, Args: Args1More, Set: setting(streamLevel, streamDialect.parseSSLProtocols, func(s *StreamSettings) *[]string { return &s.SSL.Protocols })},
	{Name: "ssl_ciphers", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, stringValue, func(s *StreamSettings) *string { return &s.SSL.Ciphers })},
	{Name: "ssl_prefer_server_ciphers", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: setting(streamLevel, flagValue, func(s *StreamSettings) *bool { return &s.SSL.PreferServerCiphers })},
	{Name: "ssl_session_cache", Ctx: ctxStreamBoth, Args: Args12, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		if err := streamDialect.checkSessionCache(d); err != nil {
			return nil, err
		}
		s := streamLevel(c, parent)
		s.SSL.SessionCache = append([]string(nil), d.Args...)
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "ssl_session_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, secondsValue, func(s *StreamSettings) *time.Duration { return &s.SSL.SessionTimeout })},
	{Name: "ssl_session_tickets", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: setting(streamLevel, flagValue, func(s *StreamSettings) *bool { return &s.SSL.SessionTickets })},
	{Name: "ssl_handshake_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, timeValue, func(s *StreamSettings) *time.Duration { return &s.SSL.HandshakeTimeout })},
	{Name: "ssl_verify_client", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, streamDialect.enum("on", "off", "optional", "optional_no_ca"), func(s *StreamSettings) *string { return &s.SSL.VerifyClient })},
	{Name: "ssl_client_certificate", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, pathValue, func(s *StreamSettings) *string { return &s.SSL.ClientCertificate })},
	{Name: "ssl_trusted_certificate", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, pathValue, func(s *StreamSettings) *string { return &s.SSL.TrustedCertificate })},
	{Name: "ssl_verify_depth", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, numValue, func(s *StreamSettings) *int { return &s.SSL.VerifyDepth })},
	{Name: "ssl_alpn", Ctx: ctxStreamBoth, Args: Args1More, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		for _, a := range d.Args {
			if len(a) > 255 {
				return nil, errorf(d.File, d.Line, "protocol too long")
			}
		}
		s := streamLevel(c, parent)
		s.SSL.ALPN = append([]string(nil), d.Args...)
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "ssl_dhparam", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, dhparamValue, func(s *StreamSettings) *string { return &s.SSL.DHParam })},
	{Name: "ssl_ecdh_curve", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, ecdhCurveValue, func(s *StreamSettings) *string { return &s.SSL.ECDHCurve })},
	{Name: "proxy_ssl", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: setting(streamLevel, flagValue, func(s *StreamSettings) *bool { return &s.ProxySSL.Enable })},
	{Name: "proxy_ssl_server_name", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: setting(streamLevel, flagValue, func(s *StreamSettings) *bool { return &s.ProxySSL.ServerName })},
	{Name: "proxy_ssl_name", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, stringValue, func(s *StreamSettings) *string { return &s.ProxySSL.Name })},
	{Name: "proxy_ssl_verify", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: setting(streamLevel, flagValue, func(s *StreamSettings) *bool { return &s.ProxySSL.Verify })},
	{Name: "proxy_ssl_verify_depth", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, numValue, func(s *StreamSettings) *int { return &s.ProxySSL.VerifyDepth })},
	{Name: "proxy_ssl_trusted_certificate", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, pathValue, func(s *StreamSettings) *string { return &s.ProxySSL.TrustedCertificate })},
	{Name: "proxy_ssl_certificate", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, pathValue, func(s *StreamSettings) *string { return &s.ProxySSL.Certificate })},
	{Name: "proxy_ssl_certificate_key", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, pathValue, func(s *StreamSettings) *string { return &s.ProxySSL.CertificateKey })},
	{Name: "proxy_ssl_protocols", Ctx: ctxStreamBoth, Args: Args1More, Set: setting(streamLevel, streamDialect.parseSSLProtocols, func(s *StreamSettings) *[]string { return &s.ProxySSL.Protocols })},
	{Name: "proxy_ssl_ciphers", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, stringValue, func(s *StreamSettings) *string { return &s.ProxySSL.Ciphers })},
	{Name: "proxy_ssl_session_reuse", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: setting(streamLevel, flagValue, func(s *StreamSettings) *bool { return &s.ProxySSL.SessionReuse })},
	{Name: "set_real_ip_from", Ctx: ctxStreamBoth, Args: Args1, Multi: true, Set: setStreamRealIPFrom},
	{Name: "proxy_requests", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, numValue, func(s *StreamSettings) *int { return &s.ProxyRequests })},
	{Name: "proxy_responses", Ctx: ctxStreamBoth, Args: Args1, Set: setting(streamLevel, numValue, func(s *StreamSettings) *int { return &s.ProxyResponses })},

	{Name: "limit_conn_zone", Ctx: CtxStream, Args: Args2, Multi: true, Set: setStreamLimitConnZone},
	{Name: "log_format", Ctx: CtxStream, Args: Args2More, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		st := parent.(*Stream)
		for _, f := range st.LogFormats {
			if f.Args[0] == d.Args[0] {
				return nil, errorf(d.File, d.Line, "duplicate \"log_format\" name %q", d.Args[0])
			}
		}
		st.LogFormats = append(st.LogFormats, StreamLogFormat{Args: append([]string(nil), d.Args...), Pos: pos(d)})
		return nil, nil
	}},
	{Name: "map", Ctx: CtxStream, Args: Args2, Block: CtxRaw, Multi: true, Set: setStreamVarBlock},
	{Name: "geo", Ctx: CtxStream, Args: Args12, Block: CtxRaw, Multi: true, Set: setStreamVarBlock},
	{Name: "split_clients", Ctx: CtxStream, Args: Args2, Block: CtxRaw, Multi: true, Set: setStreamVarBlock},
}

func setStreamServer(c *compiler, d *Directive, parent any) (any, error) {
	st := parent.(*Stream)
	srv := &StreamServer{File: d.File, Line: d.Line}
	st.Servers = append(st.Servers, srv)
	return srv, nil
}

func closeStreamServer(c *compiler, d *Directive, child any) error {
	srv := child.(*StreamServer)
	if len(srv.Listens) == 0 {
		return errorf(srv.File, srv.Line, "no \"listen\" is defined for server")
	}
	if srv.ProxyPass == "" && !srv.ReturnSet {
		return errorf(srv.File, srv.Line, "no handler for server")
	}
	return nil
}

// setStreamListen parses listen ADDRESS [ssl] [udp] [proxy_protocol]
// [backlog=N] [rcvbuf=SIZE] [sndbuf=SIZE] [bind] [ipv6only=on|off]
// [reuseport] [so_keepalive=on|off|[idle]:[intvl]:[cnt]].
func setStreamListen(c *compiler, d *Directive, parent any) (any, error) {
	srv := parent.(*StreamServer)
	st := streamOf(c)
	addrs, err := listenAddrs(d, d.Args[0])
	if err != nil {
		return nil, err
	}
	p, err := streamDialect.parseListenParams(d)
	if err != nil {
		return nil, err
	}
	if p.udp {
		// nginx's checks, in its order.
		switch {
		case p.backlog != 511 || p.backlogSet:
			return nil, errorf(d.File, d.Line, "\"listen\" directive \"backlog\" parameter is incompatible with \"udp\"")
		case p.ssl:
			return nil, errorf(d.File, d.Line, "\"listen\" directive \"ssl\" parameter is incompatible with \"udp\"")
		case p.keepalive.mode != "":
			return nil, errorf(d.File, d.Line, "\"listen\" directive \"so_keepalive\" parameter is incompatible with \"udp\"")
		case p.proxyProtocol:
			return nil, errorf(d.File, d.Line, "\"listen\" directive \"proxy_protocol\" parameter is incompatible with \"udp\"")
		case p.fastOpen > 0:
			return nil, errorf(d.File, d.Line, "\"listen\" directive \"fastopen\" parameter is incompatible with \"udp\"")
		}
	}
	if st.listens == nil {
		st.listens = map[string]bool{}
	}
	for _, a := range addrs {
		l := StreamListen{Network: a.network, Address: a.address, SSL: p.ssl, UDP: p.udp, ProxyProtocol: p.proxyProtocol,
			ReusePort: p.reusePort, Bind: p.bind, Backlog: p.backlog, RcvBuf: p.rcvBuf, SndBuf: p.sndBuf,
			IPv6Only: p.ipv6OnlyFor(a.address), SoKeepalive: p.keepalive.mode, KeepIdle: p.keepalive.idle,
			KeepIntvl: p.keepalive.intvl, KeepCnt: p.keepalive.cnt, FastOpen: p.fastOpen, Pos: pos(d)}
		key := l.Network + " " + l.Address
		if l.UDP {
			key = "udp " + l.Address
		}
		if st.listens[key] {
			shown := l.Address
			if l.Network == "unix" {
				shown = "unix:" + l.Address
			}
			return nil, errorf(d.File, d.Line, "duplicate %q address and port pair", shown)
		}
		st.listens[key] = true
		srv.Listens = append(srv.Listens, l)
	}
	return nil, nil
}

func listenAddrs(d *Directive, s string) ([]netAddr, error) {
	if strings.HasPrefix(s, "unix:") {
		return streamDialect.unixListenAddr(d, s)
	}
	host, port := "", s
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.HasSuffix(s, "]") {
		host, port = s[:i], s[i+1:]
	} else if strings.HasPrefix(s, "[") {
		return nil, errorf(d.File, d.Line, "no port in %q of the \"listen\" directive", s)
	}
	p, ok := parseDigits(port)
	if !ok || p < 1 || p > 65535 {
		if host == "" && !ok {
			// "listen host" without a port: nginx's default port is 80 in
			// http; the stream module requires one.
			return nil, errorf(d.File, d.Line, "no port in %q of the \"listen\" directive", s)
		}
		return nil, errorf(d.File, d.Line, "invalid port in %q of the \"listen\" directive", s)
	}
	ps := strconv.Itoa(int(p))
	switch {
	case host == "" || host == "*":
		return []netAddr{{"tcp", "0.0.0.0:" + ps}}, nil
	case strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]"):
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil {
			return nil, errorf(d.File, d.Line, "invalid IPv6 address in %q of the \"listen\" directive", s)
		}
		return []netAddr{{"tcp", netip.AddrPortFrom(a, uint16(p)).String()}}, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netAddr{{"tcp", netip.AddrPortFrom(a, uint16(p)).String()}}, nil
	}
	ips, err := LookupHost(host)
	if err != nil || len(ips) == 0 {
		return nil, errorf(d.File, d.Line, "host not found in %q of the \"listen\" directive", s)
	}
	var out []netAddr
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue
		}
		out = append(out, netAddr{"tcp", netip.AddrPortFrom(a.Unmap(), uint16(p)).String()})
	}
	return out, nil
}

func setStreamAccess(c *compiler, d *Directive, parent any) (any, error) {
	s := streamLevel(c, parent)
	r, err := streamDialect.parseAccessRule(c, d)
	if err != nil {
		return nil, err
	}
	s.Access = append(s.Access, r)
	s.mark("access")
	return nil, nil
}

func setStreamAccessLog(c *compiler, d *Directive, parent any) (any, error) {
	s := streamLevel(c, parent)
	s.mark("access_log")
	al, off, err := streamDialect.parseAccessLog(c, d, func(name string) bool {
		for _, f := range streamOf(c).LogFormats {
			if strings.EqualFold(f.Args[0], name) {
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	if off {
		s.AccessLogOff = true
		return nil, nil
	}
	s.AccessLogOff = false
	s.AccessLogs = append(s.AccessLogs, al)
	return nil, nil
}

func setStreamLimitConn(c *compiler, d *Directive, parent any) (any, error) {
	s := streamLevel(c, parent)
	lc, err := streamDialect.parseLimitConn(d, s.LimitConns)
	if err != nil {
		return nil, err
	}
	s.LimitConns = append(s.LimitConns, lc)
	s.mark("limit_conn")
	return nil, nil
}

func setStreamLimitConnZone(c *compiler, d *Directive, parent any) (any, error) {
	st := parent.(*Stream)
	z, err := streamDialect.parseLimitConnZone(d, st.LimitConnZones)
	if err != nil {
		return nil, err
	}
	st.LimitConnZones = append(st.LimitConnZones, z)
	return nil, nil
}

func setStreamVarBlock(c *compiler, d *Directive, parent any) (any, error) {
	b, err := streamDialect.parseVarBlock(d)
	if err != nil {
		return nil, err
	}
	st := parent.(*Stream)
	st.VarBlocks = append(st.VarBlocks, b)
	return nil, nil
}

func setStreamUpstream(c *compiler, d *Directive, parent any) (any, error) {
	st := parent.(*Stream)
	name := d.Args[0]
	if st.upstreams == nil {
		st.upstreams = map[string]*StreamUpstream{}
	}
	if _, dup := st.upstreams[name]; dup {
		return nil, errorf(d.File, d.Line, "duplicate upstream %q", name)
	}
	u := &StreamUpstream{Name: name, Method: "round_robin", Pos: pos(d)}
	st.upstreams[name] = u
	st.Upstreams = append(st.Upstreams, u)
	return u, nil
}

// upstreamAddrs resolves an upstream address: unix:path, ip:port or
// host:port (every address of host). implicit selects the wording of
// proxy_pass errors.
func upstreamAddrs(d *Directive, s string, implicit bool) ([]string, error) {
	if strings.HasPrefix(s, "unix:") {
		if len(s) == 5 {
			return nil, errorf(d.File, d.Line, "no path in the unix domain socket in upstream %q", s)
		}
		return []string{s}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") || !strings.Contains(s, ":") || strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
			return nil, errorf(d.File, d.Line, "no port in upstream %q", s)
		}
		return nil, errorf(d.File, d.Line, "invalid port in upstream %q", s)
	}
	p, ok := parseDigits(port)
	if !ok || p < 1 || p > 65535 {
		return nil, errorf(d.File, d.Line, "invalid port in upstream %q", s)
	}
	out := resolveHostPort(host, int(p))
	if len(out) == 0 {
		if implicit {
			return nil, errorf(d.File, d.Line, "host not found in upstream %q", host)
		}
		return nil, errorf(d.File, d.Line, "host not found in upstream %q", s)
	}
	return out, nil
}

// closeStream runs when the stream block ends: it links every proxy_pass to
// its upstream (creating the implicit upstream of host:port), checks the
// limit_conn zones, and merges the stream-level settings into each server.
func closeStream(c *compiler, d *Directive, child any) error {
	st := child.(*Stream)
	if st.upstreams == nil {
		st.upstreams = map[string]*StreamUpstream{}
	}
	if st.defaults != nil {
		for _, u := range st.Upstreams {
			if resolves(u.Servers) {
				u.Resolver, u.ResolverTimeout = st.defaults.Resolver, st.defaults.ResolverTimeout
			}
		}
	}
	zones := map[string]bool{}
	for _, z := range st.LimitConnZones {
		zones[z.Name] = true
	}
	checkZones := func(s *StreamSettings) error {
		for _, lc := range s.LimitConns {
			if !zones[lc.Zone] {
				return &Error{Msg: fmt.Sprintf("zero size shared memory zone %q", lc.Zone)}
			}
		}
		return nil
	}
	if st.defaults != nil {
		if err := checkZones(st.defaults); err != nil {
			return err
		}
	}
	for _, srv := range st.Servers {
		srv.merge(st.defaults)
		if err := checkZones(&srv.StreamSettings); err != nil {
			return err
		}
		if err := checkStreamSSL(srv); err != nil {
			return err
		}
		if srv.ProxyPass == "" || strings.Contains(srv.ProxyPass, "$") {
			continue
		}
		if u, ok := st.upstreams[srv.ProxyPass]; ok && !u.Implicit {
			srv.Upstream = u.Name
			continue
		}
		file, line := splitPos(srv.ProxyPassPos)
		pd := &Directive{Name: "proxy_pass", File: file, Line: line}
		addrs, err := upstreamAddrs(pd, srv.ProxyPass, true)
		if err != nil {
			return err
		}
		srv.Upstream = srv.ProxyPass
		if _, ok := st.upstreams[srv.ProxyPass]; ok {
			continue
		}
		u := &StreamUpstream{Name: srv.ProxyPass, Implicit: true, Method: "round_robin", Pos: srv.ProxyPassPos}
		for _, a := range addrs {
			u.Servers = append(u.Servers, newUpstreamServer(srv.ProxyPass, a))
		}
		st.upstreams[u.Name] = u
		st.Upstreams = append(st.Upstreams, u)
	}
	return checkStreamHealth(st)
}

func splitPos(p string) (string, int) {
	i := strings.LastIndexByte(p, ':')
	if i < 0 {
		return p, 0
	}
	n, _ := strconv.Atoi(p[i+1:])
	return p[:i], n
}

// UpstreamByName returns the upstream called name, or nil.
func (s *Stream) UpstreamByName(name string) *StreamUpstream {
	for _, u := range s.Upstreams {
		if u.Name == name {
			return u
		}
	}
	return nil
}

// pathArg resolves a certificate or key path as nginx does: relative
// paths are taken from the directory of the main configuration file. A
// path that starts with a variable is left as written.
func pathArg(c *compiler, p string) string {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "$") || strings.HasPrefix(p, "data:") {
		return p
	}
	return filepath.Join(filepath.Dir(c.cfg.File), p)
}

// setStreamRealIPFrom parses set_real_ip_from ADDRESS | CIDR | unix: |
// HOST (every address of the host).
func setStreamRealIPFrom(c *compiler, d *Directive, parent any) (any, error) {
	s := streamLevel(c, parent)
	a := d.Args[0]
	var rules []StreamAccessRule
	switch {
	case a == "unix:":
		rules = append(rules, StreamAccessRule{Allow: true, Unix: true})
	default:
		p, err := parseCIDR(a)
		if err == nil {
			if p.Masked() != p {
				c.warnf(d, "low address bits of %s are meaningless", a)
				p = p.Masked()
			}
			rules = append(rules, StreamAccessRule{Allow: true, Net: p})
			break
		}
		var ips []string
		var lerr error
		if !strings.Contains(a, "/") {
			ips, lerr = LookupHost(a)
		}
		for _, ip := range ips {
			if ad, err := netip.ParseAddr(ip); err == nil {
				ad = ad.Unmap()
				rules = append(rules, StreamAccessRule{Allow: true, Net: netip.PrefixFrom(ad, ad.BitLen())})
			}
		}
		if lerr != nil || len(rules) == 0 {
			return nil, errorf(d.File, d.Line, "host not found in set_real_ip_from %q", a)
		}
	}
	s.RealIPFrom = append(s.RealIPFrom, rules...)
	s.mark(d.Name)
	return nil, nil
}

// checkStreamSSL applies nginx's checks of the TLS settings of a server
// once inherited values are known.
func checkStreamSSL(srv *StreamServer) error {
	var sslListen *StreamListen
	for i := range srv.Listens {
		if srv.Listens[i].SSL {
			sslListen = &srv.Listens[i]
			break
		}
	}
	if sslListen != nil {
		file, line := splitPos(sslListen.Pos)
		ssl := &srv.SSL
		if len(ssl.Certificates) == 0 {
			return errorf(file, line, "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive")
		}
		if len(ssl.CertificateKeys) == 0 {
			return errorf(file, line, "no \"ssl_certificate_key\" is defined for the \"listen ... ssl\" directive")
		}
		if len(ssl.CertificateKeys) < len(ssl.Certificates) {
			return errorf(file, line, "no \"ssl_certificate_key\" is defined for certificate %q and the \"listen ... ssl\" directive", ssl.Certificates[len(ssl.CertificateKeys)])
		}
		if (ssl.VerifyClient == "on" || ssl.VerifyClient == "optional") && ssl.ClientCertificate == "" {
			return &Error{Msg: "no ssl_client_certificate for ssl_verify_client"}
		}
		if err := checkECDHCurve(ssl.ECDHCurve); err != nil {
			return err
		}
	}
	if p := &srv.ProxySSL; p.Enable {
		if p.Certificate != "" && p.CertificateKey == "" {
			return &Error{Msg: fmt.Sprintf("no \"proxy_ssl_certificate_key\" is defined for certificate %q", p.Certificate)}
		}
		if p.Verify && p.TrustedCertificate == "" {
			return &Error{Msg: "no proxy_ssl_trusted_certificate for proxy_ssl_verify"}
		}
	}
	return nil
}

// proxyProtocolValue parses proxy_protocol: nginx's on (version 1) and
// off, or v2, sluice's extension for a version 2 header.
func proxyProtocolValue(_ *compiler, d *Directive) (int, error) {
	if strings.EqualFold(d.Args[0], "v2") {
		return 2, nil
	}
	on, err := parseFlag(d)
	if err != nil {
		return 0, errorf(d.File, d.Line, `invalid value "%s" in "%s" directive, it must be "on", "off" or "v2"`, d.Args[0], d.Name)
	}
	if on {
		return 1, nil
	}
	return 0, nil
}
