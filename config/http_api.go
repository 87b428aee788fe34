package config

import "strings"

func init() {
	register(httpAPIDirectives)
}

// httpAPIDirectives is NGINX Plus's ngx_http_api_module: the REST API.
var httpAPIDirectives = []*Spec{
	{Name: "api", Ctx: CtxHTTPLocation, Args: Args0 | Args1, Set: setHTTPAPI},
}

// HTTPAPI is the api directive of a location: the location answers with
// the NGINX Plus REST API (docs/api.md).
type HTTPAPI struct {
	// Write is write=on: the API may change upstream groups.
	Write bool `json:",omitempty"`
	Pos   string
}

// setHTTPAPI parses api [write=on|off]. As nginx's content handlers, the
// last of api, proxy_pass, grpc_pass, the CGI passes, empty_gif,
// stub_status and metrics in a location answers: api clears the others, and they
// clear it.
func setHTTPAPI(c *compiler, d *Directive, parent any) (any, error) {
	a := &HTTPAPI{Pos: pos(d)}
	if len(d.Args) == 1 {
		v, ok := strings.CutPrefix(d.Args[0], "write=")
		switch {
		case ok && v == "on":
			a.Write = true
		case ok && v == "off":
		default:
			return nil, errorf(d.File, d.Line, "invalid parameter \"%s\"", d.Args[0])
		}
	}
	l := parent.(*HTTPLocation)
	l.setHandler()
	l.API = a
	return nil, nil
}
