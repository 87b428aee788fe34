package config

import (
	"fmt"
	"github.com/sluicelb/sluice/internal/pcre"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HTTP holds the http {} block: upstreams, virtual servers with their
// location trees, log formats, variable blocks and limit zones, typed and
// defaulted. Inheritable settings are already merged down the tree (http ->
// server -> location -> nested location), as nginx merges them, so every
// server and location carries its effective values. The zero value is an
// empty block; a compiled HTTP is read-only and safe for concurrent use.
type HTTP struct {
	// Upstreams are the upstream blocks in configuration order, followed by
	// the implicit upstreams that "proxy_pass http://host:port" creates.
	Upstreams []*HTTPUpstream `json:",omitempty"`
	// Servers are the server blocks in configuration order.
	Servers []*HTTPServer `json:",omitempty"`
	// LogFormats are the log_format directives in order ("combined" is
	// predefined and not listed).
	LogFormats []HTTPLogFormat `json:",omitempty"`
	// VarBlocks are the map, geo and split_clients blocks in order.
	VarBlocks []HTTPVarBlock `json:",omitempty"`
	// LimitConnZones and LimitReqZones are the shared zones declared.
	LimitConnZones []HTTPLimitConnZone `json:",omitempty"`
	LimitReqZones  []HTTPLimitReqZone  `json:",omitempty"`
	// Charsets are the charset names that charset and source_charset
	// name, in first-use order and spelling (nginx's charset table).
	Charsets []string `json:",omitempty"`
	// CachePaths are the proxy_cache_path directives in order
	// (http_cache.go).
	CachePaths []HTTPCachePath `json:",omitempty"`
	// Matches are the match blocks of health checks (http_health.go).
	Matches []*HTTPMatch `json:",omitempty"`

	settings *HTTPSettings       // http-level values, starting at the defaults
	srvconf  *HTTPServerSettings // http-level server settings
	ups      map[string]*HTTPUpstream
	// passes are the proxy_pass directives with a constant address, linked
	// to their upstream when the block closes.
	passes []*HTTPProxyPass
	// listens maps an address ("ip:port", "unix:/path") to the servers
	// listening there, for the duplicate checks nginx makes.
	listens map[string]*httpAddrUse
	addrs   []string // listen addresses in first-use order
}

type httpAddrUse struct {
	servers       []*HTTPServer
	defaultServer bool
	optionsSet    bool
}

// HTTPServerSettings are the settings of a virtual server that nginx keeps
// per server (ngx_http_core_srv_conf and ngx_http_ssl's server settings):
// set in http {} or server {}, not in locations.
type HTTPServerSettings struct {
	ClientHeaderBufferSize       int64         // client_header_buffer_size, default 1k
	LargeClientHeaderBuffersNum  int           // large_client_header_buffers, default 4
	LargeClientHeaderBuffersSize int64         // default 8k
	ClientHeaderTimeout          time.Duration // client_header_timeout, default 60s
	UnderscoresInHeaders         bool          // underscores_in_headers, default off
	IgnoreInvalidHeaders         bool          // ignore_invalid_headers, default on
	MergeSlashes                 bool          // merge_slashes, default on
	SSLCertificates              []string      `json:",omitempty"` // ssl_certificate (may repeat)
	SSLCertificateKeys           []string      `json:",omitempty"` // ssl_certificate_key (may repeat)
	SSLProtocols                 []string      // ssl_protocols, default TLSv1 TLSv1.1 TLSv1.2 (nginx 1.22)
	SSLCiphers                   string        // ssl_ciphers, default HIGH:!aNULL:!MD5
	SSLPreferServerCiphers       bool          // ssl_prefer_server_ciphers, default off
	SSLSessionCache              []string      `json:",omitempty"` // ssl_session_cache as written; empty: none
	SSLSessionTimeout            time.Duration // ssl_session_timeout, default 5m
	SSLSessionTickets            bool          // ssl_session_tickets, default on
	SSLVerifyClient              string        // ssl_verify_client: off (default), on, optional, optional_no_ca
	SSLClientCertificate         string        `json:",omitempty"` // ssl_client_certificate
	SSLVerifyDepth               int           // ssl_verify_depth, default 1
	SSLRejectHandshake           bool          `json:",omitempty"` // ssl_reject_handshake, default off (http_ssl.go)
	SSLPasswordFile              string        `json:",omitempty"` // ssl_password_file
	SSLTrustedCertificate        string        `json:",omitempty"` // ssl_trusted_certificate
	SSLDHParam                   string        `json:",omitempty"` // ssl_dhparam (checked, unused: no DHE suites)
	SSLECDHCurve                 string        `json:",omitempty"` // ssl_ecdh_curve; empty: auto
	// SSLEnable is the deprecated "ssl on": the addresses whose default
	// server this is are TLS, as with listen ... ssl. SSLEnablePos is
	// where it was set, for nginx's errors.
	SSLEnable    bool   `json:",omitempty"`
	SSLEnablePos string `json:",omitempty"`

	// HTTP2 are the http2 and http2_* settings (http_grpc.go); nil
	// where none is set.
	HTTP2 *HTTP2Settings `json:",omitempty"`
	set   map[string]bool
}

var defaultHTTPServerSettings = HTTPServerSettings{
	ClientHeaderBufferSize:       1 << 10,
	LargeClientHeaderBuffersNum:  4,
	LargeClientHeaderBuffersSize: 8 << 10,
	ClientHeaderTimeout:          60 * time.Second,
	IgnoreInvalidHeaders:         true,
	MergeSlashes:                 true,
	SSLProtocols:                 []string{"TLSv1", "TLSv1.1", "TLSv1.2"},
	SSLCiphers:                   "HIGH:!aNULL:!MD5",
	SSLSessionTimeout:            5 * time.Minute,
	SSLSessionTickets:            true,
	SSLVerifyClient:              "off",
	SSLVerifyDepth:               1,
}

// HTTPSettings are the directives a server or location inherits from the
// enclosing level when it does not set them itself (nginx's location
// configuration). List directives follow nginx: a level that sets any
// proxy_set_header, add_header, allow/deny, access_log, error_page,
// limit_conn, limit_req or set_real_ip_from replaces the outer list.
type HTTPSettings struct {
	KeepaliveTimeout       time.Duration // keepalive_timeout, default 75s; 0 disables keep-alive
	KeepaliveHeaderTimeout time.Duration `json:",omitempty"` // its second argument ("Keep-Alive: timeout=")
	KeepaliveRequests      int           // keepalive_requests, default 1000
	KeepaliveTime          time.Duration // keepalive_time, default 1h
	ClientMaxBodySize      int64         // client_max_body_size, default 1m; 0: no limit
	ClientBodyTimeout      time.Duration // client_body_timeout, default 60s
	ClientBodyBufferSize   int64         // client_body_buffer_size, default 16k
	SendTimeout            time.Duration // send_timeout, default 60s
	ServerTokens           string        // server_tokens: on (default), off or build
	// LimitRate and LimitRateAfter are limit_rate and limit_rate_after
	// (default 0: no limit, nothing sent at full speed first).
	LimitRate      HTTPSize `json:",omitzero"`
	LimitRateAfter HTTPSize `json:",omitzero"`
	// AbsoluteRedirect, PortInRedirect and ServerNameInRedirect are
	// absolute_redirect (default on), port_in_redirect (on) and
	// server_name_in_redirect (off): how a redirect sluice makes to a
	// path is completed.
	AbsoluteRedirect     bool
	PortInRedirect       bool
	ServerNameInRedirect bool          `json:",omitempty"`
	TCPNodelay           bool          // tcp_nodelay, default on
	Resolver             []string      `json:",omitempty"` // resolver arguments as written
	ResolverTimeout      time.Duration // resolver_timeout, default 30s
	ErrorLogs            []ErrorLog    `json:",omitempty"` // error_log; empty: the main error log

	// Root is the document root (default "html" under the prefix; a
	// value with variables is kept as written), Index the index files
	// (default index.html) and TryFiles the try_files arguments (not
	// inherited). Static holds the other file-serving directives
	// (http_static.go).
	Root     string
	Index    []string
	TryFiles []string `json:",omitempty"`
	Static   HTTPStatic

	ErrorPages []HTTPErrorPage `json:",omitempty"`
	// RecursiveErrorPages is recursive_error_pages (default off): an error
	// while serving an error page may itself be answered by error_page.
	RecursiveErrorPages bool `json:",omitempty"`

	// Gzip holds the gzip_* directives (ngx_http_gzip_module).
	Gzip HTTPGzip
	// Charset holds charset, charset_types, override_charset and
	// source_charset (ngx_http_charset_module, http_charset.go).
	Charset HTTPCharset
	// SubFilter holds sub_filter and the sub_filter_* directives
	// (ngx_http_sub_module, http_sub.go).
	SubFilter HTTPSubFilter
	// Expires is the expires directive (http_expires.go).
	Expires HTTPExpires `json:",omitzero"`
	// Mods holds the directives of the small modules: secure_link,
	// userid, random_index, gunzip (http_mods.go).
	Mods HTTPMods `json:",omitzero"`

	// ProxySetHeaders are the headers sent upstream in order, with
	// nginx's defaults "Host: $proxy_host" and "Connection: close"
	// appended unless set; a header whose value is empty is not sent.
	ProxySetHeaders         []HTTPHeader
	ProxyHideHeaders        []string `json:",omitempty"`
	ProxyPassHeaders        []string `json:",omitempty"`
	ProxyPassRequestHeaders bool     // default on
	ProxyPassRequestBody    bool     // default on
	ProxyHTTPVersion        string   // "1.0" (default) or "1.1"
	ProxyConnectTimeout     time.Duration
	ProxySocketKeepalive    bool `json:",omitempty"` // proxy_socket_keepalive: SO_KEEPALIVE on upstream sockets, default off
	// ResetTimedoutConnection is reset_timedout_connection (default off):
	// a connection closed after a client timeout or return 444 is reset.
	ResetTimedoutConnection bool `json:",omitempty"`
	ProxyReadTimeout        time.Duration
	ProxySendTimeout        time.Duration
	// ProxyNextUpstream are the proxy_next_upstream conditions (default
	// error, timeout); "off" alone disables retries.
	ProxyNextUpstream        []string
	ProxyNextUpstreamTries   int           // 0: no limit
	ProxyNextUpstreamTimeout time.Duration // 0: no limit
	ProxyBuffering           bool          // default on
	ProxyRequestBuffering    bool          // default on
	ProxyBufferSize          int64         // default 4k
	ProxyBuffersNum          int           // default 8
	ProxyBuffersSize         int64         // default 4k
	ProxyBusyBuffersSize     int64         // default 2 × max(proxy_buffer_size, one buffer)
	ProxyInterceptErrors     bool          // default off
	// ProxyRedirect is the list of proxy_redirect rules; Default is
	// "proxy_redirect default" (the default), Off is "proxy_redirect off".
	ProxyRedirect []HTTPRedirect `json:",omitempty"`
	// ProxyCookieDomain, ProxyCookiePath and ProxyCookieFlags are the
	// proxy_cookie_domain, proxy_cookie_path and proxy_cookie_flags
	// rules, in order (default none); each list is inherited whole, and
	// one rule with Off is "off".
	ProxyCookieDomain []HTTPCookieRewrite `json:",omitempty"`
	ProxyCookiePath   []HTTPCookieRewrite `json:",omitempty"`
	ProxyCookieFlags  []HTTPCookieFlags   `json:",omitempty"`
	// ProxyIgnoreClientAbort is proxy_ignore_client_abort (default off):
	// a client that closes its connection while the upstream response
	// is awaited does not end the request.
	ProxyIgnoreClientAbort bool `json:",omitempty"`
	// LingeringClose is lingering_close: "on" (default), "off" or
	// "always"; LingeringTime and LingeringTimeout are lingering_time
	// (30s) and lingering_timeout (5s).
	LingeringClose   string
	LingeringTime    time.Duration
	LingeringTimeout time.Duration
	// ChunkedTransferEncoding is chunked_transfer_encoding (default on):
	// off sends a response of unknown length to an HTTP/1.1 client
	// unframed, closing the connection at its end.
	ChunkedTransferEncoding bool
	// ProxyBind is the local address of upstream connections (a complex
	// value); empty for none.
	ProxyBind string `json:",omitempty"`
	// ProxySSL are the proxy_ssl_* settings (http_ssl.go).
	ProxySSL HTTPProxySSL `json:",omitzero"`

	AddHeaders []HTTPHeader `json:",omitempty"` // add_header, in order

	// Access are the allow and deny rules in order; the first match wins.
	Access []StreamAccessRule `json:",omitempty"`
	// Auth holds auth_basic, auth_basic_user_file and satisfy
	// (http_auth.go).
	Auth HTTPAuth `json:",omitzero"`
	// Sub holds auth_request, auth_request_set, mirror and
	// mirror_request_body (http_subrequest.go).
	Sub HTTPSubrequests `json:",omitzero"`
	// AccessLogs are the access_log targets (default logs/access.log in
	// the combined format); AccessLogOff is "access_log off".
	AccessLogs   []HTTPAccessLog `json:",omitempty"`
	AccessLogOff bool            `json:",omitempty"`

	RealIPFrom      []HTTPRealIPFrom `json:",omitempty"` // set_real_ip_from
	RealIPHeader    string           // real_ip_header, default X-Real-IP
	RealIPRecursive bool             // real_ip_recursive, default off

	LimitConns        []HTTPLimitConn `json:",omitempty"`
	LimitConnStatus   int             // limit_conn_status, default 503
	LimitConnLogLevel string          // limit_conn_log_level, default error
	LimitReqs         []HTTPLimitReq  `json:",omitempty"`
	LimitReqStatus    int             // limit_req_status, default 503
	LimitReqLogLevel  string          // limit_req_log_level, default error

	// RewriteLog is rewrite_log (default off): the rewrite directives log
	// what they match and rewrite at the notice level.
	RewriteLog bool `json:",omitempty"`

	// GRPC are the grpc_* settings and HTTP2 the location's http2_*
	// settings (http_grpc.go); nil where none is set.
	GRPC  *HTTPGRPCSettings      `json:",omitempty"`
	HTTP2 *HTTP2LocationSettings `json:",omitempty"`
	// ProxyCache are the proxy_cache* settings (http_cache.go); nil
	// where none is set.
	ProxyCache *HTTPProxyCache `json:",omitempty"`
	// FastCGI, UWSGI and SCGI are the settings of the fastcgi_*, uwsgi_*
	// and scgi_* directives (http_cgi.go); nil where none is set.
	FastCGI *HTTPCGISettings `json:",omitempty"`
	UWSGI   *HTTPCGISettings `json:",omitempty"`
	SCGI    *HTTPCGISettings `json:",omitempty"`

	set map[string]bool
}

var defaultHTTPSettings = HTTPSettings{
	KeepaliveTimeout:     75 * time.Second,
	KeepaliveRequests:    1000,
	KeepaliveTime:        time.Hour,
	ClientMaxBodySize:    1 << 20,
	ClientBodyTimeout:    60 * time.Second,
	ClientBodyBufferSize: 16 << 10,
	SendTimeout:          60 * time.Second,
	ServerTokens:         "on",
	AbsoluteRedirect:     true,
	PortInRedirect:       true,
	TCPNodelay:           true,
	ResolverTimeout:      30 * time.Second,
	Index:                []string{"index.html"},

	ProxyPassRequestHeaders: true,
	ProxyPassRequestBody:    true,
	ProxyHTTPVersion:        "1.0",
	ProxyConnectTimeout:     60 * time.Second,
	ProxyReadTimeout:        60 * time.Second,
	ProxySendTimeout:        60 * time.Second,
	ProxyNextUpstream:       []string{"error", "timeout"},
	ProxyBuffering:          true,
	ProxyRequestBuffering:   true,
	ProxyBufferSize:         4 << 10,
	ProxyBuffersNum:         8,
	ProxyBuffersSize:        4 << 10,
	ProxyRedirect:           []HTTPRedirect{{Default: true}},
	ChunkedTransferEncoding: true,
	LingeringClose:          "on",
	LingeringTime:           30 * time.Second,
	LingeringTimeout:        5 * time.Second,
	Gzip:                    defaultHTTPGzip,
	Charset:                 defaultHTTPCharset,
	SubFilter:               defaultHTTPSubFilter,
	Static:                  defaultHTTPStatic,

	RealIPHeader:      "X-Real-IP",
	LimitConnStatus:   503,
	LimitConnLogLevel: "error",
	LimitReqStatus:    503,
	LimitReqLogLevel:  "error",
}

// HTTPHeader is one proxy_set_header or add_header directive. Value is a
// complex value (it may hold variables).
type HTTPHeader struct {
	Name   string
	Value  string
	Always bool `json:",omitempty"` // add_header ... always
}

// HTTPRedirect is one proxy_redirect rule.
type HTTPRedirect struct {
	Default     bool   `json:",omitempty"`
	Off         bool   `json:",omitempty"`
	Redirect    string `json:",omitempty"` // the text (or ~regex) replaced
	Replacement string `json:",omitempty"`
}

// HTTPCookieRewrite is one proxy_cookie_domain or proxy_cookie_path
// directive: the Domain or Path attribute From (text with variables, or a
// regular expression after "~", "~*") is replaced with To. Off is "off".
type HTTPCookieRewrite struct {
	Off  bool   `json:",omitempty"`
	From string `json:",omitempty"`
	To   string `json:",omitempty"`
}

// HTTPCookieFlags is one proxy_cookie_flags directive: the flags (with
// variables) applied to the cookie named Cookie (text with variables, or
// a case-insensitive regular expression after "~"). Off is "off".
type HTTPCookieFlags struct {
	Off    bool     `json:",omitempty"`
	Cookie string   `json:",omitempty"`
	Flags  []string `json:",omitempty"`
}

// HTTPErrorPage is one error_page directive: Codes are answered with URI
// (a path, a named location "@name" or a URL). Overwrite is the status
// sent instead (=code); OverwriteUpstream is the bare "=" form (the
// status of the redirected request).
type HTTPErrorPage struct {
	Codes             []int
	Overwrite         int  `json:",omitempty"`
	OverwriteUpstream bool `json:",omitempty"`
	URI               string
	Pos               string
}

// HTTPRealIPFrom is one set_real_ip_from: a network, or unix sockets.
type HTTPRealIPFrom struct {
	Net  netip.Prefix `json:",omitempty"`
	Unix bool         `json:",omitempty"`
}

// HTTPLimitReq is one limit_req directive. NoDelay is "nodelay"; Delay is
// delay=N (requests served without delay beyond the rate).
type HTTPLimitReq struct {
	Zone    string
	Burst   int
	NoDelay bool `json:",omitempty"`
	Delay   int  `json:",omitempty"`
	Pos     string
}

// HTTPLimitReqZone is one limit_req_zone directive. Rate is in requests
// per second times 1000 as nginx keeps it (10r/s = 10000, 30r/m = 500).
type HTTPLimitReqZone struct {
	Name string
	Key  string
	Size int64
	Rate int
	Pos  string
}

// HTTPLogFormat is one log_format directive: Name, Escape ("default",
// "json" or "none") and the format strings joined.
type HTTPLogFormat struct {
	Name   string
	Escape string
	Format string
	Pos    string
}

// HTTPListen is one listen directive (one entry per address when a host
// name resolves to several).
type HTTPListen struct {
	Network string // "tcp" or "unix"
	// Address is "ip:port" ("0.0.0.0:80", "[::]:80") or the socket path.
	Address       string
	DefaultServer bool          `json:",omitempty"`
	SSL           bool          `json:",omitempty"`
	HTTP2         bool          `json:",omitempty"`
	ProxyProtocol bool          `json:",omitempty"`
	ReusePort     bool          `json:",omitempty"`
	Bind          bool          `json:",omitempty"`
	Deferred      bool          `json:",omitempty"`
	Backlog       int           // default 511
	RcvBuf        int           `json:",omitempty"`
	SndBuf        int           `json:",omitempty"`
	IPv6Only      bool          // default on for IPv6 addresses
	SoKeepalive   string        `json:",omitempty"` // "on", "off" or empty
	KeepIdle      time.Duration `json:",omitempty"`
	KeepIntvl     time.Duration `json:",omitempty"`
	KeepCnt       int           `json:",omitempty"`
	FastOpen      int           `json:",omitempty"` // fastopen=: the TCP Fast Open queue length
	// Implicit marks the listen nginx assumes for a server without one:
	// *:80 (which needs root, or CAP_NET_BIND_SERVICE).
	Implicit bool `json:",omitempty"`
	Pos      string
}

// Key returns the address as route tables and duplicate checks use it:
// "ip:port" or "unix:/path".
func (l HTTPListen) Key() string {
	if l.Network == "unix" {
		return "unix:" + l.Address
	}
	return l.Address
}

// HTTPServerName is one server_name entry. Name is lower-cased (regexes
// excepted); Regex holds the pattern after "~".
type HTTPServerName struct {
	Name  string
	Regex string `json:",omitempty"`
}

// HTTPReturn is a return directive: Code and Text (a complex value; for
// the redirect codes 301, 302, 303, 307 and 308 and for "return URL",
// the URL).
type HTTPReturn struct {
	Code int
	Text string `json:",omitempty"`
	Pos  string
}

// HTTPProxyPass is a proxy_pass directive.
type HTTPProxyPass struct {
	URL string // as written
	// HasVars reports whether URL holds variables; then Upstream is empty
	// and the address is found per request.
	HasVars bool   `json:",omitempty"`
	Scheme  string // "http" or "https" ("" when HasVars)
	// Host is the host[:port] part, or "unix:/path" for a socket.
	Host string `json:",omitempty"`
	// URI is the URI part ("" when none): with one, the part of the
	// request URI matching the location prefix is replaced by it.
	URI    string `json:",omitempty"`
	HasURI bool   `json:",omitempty"`
	// Upstream names the upstream block or implicit upstream used.
	Upstream string `json:",omitempty"`
	Pos      string

	file string
	line int
	port int // the explicit port, 0 when none
	def  int // the scheme's default port
}

// HTTPServer is one server {} block.
type HTTPServer struct {
	File string
	Line int
	// Listens are the listen directives; a server without one listens on
	// *:80 as nginx does (Implicit).
	Listens []HTTPListen
	// Names are the server_name entries in order; without server_name the
	// name is "" (requests without a Host header).
	Names []HTTPServerName
	// Return is the first server-level return (not inside if).
	Return *HTTPReturn `json:",omitempty"`
	// Script are the rewrite module directives of the server level
	// (return, rewrite, set, break, if) in order: they run once the
	// server is chosen, before the location is looked for.
	Script []HTTPScriptOp `json:",omitempty"`
	// StubStatus is set when the server itself answers with stub_status.
	StubStatus bool `json:",omitempty"`
	// Locations are the top-level locations in configuration order, named
	// ones included.
	Locations []*HTTPLocation `json:",omitempty"`

	HTTPServerSettings
	// Settings are the server-level values, used for requests that no
	// location matches.
	Settings HTTPSettings
}

// Pos returns "file:line" of the server block.
func (s *HTTPServer) Pos() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// Location modifiers, as HTTPLocation.Modifier.
const (
	LocPrefix    = ""   // location /path
	LocExact     = "="  // location = /path
	LocNoRegex   = "^~" // location ^~ /path
	LocRegex     = "~"  // location ~ regex
	LocRegexCase = "~*" // location ~* regex (case-insensitive)
	LocNamed     = "@"  // location @name
)

// HTTPLocation is one location {} block.
type HTTPLocation struct {
	Modifier string // one of the Loc* constants
	// Name is the path, the regular expression or the name ("@name").
	Name string
	File string
	Line int
	// ProxyPass is the proxy_pass of the location, nil for none.
	ProxyPass *HTTPProxyPass `json:",omitempty"`
	// GRPCPass is the grpc_pass of the location (Scheme "grpc" or
	// "grpcs"), nil for none.
	GRPCPass *HTTPProxyPass `json:",omitempty"`
	// CGIPass is the fastcgi_pass, uwsgi_pass or scgi_pass of the
	// location (http_cgi.go), nil for none.
	CGIPass *HTTPCGIPass `json:",omitempty"`
	// Return is the first return directive (not inside if).
	Return *HTTPReturn `json:",omitempty"`
	// Script are the rewrite module directives of the location in order;
	// they run once the location is chosen.
	Script     []HTTPScriptOp `json:",omitempty"`
	StubStatus bool           `json:",omitempty"`
	// EmptyGIF is empty_gif: the location answers with a 1x1 GIF
	// (http_emptygif.go). It is the location's handler even when a
	// proxy_pass, grpc_pass or stub_status came before it.
	EmptyGIF bool `json:",omitempty"`
	// Alias is the alias directive: a path (made absolute under the
	// prefix unless it starts with "$") that replaces the location's
	// name in the file path; in a regular expression location, the whole
	// path, usually with captures.
	Alias string `json:",omitempty"`
	// AutoRedirect is set, as nginx sets it, for a location whose name
	// ends with "/" and that proxies: a request for the name without its
	// final "/" is redirected (301) to it.
	AutoRedirect bool `json:",omitempty"`
	// Locations are the nested locations in configuration order.
	Locations []*HTTPLocation `json:",omitempty"`
	// LimitExcept is the limit_except block of the location, nil for none
	// (http_auth.go).
	LimitExcept *HTTPLimitExcept `json:",omitempty"`
	// Internal is the internal directive: the location serves only
	// internal requests (subrequests, error_page and rewrite
	// redirects); a client's request for it gets 404.
	Internal bool `json:",omitempty"`
	// HealthChecks are the health_check directives of the location
	// (http_health.go).
	HealthChecks []HTTPHealthCheck `json:",omitempty"`
	// API is the api directive (http_api.go), nil for none.
	API *HTTPAPI `json:",omitempty"`
	// Metrics is the metrics directive (http_metrics.go): the location
	// answers with Prometheus metrics.
	Metrics bool `json:",omitempty"`
	// Dashboard is the dashboard directive (http_dashboard.go), nil for
	// none.
	Dashboard *HTTPDashboard `json:",omitempty"`
	Settings  HTTPSettings

	ifBlock *HTTPIf // set on the configuration of an if block (HTTPIf.Location)
}

// setHandler clears the location's content handler before a directive
// sets its own: as in nginx, the last content handler of a location
// (proxy_pass, grpc_pass, the CGI passes, empty_gif, stub_status, api,
// metrics, dashboard) is the one that answers.
func (l *HTTPLocation) setHandler() {
	l.ProxyPass, l.GRPCPass, l.CGIPass = nil, nil, nil
	l.EmptyGIF, l.StubStatus, l.API, l.Metrics = false, false, nil, false
	l.Dashboard = nil
}

// Pos returns "file:line" of the location block.
func (l *HTTPLocation) Pos() string { return fmt.Sprintf("%s:%d", l.File, l.Line) }

// HTTPUpstream is one upstream block or the implicit upstream of a
// proxy_pass with a host.
type HTTPUpstream struct {
	Name     string
	Implicit bool `json:",omitempty"`
	Servers  []HTTPUpstreamServer
	// Method is "round_robin", "least_conn", "ip_hash", "hash", "random"
	// or "least_time".
	Method          string
	HashKey         string `json:",omitempty"`
	Consistent      bool   `json:",omitempty"`
	RandomTwo       bool   `json:",omitempty"`
	RandomTwoMethod string `json:",omitempty"` // least_conn or least_time
	LeastTimeMetric string `json:",omitempty"` // header or last_byte
	Inflight        bool   `json:",omitempty"`
	// Keepalive is the number of idle connections kept per worker (0:
	// none), with keepalive_requests (default 1000), keepalive_time
	// (default 1h) and keepalive_timeout (default 60s).
	Keepalive         int
	KeepaliveRequests int
	KeepaliveTime     time.Duration
	KeepaliveTimeout  time.Duration
	Zone              string `json:",omitempty"`
	ZoneSize          int64  `json:",omitempty"`
	// Resolver and ResolverTimeout are the http block's resolver and
	// resolver_timeout, which servers with the resolve parameter use.
	Resolver        []string      `json:",omitempty"`
	ResolverTimeout time.Duration `json:",omitempty"`
	// Sticky is the NGINX Plus sticky directive, or nil (http_sticky.go).
	Sticky *HTTPSticky `json:",omitempty"`
	// Queue is the NGINX Plus queue directive's number (0: no queue), the
	// most requests that may wait for a server, and QueueTimeout its
	// timeout= (default 60s) (http_queue.go).
	Queue        int           `json:",omitempty"`
	QueueTimeout time.Duration `json:",omitempty"`
	Pos          string
}

const (
	ctxHTTPAll = CtxHTTP | CtxHTTPServer | CtxHTTPLocation
	ctxHTTPSrv = CtxHTTP | CtxHTTPServer
)

// httpDialect is how the http context reads the directives it shares with
// stream.
var httpDialect = dialect{
	quote: quote,
	upstream: func(block any) upstreamFields {
		u := block.(*HTTPUpstream)
		return upstreamFields{name: u.Name, servers: &u.Servers, method: &u.Method, hashKey: &u.HashKey,
			consistent: &u.Consistent, randomTwo: &u.RandomTwo, randomTwoMethod: &u.RandomTwoMethod,
			leastTimeMetric: &u.LeastTimeMetric, inflight: &u.Inflight, zone: &u.Zone, zoneSize: &u.ZoneSize,
			keepalive: u.Keepalive}
	},
	maxWeight:          1<<31 - 1,
	serverTime:         ParseSeconds,
	plusServerParams:   true,
	defaultPort:        80,
	upstreamAddrs:      httpUpstreamAddrs,
	leastTimeMetrics:   []string{"header", "last_byte"},
	listenHTTP:         true,
	keepaliveResets:    true,
	unknownListenParam: "invalid parameter %s",
	defaultLogFormat:   "combined",
	logPathVars:        true,
	minZone:            8 << 12,
	zoneTooSmall:       "zone %s is too small",
	varNames:           true,
	foldValues:         true,
}

func init() {
	register(httpDirectives, upstreamSpecs(CtxHTTPUpstream, &httpDialect))
	hooked := false
	for _, s := range registry["http"] {
		if s.Ctx&CtxMain != 0 {
			s.Close = closeHTTP
			hooked = true
		}
	}
	if !hooked {
		panic("config: no http block to attach the http checks to")
	}
	registerListenCounter(func(c *Config) int {
		if c.HTTP == nil {
			return 0
		}
		return len(c.HTTP.listens)
	})
}

// httpOf returns the http block being compiled.
func httpOf(c *compiler) *HTTP { return c.cfg.HTTP }

func (h *HTTP) init() {
	if h.settings == nil {
		s := defaultHTTPSettings
		h.settings = &s
		ss := defaultHTTPServerSettings
		h.srvconf = &ss
		h.ups = map[string]*HTTPUpstream{}
		h.listens = map[string]*httpAddrUse{}
	}
}

// hset returns the settings an inheritable directive writes to.
func hset(c *compiler, parent any) *HTTPSettings {
	switch p := parent.(type) {
	case *HTTP:
		p.init()
		return p.settings
	case *HTTPServer:
		return &p.Settings
	case *HTTPLocation:
		return &p.Settings
	}
	panic(fmt.Sprintf("config: http setting in %T", parent))
}

func hsrv(_ *compiler, parent any) *HTTPServerSettings {
	switch p := parent.(type) {
	case *HTTP:
		p.init()
		return p.srvconf
	case *HTTPServer:
		return &p.HTTPServerSettings
	}
	panic(fmt.Sprintf("config: http server setting in %T", parent))
}

func (s *HTTPSettings) mark(name string) {
	if s.set == nil {
		s.set = map[string]bool{}
	}
	s.set[name] = true
}

func (s *HTTPServerSettings) mark(name string) {
	if s.set == nil {
		s.set = map[string]bool{}
	}
	s.set[name] = true
}

// httpInherit lists how each inheritable location setting is copied; the
// key is the name recorded by mark.
// httpInheritRule copies the setting of one directive (key) from an
// enclosing level to a level that does not set it.
type httpInheritRule struct {
	key  string
	copy func(dst, src *HTTPSettings)
}

var httpInherit = []httpInheritRule{
	{"keepalive_timeout", func(d, s *HTTPSettings) {
		d.KeepaliveTimeout, d.KeepaliveHeaderTimeout = s.KeepaliveTimeout, s.KeepaliveHeaderTimeout
	}},
	{"keepalive_requests", func(d, s *HTTPSettings) { d.KeepaliveRequests = s.KeepaliveRequests }},
	{"keepalive_time", func(d, s *HTTPSettings) { d.KeepaliveTime = s.KeepaliveTime }},
	{"client_max_body_size", func(d, s *HTTPSettings) { d.ClientMaxBodySize = s.ClientMaxBodySize }},
	{"client_body_timeout", func(d, s *HTTPSettings) { d.ClientBodyTimeout = s.ClientBodyTimeout }},
	{"client_body_buffer_size", func(d, s *HTTPSettings) { d.ClientBodyBufferSize = s.ClientBodyBufferSize }},
	{"send_timeout", func(d, s *HTTPSettings) { d.SendTimeout = s.SendTimeout }},
	{"server_tokens", func(d, s *HTTPSettings) { d.ServerTokens = s.ServerTokens }},
	{"limit_rate", func(d, s *HTTPSettings) { d.LimitRate = s.LimitRate }},
	{"limit_rate_after", func(d, s *HTTPSettings) { d.LimitRateAfter = s.LimitRateAfter }},
	{"absolute_redirect", func(d, s *HTTPSettings) { d.AbsoluteRedirect = s.AbsoluteRedirect }},
	{"reset_timedout_connection", func(d, s *HTTPSettings) { d.ResetTimedoutConnection = s.ResetTimedoutConnection }},
	{"port_in_redirect", func(d, s *HTTPSettings) { d.PortInRedirect = s.PortInRedirect }},
	{"server_name_in_redirect", func(d, s *HTTPSettings) { d.ServerNameInRedirect = s.ServerNameInRedirect }},
	{"tcp_nodelay", func(d, s *HTTPSettings) { d.TCPNodelay = s.TCPNodelay }},
	{"resolver", func(d, s *HTTPSettings) { d.Resolver = s.Resolver }},
	{"resolver_timeout", func(d, s *HTTPSettings) { d.ResolverTimeout = s.ResolverTimeout }},
	{"error_log", func(d, s *HTTPSettings) { d.ErrorLogs = s.ErrorLogs }},
	{"root", func(d, s *HTTPSettings) { d.Root = s.Root }},
	{"index", func(d, s *HTTPSettings) { d.Index = s.Index }},
	{"error_page", func(d, s *HTTPSettings) { d.ErrorPages = s.ErrorPages }},
	{"recursive_error_pages", func(d, s *HTTPSettings) { d.RecursiveErrorPages = s.RecursiveErrorPages }},
	{"proxy_set_header", func(d, s *HTTPSettings) { d.ProxySetHeaders = s.ProxySetHeaders }},
	{"proxy_hide_header", func(d, s *HTTPSettings) { d.ProxyHideHeaders = s.ProxyHideHeaders }},
	{"proxy_pass_header", func(d, s *HTTPSettings) { d.ProxyPassHeaders = s.ProxyPassHeaders }},
	{"proxy_pass_request_headers", func(d, s *HTTPSettings) { d.ProxyPassRequestHeaders = s.ProxyPassRequestHeaders }},
	{"proxy_pass_request_body", func(d, s *HTTPSettings) { d.ProxyPassRequestBody = s.ProxyPassRequestBody }},
	{"proxy_http_version", func(d, s *HTTPSettings) { d.ProxyHTTPVersion = s.ProxyHTTPVersion }},
	{"proxy_connect_timeout", func(d, s *HTTPSettings) { d.ProxyConnectTimeout = s.ProxyConnectTimeout }},
	{"proxy_socket_keepalive", func(d, s *HTTPSettings) { d.ProxySocketKeepalive = s.ProxySocketKeepalive }},
	{"proxy_read_timeout", func(d, s *HTTPSettings) { d.ProxyReadTimeout = s.ProxyReadTimeout }},
	{"proxy_send_timeout", func(d, s *HTTPSettings) { d.ProxySendTimeout = s.ProxySendTimeout }},
	{"proxy_next_upstream", func(d, s *HTTPSettings) { d.ProxyNextUpstream = s.ProxyNextUpstream }},
	{"proxy_next_upstream_tries", func(d, s *HTTPSettings) { d.ProxyNextUpstreamTries = s.ProxyNextUpstreamTries }},
	{"proxy_next_upstream_timeout", func(d, s *HTTPSettings) { d.ProxyNextUpstreamTimeout = s.ProxyNextUpstreamTimeout }},
	{"proxy_buffering", func(d, s *HTTPSettings) { d.ProxyBuffering = s.ProxyBuffering }},
	{"proxy_request_buffering", func(d, s *HTTPSettings) { d.ProxyRequestBuffering = s.ProxyRequestBuffering }},
	{"proxy_buffer_size", func(d, s *HTTPSettings) { d.ProxyBufferSize = s.ProxyBufferSize }},
	{"proxy_buffers", func(d, s *HTTPSettings) {
		d.ProxyBuffersNum, d.ProxyBuffersSize = s.ProxyBuffersNum, s.ProxyBuffersSize
	}},
	{"proxy_busy_buffers_size", func(d, s *HTTPSettings) { d.ProxyBusyBuffersSize = s.ProxyBusyBuffersSize }},
	{"proxy_intercept_errors", func(d, s *HTTPSettings) { d.ProxyInterceptErrors = s.ProxyInterceptErrors }},
	{"proxy_redirect", func(d, s *HTTPSettings) { d.ProxyRedirect = s.ProxyRedirect }},
	{"proxy_cookie_domain", func(d, s *HTTPSettings) { d.ProxyCookieDomain = s.ProxyCookieDomain }},
	{"proxy_cookie_path", func(d, s *HTTPSettings) { d.ProxyCookiePath = s.ProxyCookiePath }},
	{"proxy_cookie_flags", func(d, s *HTTPSettings) { d.ProxyCookieFlags = s.ProxyCookieFlags }},
	{"proxy_ignore_client_abort", func(d, s *HTTPSettings) { d.ProxyIgnoreClientAbort = s.ProxyIgnoreClientAbort }},
	{"chunked_transfer_encoding", func(d, s *HTTPSettings) { d.ChunkedTransferEncoding = s.ChunkedTransferEncoding }},
	{"lingering_close", func(d, s *HTTPSettings) { d.LingeringClose = s.LingeringClose }},
	{"lingering_time", func(d, s *HTTPSettings) { d.LingeringTime = s.LingeringTime }},
	{"lingering_timeout", func(d, s *HTTPSettings) { d.LingeringTimeout = s.LingeringTimeout }},
	{"proxy_bind", func(d, s *HTTPSettings) { d.ProxyBind = s.ProxyBind }},
	{"add_header", func(d, s *HTTPSettings) { d.AddHeaders = s.AddHeaders }},
	{"access", func(d, s *HTTPSettings) { d.Access = s.Access }},
	{"access_log", func(d, s *HTTPSettings) { d.AccessLogs, d.AccessLogOff = s.AccessLogs, s.AccessLogOff }},
	{"set_real_ip_from", func(d, s *HTTPSettings) { d.RealIPFrom = s.RealIPFrom }},
	{"real_ip_header", func(d, s *HTTPSettings) { d.RealIPHeader = s.RealIPHeader }},
	{"real_ip_recursive", func(d, s *HTTPSettings) { d.RealIPRecursive = s.RealIPRecursive }},
	{"limit_conn", func(d, s *HTTPSettings) { d.LimitConns = s.LimitConns }},
	{"limit_conn_status", func(d, s *HTTPSettings) { d.LimitConnStatus = s.LimitConnStatus }},
	{"limit_conn_log_level", func(d, s *HTTPSettings) { d.LimitConnLogLevel = s.LimitConnLogLevel }},
	{"limit_req", func(d, s *HTTPSettings) { d.LimitReqs = s.LimitReqs }},
	{"limit_req_status", func(d, s *HTTPSettings) { d.LimitReqStatus = s.LimitReqStatus }},
	{"limit_req_log_level", func(d, s *HTTPSettings) { d.LimitReqLogLevel = s.LimitReqLogLevel }},
	{"rewrite_log", func(d, s *HTTPSettings) { d.RewriteLog = s.RewriteLog }},
}

// merge fills what s does not set from parent, whose values are complete.
func (s *HTTPSettings) merge(parent *HTTPSettings) {
	for _, in := range httpInherit {
		if !s.set[in.key] {
			in.copy(s, parent)
		}
	}
}

var httpServerInherit = []struct {
	key  string
	copy func(dst, src *HTTPServerSettings)
}{
	{"client_header_buffer_size", func(d, s *HTTPServerSettings) { d.ClientHeaderBufferSize = s.ClientHeaderBufferSize }},
	{"large_client_header_buffers", func(d, s *HTTPServerSettings) {
		d.LargeClientHeaderBuffersNum, d.LargeClientHeaderBuffersSize = s.LargeClientHeaderBuffersNum, s.LargeClientHeaderBuffersSize
	}},
	{"client_header_timeout", func(d, s *HTTPServerSettings) { d.ClientHeaderTimeout = s.ClientHeaderTimeout }},
	{"underscores_in_headers", func(d, s *HTTPServerSettings) { d.UnderscoresInHeaders = s.UnderscoresInHeaders }},
	{"ignore_invalid_headers", func(d, s *HTTPServerSettings) { d.IgnoreInvalidHeaders = s.IgnoreInvalidHeaders }},
	{"merge_slashes", func(d, s *HTTPServerSettings) { d.MergeSlashes = s.MergeSlashes }},
	{"ssl_certificate", func(d, s *HTTPServerSettings) { d.SSLCertificates = s.SSLCertificates }},
	{"ssl_certificate_key", func(d, s *HTTPServerSettings) { d.SSLCertificateKeys = s.SSLCertificateKeys }},
	{"ssl_protocols", func(d, s *HTTPServerSettings) { d.SSLProtocols = s.SSLProtocols }},
	{"ssl_ciphers", func(d, s *HTTPServerSettings) { d.SSLCiphers = s.SSLCiphers }},
	{"ssl_prefer_server_ciphers", func(d, s *HTTPServerSettings) { d.SSLPreferServerCiphers = s.SSLPreferServerCiphers }},
	{"ssl_session_cache", func(d, s *HTTPServerSettings) { d.SSLSessionCache = s.SSLSessionCache }},
	{"ssl_session_timeout", func(d, s *HTTPServerSettings) { d.SSLSessionTimeout = s.SSLSessionTimeout }},
	{"ssl_session_tickets", func(d, s *HTTPServerSettings) { d.SSLSessionTickets = s.SSLSessionTickets }},
	{"ssl_verify_client", func(d, s *HTTPServerSettings) { d.SSLVerifyClient = s.SSLVerifyClient }},
	{"ssl_client_certificate", func(d, s *HTTPServerSettings) { d.SSLClientCertificate = s.SSLClientCertificate }},
	{"ssl_verify_depth", func(d, s *HTTPServerSettings) { d.SSLVerifyDepth = s.SSLVerifyDepth }},
}

func (s *HTTPServerSettings) merge(parent *HTTPServerSettings) {
	for _, in := range httpServerInherit {
		if !s.set[in.key] {
			in.copy(s, parent)
		}
	}
}

var httpDirectives = []*Spec{
	// servers and routing
	{Name: "server", Ctx: CtxHTTP, Args: Args0, Block: CtxHTTPServer, Multi: true, Set: setHTTPServer, Close: closeHTTPServer},
	{Name: "listen", Ctx: CtxHTTPServer, Args: Args1More, Multi: true, Set: setHTTPListen},
	{Name: "server_name", Ctx: CtxHTTPServer, Args: Args1More, Multi: true, Set: setHTTPServerName},
	{Name: "location", Ctx: CtxHTTPServer | CtxHTTPLocation, Args: Args12, Block: CtxHTTPLocation, Multi: true, Set: setHTTPLocation},
	{Name: "error_page", Ctx: ctxHTTPAll | CtxHTTPIf, Args: Args2More, Multi: true, Set: setHTTPErrorPage},
	{Name: "recursive_error_pages", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.RecursiveErrorPages })},
	{Name: "root", Ctx: ctxHTTPAll | CtxHTTPIf, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		if l, ok := parent.(*HTTPLocation); ok && l.Alias != "" {
			return nil, errorf(d.File, d.Line, `"root" directive is duplicate, "alias" directive was specified earlier`)
		}
		p, err := rootPath(c, d, true)
		if err != nil {
			return nil, err
		}
		s := hset(c, parent)
		s.Root = p
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "alias", Ctx: CtxHTTPLocation, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		l := parent.(*HTTPLocation)
		if l.Settings.set["root"] {
			return nil, errorf(d.File, d.Line, `"alias" directive is duplicate, "root" directive was specified earlier`)
		}
		if l.Alias != "" {
			return nil, errorf(d.File, d.Line, `"alias" directive is duplicate`)
		}
		if l.Modifier == LocNamed {
			return nil, errorf(d.File, d.Line, `the "alias" directive cannot be used inside the named location`)
		}
		p, err := rootPath(c, d, false)
		if err != nil {
			return nil, err
		}
		l.Alias = p
		return nil, nil
	}},
	{Name: "index", Ctx: ctxHTTPAll, Args: Args1More, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		if !s.set["index"] {
			s.Index = nil
		}
		for _, a := range d.Args {
			if a == "" {
				return nil, errorf(d.File, d.Line, `index "" in "index" directive is invalid`)
			}
		}
		s.Index = append(s.Index, d.Args...)
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "try_files", Ctx: CtxHTTPServer | CtxHTTPLocation, Args: Args2More, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		s.TryFiles = append([]string(nil), d.Args...)
		last := d.Args[len(d.Args)-1]
		if strings.HasPrefix(last, "=") {
			n, ok := parseDigits(last[1:])
			if !ok || n < 1 || n > 999 {
				return nil, errorf(d.File, d.Line, `invalid code "%s"`, last)
			}
		}
		// try_files is not inherited: only the level that has it uses it
		return nil, nil
	}},
	{Name: "stub_status", Ctx: CtxHTTPServer | CtxHTTPLocation, Args: Args0 | Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		switch p := parent.(type) {
		case *HTTPServer:
			p.StubStatus = true
		case *HTTPLocation:
			p.setHandler()
			p.StubStatus = true
		}
		return nil, nil
	}},

	// client side
	{Name: "keepalive_timeout", Ctx: ctxHTTPAll, Args: Args12, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		t, err := timeArg(d, d.Args[0])
		if err != nil {
			return nil, err
		}
		s := hset(c, parent)
		s.KeepaliveTimeout, s.KeepaliveHeaderTimeout = t, 0
		if len(d.Args) == 2 {
			h, err := secondsArg(d, d.Args[1])
			if err != nil {
				return nil, err
			}
			s.KeepaliveHeaderTimeout = h
		}
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "keepalive_requests", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, numValue, func(s *HTTPSettings) *int { return &s.KeepaliveRequests })},
	{Name: "keepalive_time", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, timeValue, func(s *HTTPSettings) *time.Duration { return &s.KeepaliveTime })},
	{Name: "client_max_body_size", Ctx: ctxHTTPAll, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		n, err := ParseOffset(d.Args[0])
		if err != nil {
			return nil, errorf(d.File, d.Line, `"%s" directive invalid value`, d.Name)
		}
		s := hset(c, parent)
		s.ClientMaxBodySize = n
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "client_body_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, timeValue, func(s *HTTPSettings) *time.Duration { return &s.ClientBodyTimeout })},
	{Name: "client_body_buffer_size", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, sizeValue, func(s *HTTPSettings) *int64 { return &s.ClientBodyBufferSize })},
	{Name: "send_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, timeValue, func(s *HTTPSettings) *time.Duration { return &s.SendTimeout })},
	{Name: "limit_rate", Ctx: ctxHTTPAll | CtxHTTPIf, Args: Args1, Set: setting(hset, sizeOrVars, func(s *HTTPSettings) *HTTPSize { return &s.LimitRate })},
	{Name: "limit_rate_after", Ctx: ctxHTTPAll | CtxHTTPIf, Args: Args1, Set: setting(hset, sizeOrVars, func(s *HTTPSettings) *HTTPSize { return &s.LimitRateAfter })},
	{Name: "reset_timedout_connection", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.ResetTimedoutConnection })},
	{Name: "absolute_redirect", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.AbsoluteRedirect })},
	{Name: "port_in_redirect", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.PortInRedirect })},
	{Name: "server_name_in_redirect", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.ServerNameInRedirect })},
	{Name: "server_tokens", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, httpDialect.enum("off", "on", "build"), func(s *HTTPSettings) *string { return &s.ServerTokens })},
	{Name: "tcp_nodelay", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.TCPNodelay })},
	{Name: "resolver", Ctx: ctxHTTPAll, Args: Args1More, Set: setHTTPResolver},
	{Name: "resolver_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, timeValue, func(s *HTTPSettings) *time.Duration { return &s.ResolverTimeout })},
	{Name: "error_log", Ctx: ctxHTTPAll, Args: Args1More, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		el, err := parseErrorLog(c, d)
		if err != nil {
			return nil, err
		}
		s := hset(c, parent)
		if !s.set["error_log"] {
			s.ErrorLogs = nil
		}
		s.ErrorLogs = append(s.ErrorLogs, el)
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "client_header_buffer_size", Ctx: ctxHTTPSrv, Args: Args1, Set: setting(hsrv, sizeValue, func(s *HTTPServerSettings) *int64 { return &s.ClientHeaderBufferSize })},
	{Name: "large_client_header_buffers", Ctx: ctxHTTPSrv, Args: Args2, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		n, size, err := bufsArg(d)
		if err != nil {
			return nil, err
		}
		s := hsrv(c, parent)
		s.LargeClientHeaderBuffersNum, s.LargeClientHeaderBuffersSize = n, size
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "client_header_timeout", Ctx: ctxHTTPSrv, Args: Args1, Set: setting(hsrv, timeValue, func(s *HTTPServerSettings) *time.Duration { return &s.ClientHeaderTimeout })},
	{Name: "underscores_in_headers", Ctx: ctxHTTPSrv, Args: ArgsFlag, Set: setting(hsrv, flagValue, func(s *HTTPServerSettings) *bool { return &s.UnderscoresInHeaders })},
	{Name: "ignore_invalid_headers", Ctx: ctxHTTPSrv, Args: ArgsFlag, Set: setting(hsrv, flagValue, func(s *HTTPServerSettings) *bool { return &s.IgnoreInvalidHeaders })},
	{Name: "merge_slashes", Ctx: ctxHTTPSrv, Args: ArgsFlag, Set: setting(hsrv, flagValue, func(s *HTTPServerSettings) *bool { return &s.MergeSlashes })},

	// proxy
	{Name: "proxy_pass", Ctx: CtxHTTPLocation | CtxHTTPIf, Args: Args1, Set: setHTTPProxyPass},
	{Name: "proxy_set_header", Ctx: ctxHTTPAll, Args: Args2, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		if !s.set[d.Name] {
			s.ProxySetHeaders = nil
		}
		s.ProxySetHeaders = append(s.ProxySetHeaders, HTTPHeader{Name: d.Args[0], Value: d.Args[1]})
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "proxy_hide_header", Ctx: ctxHTTPAll, Args: Args1, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		if !s.set[d.Name] {
			s.ProxyHideHeaders = nil
		}
		s.ProxyHideHeaders = append(s.ProxyHideHeaders, d.Args[0])
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "proxy_pass_header", Ctx: ctxHTTPAll, Args: Args1, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		if !s.set[d.Name] {
			s.ProxyPassHeaders = nil
		}
		s.ProxyPassHeaders = append(s.ProxyPassHeaders, d.Args[0])
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "proxy_pass_request_headers", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.ProxyPassRequestHeaders })},
	{Name: "proxy_pass_request_body", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.ProxyPassRequestBody })},
	{Name: "proxy_http_version", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, httpDialect.enum("1.0", "1.1"), func(s *HTTPSettings) *string { return &s.ProxyHTTPVersion })},
	{Name: "proxy_connect_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, timeValue, func(s *HTTPSettings) *time.Duration { return &s.ProxyConnectTimeout })},
	{Name: "proxy_socket_keepalive", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.ProxySocketKeepalive })},
	{Name: "proxy_read_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, timeValue, func(s *HTTPSettings) *time.Duration { return &s.ProxyReadTimeout })},
	{Name: "proxy_send_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, timeValue, func(s *HTTPSettings) *time.Duration { return &s.ProxySendTimeout })},
	{Name: "proxy_next_upstream", Ctx: ctxHTTPAll, Args: Args1More, Set: setHTTPNextUpstream},
	{Name: "proxy_next_upstream_tries", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, numValue, func(s *HTTPSettings) *int { return &s.ProxyNextUpstreamTries })},
	{Name: "proxy_next_upstream_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, timeValue, func(s *HTTPSettings) *time.Duration { return &s.ProxyNextUpstreamTimeout })},
	{Name: "proxy_buffering", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.ProxyBuffering })},
	{Name: "proxy_request_buffering", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.ProxyRequestBuffering })},
	{Name: "proxy_buffer_size", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, sizeValue, func(s *HTTPSettings) *int64 { return &s.ProxyBufferSize })},
	{Name: "proxy_buffers", Ctx: ctxHTTPAll, Args: Args2, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		n, size, err := bufsArg(d)
		if err != nil {
			return nil, err
		}
		s := hset(c, parent)
		s.ProxyBuffersNum, s.ProxyBuffersSize = n, size
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "proxy_busy_buffers_size", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, sizeValue, func(s *HTTPSettings) *int64 { return &s.ProxyBusyBuffersSize })},
	{Name: "proxy_intercept_errors", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.ProxyInterceptErrors })},
	{Name: "proxy_redirect", Ctx: ctxHTTPAll, Args: Args12, Multi: true, Set: setHTTPProxyRedirect},
	{Name: "proxy_cookie_domain", Ctx: ctxHTTPAll, Args: Args12, Multi: true, Set: setHTTPCookieRewrite(func(s *HTTPSettings) *[]HTTPCookieRewrite { return &s.ProxyCookieDomain })},
	{Name: "proxy_cookie_path", Ctx: ctxHTTPAll, Args: Args12, Multi: true, Set: setHTTPCookieRewrite(func(s *HTTPSettings) *[]HTTPCookieRewrite { return &s.ProxyCookiePath })},
	{Name: "proxy_cookie_flags", Ctx: ctxHTTPAll, Args: Args1234, Multi: true, Set: setHTTPCookieFlags},
	{Name: "proxy_ignore_client_abort", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.ProxyIgnoreClientAbort })},
	{Name: "chunked_transfer_encoding", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.ChunkedTransferEncoding })},
	{Name: "lingering_close", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, httpDialect.enum("off", "on", "always"), func(s *HTTPSettings) *string { return &s.LingeringClose })},
	{Name: "lingering_time", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, timeValue, func(s *HTTPSettings) *time.Duration { return &s.LingeringTime })},
	{Name: "lingering_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, timeValue, func(s *HTTPSettings) *time.Duration { return &s.LingeringTimeout })},
	{Name: "proxy_bind", Ctx: ctxHTTPAll, Args: Args12, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		addr, err := httpDialect.parseProxyBind(d)
		if err != nil {
			return nil, err
		}
		s.ProxyBind = addr
		s.mark(d.Name)
		return nil, nil
	}},

	// headers, logs, variables
	{Name: "add_header", Ctx: ctxHTTPAll | CtxHTTPIf, Args: Args23, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		h := HTTPHeader{Name: d.Args[0], Value: d.Args[1]}
		if len(d.Args) == 3 {
			if d.Args[2] != "always" {
				return nil, errorf(d.File, d.Line, `invalid parameter "%s"`, d.Args[2])
			}
			h.Always = true
		}
		s := hset(c, parent)
		if !s.set[d.Name] {
			s.AddHeaders = nil
		}
		s.AddHeaders = append(s.AddHeaders, h)
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "log_format", Ctx: CtxHTTP, Args: Args2More, Multi: true, Set: setHTTPLogFormat},
	{Name: "access_log", Ctx: ctxHTTPAll | CtxHTTPIf, Args: Args1More, Multi: true, Set: setHTTPAccessLog},
	{Name: "map", Ctx: CtxHTTP, Args: Args2, Block: CtxRaw, Multi: true, Set: setHTTPVarBlock},
	{Name: "geo", Ctx: CtxHTTP, Args: Args12, Block: CtxRaw, Multi: true, Set: setHTTPVarBlock},
	{Name: "split_clients", Ctx: CtxHTTP, Args: Args2, Block: CtxRaw, Multi: true, Set: setHTTPVarBlock},
	{Name: "set_real_ip_from", Ctx: ctxHTTPAll, Args: Args1, Multi: true, Set: setHTTPRealIPFrom},
	{Name: "real_ip_header", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, stringValue, func(s *HTTPSettings) *string { return &s.RealIPHeader })},
	{Name: "real_ip_recursive", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.RealIPRecursive })},

	// access and limits
	{Name: "allow", Ctx: ctxHTTPAll | CtxHTTPLimitExcept, Args: Args1, Multi: true, Set: setHTTPAccess},
	{Name: "deny", Ctx: ctxHTTPAll | CtxHTTPLimitExcept, Args: Args1, Multi: true, Set: setHTTPAccess},
	{Name: "limit_conn_zone", Ctx: CtxHTTP, Args: Args2, Multi: true, Set: setHTTPLimitConnZone},
	{Name: "limit_conn", Ctx: ctxHTTPAll, Args: Args2, Multi: true, Set: setHTTPLimitConn},
	{Name: "limit_conn_status", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, statusValue, func(s *HTTPSettings) *int { return &s.LimitConnStatus })},
	{Name: "limit_conn_log_level", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, httpDialect.enum("info", "notice", "warn", "error"), func(s *HTTPSettings) *string { return &s.LimitConnLogLevel })},
	{Name: "limit_req_zone", Ctx: CtxHTTP, Args: Args3, Multi: true, Set: setHTTPLimitReqZone},
	{Name: "limit_req", Ctx: ctxHTTPAll, Args: Args123, Multi: true, Set: setHTTPLimitReq},
	{Name: "limit_req_status", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, statusValue, func(s *HTTPSettings) *int { return &s.LimitReqStatus })},
	{Name: "limit_req_log_level", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, httpDialect.enum("info", "notice", "warn", "error"), func(s *HTTPSettings) *string { return &s.LimitReqLogLevel })},

	// TLS termination (parsed; served by a later version)
	{Name: "ssl_certificate", Ctx: ctxHTTPSrv, Args: Args1, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hsrv(c, parent)
		s.SSLCertificates = append(s.SSLCertificates, pathArg(c, d.Args[0]))
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "ssl_certificate_key", Ctx: ctxHTTPSrv, Args: Args1, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hsrv(c, parent)
		s.SSLCertificateKeys = append(s.SSLCertificateKeys, pathArg(c, d.Args[0]))
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "ssl_protocols", Ctx: ctxHTTPSrv, Args: Args1More, Set: setting(hsrv, httpDialect.parseSSLProtocols, func(s *HTTPServerSettings) *[]string { return &s.SSLProtocols })},
	{Name: "ssl_ciphers", Ctx: ctxHTTPSrv, Args: Args1, Set: setting(hsrv, stringValue, func(s *HTTPServerSettings) *string { return &s.SSLCiphers })},
	{Name: "ssl_prefer_server_ciphers", Ctx: ctxHTTPSrv, Args: ArgsFlag, Set: setting(hsrv, flagValue, func(s *HTTPServerSettings) *bool { return &s.SSLPreferServerCiphers })},
	{Name: "ssl_session_cache", Ctx: ctxHTTPSrv, Args: Args12, Set: setHTTPSSLSessionCache},
	{Name: "ssl_session_timeout", Ctx: ctxHTTPSrv, Args: Args1, Set: setting(hsrv, secondsValue, func(s *HTTPServerSettings) *time.Duration { return &s.SSLSessionTimeout })},
	{Name: "ssl_session_tickets", Ctx: ctxHTTPSrv, Args: ArgsFlag, Set: setting(hsrv, flagValue, func(s *HTTPServerSettings) *bool { return &s.SSLSessionTickets })},
	{Name: "ssl_verify_client", Ctx: ctxHTTPSrv, Args: Args1, Set: setting(hsrv, httpDialect.enum("off", "on", "optional", "optional_no_ca"), func(s *HTTPServerSettings) *string { return &s.SSLVerifyClient })},
	{Name: "ssl_client_certificate", Ctx: ctxHTTPSrv, Args: Args1, Set: setting(hsrv, pathValue, func(s *HTTPServerSettings) *string { return &s.SSLClientCertificate })},
	{Name: "ssl_verify_depth", Ctx: ctxHTTPSrv, Args: Args1, Set: setting(hsrv, numValue, func(s *HTTPServerSettings) *int { return &s.SSLVerifyDepth })},

	// upstream
	{Name: "upstream", Ctx: CtxHTTP, Args: Args1, Block: CtxHTTPUpstream, Multi: true, Set: setHTTPUpstream, Close: httpDialect.closeUpstream},
	{Name: "ip_hash", Ctx: CtxHTTPUpstream, Args: Args0, Set: httpDialect.setUpstreamMethod},
	{Name: "keepalive", Ctx: CtxHTTPUpstream, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		n, ok := parseDigits(d.Args[0])
		if !ok || n == 0 || n > 1<<31-1 {
			return nil, errorf(d.File, d.Line, `invalid value "%s" in "%s" directive`, d.Args[0], d.Name)
		}
		parent.(*HTTPUpstream).Keepalive = int(n)
		return nil, nil
	}},
	{Name: "keepalive_requests", Ctx: CtxHTTPUpstream, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		n, err := parseNum(d, d.Args[0])
		parent.(*HTTPUpstream).KeepaliveRequests = n
		return nil, err
	}},
	{Name: "keepalive_time", Ctx: CtxHTTPUpstream, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		t, err := timeArg(d, d.Args[0])
		parent.(*HTTPUpstream).KeepaliveTime = t
		return nil, err
	}},
	{Name: "keepalive_timeout", Ctx: CtxHTTPUpstream, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		t, err := timeArg(d, d.Args[0])
		parent.(*HTTPUpstream).KeepaliveTimeout = t
		return nil, err
	}},
}

