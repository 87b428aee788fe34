package config

import (
	"path/filepath"
	"strings"
)

// HTTPAuth holds auth_basic, auth_basic_user_file (ngx_http_auth_basic_module)
// and satisfy (ngx_http_core_module) of a level.
type HTTPAuth struct {
	// Realm is the auth_basic argument, a complex value; nil when
	// auth_basic is not set. A realm that is (or whose variables make it)
	// "off" turns the check off.
	Realm *string `json:",omitempty"`
	// UserFile is auth_basic_user_file, a complex value. A relative path
	// without variables is made absolute here against the directory of
	// the configuration file; with variables, UserFilePrefix is that
	// directory, for the value of each request.
	UserFile       string `json:",omitempty"`
	UserFilePrefix string `json:",omitempty"`
	// SatisfyAny is "satisfy any": the request is let through when either
	// allow/deny or auth_basic let it through (default "satisfy all").
	SatisfyAny bool `json:",omitempty"`
}

// HTTPLimitExcept is a limit_except block: for a request whose method is
// not one of Methods (GET implying HEAD), the location's settings are
// replaced by those of Location, which inherits the location's and holds
// the block's allow, deny, auth_basic and auth_basic_user_file.
type HTTPLimitExcept struct {
	// Methods are the methods named, upper case, with HEAD added when GET
	// is.
	Methods  []string
	Location *HTTPLocation
	Pos      string
}

// Allows reports whether a request with method is exempt from the block.
func (le *HTTPLimitExcept) Allows(method string) bool {
	for _, m := range le.Methods {
		if m == method {
			return true
		}
	}
	return false
}

// limitExceptMethods are the method names limit_except knows (nginx's
// ngx_methods_names).
var limitExceptMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE",
	"OPTIONS", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH"}

func init() {
	httpInherit = append(httpInherit, []httpInheritRule{
		{"auth_basic", func(d, s *HTTPSettings) { d.Auth.Realm = s.Auth.Realm }},
		{"auth_basic_user_file", func(d, s *HTTPSettings) {
			d.Auth.UserFile, d.Auth.UserFilePrefix = s.Auth.UserFile, s.Auth.UserFilePrefix
		}},
		{"satisfy", func(d, s *HTTPSettings) { d.Auth.SatisfyAny = s.Auth.SatisfyAny }},
	}...)
	register(httpAuthDirectives)
}

// limitExceptUnsupported refuses a directive nginx takes inside
// limit_except and sluice does not.
func limitExceptUnsupported(c *compiler, d *Directive, parent any) (any, error) {
	return nil, errorf(d.File, d.Line, `"%s" directive inside "limit_except" is not supported by sluice`, d.Name)
}

var httpAuthDirectives = []*Spec{
	{Name: "auth_basic", Ctx: ctxHTTPAll | CtxHTTPLimitExcept, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		realm := d.Args[0]
		s.Auth.Realm = &realm
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "auth_basic_user_file", Ctx: ctxHTTPAll | CtxHTTPLimitExcept, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		f, prefix := d.Args[0], filepath.Dir(c.cfg.File)
		switch {
		case hasVariables(f):
			s.Auth.UserFile, s.Auth.UserFilePrefix = f, prefix
		case f != "" && !filepath.IsAbs(f):
			s.Auth.UserFile, s.Auth.UserFilePrefix = filepath.Join(prefix, f), ""
		default:
			s.Auth.UserFile, s.Auth.UserFilePrefix = f, ""
		}
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "satisfy", Ctx: ctxHTTPAll, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		v, err := httpDialect.enum("all", "any")(c, d)
		if err != nil {
			return nil, err
		}
		s := hset(c, parent)
		s.Auth.SatisfyAny = v == "any"
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "limit_except", Ctx: CtxHTTPLocation, Args: Args1More, Block: CtxHTTPLimitExcept, Set: setHTTPLimitExcept},
	{Name: "access_log", Ctx: CtxHTTPLimitExcept, Args: Args1More, Multi: true, Set: limitExceptUnsupported},
	{Name: "proxy_pass", Ctx: CtxHTTPLimitExcept, Args: Args1, Set: limitExceptUnsupported},
}

// setHTTPLimitExcept parses "limit_except method ... {", as nginx's
// ngx_http_core_limit_except; the block's directives go to a location of
// its own.
func setHTTPLimitExcept(c *compiler, d *Directive, parent any) (any, error) {
	l := parent.(*HTTPLocation)
	le := &HTTPLimitExcept{Pos: pos(d)}
	seen := map[string]bool{}
	for _, a := range d.Args {
		m := ""
		for _, name := range limitExceptMethods {
			if strings.EqualFold(a, name) {
				m = name
				break
			}
		}
		if m == "" {
			return nil, errorf(d.File, d.Line, `invalid method "%s"`, a)
		}
		if !seen[m] {
			seen[m] = true
			le.Methods = append(le.Methods, m)
		}
	}
	if seen["GET"] && !seen["HEAD"] {
		le.Methods = append(le.Methods, "HEAD")
	}
	le.Location = &HTTPLocation{File: d.File, Line: d.Line}
	l.LimitExcept = le
	return le.Location, nil
}

// mergeLimitExcept completes the configuration of l's limit_except block:
// it inherits l's settings, name and modifier.
func mergeLimitExcept(l *HTTPLocation) {
	if l.LimitExcept == nil {
		return
	}
	ll := l.LimitExcept.Location
	ll.Modifier, ll.Name = l.Modifier, l.Name
	ll.Settings.merge(&l.Settings)
}
