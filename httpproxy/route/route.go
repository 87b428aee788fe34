// Package route picks the virtual server and the location that handle an
// HTTP request, exactly as nginx does.
//
// A Router is built once per configuration from config.HTTP. For each
// connection the engine asks it for the Addr of the listening address the
// connection arrived on (Router.Addr or Router.Unix); for each request it
// asks that Addr for the server by the request's Host (Addr.Find), then the
// server for the location by the request's normalised path (Server.Match).
//
// Server selection follows nginx: the Host is lower-cased and stripped of
// its port and of one trailing dot; then the exact name wins, then the
// longest leading wildcard ("*.example.com", ".example.com"), then the
// longest trailing wildcard ("www.example.*"), then the first regular
// expression ("~^...") in configuration order; when nothing matches, the
// default_server of the address answers, else the first server listening
// there.
//
// Location selection follows nginx: an exact location ("= /path") equal to
// the path wins at once; otherwise the longest prefix location is
// remembered and its nested locations are searched the same way; unless
// that prefix is "^~", the regular expression locations ("~", "~*") are
// then tried in configuration order — the nested ones of the matched
// prefix first — and the first that matches wins (its own nested
// locations are searched in turn); when no regular expression matches, the
// longest prefix wins. Prefix matching is case-sensitive, "~*" is not.
// Named locations ("@name") are reached only by name (Server.Named). A
// request for "/dir" where "/dir/" is a proxying location and no better
// location exists is redirected to "/dir/" (Match.Redirect), as nginx's
// auto_redirect.
//
// Regular expressions are Go's (RE2): the PCRE syntax nginx configurations
// use (classes, anchors, groups, named groups "(?<name>...)" and
// "(?P<name>...)", "(?i)") works, but look-around, back-references,
// possessive quantifiers and atomic groups do not; such patterns are
// refused when the configuration is loaded. RE2 matches in linear time.
//
// A Router is immutable and safe for concurrent use. Find and Match do not
// allocate for exact, wildcard and prefix matches on lower-case hosts;
// regular expressions cost what Go's regexp costs, and captures are
// extracted only on request (Captures).
package route

import (
	"fmt"
	"github.com/sluicelb/sluice/internal/pcre"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicelb/sluice/config"
)

// Router maps listening addresses to their virtual servers. The zero value
// has no servers.
type Router struct {
	addrs map[string]*Addr // by "ip:port" or "unix:/path"
	// Servers are every server of the configuration, in order.
	Servers []*Server
}

// Addr holds the virtual servers listening on one address and finds the
// one for a Host.
type Addr struct {
	// Key is the address, "ip:port" or "unix:/path".
	Key string
	// Servers are the servers listening on the address, in configuration
	// order.
	Servers []*Server
	def     *Server
	exact   map[string]*Server
	dotted  map[string]*Server // ".example.com" also matches "example.com"
	head    map[string]*Server // "*.example.com" and ".example.com" as ".example.com"
	tail    map[string]*Server // "www.example.*" as "www.example."
	regex   []nameRegex
}

type nameRegex struct {
	re  *pcre.Regexp
	srv *Server
}

// Server is one virtual server and its location tree.
type Server struct {
	// Conf is the compiled server block.
	Conf  *config.HTTPServer
	Index int // position in the configuration
	root  level
	named map[string]*Location
}

// Location is one location block of a server.
type Location struct {
	// Conf is the compiled location block.
	Conf   *config.HTTPLocation
	re     *pcre.Regexp
	nested level
	// autoRedirect is set on the entry that answers for a static name:
	// the exact location when there is one, else the prefix one.
	autoRedirect bool
}

// level is the locations at one nesting level, arranged for matching.
type level struct {
	exact     map[string]*Location
	inclusive map[string]*Location // prefix and ^~ locations
	lens      []int                // distinct lengths of the inclusive names, longest first
	redirects []*Location          // static locations whose name ends in "/" and that redirect
	regex     []*Location
}