func bufsArg(d *Directive) (int, int64, error) {
	n, ok := parseDigits(d.Args[0])
	size, err := ParseSize(d.Args[1])
	if !ok || n == 0 || n > 1<<31-1 || err != nil || size == 0 {
		return 0, 0, errorf(d.File, d.Line, `"%s" directive invalid value`, d.Name)
	}
	return int(n), size, nil
}

func setHTTPServer(c *compiler, d *Directive, parent any) (any, error) {
	h := parent.(*HTTP)
	h.init()
	srv := &HTTPServer{File: d.File, Line: d.Line}
	h.Servers = append(h.Servers, srv)
	return srv, nil
}

func closeHTTPServer(c *compiler, d *Directive, child any) error {
	srv := child.(*HTTPServer)
	if len(srv.Listens) == 0 {
		// nginx listens on *:80 when run as root, *:8000 otherwise;
		// sluice keeps *:80 (which needs root or CAP_NET_BIND_SERVICE).
		l := HTTPListen{Network: "tcp", Address: "0.0.0.0:80", Backlog: 511, Implicit: true, Pos: srv.Pos()}
		if err := addHTTPListen(c, d, srv, l, false); err != nil {
			return err
		}
	}
	if srv.Names == nil {
		srv.Names = []HTTPServerName{{Name: ""}}
	}
	return nil
}

