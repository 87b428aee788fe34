package config

// HTTPSubrequests holds the directives of the modules that make
// subrequests: auth_request and auth_request_set
// (ngx_http_auth_request_module), mirror and mirror_request_body
// (ngx_http_mirror_module). The zero value is nginx's default: no
// auth_request, no mirror, mirror_request_body on.
type HTTPSubrequests struct {
	// AuthRequest is the URI of the auth_request subrequest; empty for
	// none ("auth_request off" or not set).
	AuthRequest string `json:",omitempty"`
	// AuthRequestSet are the auth_request_set directives in order,
	// inherited as one list.
	AuthRequestSet []HTTPAuthRequestSet `json:",omitempty"`
	// Mirrors are the URIs of the mirror directives in order; empty for
	// none ("mirror off" or not set).
	Mirrors []string `json:",omitempty"`
	// MirrorNoBody is "mirror_request_body off": the mirror subrequests
	// carry no body and the client's body is not read first.
	MirrorNoBody bool `json:",omitempty"`
}

// HTTPAuthRequestSet is one "auth_request_set $variable value": Var is the
// name without "$", Value a complex value evaluated in the subrequest once
// it is done.
type HTTPAuthRequestSet struct {
	Var   string
	Value string
	Pos   string
}

func init() {
	httpInherit = append(httpInherit, []httpInheritRule{
		{"auth_request", func(d, s *HTTPSettings) { d.Sub.AuthRequest = s.Sub.AuthRequest }},
		{"auth_request_set", func(d, s *HTTPSettings) { d.Sub.AuthRequestSet = s.Sub.AuthRequestSet }},
		{"mirror", func(d, s *HTTPSettings) { d.Sub.Mirrors = s.Sub.Mirrors }},
		{"mirror_request_body", func(d, s *HTTPSettings) { d.Sub.MirrorNoBody = s.Sub.MirrorNoBody }},
	}...)
	register(httpSubrequestDirectives)
}

var httpSubrequestDirectives = []*Spec{
	{Name: "auth_request", Ctx: ctxHTTPAll, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		s.Sub.AuthRequest = d.Args[0]
		if d.Args[0] == "off" {
			s.Sub.AuthRequest = ""
		}
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "auth_request_set", Ctx: ctxHTTPAll, Args: Args2, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		v := d.Args[0]
		if v == "" || v[0] != '$' {
			return nil, errorf(d.File, d.Line, `invalid variable name "%s"`, v)
		}
		s := hset(c, parent)
		if !s.set[d.Name] {
			s.Sub.AuthRequestSet = nil // an inner level starts its own list
		}
		s.Sub.AuthRequestSet = append(s.Sub.AuthRequestSet, HTTPAuthRequestSet{Var: v[1:], Value: d.Args[1], Pos: pos(d)})
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "mirror", Ctx: ctxHTTPAll, Args: Args1, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		// nginx: "off" only alone, and nothing after "off"
		if s.set[d.Name] && (d.Args[0] == "off" || len(s.Sub.Mirrors) == 0) {
			return nil, errorf(d.File, d.Line, `"%s" directive is duplicate`, d.Name)
		}
		if !s.set[d.Name] {
			s.Sub.Mirrors = nil
		}
		if d.Args[0] != "off" {
			s.Sub.Mirrors = append(s.Sub.Mirrors, d.Args[0])
		}
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "mirror_request_body", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		on, err := parseFlag(d)
		if err != nil {
			return nil, err
		}
		s := hset(c, parent)
		s.Sub.MirrorNoBody = !on
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "internal", Ctx: CtxHTTPLocation, Args: Args0, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		parent.(*HTTPLocation).Internal = true
		return nil, nil
	}},
}
