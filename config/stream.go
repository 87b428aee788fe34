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
	ProxyProtocol            bool          // proxy_protocol: send a PROXY v1 header upstream
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

// StreamAccessLog is one access_log target.
type StreamAccessLog struct {
	Path   string
	Format string
	Buffer int64         `json:",omitempty"` // 0: write each line at once
	Flush  time.Duration `json:",omitempty"` // 0: flush when the buffer fills
	If     string        `json:",omitempty"` // condition (complex value)
	Pos    string
}

// StreamLimitConn is one limit_conn directive.
type StreamLimitConn struct {
	Zone string
	Conn int
	Pos  string
}

// StreamLimitConnZone is one limit_conn_zone directive.
type StreamLimitConnZone struct {
	Name string
	Key  string // complex value
	Size int64
	Pos  string
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

// StreamVarLine is one statement inside a map, geo or split_clients block.
type StreamVarLine struct {
	Args []string
	Pos  string
}

// StreamVarBlock is a map, geo or split_clients block.
type StreamVarBlock struct {
	Kind   string // "map", "geo" or "split_clients"
	Source string // the source string or variable ("" for geo's default)
	Var    string // the variable defined, with its '$'
	Lines  []StreamVarLine
	Pos    string
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
	Pos             string
}

// StreamUpstreamServer is one server of an upstream. A host name that
// resolves to several addresses gives one entry per address, all with the
// same Name.
type StreamUpstreamServer struct {
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
	register(streamDirectives)
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

// settings returns the settings an inheritable directive writes to: the
// stream level's or the server's.
func settings(parent any) *StreamSettings {
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

// timeSetting returns a Set function for a time directive.
func timeSetting(field func(*StreamSettings) *time.Duration) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		t, err := timeArg(d, d.Args[0])
		if err != nil {
			return nil, err
		}
		s := settings(parent)
		*field(s) = t
		s.mark(d.Name)
		return nil, nil
	}
}

func sizeSetting(field func(*StreamSettings) *int64) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		n, err := sizeArg(d, d.Args[0])
		if err != nil {
			return nil, err
		}
		s := settings(parent)
		*field(s) = n
		s.mark(d.Name)
		return nil, nil
	}
}

func flagSetting(field func(*StreamSettings) *bool) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		on, err := parseFlag(d)
		if err != nil {
			return nil, err
		}
		s := settings(parent)
		*field(s) = on
		s.mark(d.Name)
		return nil, nil
	}
}

const ctxStreamBoth = CtxStream | CtxStreamServer