// setHTTPListen parses listen ADDRESS [default_server] [ssl] [http2]
// [proxy_protocol] [backlog=N] [rcvbuf=SIZE] [sndbuf=SIZE] [bind]
// [ipv6only=on|off] [reuseport] [deferred] [so_keepalive=...].
func setHTTPListen(c *compiler, d *Directive, parent any) (any, error) {
	srv := parent.(*HTTPServer)
	addrs, err := httpListenAddrs(d, d.Args[0])
	if err != nil {
		return nil, err
	}
	p, err := httpDialect.parseListenParams(d)
	if err != nil {
		return nil, err
	}
	// reuseport, deferred, ipv6only= and so_keepalive= need a socket of
	// their own, as bind does
	bind := p.bind || p.reusePort || p.deferred || p.ipv6OnlySet || p.keepalive.mode != "" || p.fastOpen > 0
	for _, a := range addrs {
		l := HTTPListen{Network: a.network, Address: a.address, DefaultServer: p.defaultServer, SSL: p.ssl,
			HTTP2: p.http2, ProxyProtocol: p.proxyProtocol, ReusePort: p.reusePort, Bind: bind,
			Deferred: p.deferred, Backlog: p.backlog, RcvBuf: p.rcvBuf, SndBuf: p.sndBuf,
			IPv6Only: p.ipv6OnlyFor(a.address), SoKeepalive: p.keepalive.mode, KeepIdle: p.keepalive.idle,
			KeepIntvl: p.keepalive.intvl, KeepCnt: p.keepalive.cnt, FastOpen: p.fastOpen, Pos: pos(d)}
		if err := addHTTPListen(c, d, srv, l, p.optionsSet); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// addHTTPListen records a listen of srv with nginx's duplicate checks.
func addHTTPListen(c *compiler, d *Directive, srv *HTTPServer, l HTTPListen, optionsSet bool) error {
	h := httpOf(c)
	key := l.Key()
	use := h.listens[key]
	if use == nil {
		use = &httpAddrUse{}
		h.listens[key] = use
		h.addrs = append(h.addrs, key)
	}
	shown := key
	if optionsSet {
		if use.optionsSet {
			return errorf(d.File, d.Line, "duplicate listen options for %s", shown)
		}
		use.optionsSet = true
	}
	if l.DefaultServer {
		if use.defaultServer {
			return errorf(d.File, d.Line, "a duplicate default server for %s", shown)
		}
		use.defaultServer = true
	}
	for _, s := range use.servers {
		if s == srv {
			return errorf(d.File, d.Line, "a duplicate listen %s", shown)
		}
	}
	use.servers = append(use.servers, srv)
	srv.Listens = append(srv.Listens, l)
	return nil
}

// httpListenAddrs parses the address of an http listen: addr:port, port,
// addr (port 80), [v6]:port, [v6], *:port or unix:path.
func httpListenAddrs(d *Directive, s string) ([]netAddr, error) {
	if strings.HasPrefix(s, "unix:") {
		return httpDialect.unixListenAddr(d, s)
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return nil, errorf(d.File, d.Line, `invalid host in "%s" of the "listen" directive`, s)
		}
		host = s[:end+1]
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return nil, errorf(d.File, d.Line, `invalid host in "%s" of the "listen" directive`, s)
			}
			port = rest[1:]
			if port == "" {
				return nil, errorf(d.File, d.Line, `invalid port in "%s" of the "listen" directive`, s)
			}
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if port == "" {
			return nil, errorf(d.File, d.Line, `invalid port in "%s" of the "listen" directive`, s)
		}
	} else if _, ok := parseDigits(s); ok {
		host, port = "", s
	}
	p := int64(80)
	if port != "" {
		n, ok := parseDigits(port)
		if !ok || n < 1 || n > 65535 {
			return nil, errorf(d.File, d.Line, `invalid port in "%s" of the "listen" directive`, s)
		}
		p = n
	}
	ps := strconv.Itoa(int(p))
	switch {
	case host == "" || host == "*":
		return []netAddr{{"tcp", "0.0.0.0:" + ps}}, nil
	case strings.HasPrefix(host, "["):
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() {
			return nil, errorf(d.File, d.Line, `invalid IPv6 address in "%s" of the "listen" directive`, s)
		}
		return []netAddr{{"tcp", netip.AddrPortFrom(a, uint16(p)).String()}}, nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		return []netAddr{{"tcp", netip.AddrPortFrom(a, uint16(p)).String()}}, nil
	}
	ips, err := LookupHost(host)
	var out []netAddr
	seen := map[string]bool{}
	for _, ip := range ips {
		a, perr := netip.ParseAddr(ip)
		if perr != nil {
			continue
		}
		addr := netip.AddrPortFrom(a.Unmap(), uint16(p)).String()
		if !seen[addr] {
			seen[addr] = true
			out = append(out, netAddr{"tcp", addr})
		}
	}
	if err != nil || len(out) == 0 {
		return nil, errorf(d.File, d.Line, `host not found in "%s" of the "listen" directive`, s)
	}
	return out, nil
}

