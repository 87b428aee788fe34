package config

// ignored lists the nginx directives that sluice accepts and ignores with
// one "[warn]" each: they tune nginx internals (hash table sizes, sendfile,
// worker scheduling) or features whose effect sluice gets another way.
// The list is explicit on purpose: anything not here and not implemented
// is refused, naming the directive.
var ignored = []struct {
	name string
	ctx  Context
	args Arity
	why  string
}{
	{"user", CtxMain, Args12, "sluice does not change its user"},
	{"worker_cpu_affinity", CtxMain, Args1More, "the Go scheduler places work on CPUs"},
	{"worker_priority", CtxMain, Args1, "sluice does not change its priority"},
	{"worker_shutdown_timeout", CtxMain, Args1, "not implemented yet"},
	{"timer_resolution", CtxMain, Args1, "timers are exact"},
	{"pcre_jit", CtxMain, ArgsFlag, "regular expressions are Go's"},
	{"lock_file", CtxMain, Args1, "sluice has no lock file"},
	{"thread_pool", CtxMain, Args23, "sluice has no thread pools"},
	{"accept_mutex_delay", CtxEvents, Args1, "there is no accept mutex"},
	{"worker_aio_requests", CtxEvents, Args1, "sluice does no file AIO"},
	{"sendfile", CtxHTTP | CtxHTTPServer | CtxHTTPLocation | CtxHTTPIf, ArgsFlag, "sluice serves no files"},
	{"sendfile_max_chunk", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, "sluice serves no files"},
	{"tcp_nopush", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, ArgsFlag, "it only matters with sendfile"},
	{"types_hash_max_size", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, "hash sizes need no tuning"},
	{"types_hash_bucket_size", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, "hash sizes need no tuning"},
	{"server_names_hash_max_size", CtxHTTP, Args1, "hash sizes need no tuning"},
	{"server_names_hash_bucket_size", CtxHTTP, Args1, "hash sizes need no tuning"},
	{"variables_hash_max_size", CtxHTTP | CtxStream, Args1, "hash sizes need no tuning"},
	{"variables_hash_bucket_size", CtxHTTP | CtxStream, Args1, "hash sizes need no tuning"},
	{"map_hash_max_size", CtxHTTP | CtxStream, Args1, "hash sizes need no tuning"},
	{"map_hash_bucket_size", CtxHTTP | CtxStream, Args1, "hash sizes need no tuning"},
	{"proxy_headers_hash_max_size", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, "hash sizes need no tuning"},
	{"proxy_headers_hash_bucket_size", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, "hash sizes need no tuning"},
	{"default_type", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, "sluice serves no files"},
	{"types", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args0, "sluice serves no files"},
	{"gzip", CtxHTTP | CtxHTTPServer | CtxHTTPLocation | CtxHTTPIf, ArgsFlag, "gzip is not implemented yet"},
	{"gzip_buffers", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args2, "gzip is not implemented yet"},
	{"gzip_comp_level", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, "gzip is not implemented yet"},
	{"gzip_disable", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1More, "gzip is not implemented yet"},
	{"gzip_http_version", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, "gzip is not implemented yet"},
	{"gzip_min_length", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, "gzip is not implemented yet"},
	{"gzip_proxied", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1More, "gzip is not implemented yet"},
	{"gzip_types", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1More, "gzip is not implemented yet"},
	{"gzip_vary", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, ArgsFlag, "gzip is not implemented yet"},
}

func ignoredSpecs() []*Spec {
	specs := make([]*Spec, 0, len(ignored))
	for _, ig := range ignored {
		ig := ig
		s := &Spec{Name: ig.name, Ctx: ig.ctx, Args: ig.args, Multi: true,
			Set: func(c *compiler, d *Directive, _ any) (any, error) {
				c.warnf(d, "the %q directive is ignored: %s", d.Name, ig.why)
				return nil, nil
			}}
		if ig.name == "types" {
			s.Block = CtxRaw
		}
		specs = append(specs, s)
	}
	return specs
}