var streamDirectives = []*Spec{
	{Name: "server", Ctx: CtxStream, Args: Args0, Block: CtxStreamServer, Multi: true, Set: setStreamServer, Close: closeStreamServer},
	{Name: "upstream", Ctx: CtxStream, Args: Args1, Block: CtxStreamUpstream, Multi: true, Set: setStreamUpstream, Close: closeStreamUpstream},
	{Name: "server", Ctx: CtxStreamUpstream, Args: Args1More, Multi: true, Set: setUpstreamServer},
	{Name: "hash", Ctx: CtxStreamUpstream, Args: Args12, Set: setUpstreamMethod},
	{Name: "least_conn", Ctx: CtxStreamUpstream, Args: Args0, Set: setUpstreamMethod},
	{Name: "random", Ctx: CtxStreamUpstream, Args: Args0 | Args12, Set: setUpstreamMethod},
	{Name: "least_time", Ctx: CtxStreamUpstream, Args: Args12, Set: setUpstreamMethod},
	{Name: "zone", Ctx: CtxStreamUpstream, Args: Args12, Set: setUpstreamZone},

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

	{Name: "proxy_connect_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: timeSetting(func(s *StreamSettings) *time.Duration { return &s.ProxyConnectTimeout })},
	{Name: "proxy_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: timeSetting(func(s *StreamSettings) *time.Duration { return &s.ProxyTimeout })},
	{Name: "proxy_next_upstream", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.ProxyNextUpstream })},
	{Name: "proxy_next_upstream_tries", Ctx: ctxStreamBoth, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		n, err := parseNum(d, d.Args[0])
		if err != nil {
			return nil, err
		}
		s := settings(parent)
		s.ProxyNextUpstreamTries = n
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "proxy_next_upstream_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: timeSetting(func(s *StreamSettings) *time.Duration { return &s.ProxyNextUpstreamTimeout })},
	{Name: "proxy_buffer_size", Ctx: ctxStreamBoth, Args: Args1, Set: sizeSetting(func(s *StreamSettings) *int64 { return &s.ProxyBufferSize })},
	{Name: "proxy_protocol", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.ProxyProtocol })},
	{Name: "proxy_bind", Ctx: ctxStreamBoth, Args: Args12, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := settings(parent)
		s.mark(d.Name)
		if d.Args[0] == "off" {
			if len(d.Args) > 1 {
				return nil, errorf(d.File, d.Line, "invalid number of arguments in %q directive", d.Name)
			}
			s.ProxyBind, s.ProxyBindTransparent = "", false
			return nil, nil
		}
		if len(d.Args) == 2 {
			if d.Args[1] != "transparent" {
				return nil, errorf(d.File, d.Line, "invalid parameter %q", d.Args[1])
			}
			return nil, errorf(d.File, d.Line, "the \"transparent\" parameter of the %q directive is not supported by sluice", d.Name)
		}
		if !strings.Contains(d.Args[0], "$") {
			if _, err := netip.ParseAddr(d.Args[0]); err != nil {
				return nil, errorf(d.File, d.Line, "invalid address %q", d.Args[0])
			}
		}
		s.ProxyBind = d.Args[0]
		return nil, nil
	}},
	{Name: "proxy_socket_keepalive", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.ProxySocketKeepalive })},
	{Name: "proxy_half_close", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.ProxyHalfClose })},
	{Name: "proxy_upload_rate", Ctx: ctxStreamBoth, Args: Args1, Set: sizeSetting(func(s *StreamSettings) *int64 { return &s.ProxyUploadRate })},
	{Name: "proxy_download_rate", Ctx: ctxStreamBoth, Args: Args1, Set: sizeSetting(func(s *StreamSettings) *int64 { return &s.ProxyDownloadRate })},
	{Name: "tcp_nodelay", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.TCPNodelay })},
	{Name: "preread_buffer_size", Ctx: ctxStreamBoth, Args: Args1, Set: sizeSetting(func(s *StreamSettings) *int64 { return &s.PrereadBufferSize })},
	{Name: "preread_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: timeSetting(func(s *StreamSettings) *time.Duration { return &s.PrereadTimeout })},
	{Name: "proxy_protocol_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: timeSetting(func(s *StreamSettings) *time.Duration { return &s.ProxyProtocolTimeout })},
	{Name: "resolver", Ctx: ctxStreamBoth, Args: Args1More, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := settings(parent)
		s.Resolver = append([]string(nil), d.Args...)
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "resolver_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: timeSetting(func(s *StreamSettings) *time.Duration { return &s.ResolverTimeout })},
	{Name: "allow", Ctx: ctxStreamBoth, Args: Args1, Multi: true, Set: setStreamAccess},
	{Name: "deny", Ctx: ctxStreamBoth, Args: Args1, Multi: true, Set: setStreamAccess},
	{Name: "access_log", Ctx: ctxStreamBoth, Args: Args1More, Multi: true, Set: setStreamAccessLog},
	{Name: "error_log", Ctx: ctxStreamBoth, Args: Args1More, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		el, err := parseErrorLog(c, d)
		if err != nil {
			return nil, err
		}
		s := settings(parent)
		s.ErrorLogs = append(s.ErrorLogs, el)
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "limit_conn", Ctx: ctxStreamBoth, Args: Args2, Multi: true, Set: setStreamLimitConn},
	{Name: "limit_conn_log_level", Ctx: ctxStreamBoth, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		switch d.Args[0] {
		case "info", "notice", "warn", "error":
		default:
			return nil, errorf(d.File, d.Line, "invalid value %q", d.Args[0])
		}
		s := settings(parent)
		s.LimitConnLogLevel = d.Args[0]
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "limit_conn_dry_run", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.LimitConnDryRun })},

	{Name: "ssl_preread", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.SSLPreread })},
	{Name: "ssl_certificate", Ctx: ctxStreamBoth, Args: Args1, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := settings(parent)
		s.SSL.Certificates = append(s.SSL.Certificates, pathArg(c, d.Args[0]))
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "ssl_certificate_key", Ctx: ctxStreamBoth, Args: Args1, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := settings(parent)
		s.SSL.CertificateKeys = append(s.SSL.CertificateKeys, pathArg(c, d.Args[0]))
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "ssl_protocols", Ctx: ctxStreamBoth, Args: Args1More, Set: protocolsSetting(func(s *StreamSettings) *[]string { return &s.SSL.Protocols })},
	{Name: "ssl_ciphers", Ctx: ctxStreamBoth, Args: Args1, Set: stringSetting(func(s *StreamSettings) *string { return &s.SSL.Ciphers })},
	{Name: "ssl_prefer_server_ciphers", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.SSL.PreferServerCiphers })},
	{Name: "ssl_session_cache", Ctx: ctxStreamBoth, Args: Args12, Set: setSSLSessionCache},
	{Name: "ssl_session_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		t, err := secondsArg(d, d.Args[0])
		if err != nil {
			return nil, err
		}
		s := settings(parent)
		s.SSL.SessionTimeout = t
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "ssl_session_tickets", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.SSL.SessionTickets })},
	{Name: "ssl_handshake_timeout", Ctx: ctxStreamBoth, Args: Args1, Set: timeSetting(func(s *StreamSettings) *time.Duration { return &s.SSL.HandshakeTimeout })},
	{Name: "ssl_verify_client", Ctx: ctxStreamBoth, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		switch d.Args[0] {
		case "on", "off", "optional", "optional_no_ca":
		default:
			return nil, errorf(d.File, d.Line, "invalid value %q", d.Args[0])
		}
		s := settings(parent)
		s.SSL.VerifyClient = d.Args[0]
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "ssl_client_certificate", Ctx: ctxStreamBoth, Args: Args1, Set: pathSetting(func(s *StreamSettings) *string { return &s.SSL.ClientCertificate })},
	{Name: "ssl_trusted_certificate", Ctx: ctxStreamBoth, Args: Args1, Set: pathSetting(func(s *StreamSettings) *string { return &s.SSL.TrustedCertificate })},
	{Name: "ssl_verify_depth", Ctx: ctxStreamBoth, Args: Args1, Set: numSetting(func(s *StreamSettings) *int { return &s.SSL.VerifyDepth })},
	{Name: "ssl_alpn", Ctx: ctxStreamBoth, Args: Args1More, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		for _, a := range d.Args {
			if len(a) > 255 {
				return nil, errorf(d.File, d.Line, "protocol too long")
			}
		}
		s := settings(parent)
		s.SSL.ALPN = append([]string(nil), d.Args...)
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "proxy_ssl", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.ProxySSL.Enable })},
	{Name: "proxy_ssl_server_name", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.ProxySSL.ServerName })},
	{Name: "proxy_ssl_name", Ctx: ctxStreamBoth, Args: Args1, Set: stringSetting(func(s *StreamSettings) *string { return &s.ProxySSL.Name })},
	{Name: "proxy_ssl_verify", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.ProxySSL.Verify })},
	{Name: "proxy_ssl_verify_depth", Ctx: ctxStreamBoth, Args: Args1, Set: numSetting(func(s *StreamSettings) *int { return &s.ProxySSL.VerifyDepth })},
	{Name: "proxy_ssl_trusted_certificate", Ctx: ctxStreamBoth, Args: Args1, Set: pathSetting(func(s *StreamSettings) *string { return &s.ProxySSL.TrustedCertificate })},
	{Name: "proxy_ssl_certificate", Ctx: ctxStreamBoth, Args: Args1, Set: pathSetting(func(s *StreamSettings) *string { return &s.ProxySSL.Certificate })},
	{Name: "proxy_ssl_certificate_key", Ctx: ctxStreamBoth, Args: Args1, Set: pathSetting(func(s *StreamSettings) *string { return &s.ProxySSL.CertificateKey })},
	{Name: "proxy_ssl_protocols", Ctx: ctxStreamBoth, Args: Args1More, Set: protocolsSetting(func(s *StreamSettings) *[]string { return &s.ProxySSL.Protocols })},
	{Name: "proxy_ssl_ciphers", Ctx: ctxStreamBoth, Args: Args1, Set: stringSetting(func(s *StreamSettings) *string { return &s.ProxySSL.Ciphers })},
	{Name: "proxy_ssl_session_reuse", Ctx: ctxStreamBoth, Args: ArgsFlag, Set: flagSetting(func(s *StreamSettings) *bool { return &s.ProxySSL.SessionReuse })},
	{Name: "set_real_ip_from", Ctx: ctxStreamBoth, Args: Args1, Multi: true, Set: setStreamRealIPFrom},
	{Name: "proxy_requests", Ctx: ctxStreamBoth, Args: Args1, Set: numSetting(func(s *StreamSettings) *int { return &s.ProxyRequests })},
	{Name: "proxy_responses", Ctx: ctxStreamBoth, Args: Args1, Set: numSetting(func(s *StreamSettings) *int { return &s.ProxyResponses })},

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
	l := StreamListen{Network: "tcp", Backlog: 511, Pos: pos(d)}
	addrs, err := listenAddrs(d, d.Args[0])
	if err != nil {
		return nil, err
	}
	ipv6onlySet, backlogSet := false, false
	for _, a := range d.Args[1:] {
		switch {
		case a == "ssl":
			l.SSL = true
		case a == "udp":
			l.UDP = true
		case a == "proxy_protocol":
			l.ProxyProtocol = true
		case a == "reuseport":
			l.ReusePort = true
		case a == "bind":
			l.Bind = true
		case strings.HasPrefix(a, "backlog="):
			backlogSet = true
			n, ok := parseDigits(a[8:])
			if !ok || n == 0 || n > 1<<31-1 {
				return nil, errorf(d.File, d.Line, "invalid backlog %q", a)
			}
			l.Backlog = int(n)
		case strings.HasPrefix(a, "rcvbuf=") || strings.HasPrefix(a, "sndbuf="):
			n, err := ParseSize(a[7:])
			if err != nil || n > 1<<31-1 {
				return nil, errorf(d.File, d.Line, "invalid %s %q", a[:6], a[7:])
			}
			if a[0] == 'r' {
				l.RcvBuf = int(n)
			} else {
				l.SndBuf = int(n)
			}
		case strings.HasPrefix(a, "ipv6only="):
			switch a[9:] {
			case "on":
				l.IPv6Only = true
			case "off":
				l.IPv6Only = false
			default:
				return nil, errorf(d.File, d.Line, "invalid ipv6only flags %q", a[9:])
			}
			ipv6onlySet = true
		case strings.HasPrefix(a, "so_keepalive="):
			if err := parseSoKeepalive(d, a[13:], &l); err != nil {
				return nil, err
			}
		default:
			return nil, errorf(d.File, d.Line, "the invalid %q parameter", a)
		}
	}
	if l.UDP {
		// nginx's checks, in its order.
		switch {
		case l.Backlog != 511 || backlogSet:
			return nil, errorf(d.File, d.Line, "\"listen\" directive \"backlog\" parameter is incompatible with \"udp\"")
		case l.SSL:
			return nil, errorf(d.File, d.Line, "\"listen\" directive \"ssl\" parameter is incompatible with \"udp\"")
		case l.SoKeepalive != "":
			return nil, errorf(d.File, d.Line, "\"listen\" directive \"so_keepalive\" parameter is incompatible with \"udp\"")
		case l.ProxyProtocol:
			return nil, errorf(d.File, d.Line, "\"listen\" directive \"proxy_protocol\" parameter is incompatible with \"udp\"")
		}
	}
	if st.listens == nil {
		st.listens = map[string]bool{}
	}
	for _, a := range addrs {
		l := l
		l.Network, l.Address = a.network, a.address
		if !ipv6onlySet && strings.HasPrefix(l.Address, "[") {
			l.IPv6Only = true
		}
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

type netAddr struct{ network, address string }

func listenAddrs(d *Directive, s string) ([]netAddr, error) {
	if strings.HasPrefix(s, "unix:") {
		if len(s) == 5 {
			return nil, errorf(d.File, d.Line, "no path in the unix domain socket in %q of the \"listen\" directive", s)
		}
		return []netAddr{{"unix", s[5:]}}, nil
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

func parseSoKeepalive(d *Directive, v string, l *StreamListen) error {
	bad := errorf(d.File, d.Line, "invalid so_keepalive value: %q", "so_keepalive="+v)
	switch v {
	case "on", "off":
		l.SoKeepalive = v
		return nil
	}
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return bad
	}
	if parts[0] != "" {
		t, err := ParseTime(parts[0])
		if err != nil || t < time.Second {
			return bad
		}
		l.KeepIdle = t
	}
	if parts[1] != "" {
		t, err := ParseTime(parts[1])
		if err != nil || t < time.Second {
			return bad
		}
		l.KeepIntvl = t
	}
	if parts[2] != "" {
		n, ok := parseDigits(parts[2])
		if !ok || n == 0 || n > 1<<31-1 {
			return bad
		}
		l.KeepCnt = int(n)
	}
	l.SoKeepalive = "on"
	return nil
}

func setStreamAccess(c *compiler, d *Directive, parent any) (any, error) {
	s := settings(parent)
	r := StreamAccessRule{Allow: d.Name == "allow"}
	switch a := d.Args[0]; {
	case a == "all":
		r.All = true
	case a == "unix:":
		r.Unix = true
	default:
		p, err := parseCIDR(a)
		if err != nil {
			return nil, errorf(d.File, d.Line, "invalid parameter %q", a)
		}
		if p.Masked() != p {
			c.warnf(d, "low address bits of %s are meaningless", a)
			p = p.Masked()
		}
		r.Net = p
	}
	s.Access = append(s.Access, r)
	s.mark("access")
	return nil, nil
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

func setStreamAccessLog(c *compiler, d *Directive, parent any) (any, error) {
	s := settings(parent)
	s.mark("access_log")
	if d.Args[0] == "off" {
		if len(d.Args) > 1 {
			return nil, errorf(d.File, d.Line, "invalid parameter %q", d.Args[1])
		}
		s.AccessLogOff = true
		return nil, nil
	}
	if strings.HasPrefix(d.Args[0], "syslog:") {
		return nil, errorf(d.File, d.Line, "%q access log target is not supported by sluice", d.Args[0])
	}
	if len(d.Args) < 2 {
		return nil, errorf(d.File, d.Line, "log format is not specified")
	}
	al := StreamAccessLog{Path: c.path(d.Args[0]), Format: d.Args[1], Pos: pos(d)}
	found := false
	for _, f := range streamOf(c).LogFormats {
		if strings.EqualFold(f.Args[0], al.Format) {
			found = true
		}
	}
	if !found {
		return nil, errorf(d.File, d.Line, "unknown log format %q", al.Format)
	}
	for _, a := range d.Args[2:] {
		switch {
		case strings.HasPrefix(a, "buffer="):
			n, err := ParseSize(a[7:])
			if err != nil {
				return nil, errorf(d.File, d.Line, "invalid buffer size %q", a[7:])
			}
			al.Buffer = n
		case strings.HasPrefix(a, "flush="):
			t, err := ParseTime(a[6:])
			if err != nil {
				return nil, errorf(d.File, d.Line, "invalid flush time %q", a[6:])
			}
			al.Flush = t
		case strings.HasPrefix(a, "if="):
			al.If = a[3:]
		case a == "gzip" || strings.HasPrefix(a, "gzip="):
			return nil, errorf(d.File, d.Line, "the \"gzip\" parameter of the \"access_log\" directive is not supported by sluice")
		default:
			return nil, errorf(d.File, d.Line, "invalid parameter %q", a)
		}
	}
	if al.Flush > 0 && al.Buffer == 0 {
		al.Buffer = 64 << 10 // nginx's default when only flush= is given
	}
	s.AccessLogOff = false
	s.AccessLogs = append(s.AccessLogs, al)
	return nil, nil
}

func setStreamLimitConn(c *compiler, d *Directive, parent any) (any, error) {
	s := settings(parent)
	n, ok := parseDigits(d.Args[1])
	if !ok || n < 1 || n > 65535 {
		return nil, errorf(d.File, d.Line, "invalid number of connections %q", d.Args[1])
	}
	for _, lc := range s.LimitConns {
		if lc.Zone == d.Args[0] {
			return nil, errorf(d.File, d.Line, "%q directive is duplicate", d.Name)
		}
	}
	s.LimitConns = append(s.LimitConns, StreamLimitConn{Zone: d.Args[0], Conn: int(n), Pos: pos(d)})
	s.mark("limit_conn")
	return nil, nil
}

func setStreamLimitConnZone(c *compiler, d *Directive, parent any) (any, error) {
	st := parent.(*Stream)
	a := d.Args[1]
	if !strings.HasPrefix(a, "zone=") {
		return nil, errorf(d.File, d.Line, "invalid parameter %q", a)
	}
	name, size, ok := strings.Cut(a[5:], ":")
	if !ok || name == "" {
		return nil, errorf(d.File, d.Line, "invalid zone size %q", a)
	}
	n, err := ParseSize(size)
	if err != nil || n < 8<<10 {
		return nil, errorf(d.File, d.Line, "invalid zone size %q", a)
	}
	for _, z := range st.LimitConnZones {
		if z.Name == name {
			return nil, errorf(d.File, d.Line, "limit_conn_zone %q is already bound to key %q", name, z.Key)
		}
	}
	st.LimitConnZones = append(st.LimitConnZones, StreamLimitConnZone{Name: name, Key: d.Args[0], Size: n, Pos: pos(d)})
	return nil, nil
}

func setStreamVarBlock(c *compiler, d *Directive, parent any) (any, error) {
	st := parent.(*Stream)
	b := StreamVarBlock{Kind: d.Name, Pos: pos(d)}
	if len(d.Args) == 2 {
		b.Source, b.Var = d.Args[0], d.Args[1]
	} else {
		b.Var = d.Args[0]
	}
	for _, l := range d.Block {
		args := append([]string{l.Name}, l.Args...)
		if l.IsBlock() {
			return nil, errorf(l.File, l.Line, "unexpected \"{\"")
		}
		b.Lines = append(b.Lines, StreamVarLine{Args: args, Pos: l.Pos()})
	}
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

func closeStreamUpstream(c *compiler, d *Directive, child any) error {
	u := child.(*StreamUpstream)
	if len(u.Servers) == 0 {
		return errorf(d.File, d.EndLine, "no servers are inside upstream")
	}
	noBackup := u.Method == "hash" || u.Method == "random"
	kept := u.Servers[:0]
	for _, s := range u.Servers {
		if noBackup && s.Backup {
			// nginx keeps such servers but the method never uses them.
			continue
		}
		kept = append(kept, s)
	}
	u.Servers = kept
	primary := 0
	for _, s := range u.Servers {
		if !s.Backup {
			primary++
		}
	}
	if primary == 0 {
		return errorf(d.File, d.Line, "no servers in upstream %q", u.Name)
	}
	return nil
}

func methodNoBackup(m string) bool { return m == "hash" || m == "random" }

// setUpstreamServer parses server ADDRESS [weight=N] [max_conns=N]
// [max_fails=N] [fail_timeout=T] [backup] [down] [slow_start=T] [drain].
func setUpstreamServer(c *compiler, d *Directive, parent any) (any, error) {
	u := parent.(*StreamUpstream)
	s := StreamUpstreamServer{Name: d.Args[0], Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}
	invalid := func(a string) error { return errorf(d.File, d.Line, "invalid parameter %q", a) }
	unsupported := func(a string) error {
		return errorf(d.File, d.Line, "balancing method does not support parameter %q", a)
	}
	for _, a := range d.Args[1:] {
		key, val, hasVal := strings.Cut(a, "=")
		switch {
		case hasVal && key == "weight":
			n, ok := parseDigits(val)
			if !ok || n < 1 || n > 1<<20 {
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
			t, err := ParseTime(val)
			if err != nil {
				return nil, invalid(a)
			}
			s.FailTimeout = t
		case hasVal && key == "slow_start":
			t, err := ParseTime(val)
			if err != nil {
				return nil, invalid(a)
			}
			if methodNoBackup(u.Method) {
				return nil, unsupported(a)
			}
			s.SlowStart = t
		case a == "backup":
			if methodNoBackup(u.Method) {
				return nil, unsupported(a)
			}
			s.Backup = true
		case a == "down":
			s.Down = true
		case a == "drain":
			s.Drain = true
		default:
			return nil, invalid(a)
		}
	}
	addrs, err := upstreamAddrs(d, d.Args[0], false)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		s := s
		s.Addr = a
		u.Servers = append(u.Servers, s)
	}
	return nil, nil
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
	if a, err := netip.ParseAddr(host); err == nil {
		return []string{netip.AddrPortFrom(a, uint16(p)).String()}, nil
	}
	ips, err := LookupHost(host)
	var out []string
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil {
			out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(p)).String())
		}
	}
	if err != nil || len(out) == 0 {
		if implicit {
			return nil, errorf(d.File, d.Line, "host not found in upstream %q", host)
		}
		return nil, errorf(d.File, d.Line, "host not found in upstream %q", s)
	}
	return out, nil
}

func setUpstreamMethod(c *compiler, d *Directive, parent any) (any, error) {
	u := parent.(*StreamUpstream)
	if u.Method != "round_robin" {
		c.warnf(d, "load balancing method redefined")
		u.HashKey, u.Consistent, u.RandomTwo, u.RandomTwoMethod, u.LeastTimeMetric, u.Inflight = "", false, false, "", "", false
	}
	for _, s := range u.Servers {
		if (d.Name == "hash" || d.Name == "random") && s.SlowStart > 0 {
			return nil, errorf(d.File, d.Line, "balancing method does not support parameter \"slow_start=\"")
		}
	}
	u.Method = d.Name
	switch d.Name {
	case "hash":
		u.HashKey = d.Args[0]
		if len(d.Args) == 2 {
			if d.Args[1] != "consistent" {
				return nil, errorf(d.File, d.Line, "invalid parameter %q", d.Args[1])
			}
			u.Consistent = true
		}
	case "random":
		if len(d.Args) == 0 {
			return nil, nil
		}
		if d.Args[0] != "two" {
			return nil, errorf(d.File, d.Line, "invalid parameter %q", d.Args[0])
		}
		u.RandomTwo, u.RandomTwoMethod = true, "least_conn"
		if len(d.Args) == 2 {
			switch a := d.Args[1]; {
			case a == "least_conn":
			case strings.HasPrefix(a, "least_time="):
				m := a[len("least_time="):]
				if !validLeastTimeMetric(m) {
					return nil, errorf(d.File, d.Line, "invalid parameter %q", a)
				}
				u.RandomTwoMethod, u.LeastTimeMetric = "least_time", m
			default:
				return nil, errorf(d.File, d.Line, "invalid parameter %q", a)
			}
		}
	case "least_time":
		if !validLeastTimeMetric(d.Args[0]) {
			return nil, errorf(d.File, d.Line, "invalid parameter %q", d.Args[0])
		}
		u.LeastTimeMetric = d.Args[0]
		if len(d.Args) == 2 {
			if d.Args[1] != "inflight" {
				return nil, errorf(d.File, d.Line, "invalid parameter %q", d.Args[1])
			}
			u.Inflight = true
		}
	}
	return nil, nil
}

func validLeastTimeMetric(m string) bool {
	return m == "connect" || m == "first_byte" || m == "last_byte"
}

func setUpstreamZone(c *compiler, d *Directive, parent any) (any, error) {
	u := parent.(*StreamUpstream)
	u.Zone = d.Args[0]
	if len(d.Args) == 2 {
		n, err := ParseSize(d.Args[1])
		if err != nil {
			return nil, errorf(d.File, d.Line, "invalid zone size %q", d.Args[1])
		}
		if n < 8<<12 {
			return nil, errorf(d.File, d.Line, "zone %q is too small", d.Args[0])
		}
		u.ZoneSize = n
	}
	return nil, nil
}

// closeStream runs when the stream block ends: it links every proxy_pass to
// its upstream (creating the implicit upstream of host:port), checks the
// limit_conn zones, and merges the stream-level settings into each server.
func closeStream(c *compiler, d *Directive, child any) error {
	st := child.(*Stream)
	if st.upstreams == nil {
		st.upstreams = map[string]*StreamUpstream{}
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
			u.Servers = append(u.Servers, StreamUpstreamServer{Addr: a, Name: srv.ProxyPass, Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second})
		}
		st.upstreams[u.Name] = u
		st.Upstreams = append(st.Upstreams, u)
	}
	return nil
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

func pathSetting(field func(*StreamSettings) *string) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		s := settings(parent)
		*field(s) = pathArg(c, d.Args[0])
		s.mark(d.Name)
		return nil, nil
	}
}