func setHTTPServerName(c *compiler, d *Directive, parent any) (any, error) {
	srv := parent.(*HTTPServer)
	for _, a := range d.Args {
		if (strings.HasPrefix(a, "*") && (len(a) < 3 || a[1] != '.')) || (strings.HasPrefix(a, ".") && len(a) < 2) {
			return nil, errorf(d.File, d.Line, `server name "%s" is invalid`, a)
		}
		if strings.Contains(a, "/") {
			c.warnf(d, `server name "%s" has suspicious symbols`, a)
		}
		if strings.HasPrefix(a, "~") {
			pat := a[1:]
			if _, err := compileNginxRegex(pat, true); err != nil {
				return nil, errorf(d.File, d.Line, `invalid regular expression "%s": %v`, pat, err)
			}
			srv.Names = append(srv.Names, HTTPServerName{Name: a, Regex: pat})
			continue
		}
		name := strings.ToLower(a)
		if name == "$hostname" {
			name = strings.ToLower(Hostname())
		}
		srv.Names = append(srv.Names, HTTPServerName{Name: name})
	}
	return nil, nil
}

// Hostname returns the machine's host name for server_name $hostname.
// Tests may replace it.
var Hostname = func() string {
	h, _ := os.Hostname()
	return h
}

// compileNginxRegex compiles an nginx (PCRE) regular expression:
// caseless for ~*. RE2 runs what it can compile; look-around,
// back-references and the other constructs it lacks run on a
// backtracking engine (internal/pcre).
func compileNginxRegex(pat string, caseless bool) (*pcre.Regexp, error) {
	return pcre.Compile(pat, caseless)
}

