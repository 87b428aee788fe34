package config

import (
	"strings"
	"time"
)

func init() {
	register(httpStickyDirectives)
}

// httpStickyDirectives is NGINX Plus's session persistence of an http
// upstream (ngx_http_upstream_sticky_module).
var httpStickyDirectives = []*Spec{
	{Name: "sticky", Ctx: CtxHTTPUpstream, Args: Args2More, Set: setHTTPSticky},
}

// maxRouteLen is the longest route= of a server NGINX Plus takes
// (NGX_HTTP_UPSTREAM_SID_LEN).
const maxRouteLen = 32

// HTTPSticky is the sticky directive of an http upstream: requests of a
// client already bound to a server go to that server while it can take
// them (docs/balancing.md).
type HTTPSticky struct {
	// Method is "cookie" or "route" ("learn" is refused).
	Method string
	// Cookie is the cookie's name (sticky cookie NAME).
	Cookie string `json:",omitempty"`
	// Expires is expires=; ExpiresSet says it was given, ExpiresMax that
	// it was "max".
	Expires    time.Duration `json:",omitempty"`
	ExpiresSet bool          `json:",omitempty"`
	ExpiresMax bool          `json:",omitempty"`
	// Domain (domain=) may hold variables; Path (path=) is literal.
	Domain   string `json:",omitempty"`
	Path     string `json:",omitempty"`
	HTTPOnly bool   `json:",omitempty"`
	Secure   bool   `json:",omitempty"`
	// SameSite is samesite= as written: strict, lax or none (any case),
	// or a value with variables.
	SameSite string `json:",omitempty"`
	// Route lists the variables of sticky route, "$" included.
	Route []string `json:",omitempty"`
	// Create and Lookup are the variables of sticky learn ("$"
	// included); Zone and ZoneSize its zone=, Timeout its timeout=
	// (default 10m), Header its header parameter.
	Create   []string      `json:",omitempty"`
	Lookup   []string      `json:",omitempty"`
	Zone     string        `json:",omitempty"`
	ZoneSize int64         `json:",omitempty"`
	Timeout  time.Duration `json:",omitempty"`
	Header   bool          `json:",omitempty"`
	Pos      string
}

// setHTTPSticky parses, as NGINX Plus does,
//
//	sticky cookie NAME [expires=T|max] [domain=D] [httponly] [secure]
//	       [samesite=strict|lax|none|$var] [path=P];
//	sticky route $var ...;
//
//	sticky learn create=$var lookup=$var zone=name:size [timeout=T] [header];
//
// and refuses the sync parameter of sticky learn by name.
func setHTTPSticky(c *compiler, d *Directive, parent any) (any, error) {
	u := parent.(*HTTPUpstream)
	st := &HTTPSticky{Method: d.Args[0], Pos: pos(d)}
	fail := func(msg string) error { return errorf(d.File, d.Line, "\"sticky\" directive %s", msg) }
	switch d.Args[0] {
	case "cookie":
		if d.Args[1] == "" {
			return nil, fail("empty cookie name")
		}
		st.Cookie = d.Args[1]
		var domainSet, pathSet, sameSet bool
		for _, a := range d.Args[2:] {
			switch _, val, _ := strings.Cut(a, "="); {
			case strings.HasPrefix(a, "domain="):
				if domainSet {
					return nil, fail(`parameter "domain" is duplicate`)
				}
				if val == "" {
					return nil, fail(`no value for "domain"`)
				}
				domainSet, st.Domain = true, val
			case strings.HasPrefix(a, "path="):
				if pathSet {
					return nil, fail(`parameter "path" is duplicate`)
				}
				if val == "" {
					return nil, fail(`no value for "path"`)
				}
				pathSet, st.Path = true, val
			case strings.HasPrefix(a, "expires="):
				if st.ExpiresSet {
					return nil, fail(`parameter "expires" is duplicate`)
				}
				st.ExpiresSet = true
				if val == "max" {
					st.ExpiresMax = true
					break
				}
				t, err := ParseSeconds(val)
				if err != nil || val == "" {
					return nil, fail(`invalid "expires" parameter value`)
				}
				st.Expires = t
			case a == "httponly":
				if st.HTTPOnly {
					return nil, fail(`parameter "httponly" is duplicate`)
				}
				st.HTTPOnly = true
			case a == "secure":
				if st.Secure {
					return nil, fail(`parameter "secure" is duplicate`)
				}
				st.Secure = true
			case strings.HasPrefix(a, "samesite="):
				if sameSet {
					return nil, fail(`parameter "samesite" is duplicate`)
				}
				sameSet = true
				if !strings.Contains(val, "$") && !SameSiteValue(val) {
					return nil, fail(`invalid "samesite" parameter value`)
				}
				st.SameSite = val
			default:
				return nil, errorf(d.File, d.Line, "unknown parameter \"%s\"", a)
			}
		}
	case "route":
		for _, a := range d.Args[1:] {
			if !strings.HasPrefix(a, "$") {
				return nil, errorf(d.File, d.Line, "invalid variable name \"%s\"", a)
			}
			st.Route = append(st.Route, a)
		}
	case "learn":
		if err := parseStickyLearn(d, st, fail); err != nil {
			return nil, err
		}
		for _, o := range httpOf(c).Upstreams {
			if o != u && o.Sticky != nil && o.Sticky.Zone == st.Zone {
				return nil, errorf(d.File, d.Line, "sticky zone \"%s\" is already used in upstream \"%s\"", st.Zone, o.Name)
			}
		}
	default:
		return nil, errorf(d.File, d.Line, "unknown parameter \"%s\"", d.Args[0])
	}
	u.Sticky = st
	return nil, nil
}

