package config

import "strings"

// The userid modes (HTTPUserID.Mode).
const (
	UserIDOff = ""    // no cookie is read or set (the default, "userid off")
	UserIDLog = "log" // the cookie is read ($uid_got), none is set
	UserIDV1  = "v1"  // cookies are set, version 1 (words in host order)
	UserIDOn  = "on"  // cookies are set, version 2 (words in network order)
)

// The userid_flags bits (HTTPUserID.Flags). UserIDSameSite is part of
// each samesite value, as in nginx, so that only the first samesite
// value given counts (a second one is a duplicate).
const (
	UserIDSecure uint8 = 1 << iota
	UserIDHTTPOnly
	UserIDSameSiteStrict
	UserIDSameSiteLax
	UserIDSameSiteNone
	UserIDSameSite
	UserIDFlagsOff // "userid_flags off": no flag
)

// userIDFlagNames maps the userid_flags values to their bits.
var userIDFlagNames = []struct {
	name string
	bits uint8
}{
	{"off", UserIDFlagsOff}, {"secure", UserIDSecure}, {"httponly", UserIDHTTPOnly},
	{"samesite=strict", UserIDSameSite | UserIDSameSiteStrict}, {"samesite=lax", UserIDSameSite | UserIDSameSiteLax},
	{"samesite=none", UserIDSameSite | UserIDSameSiteNone},
}

// UserIDMaxExpires is "userid_expires max": the cookie expires on
// Thu, 31 Dec 2037 23:55:55 GMT.
const UserIDMaxExpires = 2145916555

// HTTPUserID holds the directives of ngx_http_userid_module of one level;
// each is inherited on its own. The zero value is nginx's defaults.
type HTTPUserID struct {
	// Mode is userid: one of the UserID* modes.
	Mode string `json:",omitempty"`
	// Service is userid_service (HasService when set): the first word of
	// the cookies made; without it, the server's IPv4 address (version 2)
	// or 0 (version 1).
	Service    int64 `json:",omitempty"`
	HasService bool  `json:",omitempty"`
	// Name is userid_name (HasName when set; default "uid").
	Name    string `json:",omitempty"`
	HasName bool   `json:",omitempty"`
	// Domain is userid_domain; empty for "none" (the default).
	Domain string `json:",omitempty"`
	// Path is userid_path (HasPath when set; default "/").
	Path    string `json:",omitempty"`
	HasPath bool   `json:",omitempty"`
	// Expires is userid_expires in seconds: 0 for "off" (the default: a
	// session cookie), UserIDMaxExpires for "max".
	Expires int64 `json:",omitempty"`
	// P3P is userid_p3p: the P3P header sent with the cookie; empty for
	// "none" (the default).
	P3P string `json:",omitempty"`
	// Flags are the userid_flags bits.
	Flags uint8 `json:",omitempty"`
	// Mark is userid_mark: the character written after the 22 characters
	// of the identifier; 0 for "off" (the default).
	Mark byte `json:",omitempty"`
}

func init() {
	u := func(d, s *HTTPSettings) (*HTTPUserID, *HTTPUserID) { return &d.Mods.UserID, &s.Mods.UserID }
	httpInherit = append(httpInherit, []httpInheritRule{
		{"userid", func(d, s *HTTPSettings) { du, su := u(d, s); du.Mode = su.Mode }},
		{"userid_service", func(d, s *HTTPSettings) { du, su := u(d, s); du.Service, du.HasService = su.Service, su.HasService }},
		{"userid_name", func(d, s *HTTPSettings) { du, su := u(d, s); du.Name, du.HasName = su.Name, su.HasName }},
		{"userid_domain", func(d, s *HTTPSettings) { du, su := u(d, s); du.Domain = su.Domain }},
		{"userid_path", func(d, s *HTTPSettings) { du, su := u(d, s); du.Path, du.HasPath = su.Path, su.HasPath }},
		{"userid_expires", func(d, s *HTTPSettings) { du, su := u(d, s); du.Expires = su.Expires }},
		{"userid_p3p", func(d, s *HTTPSettings) { du, su := u(d, s); du.P3P = su.P3P }},
		{"userid_flags", func(d, s *HTTPSettings) { du, su := u(d, s); du.Flags = su.Flags }},
		{"userid_mark", func(d, s *HTTPSettings) { du, su := u(d, s); du.Mark = su.Mark }},
	}...)
	register(httpUserIDDirectives)
}