// CompileRegex compiles the regular expression of a location, a server
// name, rewrite, if and the other directives that take one, as nginx's
// PCRE reads it; caseless for ~*.
func CompileRegex(pat string, caseless bool) (*pcre.Regexp, error) {
	return compileNginxRegex(pat, caseless)
}

func setHTTPLocation(c *compiler, d *Directive, parent any) (any, error) {
	l := &HTTPLocation{File: d.File, Line: d.Line}
	if len(d.Args) == 2 {
		switch m := d.Args[0]; m {
		case "=", "^~", "~", "~*":
			l.Modifier = m
		default:
			return nil, errorf(d.File, d.Line, `invalid location modifier "%s"`, m)
		}
		l.Name = d.Args[1]
	} else {
		name := d.Args[0]
		switch {
		case strings.HasPrefix(name, "="):
			l.Modifier, name = LocExact, name[1:]
		case strings.HasPrefix(name, "^~"):
			l.Modifier, name = LocNoRegex, name[2:]
		case strings.HasPrefix(name, "~*"):
			l.Modifier, name = LocRegexCase, name[2:]
		case strings.HasPrefix(name, "~"):
			l.Modifier, name = LocRegex, name[1:]
		case strings.HasPrefix(name, "@"):
			l.Modifier = LocNamed
		}
		l.Name = name
	}
	if l.Modifier == LocRegex || l.Modifier == LocRegexCase {
		if _, err := compileNginxRegex(l.Name, l.Modifier == LocRegexCase); err != nil {
			return nil, errorf(d.File, d.Line, `invalid regular expression "%s": %v`, l.Name, err)
		}
	}
	switch p := parent.(type) {
	case *HTTPServer:
		p.Locations = append(p.Locations, l)
	case *HTTPLocation:
		switch {
		case p.Modifier == LocExact:
			return nil, errorf(d.File, d.Line, `location "%s" cannot be inside the exact location "%s"`, l.Name, p.Name)
		case p.Modifier == LocNamed:
			return nil, errorf(d.File, d.Line, `location "%s" cannot be inside the named location "%s"`, l.Name, p.Name)
		case l.Modifier == LocNamed:
			return nil, errorf(d.File, d.Line, `named location "%s" can be on the server level only`, l.Name)
		case !l.IsRegex() && !strings.HasPrefix(l.Name, p.Name):
			return nil, errorf(d.File, d.Line, `location "%s" is outside location "%s"`, l.Name, p.Name)
		}
		p.Locations = append(p.Locations, l)
	}
	return l, nil
}

