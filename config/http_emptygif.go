package config

func init() {
	register(httpEmptyGIFDirectives)
}

// httpEmptyGIFDirectives is ngx_http_empty_gif_module.
var httpEmptyGIFDirectives = []*Spec{
	{Name: "empty_gif", Ctx: CtxHTTPLocation, Args: Args0, Multi: true, Set: setHTTPEmptyGIF},
}

// setHTTPEmptyGIF parses empty_gif: the location answers with a 1x1
// transparent GIF. As nginx's content handlers, the last of empty_gif,
// proxy_pass, grpc_pass, stub_status, api and metrics in a location is
// the one that answers: each of the others clears EmptyGIF, and
// EmptyGIF, when set, takes precedence over those given before it.
func setHTTPEmptyGIF(c *compiler, d *Directive, parent any) (any, error) {
	l := parent.(*HTTPLocation)
	l.setHandler()
	l.EmptyGIF = true
	return nil, nil
}