var httpUserIDDirectives = []*Spec{
	{Name: "userid", Ctx: ctxHTTPAll, Args: Args1, Set: setUserID},
	{Name: "userid_service", Ctx: ctxHTTPAll, Args: Args1, Set: setUserID},
	{Name: "userid_name", Ctx: ctxHTTPAll, Args: Args1, Set: setUserID},
	{Name: "userid_domain", Ctx: ctxHTTPAll, Args: Args1, Set: setUserID},
	{Name: "userid_path", Ctx: ctxHTTPAll, Args: Args1, Set: setUserID},
	{Name: "userid_expires", Ctx: ctxHTTPAll, Args: Args1, Set: setUserID},
	{Name: "userid_p3p", Ctx: ctxHTTPAll, Args: Args1, Set: setUserID},
	{Name: "userid_flags", Ctx: ctxHTTPAll, Args: Args123, Multi: true, Set: setUserID},
	{Name: "userid_mark", Ctx: ctxHTTPAll, Args: Args1, Set: setUserID},
}

// setUserID parses the userid directives with nginx's checks and
// messages.
func setUserID(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	u := &s.Mods.UserID
	v := d.Args[0]
	switch d.Name {
	case "userid":
		switch strings.ToLower(v) {
		case "off":
			u.Mode = UserIDOff
		case "log", "v1", "on":
			u.Mode = strings.ToLower(v)
		default:
			return nil, errorf(d.File, d.Line, `invalid value "%s"`, v)
		}
	case "userid_service":
		n, ok := parseDigits(v)
		if !ok {
			return nil, errorf(d.File, d.Line, `"%s" directive invalid number`, d.Name)
		}
		u.Service, u.HasService = int64(n), true
	case "userid_name":
		u.Name, u.HasName = v, true
	case "userid_domain":
		if v == "none" {
			v = ""
		}
		u.Domain = v
	case "userid_path":
		u.Path, u.HasPath = v, true
	case "userid_expires":
		switch v {
		case "max":
			u.Expires = UserIDMaxExpires
		case "off":
			u.Expires = 0
		default:
			t, err := secondsArg(d, v)
			if err != nil {
				return nil, err
			}
			u.Expires = int64(t.Seconds())
		}
	case "userid_p3p":
		if v == "none" {
			v = ""
		}
		u.P3P = v
	case "userid_flags":
		if !s.set[d.Name] {
			u.Flags = 0
		}
		for _, a := range d.Args {
			bits := uint8(0)
			for _, f := range userIDFlagNames {
				if strings.EqualFold(a, f.name) {
					bits = f.bits
					break
				}
			}
			switch {
			case bits == 0:
				return nil, errorf(d.File, d.Line, `invalid value "%s"`, a)
			case u.Flags&bits != 0:
				c.warnf(d, `duplicate value "%s"`, a)
			default:
				u.Flags |= bits
			}
		}
	case "userid_mark":
		switch {
		case v == "off":
			u.Mark = 0
		case len(v) == 1 && (v[0] >= '0' && v[0] <= '9' || v[0] >= 'A' && v[0] <= 'Z' || v[0] >= 'a' && v[0] <= 'z' || v[0] == '='):
			u.Mark = v[0]
		default:
			return nil, errorf(d.File, d.Line, `"%s" directive value must be "off" or a single letter, digit or "="`, d.Name)
		}
	}
	s.mark(d.Name)
	return nil, nil
}