// IsRegex reports whether the location is a ~ or ~* location.
func (l *HTTPLocation) IsRegex() bool { return l.Modifier == LocRegex || l.Modifier == LocRegexCase }

// setHTTPReturn parses return code [text], return code URL and return URL.
func setHTTPReturn(c *compiler, d *Directive, parent any) (any, error) {
	r := &HTTPReturn{Pos: pos(d)}
	a := d.Args[0]
	n, ok := parseDigits(a)
	if !ok {
		if len(d.Args) == 1 && (len(a) > 7 && strings.HasPrefix(a, "http://") || len(a) > 8 && strings.HasPrefix(a, "https://") || strings.HasPrefix(a, "$scheme")) {
			r.Code, r.Text = 302, a
		} else {
			return nil, errorf(d.File, d.Line, `invalid return code "%s"`, a)
		}
	} else {
		if n > 999 {
			return nil, errorf(d.File, d.Line, `invalid return code "%s"`, a)
		}
		r.Code = int(n)
		if len(d.Args) == 2 {
			r.Text = d.Args[1]
		}
	}
	addScript(parent, HTTPScriptOp{Op: OpReturn, Return: r, Pos: r.Pos})
	// Return is the first return directly at the level (not inside if)
	switch p := parent.(type) {
	case *HTTPServer:
		if p.Return == nil {
			p.Return = r
		}
	case *HTTPLocation:
		if p.Return == nil {
			p.Return = r
		}
	}
	return nil, nil
}

// setHTTPErrorPage parses error_page code ... [=[response]] uri.
func setHTTPErrorPage(c *compiler, d *Directive, parent any) (any, error) {
	args := d.Args
	ep := HTTPErrorPage{URI: args[len(args)-1], Pos: pos(d)}
	codes := args[:len(args)-1]
	if last := codes[len(codes)-1]; strings.HasPrefix(last, "=") {
		codes = codes[:len(codes)-1]
		if last == "=" {
			ep.OverwriteUpstream = true
		} else {
			n, ok := parseDigits(last[1:])
			if !ok {
				return nil, errorf(d.File, d.Line, `invalid value "%s"`, last)
			}
			ep.Overwrite = int(n)
		}
		if len(codes) == 0 {
			return nil, errorf(d.File, d.Line, `invalid number of arguments in "error_page" directive`)
		}
	}
	for _, a := range codes {
		n, ok := parseDigits(a)
		if !ok {
			return nil, errorf(d.File, d.Line, `invalid value "%s"`, a)
		}
		if n < 300 || n > 599 {
			return nil, errorf(d.File, d.Line, `value "%s" must be between 300 and 599`, a)
		}
		ep.Codes = append(ep.Codes, int(n))
	}
	s := hset(c, parent)
	if !s.set["error_page"] {
		s.ErrorPages = nil
	}
	s.ErrorPages = append(s.ErrorPages, ep)
	s.mark(d.Name)
	return nil, nil
}

func setHTTPResolver(c *compiler, d *Directive, parent any) (any, error) {
	for _, a := range d.Args {
		k, v, ok := strings.Cut(a, "=")
		if ok {
			switch k {
			case "valid":
				if _, err := ParseSeconds(v); err != nil {
					return nil, errorf(d.File, d.Line, `invalid parameter: %s`, a)
				}
				continue
			case "ipv4", "ipv6":
				if v != "on" && v != "off" {
					return nil, errorf(d.File, d.Line, `invalid parameter: %s`, a)
				}
				continue
			}
		}
		host := a
		if h, _, err := splitHostPortOpt(a); err == nil {
			host = h
		}
		if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err != nil {
			ips, lerr := LookupHost(host)
			if lerr != nil || len(ips) == 0 {
				return nil, errorf(d.File, d.Line, `host not found in resolver "%s"`, a)
			}
		}
	}
	s := hset(c, parent)
	s.Resolver = append([]string(nil), d.Args...)
	s.mark(d.Name)
	return nil, nil
}

// splitHostPortOpt splits "host:port", "[v6]:port", "[v6]" or "host".
func splitHostPortOpt(s string) (string, string, error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", errInvalid
		}
		return s[1:end], strings.TrimPrefix(s[end+1:], ":"), nil
	}
	if strings.Count(s, ":") == 1 {
		h, p, _ := strings.Cut(s, ":")
		return h, p, nil
	}
	return s, "", nil
}

// nextUpstreamValues are proxy_next_upstream's conditions.
var nextUpstreamValues = []string{"error", "timeout", "invalid_header", "http_500", "http_502", "http_503", "http_504", "http_403", "http_404", "http_429", "non_idempotent", "updating", "off"}

func setHTTPNextUpstream(c *compiler, d *Directive, parent any) (any, error) {
	var list []string
	off := false
	for _, a := range d.Args {
		found := false
		for _, v := range nextUpstreamValues {
			if strings.EqualFold(a, v) {
				found = true
				dup := false
				for _, have := range list {
					if have == v {
						dup = true
					}
				}
				if dup {
					c.warnf(d, `duplicate value "%s"`, a)
					continue
				}
				if v == "off" {
					off = true
				}
				list = append(list, v)
			}
		}
		if !found {
			return nil, errorf(d.File, d.Line, `invalid value "%s"`, a)
		}
	}
	if off {
		list = []string{"off"}
	}
	s := hset(c, parent)
	s.ProxyNextUpstream = list
	s.mark(d.Name)
	return nil, nil
}

func setHTTPProxyRedirect(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	if !s.set[d.Name] {
		s.ProxyRedirect = nil
	}
	s.mark(d.Name)
	a := d.Args[0]
	if len(d.Args) == 1 {
		switch a {
		case "off":
			s.ProxyRedirect = []HTTPRedirect{{Off: true}}
			return nil, nil
		case "false":
			// nginx's old spelling of off
			s.ProxyRedirect = []HTTPRedirect{{Off: true}}
			return nil, nil
		case "default":
			l, ok := parent.(*HTTPLocation)
			if !ok || l.ProxyPass == nil {
				return nil, errorf(d.File, d.Line, `"proxy_redirect default" should be placed after the "proxy_pass" directive`)
			}
			if l.ProxyPass.HasVars {
				return nil, errorf(d.File, d.Line, `"proxy_redirect default" cannot be used with "proxy_pass" directive with variables`)
			}
			s.ProxyRedirect = append(s.ProxyRedirect, HTTPRedirect{Default: true})
			return nil, nil
		}
		return nil, errorf(d.File, d.Line, `invalid parameter "%s"`, a)
	}
	if strings.HasPrefix(a, "~") {
		pat := strings.TrimPrefix(a[1:], "*")
		if _, err := compileNginxRegex(pat, strings.HasPrefix(a, "~*")); err != nil {
			return nil, errorf(d.File, d.Line, `invalid regular expression "%s": %v`, pat, err)
		}
	}
	s.ProxyRedirect = append(s.ProxyRedirect, HTTPRedirect{Redirect: a, Replacement: d.Args[1]})
	return nil, nil
}

// setHTTPCookieRewrite returns the Set function of proxy_cookie_domain or
// proxy_cookie_path (the list field picks which): "off", or a rule; a
// level's first rule replaces the inherited list. As in nginx, "off" may
// not be combined with other rules of the same level, and the regular
// expression of proxy_cookie_domain is always case-insensitive.
func setHTTPCookieRewrite(field func(*HTTPSettings) *[]HTTPCookieRewrite) func(*compiler, *Directive, any) (any, error) {
	return func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		list := field(s)
		if off, err := cookieListStart(d, s, list, func(r HTTPCookieRewrite) bool { return r.Off }, HTTPCookieRewrite{Off: true}); off || err != nil {
			return nil, err
		}
		a := d.Args[0]
		if strings.HasPrefix(a, "~") {
			pat, caseless := a[1:], true
			if d.Name == "proxy_cookie_path" {
				pat, caseless = strings.TrimPrefix(pat, "*"), strings.HasPrefix(pat, "*")
			}
			if _, err := compileNginxRegex(pat, caseless); err != nil {
				return nil, errorf(d.File, d.Line, `invalid regular expression "%s": %v`, pat, err)
			}
		}
		*list = append(*list, HTTPCookieRewrite{From: a, To: d.Args[1]})
		return nil, nil
	}
}

