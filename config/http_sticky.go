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
	Pos   string
}

// setHTTPSticky parses, as NGINX Plus does,
//
//	sticky cookie NAME [expires=T|max] [domain=D] [httponly] [secure]
//	       [samesite=strict|lax|none|$var] [path=P];
//	sticky route $var ...;
//
// and refuses sticky learn by name.
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
		return nil, errorf(d.File, d.Line, "the \"learn\" method of the \"sticky\" directive is not supported by sluice")
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
