package config

// ignored lists the nginx directives that sluice accepts and ignores with
// one "[warn]" each: they tune nginx internals (hash table sizes, sendfile,
// worker scheduling) or features whose effect sluice gets another way.
// The list is explicit on purpose: anything not here and not implemented
// is refused, naming the directive.
//
// Each entry keeps nginx's checks for the directive: where it may appear,
// its number of arguments, whether it may repeat in one block (multi), and
// for on/off flags, numbers, sizes and times, the value (check).
var ignored = []struct {
	name  string
	ctx   Context
	args  Arity
	multi bool
	check valueCheck
	why   string
}{
	{"user", CtxMain, Args12, false, checkNone, "sluice does not change its user"},
	{"worker_cpu_affinity", CtxMain, Args1More, false, checkNone, "the Go scheduler places work on CPUs"},
	{"worker_priority", CtxMain, Args1, false, checkNone, "sluice does not change its priority"},
	{"worker_shutdown_timeout", CtxMain, Args1, false, checkTime, "not implemented yet"},
	{"timer_resolution", CtxMain, Args1, false, checkTime, "timers are exact"},
	{"pcre_jit", CtxMain, ArgsFlag, false, checkFlag, "regular expressions are Go's"},
	{"lock_file", CtxMain, Args1, false, checkNone, "sluice has no lock file"},
	{"thread_pool", CtxMain, Args23, true, checkNone, "sluice has no thread pools"},
	{"accept_mutex_delay", CtxEvents, Args1, false, checkTime, "there is no accept mutex"},
	{"worker_aio_requests", CtxEvents, Args1, false, checkNum, "sluice does no file AIO"},
	{"sendfile", CtxHTTP | CtxHTTPServer | CtxHTTPLocation | CtxHTTPIf, ArgsFlag, false, checkFlag, "sluice serves no files"},
	{"sendfile_max_chunk", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, false, checkSize, "sluice serves no files"},
	{"tcp_nopush", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, ArgsFlag, false, checkFlag, "it only matters with sendfile"},
	{"types_hash_max_size", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, false, checkNum, "hash sizes need no tuning"},
	{"types_hash_bucket_size", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, false, checkNum, "hash sizes need no tuning"},
	{"server_names_hash_max_size", CtxHTTP, Args1, false, checkNum, "hash sizes need no tuning"},
	{"server_names_hash_bucket_size", CtxHTTP, Args1, false, checkNum, "hash sizes need no tuning"},
	{"variables_hash_max_size", CtxHTTP | CtxStream, Args1, false, checkNum, "hash sizes need no tuning"},
	{"variables_hash_bucket_size", CtxHTTP | CtxStream, Args1, false, checkNum, "hash sizes need no tuning"},
	{"map_hash_max_size", CtxHTTP | CtxStream, Args1, false, checkNum, "hash sizes need no tuning"},
	{"map_hash_bucket_size", CtxHTTP | CtxStream, Args1, false, checkNum, "hash sizes need no tuning"},
	{"proxy_headers_hash_max_size", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, false, checkNum, "hash sizes need no tuning"},
	{"proxy_headers_hash_bucket_size", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, false, checkNum, "hash sizes need no tuning"},
	{"default_type", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, false, checkNone, "sluice serves no files"},
	{"log_not_found", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, ArgsFlag, false, checkFlag, "sluice serves no files"},
	{"etag", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, ArgsFlag, false, checkFlag, "sluice serves no files"},
	{"proxy_max_temp_file_size", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, false, checkSize, "responses are never written to temporary files (as with 0)"},
	{"proxy_temp_file_write_size", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, false, checkSize, "responses are never written to temporary files"},
	{"proxy_temp_path", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1234, false, checkNone, "responses are never written to temporary files"},
	{"uninitialized_variable_warn", CtxHTTP | CtxHTTPServer | CtxHTTPLocation | CtxHTTPIf | CtxHTTPSrvIf, ArgsFlag, false, checkFlag, "sluice does not log uses of uninitialized variables"},
	{"types", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args0, true, checkNone, "sluice serves no files"},
}

// valueCheck is the check nginx makes on an ignored directive's argument.
type valueCheck int

const (
	checkNone valueCheck = iota
	checkFlag            // on or off
	checkNum             // a number (ngx_conf_set_num_slot)
	checkSize            // a size (ngx_conf_set_size_slot)
	checkTime            // a time in milliseconds (ngx_conf_set_msec_slot)
)

func ignoredSpecs() []*Spec {
	specs := make([]*Spec, 0, len(ignored))
	for _, ig := range ignored {
		s := &Spec{Name: ig.name, Ctx: ig.ctx, Args: ig.args, Multi: ig.multi,
			Set: func(c *compiler, d *Directive, _ any) (any, error) {
				var err error
				switch ig.check {
				case checkFlag:
					_, err = parseFlag(d)
				case checkNum:
					_, err = parseNum(d, d.Args[0])
				case checkSize:
					_, err = sizeArg(d, d.Args[0])
				case checkTime:
					_, err = timeArg(d, d.Args[0])
				}
				if err != nil {
					return nil, err
				}
				c.warnf(d, `the "%s" directive is ignored: %s`, d.Name, ig.why)
				return nil, nil
			}}
		if ig.name == "types" {
			s.Block = CtxRaw
		}
		specs = append(specs, s)
	}
	return specs
}