// SameSiteValue reports whether v is a SameSite value sticky takes:
// strict, lax or none, in any case.
func SameSiteValue(v string) bool {
	return strings.EqualFold(v, "strict") || strings.EqualFold(v, "lax") || strings.EqualFold(v, "none")
}

// parseStickyLearn parses the parameters of sticky learn, with NGINX
// Plus's messages.
func parseStickyLearn(d *Directive, st *HTTPSticky, fail func(string) error) error {
	for _, a := range d.Args[1:] {
		switch key, val, _ := strings.Cut(a, "="); {
		case strings.HasPrefix(a, "zone="):
			if st.ZoneSize != 0 {
				return fail("duplicate zone")
			}
			name, size, ok := strings.Cut(val, ":")
			if !ok {
				return fail("zone size is not specified")
			}
			if name == "" {
				return fail("zone name is not specified")
			}
			n, err := ParseSize(size)
			if err != nil || size == "" {
				return fail("invalid zone size")
			}
			if n < 8<<12 {
				return fail("zone is too small")
			}
			st.Zone, st.ZoneSize = name, n
		case strings.HasPrefix(a, "timeout="):
			if st.Timeout != 0 {
				return fail("duplicate timeout")
			}
			ms, err := parseTime(val, false)
			if err != nil || ms == 0 || val == "" {
				return fail("invalid timeout")
			}
			st.Timeout = time.Duration(ms) * time.Millisecond
		case strings.HasPrefix(a, "create="), strings.HasPrefix(a, "lookup="):
			if !strings.HasPrefix(val, "$") {
				return fail(`missing variable in the "` + key + `" parameter`)
			}
			if key == "create" {
				st.Create = append(st.Create, val)
			} else {
				st.Lookup = append(st.Lookup, val)
			}
		case a == "header":
			st.Header = true
		case a == "sync":
			return errorf(d.File, d.Line, "the \"sync\" parameter of the \"sticky\" directive is not supported by sluice")
		default:
			return errorf(d.File, d.Line, "unknown parameter \"%s\"", a)
		}
	}
	switch {
	case len(st.Lookup) == 0:
		return fail(`"lookup" parameter is not specified`)
	case len(st.Create) == 0:
		return fail(`"create" parameter is not specified`)
	case st.ZoneSize == 0:
		return fail(`"zone" parameter is not specified`)
	}
	if st.Timeout == 0 {
		st.Timeout = 10 * time.Minute
	}
	return nil
}