func stringSetting(field func(*StreamSettings) *string) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		s := settings(parent)
		*field(s) = d.Args[0]
		s.mark(d.Name)
		return nil, nil
	}
}

func numSetting(field func(*StreamSettings) *int) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		n, err := parseNum(d, d.Args[0])
		if err != nil {
			return nil, err
		}
		s := settings(parent)
		*field(s) = n
		s.mark(d.Name)
		return nil, nil
	}
}

// sslProtocolNames are the values ssl_protocols and proxy_ssl_protocols
// accept, as nginx 1.22.
var sslProtocolNames = map[string]bool{"SSLv2": true, "SSLv3": true, "TLSv1": true, "TLSv1.1": true, "TLSv1.2": true, "TLSv1.3": true}

func protocolsSetting(field func(*StreamSettings) *[]string) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		for _, a := range d.Args {
			if !sslProtocolNames[a] {
				return nil, errorf(d.File, d.Line, "invalid value %q", a)
			}
		}
		s := settings(parent)
		*field(s) = append([]string(nil), d.Args...)
		s.mark(d.Name)
		return nil, nil
	}
}

// setSSLSessionCache parses ssl_session_cache off | none | [builtin[:size]]
// [shared:name:size].
func setSSLSessionCache(c *compiler, d *Directive, parent any) (any, error) {
	invalid := func(a string) error { return errorf(d.File, d.Line, "invalid session cache %q", a) }
	for _, a := range d.Args {
		switch {
		case a == "off" || a == "none":
			if len(d.Args) > 1 {
				return nil, invalid(a)
			}
		case a == "builtin":
		case strings.HasPrefix(a, "builtin:"):
			if n, ok := parseDigits(a[8:]); !ok || n == 0 {
				return nil, invalid(a)
			}
		case strings.HasPrefix(a, "shared:"):
			name, size, ok := strings.Cut(a[7:], ":")
			if !ok || name == "" {
				return nil, invalid(a)
			}
			n, err := ParseSize(size)
			if err != nil {
				return nil, invalid(a)
			}
			if n < 8*4096 {
				return nil, errorf(d.File, d.Line, "session cache %q is too small", a)
			}
		default:
			return nil, invalid(a)
		}
	}
	s := settings(parent)
	s.SSL.SessionCache = append([]string(nil), d.Args...)
	s.mark(d.Name)
	return nil, nil
}

// setStreamRealIPFrom parses set_real_ip_from ADDRESS | CIDR | unix: |
// HOST (every address of the host).
func setStreamRealIPFrom(c *compiler, d *Directive, parent any) (any, error) {
	s := settings(parent)
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