// cookieListStart does what the three proxy_cookie_* directives share: a
// level's first use replaces the inherited list; "off" must stand alone
// in its level (else "is duplicate", in either order); a lone argument
// other than "off" is an invalid parameter. It reports off when d was
// "off", the list then being offItem alone.
func cookieListStart[T any](d *Directive, s *HTTPSettings, list *[]T, isOff func(T) bool, offItem T) (off bool, err error) {
	if !s.set[d.Name] {
		*list = nil
	}
	if s.set[d.Name] && len(*list) == 1 && isOff((*list)[0]) {
		return false, errorf(d.File, d.Line, `"%s" directive is duplicate`, d.Name)
	}
	if len(d.Args) == 1 {
		if d.Args[0] != "off" {
			return false, errorf(d.File, d.Line, `invalid parameter "%s"`, d.Args[0])
		}
		if s.set[d.Name] {
			return false, errorf(d.File, d.Line, `"%s" directive is duplicate`, d.Name)
		}
		s.mark(d.Name)
		*list = []T{offItem}
		return true, nil
	}
	s.mark(d.Name)
	return false, nil
}

// setHTTPCookieFlags parses proxy_cookie_flags: "off", or a cookie name
// (or ~regex) and up to three flags. Flags may hold variables and are
// checked when a response is rewritten, as nginx does.
func setHTTPCookieFlags(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	if off, err := cookieListStart(d, s, &s.ProxyCookieFlags, func(f HTTPCookieFlags) bool { return f.Off }, HTTPCookieFlags{Off: true}); off || err != nil {
		return nil, err
	}
	a := d.Args[0]
	if strings.HasPrefix(a, "~") {
		if _, err := compileNginxRegex(a[1:], true); err != nil {
			return nil, errorf(d.File, d.Line, `invalid regular expression "%s": %v`, a[1:], err)
		}
	}
	s.ProxyCookieFlags = append(s.ProxyCookieFlags, HTTPCookieFlags{Cookie: a, Flags: append([]string(nil), d.Args[1:]...)})
	return nil, nil
}

// setHTTPProxyPass parses proxy_pass URL: http:// or https:// followed by
// an upstream name, host[:port] or unix:/path, and an optional URI part;
// or any value with variables.
func setHTTPProxyPass(c *compiler, d *Directive, parent any) (any, error) {
	l := parent.(*HTTPLocation)
	h := httpOf(c)
	url := d.Args[0]
	pp := &HTTPProxyPass{URL: url, Pos: pos(d), file: d.File, line: d.Line}
	if l.Name != "" && strings.HasSuffix(l.Name, "/") {
		l.AutoRedirect = true
	}
	if hasVariables(url) {
		pp.HasVars = true
		l.ProxyPass, l.CGIPass = pp, nil
		return nil, nil
	}
	var rest string
	switch {
	case len(url) >= 7 && strings.EqualFold(url[:7], "http://"):
		pp.Scheme, rest, pp.def = "http", url[7:], 80
	case len(url) >= 8 && strings.EqualFold(url[:8], "https://"):
		pp.Scheme, rest, pp.def = "https", url[8:], 443
	default:
		return nil, errorf(d.File, d.Line, "invalid URL prefix")
	}
	if strings.HasPrefix(rest, "unix:") {
		// unix:/path[:/uri]
		path, uri, hasURI := strings.Cut(rest[5:], ":")
		if path == "" {
			return nil, errorf(d.File, d.Line, `no path in the unix domain socket in upstream "%s"`, rest)
		}
		pp.Host = "unix:" + path
		if hasURI {
			pp.URI, pp.HasURI = uri, true
		}
	} else {
		hostport := rest
		if i := strings.IndexAny(rest, "/?"); i >= 0 {
			hostport, pp.URI, pp.HasURI = rest[:i], rest[i:], true
		}
		if hostport == "" {
			return nil, errorf(d.File, d.Line, `no host in upstream "%s"`, rest)
		}
		host, port, n, err := splitUpstreamHost(d, hostport, rest)
		if err != nil {
			return nil, err
		}
		if n != 0 {
			pp.port = n
		}
		pp.Host = host
		if port != "" {
			pp.Host = host + ":" + port
		}
		// an upstream block of that name may not be given a port
		if u := h.ups[strings.ToLower(host)]; u != nil && !u.Implicit && pp.port != 0 {
			return nil, errorf(d.File, d.Line, `upstream "%s" may not have port %d`, host, pp.port)
		}
	}
	if (l.IsRegex() || l.Modifier == LocNamed || l.ifBlock != nil) && pp.HasURI {
		return nil, errorf(d.File, d.Line, `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block`)
	}
	l.setHandler()
	l.ProxyPass = pp
	h.passes = append(h.passes, pp)
	return nil, nil
}

// HTTPSize is a size that may be given with variables, as nginx's
// ngx_http_set_complex_value_size_slot: Size when the value is constant,
// else Value, evaluated and parsed as a size per request.
type HTTPSize struct {
	Size  int64  `json:",omitempty"`
	Value string `json:",omitempty"` // the value as written, when it holds variables
}

// sizeOrVars parses a size argument that may hold variables.
func sizeOrVars(_ *compiler, d *Directive) (HTTPSize, error) {
	if hasVariables(d.Args[0]) {
		return HTTPSize{Value: d.Args[0]}, nil
	}
	n, err := sizeArg(d, d.Args[0])
	return HTTPSize{Size: n}, err
}

// hasVariables reports whether s holds an nginx variable reference.
func hasVariables(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '$' {
			c := s[i+1]
			if c == '{' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
				return true
			}
		}
	}
	return false
}

func setHTTPLogFormat(c *compiler, d *Directive, parent any) (any, error) {
	h := parent.(*HTTP)
	name := d.Args[0]
	if name == "combined" {
		return nil, errorf(d.File, d.Line, `duplicate "log_format" name "%s"`, name)
	}
	for _, f := range h.LogFormats {
		if f.Name == name {
			return nil, errorf(d.File, d.Line, `duplicate "log_format" name "%s"`, name)
		}
	}
	f := HTTPLogFormat{Name: name, Escape: "default", Pos: pos(d)}
	strs := d.Args[1:]
	if strings.HasPrefix(strs[0], "escape=") {
		switch e := strs[0][7:]; e {
		case "default", "json", "none":
			f.Escape = e
		default:
			return nil, errorf(d.File, d.Line, `unknown log format escaping "%s"`, e)
		}
		strs = strs[1:]
	}
	f.Format = strings.Join(strs, "")
	h.LogFormats = append(h.LogFormats, f)
	return nil, nil
}

func setHTTPAccessLog(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	h := httpOf(c)
	if !s.set["access_log"] {
		s.AccessLogs, s.AccessLogOff = nil, false
	}
	s.mark("access_log")
	al, off, err := httpDialect.parseAccessLog(c, d, func(name string) bool {
		return name == "combined" || slices.ContainsFunc(h.LogFormats, func(f HTTPLogFormat) bool { return f.Name == name })
	})
	if err != nil {
		return nil, err
	}
	if off {
		s.AccessLogOff = true
		return nil, nil
	}
	s.AccessLogs = append(s.AccessLogs, al)
	return nil, nil
}

func setHTTPVarBlock(c *compiler, d *Directive, parent any) (any, error) {
	h := parent.(*HTTP)
	b, err := httpDialect.parseVarBlock(d)
	if err != nil {
		return nil, err
	}
	h.VarBlocks = append(h.VarBlocks, b)
	return nil, nil
}

func setHTTPRealIPFrom(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	if !s.set[d.Name] {
		s.RealIPFrom = nil
	}
	s.mark(d.Name)
	a := d.Args[0]
	if a == "unix:" {
		s.RealIPFrom = append(s.RealIPFrom, HTTPRealIPFrom{Unix: true})
		return nil, nil
	}
	p, err := parseCIDR(a)
	if err != nil {
		if strings.Contains(a, "/") {
			return nil, errorf(d.File, d.Line, `invalid parameter "%s"`, a)
		}
		ips, lerr := LookupHost(a)
		if lerr != nil || len(ips) == 0 {
			return nil, errorf(d.File, d.Line, `host not found in set_real_ip_from "%s"`, a)
		}
		for _, ip := range ips {
			if pa, err := parseCIDR(ip); err == nil {
				s.RealIPFrom = append(s.RealIPFrom, HTTPRealIPFrom{Net: pa})
			}
		}
		return nil, nil
	}
	if p.Masked() != p {
		c.warnf(d, "low address bits of %s are meaningless", a)
		p = p.Masked()
	}
	s.RealIPFrom = append(s.RealIPFrom, HTTPRealIPFrom{Net: p})
	return nil, nil
}

func setHTTPAccess(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	if !s.set["access"] {
		s.Access = nil
	}
	r, err := httpDialect.parseAccessRule(c, d)
	if err != nil {
		return nil, err
	}
	s.Access = append(s.Access, r)
	s.mark("access")
	return nil, nil
}

func setHTTPLimitConnZone(c *compiler, d *Directive, parent any) (any, error) {
	h := parent.(*HTTP)
	z, err := httpDialect.parseLimitConnZone(d, h.LimitConnZones)
	if err != nil {
		return nil, err
	}
	h.LimitConnZones = append(h.LimitConnZones, z)
	return nil, nil
}

func setHTTPLimitConn(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	if !s.set["limit_conn"] {
		s.LimitConns = nil
	}
	lc, err := httpDialect.parseLimitConn(d, s.LimitConns)
	if err != nil {
		return nil, err
	}
	s.LimitConns = append(s.LimitConns, lc)
	s.mark("limit_conn")
	return nil, nil
}

func setHTTPLimitReqZone(c *compiler, d *Directive, parent any) (any, error) {
	h := parent.(*HTTP)
	z := HTTPLimitReqZone{Key: d.Args[0], Pos: pos(d)}
	for _, a := range d.Args[1:] {
		switch {
		case strings.HasPrefix(a, "zone="):
			name, n, err := httpDialect.zoneArg(d, a)
			if err != nil {
				return nil, err
			}
			z.Name, z.Size = name, n
		case strings.HasPrefix(a, "rate="):
			v := a[5:]
			scale := 0
			switch {
			case strings.HasSuffix(v, "r/s"):
				scale = 1
			case strings.HasSuffix(v, "r/m"):
				scale = 60
			}
			n, ok := parseDigits(strings.TrimSuffix(strings.TrimSuffix(v, "r/s"), "r/m"))
			if scale == 0 || !ok || n == 0 || n > 1<<31/1000 {
				return nil, errorf(d.File, d.Line, `invalid rate "%s"`, a)
			}
			z.Rate = int(n) * 1000 / scale
		default:
			return nil, errorf(d.File, d.Line, `invalid parameter "%s"`, a)
		}
	}
	if z.Name == "" {
		return nil, errorf(d.File, d.Line, `"%s" must have "zone" parameter`, d.Name)
	}
	if z.Rate == 0 {
		z.Rate = 1000
	}
	for _, other := range h.LimitReqZones {
		if other.Name == z.Name {
			return nil, errorf(d.File, d.Line, `limit_req_zone "%s" is already bound to key "%s"`, z.Name, other.Key)
		}
	}
	h.LimitReqZones = append(h.LimitReqZones, z)
	return nil, nil
}

func setHTTPLimitReq(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	if !s.set["limit_req"] {
		s.LimitReqs = nil
	}
	r := HTTPLimitReq{Pos: pos(d)}
	for _, a := range d.Args {
		switch {
		case strings.HasPrefix(a, "zone="):
			r.Zone = a[5:]
		case strings.HasPrefix(a, "burst="):
			n, ok := parseDigits(a[6:])
			if !ok || n == 0 || n > 1<<31-1 {
				return nil, errorf(d.File, d.Line, `invalid burst value "%s"`, a)
			}
			r.Burst = int(n)
		case strings.HasPrefix(a, "delay="):
			n, ok := parseDigits(a[6:])
			if !ok || n == 0 || n > 1<<31-1 {
				return nil, errorf(d.File, d.Line, `invalid delay value "%s"`, a)
			}
			r.Delay = int(n)
		case a == "nodelay":
			r.NoDelay = true
		default:
			return nil, errorf(d.File, d.Line, `invalid parameter "%s"`, a)
		}
	}
	if r.Zone == "" {
		return nil, errorf(d.File, d.Line, `"%s" must have "zone" parameter`, d.Name)
	}
	for _, o := range s.LimitReqs {
		if o.Zone == r.Zone {
			return nil, errorf(d.File, d.Line, `"%s" directive is duplicate`, d.Name)
		}
	}
	s.LimitReqs = append(s.LimitReqs, r)
	s.mark("limit_req")
	return nil, nil
}

func setHTTPSSLSessionCache(c *compiler, d *Directive, parent any) (any, error) {
	if err := httpDialect.checkSessionCache(d); err != nil {
		return nil, err
	}
	s := hsrv(c, parent)
	s.SSLSessionCache = append([]string(nil), d.Args...)
	s.mark(d.Name)
	return nil, nil
}

func setHTTPUpstream(c *compiler, d *Directive, parent any) (any, error) {
	h := parent.(*HTTP)
	h.init()
	name := d.Args[0]
	key := strings.ToLower(name)
	if o := h.ups[key]; o != nil {
		if !o.Implicit {
			return nil, errorf(d.File, d.Line, `duplicate upstream "%s"`, name)
		}
	}
	// an earlier proxy_pass named it with a port
	for _, pp := range h.passes {
		if pp.port != 0 && !strings.HasPrefix(pp.Host, "unix:") && strings.EqualFold(pp.Host[:strings.LastIndexByte(pp.Host, ':')], name) {
			return nil, errorf(pp.file, pp.line, `upstream "%s" may not have port %d`, name, pp.port)
		}
	}
	u := &HTTPUpstream{Name: name, Method: "round_robin", KeepaliveRequests: 1000,
		KeepaliveTime: time.Hour, KeepaliveTimeout: 60 * time.Second, Pos: pos(d)}
	h.ups[key] = u
	h.Upstreams = append(h.Upstreams, u)
	return u, nil
}