// New builds the router for a compiled http block. It returns an error
// when a regular expression does not compile (the configuration loader
// refuses those first).
func New(h *config.HTTP) (*Router, error) {
	r := &Router{addrs: map[string]*Addr{}}
	if h == nil {
		return r, nil
	}
	for i, sc := range h.Servers {
		s := &Server{Conf: sc, Index: i, named: map[string]*Location{}}
		if err := s.root.build(sc.Locations, s); err != nil {
			return nil, err
		}
		r.Servers = append(r.Servers, s)
		for _, l := range sc.Listens {
			key := l.Key()
			a := r.addrs[key]
			if a == nil {
				a = &Addr{Key: key, exact: map[string]*Server{}, dotted: map[string]*Server{},
					head: map[string]*Server{}, tail: map[string]*Server{}}
				r.addrs[key] = a
			}
			if !containsServer(a.Servers, s) {
				a.Servers = append(a.Servers, s)
			}
			if l.DefaultServer {
				a.def = s
			}
		}
	}
	for _, a := range r.addrs {
		if a.def == nil {
			a.def = a.Servers[0]
		}
		for _, s := range a.Servers {
			if err := a.addNames(s); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

func containsServer(list []*Server, s *Server) bool {
	for _, o := range list {
		if o == s {
			return true
		}
	}
	return false
}

// addNames enters the server names of s; a name already taken on the
// address is ignored, as nginx ignores it with a warning.
func (a *Addr) addNames(s *Server) error {
	for _, n := range s.Conf.Names {
		name := n.Name
		switch {
		case n.Regex != "":
			re, err := config.CompileRegex(n.Regex, true)
			if err != nil {
				return fmt.Errorf("route: server name %q: %w", n.Name, err)
			}
			a.regex = append(a.regex, nameRegex{re: re, srv: s})
		case strings.HasPrefix(name, "*."):
			putFirst(a.head, name[1:], s)
		case strings.HasPrefix(name, "."):
			putFirst(a.head, name, s)
			putFirst(a.dotted, name[1:], s)
		case strings.HasSuffix(name, ".*"):
			putFirst(a.tail, name[:len(name)-1], s)
		default:
			putFirst(a.exact, name, s)
		}
	}
	return nil
}

func putFirst(m map[string]*Server, k string, s *Server) {
	if _, ok := m[k]; !ok {
		m[k] = s
	}
}

// build arranges the locations of one level and, recursively, their nested
// ones.
func (lv *level) build(list []*config.HTTPLocation, s *Server) error {
	seenLen := map[int]bool{}
	for _, lc := range list {
		l := &Location{Conf: lc}
		if err := l.nested.build(lc.Locations, s); err != nil {
			return err
		}
		switch lc.Modifier {
		case config.LocNamed:
			if _, ok := s.named[lc.Name]; !ok {
				s.named[lc.Name] = l
			}
		case config.LocRegex, config.LocRegexCase:
			re, err := config.CompileRegex(lc.Name, lc.Modifier == config.LocRegexCase)
			if err != nil {
				return fmt.Errorf("route: location %q: %w", lc.Name, err)
			}
			l.re = re
			lv.regex = append(lv.regex, l)
		case config.LocExact:
			if lv.exact == nil {
				lv.exact = map[string]*Location{}
			}
			if _, ok := lv.exact[lc.Name]; !ok {
				lv.exact[lc.Name] = l
			}
		default:
			if lv.inclusive == nil {
				lv.inclusive = map[string]*Location{}
			}
			if _, ok := lv.inclusive[lc.Name]; !ok {
				lv.inclusive[lc.Name] = l
			}
			if !seenLen[len(lc.Name)] {
				seenLen[len(lc.Name)] = true
				lv.lens = append(lv.lens, len(lc.Name))
			}
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(lv.lens)))
	// nginx keeps one tree node per static name, answering with the exact
	// location when there is one; the node redirects when either
	// location proxies with a name ending in "/"
	names := map[string]bool{}
	for _, lc := range list {
		if (lc.Modifier == config.LocExact || lc.Modifier == config.LocPrefix || lc.Modifier == config.LocNoRegex) && lc.AutoRedirect {
			names[lc.Name] = true
		}
	}
	for _, lc := range list {
		if !names[lc.Name] {
			continue
		}
		delete(names, lc.Name)
		l := lv.exact[lc.Name]
		if l == nil {
			l = lv.inclusive[lc.Name]
		}
		l.autoRedirect = true
		lv.redirects = append(lv.redirects, l)
	}
	return nil
}

// Addr returns the servers for a connection accepted on the local address
// local: those listening on exactly that address, else those listening on
// the wildcard address (0.0.0.0 or [::]) of its port; nil when none.
func (r *Router) Addr(local netip.AddrPort) *Addr {
	ip := local.Addr().Unmap()
	if a := r.addrs[netip.AddrPortFrom(ip, local.Port()).String()]; a != nil {
		return a
	}
	port := strconv.Itoa(int(local.Port()))
	if ip.Is4() {
		return r.addrs["0.0.0.0:"+port]
	}
	if a := r.addrs["[::]:"+port]; a != nil {
		return a
	}
	return nil
}

// AddrByKey returns the servers of an address as config.HTTPListen.Key
// spells it ("ip:port", "unix:/path"), or nil.
func (r *Router) AddrByKey(key string) *Addr { return r.addrs[key] }

// Unix returns the servers listening on the unix socket path, or nil.
func (r *Router) Unix(path string) *Addr { return r.addrs["unix:"+path] }

// Default returns the default server of the address: the one with
// default_server, else the first one listening there.
func (a *Addr) Default() *Server { return a.def }

// ServerMatch is the result of a server lookup.
type ServerMatch struct {
	Server *Server
	// Host is the normalised host (lower case, no port, no trailing dot).
	Host string
	re   *pcre.Regexp
}

// Captures returns the submatches of the regular expression server name
// that matched (index 0 is the whole host), nil when the server was found
// otherwise. Named groups are listed by Names.
func (m ServerMatch) Captures() []string {
	if m.re == nil {
		return nil
	}
	return m.re.FindStringSubmatch(m.Host)
}

// CaptureIndex returns the submatch indexes of the regular expression
// server name that matched, in Host; nil when the server was found
// otherwise or the expression has no groups.
func (m ServerMatch) CaptureIndex() []int {
	if m.re == nil || m.re.NumSubexp() == 0 {
		return nil
	}
	return m.re.FindStringSubmatchIndex(m.Host)
}

// Regex returns the regular expression server name that matched, as
// written, or "".
func (m ServerMatch) Regex() string {
	if m.re == nil {
		return ""
	}
	return m.re.String()
}

// Names returns the group names of the regular expression server name
// that matched, as regexp.SubexpNames; nil otherwise.
func (m ServerMatch) Names() []string {
	if m.re == nil {
		return nil
	}
	return m.re.SubexpNames()
}

// Find returns the server for a request whose Host (header value, or the
// host of an absolute request URI) is host. It reports false when host is
// not a valid host, which nginx answers with 400; an empty host is
// invalid (see NoHost for requests without one).
func (a *Addr) Find(host string) (ServerMatch, bool) {
	h, ok := NormalizeHost(host)
	if !ok {
		return ServerMatch{}, false
	}
	return a.lookup(h), true
}

// NoHost returns the server for a request without a Host (HTTP/1.0): the
// server named "" (the default name of a server without server_name),
// else the default server.
func (a *Addr) NoHost() ServerMatch {
	if s := a.exact[""]; s != nil {
		return ServerMatch{Server: s}
	}
	return ServerMatch{Server: a.def}
}

func (a *Addr) lookup(h string) ServerMatch {
	if s := a.exact[h]; s != nil {
		return ServerMatch{Server: s, Host: h}
	}
	if len(a.head) > 0 {
		if s := a.dotted[h]; s != nil {
			return ServerMatch{Server: s, Host: h}
		}
		for i := 0; i < len(h); i++ {
			if h[i] == '.' {
				if s := a.head[h[i:]]; s != nil {
					return ServerMatch{Server: s, Host: h}
				}
			}
		}
	}
	if len(a.tail) > 0 {
		for i := len(h) - 2; i > 0; i-- {
			if h[i] == '.' {
				if s := a.tail[h[:i+1]]; s != nil {
					return ServerMatch{Server: s, Host: h}
				}
			}
		}
	}
	for _, r := range a.regex {
		if r.re.MatchString(h) {
			return ServerMatch{Server: r.srv, Host: h, re: r.re}
		}
	}
	return ServerMatch{Server: a.def, Host: h}
}

// NormalizeHost validates a Host as nginx does and returns it lower-cased,
// without its port and without one trailing dot. It reports false for a
// host nginx refuses with 400: empty, with "..", "/", NUL, controls or
// spaces. It allocates only when the host has upper-case letters.
func NormalizeHost(host string) (string, bool) {
	dot := -2
	n := len(host)
	literal, rest := false, false
	upper := false
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c == '.':
			if dot == i-1 {
				return "", false
			}
			dot = i
		case c == ':':
			if !rest && !literal {
				n, rest = i, true
			}
		case c == '[':
			if i == 0 {
				literal = true
			}
		case c == ']':
			if literal && !rest {
				n, rest, literal = i+1, true, false
			}
		case c == '/' || c <= 0x20 || c == 0x7f:
			return "", false
		case c >= 'A' && c <= 'Z':
			upper = true
		}
	}
	if dot == n-1 {
		n--
	}
	if n <= 0 {
		return "", false
	}
	h := host[:n]
	if upper {
		// ASCII only, as nginx: other bytes are kept as they are
		b := []byte(h)
		for i, c := range b {
			if c >= 'A' && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		h = string(b)
	}
	return h, true
}

// Match is the result of a location lookup.
type Match struct {
	// Location is the chosen location; nil when no location matched, in
	// which case the server's own settings apply.
	Location *Location
	// Redirect asks for a 301 to the path with "/" appended (nginx's
	// auto_redirect for proxying locations whose name ends in "/").
	Redirect bool
	re       *pcre.Regexp
}

// Captures returns the submatches of the last regular expression location
// that matched the path (index 0 is the whole match), nil when none did.
// The path must be the one given to Match.
func (m Match) Captures(path string) []string {
	if m.re == nil {
		return nil
	}
	return m.re.FindStringSubmatch(path)
}

// CaptureIndex returns the submatch indexes of the regular expression
// location that matched path (as regexp.FindStringSubmatchIndex), nil
// when none did or it has no groups.
func (m Match) CaptureIndex(path string) []int {
	if m.re == nil || m.re.NumSubexp() == 0 {
		return nil
	}
	return m.re.FindStringSubmatchIndex(path)
}

// Names returns the group names of that regular expression, or nil.
func (m Match) Names() []string {
	if m.re == nil {
		return nil
	}
	return m.re.SubexpNames()
}

// Named returns the named location "@name" (name with its "@"), or nil.
func (s *Server) Named(name string) *Location { return s.named[name] }

// Match finds the location for path, the request's normalised URI path
// (percent-decoded, dot segments resolved, as nginx's $uri).
func (s *Server) Match(path string) Match {
	var m Match
	if s.root.find(path, &m) == redirect {
		m.Redirect = true
	}
	return m
}

// lookup states, as nginx's NGX_OK, NGX_DONE, NGX_AGAIN and NGX_DECLINED
type state int

const (
	declined state = iota
	again          // a prefix matched; search on
	found          // an exact or regex location: stop
	redirect       // auto-redirect: stop
)

// find runs nginx's ngx_http_core_find_location on one level: it updates
// m.Location as nginx updates r->loc_conf.
func (lv *level) find(path string, m *Match) state {
	st := lv.findStatic(path, m)
	noregex := false
	if st == again {
		p := m.Location
		noregex = p.Conf.Modifier == config.LocNoRegex
		st = p.nested.find(path, m)
	}
	if st == found || st == redirect {
		return st
	}
	if !noregex {
		for _, l := range lv.regex {
			if l.re.MatchString(path) {
				m.Location, m.re = l, l.re
				l.nested.find(path, m)
				return found
			}
		}
	}
	return st
}

// findStatic is nginx's static location tree walk: an exact name equal
// to the path; else a prefix name equal to the path; else a redirecting
// name equal to the path plus "/"; else the longest prefix name.
func (lv *level) findStatic(path string, m *Match) state {
	if l := lv.exact[path]; l != nil {
		m.Location = l
		return found
	}
	if len(lv.lens) > 0 {
		if l := lv.inclusive[path]; l != nil {
			m.Location = l
			return again
		}
	}
	for _, l := range lv.redirects {
		name := l.Conf.Name
		if len(name) == len(path)+1 && name[len(path)] == '/' && name[:len(path)] == path {
			m.Location = l
			return redirect
		}
	}
	for _, n := range lv.lens {
		if n > len(path) {
			continue
		}
		if l := lv.inclusive[path[:n]]; l != nil {
			m.Location = l
			return again
		}
	}
	return declined
}