// httpUpstreamAddrs resolves an upstream server address: unix:path,
// ip[:port] or host[:port] (every address of host); the port defaults to 80.
func httpUpstreamAddrs(d *Directive, s string) ([]string, error) {
	if strings.HasPrefix(s, "unix:") {
		if len(s) == 5 {
			return nil, errorf(d.File, d.Line, `no path in the unix domain socket in upstream "%s"`, s)
		}
		return []string{s}, nil
	}
	host, port := s, "80"
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return nil, errorf(d.File, d.Line, `invalid host in upstream "%s"`, s)
		}
		host = s[1:end]
		if rest := s[end+1:]; rest != "" {
			if rest[0] != ':' {
				return nil, errorf(d.File, d.Line, `invalid host in upstream "%s"`, s)
			}
			port = rest[1:]
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
	}
	p, ok := parseDigits(port)
	if !ok || p < 1 || p > 65535 {
		return nil, errorf(d.File, d.Line, `invalid port in upstream "%s"`, s)
	}
	if host == "" {
		return nil, errorf(d.File, d.Line, `no host in upstream "%s"`, s)
	}
	addrs := resolveHostPort(host, int(p))
	if len(addrs) == 0 {
		return nil, errorf(d.File, d.Line, `host not found in upstream "%s"`, s)
	}
	return addrs, nil
}

// closeHTTP runs when the http block ends, in nginx's order: settings are
// merged down every server and location, proxy_pass is linked to its
// upstream (resolving implicit upstreams), buffer sizes are checked,
// duplicate locations refused, TLS servers checked, and server names
// checked per listen address.
func closeHTTP(c *compiler, d *Directive, child any) error {
	h := child.(*HTTP)
	h.init()
	endFile, endLine := d.File, d.EndLine
	for _, u := range h.Upstreams {
		if resolves(u.Servers) {
			u.Resolver, u.ResolverTimeout = h.settings.Resolver, h.settings.ResolverTimeout
		}
	}
	for _, srv := range h.Servers {
		srv.HTTPServerSettings.merge(h.srvconf)
		srv.Settings.merge(h.settings)
		for _, l := range srv.Locations {
			mergeLocation(l, &srv.Settings)
		}
	}
	if err := checkCharsetMaps(h); err != nil {
		return err
	}
	if err := checkHTTPMods(h, endFile, endLine); err != nil {
		return err
	}
	// limit zones must exist
	connZones, reqZones := map[string]bool{}, map[string]bool{}
	for _, z := range h.LimitConnZones {
		connZones[z.Name] = true
	}
	for _, z := range h.LimitReqZones {
		reqZones[z.Name] = true
	}
	var zoneErr error
	walkHTTPSettings(h, func(s *HTTPSettings) {
		for _, lc := range s.LimitConns {
			if !connZones[lc.Zone] && zoneErr == nil {
				zoneErr = &Error{Msg: fmt.Sprintf(`zero size shared memory zone "%s"`, lc.Zone)}
			}
		}
		for _, lr := range s.LimitReqs {
			if !reqZones[lr.Zone] && zoneErr == nil {
				zoneErr = &Error{Msg: fmt.Sprintf(`zero size shared memory zone "%s"`, lr.Zone)}
			}
		}
	})
	for _, u := range h.Upstreams {
		if u.Zone != "" && u.ZoneSize == 0 && zoneErr == nil {
			zoneErr = &Error{Msg: fmt.Sprintf(`zero size shared memory zone "%s"`, u.Zone)}
		}
	}
	if zoneErr == nil {
		zoneErr = checkCacheZones(h)
	}
	// upstreams: link proxy_pass, create and resolve implicit upstreams
	for _, pp := range h.passes {
		if pp.Upstream != "" {
			continue
		}
		host := pp.Host
		if u := h.ups[strings.ToLower(host)]; u != nil && !u.Implicit {
			pp.Upstream = u.Name
			continue
		}
		if pp.def == 0 && pp.port == 0 && !strings.HasPrefix(host, "unix:") {
			// fastcgi_pass, uwsgi_pass, scgi_pass: no default port
			return errorf(pp.file, pp.line, `no port in upstream "%s"`, host)
		}
		name := pp.Host
		if !strings.HasPrefix(host, "unix:") && pp.port == 0 {
			name = host + ":" + strconv.Itoa(pp.def)
		}
		key := strings.ToLower(name)
		if u := h.ups[key]; u != nil {
			pp.Upstream = u.Name
			continue
		}
		u := &HTTPUpstream{Name: name, Implicit: true, Method: "round_robin", KeepaliveRequests: 1000,
			KeepaliveTime: time.Hour, KeepaliveTimeout: 60 * time.Second, Pos: pp.Pos}
		var addrs []string
		if strings.HasPrefix(host, "unix:") {
			addrs = []string{host}
		} else {
			bare := host
			if pp.port != 0 {
				bare = host[:strings.LastIndexByte(host, ':')]
			}
			port := pp.port
			if port == 0 {
				port = pp.def
			}
			addrs = resolveHostPort(strings.Trim(bare, "[]"), port)
			if len(addrs) == 0 {
				return errorf(pp.file, pp.line, `host not found in upstream "%s"`, host)
			}
		}
		for _, a := range addrs {
			u.Servers = append(u.Servers, newUpstreamServer(host, a))
		}
		h.ups[key] = u
		h.Upstreams = append(h.Upstreams, u)
		pp.Upstream = u.Name
	}
	if err := checkHealthChecks(h); err != nil { // http_health.go
		return err
	}
	// proxy buffer checks, per server and location, as nginx's merge
	var bufErr error
	walkHTTPSettings(h, func(s *HTTPSettings) {
		if bufErr != nil {
			return
		}
		size := s.ProxyBufferSize
		if s.ProxyBuffersSize > size {
			size = s.ProxyBuffersSize
		}
		busy := s.ProxyBusyBuffersSize
		if !s.set["proxy_busy_buffers_size"] && busy == 0 {
			busy = 2 * size
			s.ProxyBusyBuffersSize = busy
		}
		switch {
		case s.ProxyBuffersNum < 2:
			bufErr = errorf(endFile, endLine, `there must be at least 2 "proxy_buffers"`)
		case busy < size:
			bufErr = errorf(endFile, endLine, `"proxy_busy_buffers_size" must be equal to or greater than the maximum of the value of "proxy_buffer_size" and one of the "proxy_buffers"`)
		case busy > int64(s.ProxyBuffersNum-1)*s.ProxyBuffersSize:
			bufErr = errorf(endFile, endLine, `"proxy_busy_buffers_size" must be less than the size of all "proxy_buffers" minus one buffer`)
		}
		if bufErr == nil {
			bufErr = checkCGIBuffers(s, endFile, endLine) // http_cgi.go
		}
	})
	if bufErr != nil {
		return bufErr
	}
	// defaults that depend on the merged lists
	walkHTTPSettings(h, func(s *HTTPSettings) {
		s.ProxySetHeaders = withDefaultProxyHeaders(s.ProxySetHeaders)
		if len(s.AccessLogs) == 0 && !s.AccessLogOff {
			s.AccessLogs = []HTTPAccessLog{{Path: c.path("logs/access.log"), Format: "combined"}}
		}
		if s.Root == "" {
			s.Root = c.path("html")
		}
	})
	// duplicate locations
	for _, srv := range h.Servers {
		if err := checkDuplicateLocations(srv.Locations); err != nil {
			return err
		}
	}
	if zoneErr != nil {
		return zoneErr
	}
	if err := checkHTTPSSLEnable(h); err != nil {
		return err
	}
	if err := checkHTTPSSL(h); err != nil {
		return err
	}
	mergeHTTPListenFlags(h)
	// TLS termination needs a certificate and its key: nginx asks for one
	// in the default server of each ssl address, naming its server block
	// (the others use the default server's when they have none)
	for _, addr := range h.addrs {
		if srv := httpSSLDefaultServer(h.listens[addr].servers, addr); srv != nil && len(srv.SSLCertificates) == 0 && !srv.SSLRejectHandshake {
			return errorf(srv.File, srv.Line, `no "ssl_certificate" is defined for the "listen ... ssl" directive`)
		}
	}
	for _, srv := range h.Servers {
		if len(srv.SSLCertificateKeys) < len(srv.SSLCertificates) {
			return &Error{Msg: fmt.Sprintf(`no "ssl_certificate_key" is defined for certificate "%s"`, srv.SSLCertificates[len(srv.SSLCertificateKeys)])}
		}
	}
	// server names per address: conflicts are ignored with a warning
	for _, addr := range h.addrs {
		seen := map[string]bool{}
		for _, srv := range h.listens[addr].servers {
			for _, n := range srv.Names {
				if n.Regex != "" {
					continue
				}
				if seen[n.Name] {
					c.cfg.Warnings = append(c.cfg.Warnings, fmt.Sprintf(`conflicting server name "%s" on %s, ignored`, n.Name, addr))
					continue
				}
				seen[n.Name] = true
			}
		}
	}
	return nil
}

func mergeLocation(l *HTTPLocation, parent *HTTPSettings) {
	l.Settings.merge(parent)
	mergeIfLocations(l)
	mergeLimitExcept(l)
	for _, n := range l.Locations {
		mergeLocation(n, &l.Settings)
	}
}

func walkLocations(list []*HTTPLocation, f func(*HTTPLocation)) {
	for _, l := range list {
		f(l)
		walkLocations(l.Locations, f)
	}
}

// walkHTTPSettings calls f for the settings of every server and location,
// and of the if blocks inside locations.
func walkHTTPSettings(h *HTTP, f func(*HTTPSettings)) {
	for _, srv := range h.Servers {
		f(&srv.Settings)
		walkLocations(srv.Locations, func(l *HTTPLocation) {
			f(&l.Settings)
			for _, op := range l.Script {
				if op.Op == OpIf && op.If.Location != nil {
					f(&op.If.Location.Settings)
				}
			}
		})
	}
}

// withDefaultProxyHeaders appends nginx's default proxy_set_header values
// (Host $proxy_host, Connection close) unless the list sets them.
func withDefaultProxyHeaders(list []HTTPHeader) []HTTPHeader {
	hasHost, hasConn := false, false
	for _, h := range list {
		hasHost = hasHost || strings.EqualFold(h.Name, "Host")
		hasConn = hasConn || strings.EqualFold(h.Name, "Connection")
	}
	if hasHost && hasConn {
		return list
	}
	out := append([]HTTPHeader(nil), list...)
	if !hasHost {
		out = append(out, HTTPHeader{Name: "Host", Value: "$proxy_host"})
	}
	if !hasConn {
		out = append(out, HTTPHeader{Name: "Connection", Value: "close"})
	}
	return out
}

// checkDuplicateLocations refuses two prefix locations (plain or ^~) or two
// exact locations with the same name at one level, as nginx does, naming
// the later one.
func checkDuplicateLocations(list []*HTTPLocation) error {
	exact, inclusive := map[string]bool{}, map[string]bool{}
	var dups []*HTTPLocation
	for _, l := range list {
		var m map[string]bool
		switch l.Modifier {
		case LocExact:
			m = exact
		case LocPrefix, LocNoRegex:
			m = inclusive
		}
		if m != nil {
			if m[l.Name] {
				dups = append(dups, l)
			}
			m[l.Name] = true
		}
	}
	if len(dups) > 0 {
		// nginx finds duplicates in its sorted location list
		sort.SliceStable(dups, func(i, j int) bool { return dups[i].Name < dups[j].Name })
		l := dups[0]
		return errorf(l.File, l.Line, `duplicate location "%s"`, l.Name)
	}
	for _, l := range list {
		if err := checkDuplicateLocations(l.Locations); err != nil {
			return err
		}
	}
	return nil
}

// UpstreamByName returns the upstream called name (case-insensitive, as
// nginx matches proxy_pass to upstream names), or nil.
func (h *HTTP) UpstreamByName(name string) *HTTPUpstream {
	for _, u := range h.Upstreams {
		if strings.EqualFold(u.Name, name) {
			return u
		}
	}
	return nil
}

// splitUpstreamHost splits the host[:port] of a proxy_pass or grpc_pass URL
// ("[::1]:80" included) and checks the port; rest is the URL after the
// scheme, quoted in errors as nginx quotes it.
func splitUpstreamHost(d *Directive, hostport, rest string) (host, port string, n int, err error) {
	host = hostport
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", "", 0, errorf(d.File, d.Line, `invalid host in upstream "%s"`, rest)
		}
		host, port = hostport[:end+1], strings.TrimPrefix(hostport[end+1:], ":")
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i+1:]
		if port == "" {
			return "", "", 0, errorf(d.File, d.Line, `invalid port in upstream "%s"`, rest)
		}
	}
	if port != "" {
		v, ok := parseDigits(port)
		if !ok || v < 1 || v > 65535 {
			return "", "", 0, errorf(d.File, d.Line, `invalid port in upstream "%s"`, rest)
		}
		n = int(v)
	}
	return host, port, n, nil
}

// rootPath reads the argument of root or alias as nginx does: the
// $document_root and $realpath_root variables are refused, a root loses a
// final "/", and a path without variables at its start is made absolute
// under the prefix.
func rootPath(c *compiler, d *Directive, root bool) (string, error) {
	p := d.Args[0]
	for _, v := range []string{"$document_root", "$realpath_root"} {
		if strings.Contains(p, v) {
			return "", errorf(d.File, d.Line, `the %s variable cannot be used in the "%s" directive`, v, d.Name)
		}
	}
	if root && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	if !strings.HasPrefix(p, "$") {
		slash := strings.HasSuffix(p, "/")
		p = c.path(p)
		if slash && !strings.HasSuffix(p, "/") {
			p += "/" // an alias keeps its final "/"
		}
	}
	return p, nil
}
