package config

import (
	"slices"
	"strconv"
	"strings"
)

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
	{"timer_resolution", CtxMain, Args1, false, checkTime, "timers are exact"},
	{"pcre_jit", CtxMain, ArgsFlag, false, checkFlag, "regular expressions are Go's"},
	{"lock_file", CtxMain, Args1, false, checkNone, "sluice has no lock file"},
	{"thread_pool", CtxMain, Args23, true, checkNone, "sluice has no thread pools"},
	{"accept_mutex_delay", CtxEvents, Args1, false, checkTime, "there is no accept mutex"},
	{"worker_aio_requests", CtxEvents, Args1, false, checkNum, "sluice does no file AIO"},
	{"sendfile", CtxHTTP | CtxHTTPServer | CtxHTTPLocation | CtxHTTPIf, ArgsFlag, false, checkFlag, "sluice chooses how to send files itself (sendfile(2) on plain connections)"},
	{"sendfile_max_chunk", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, false, checkSize, "sluice opens and reads files without tuning"},
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
	{"proxy_max_temp_file_size", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, false, checkSize, "responses are never written to temporary files (as with 0)"},
	{"proxy_temp_file_write_size", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1, false, checkSize, "responses are never written to temporary files"},
	{"proxy_temp_path", CtxHTTP | CtxHTTPServer | CtxHTTPLocation, Args1234, false, checkNone, "responses are never written to temporary files"},
	{"uninitialized_variable_warn", CtxHTTP | CtxHTTPServer | CtxHTTPLocation | CtxHTTPIf | CtxHTTPSrvIf, ArgsFlag, false, checkFlag, "sluice does not log uses of uninitialized variables"},
	{"client_body_temp_path", ctxHTTPAll, Args1234, false, checkNone, "request bodies are never written to temporary files"},
	{"client_body_in_file_only", ctxHTTPAll, Args1, false, checkEnum, "request bodies are never written to files"},
	{"client_body_in_single_buffer", ctxHTTPAll, ArgsFlag, false, checkFlag, "request bodies are never written to files"},
	{"open_file_cache", ctxHTTPAll, Args12, false, checkCustom, "sluice opens and reads files without tuning"},
	{"open_file_cache_valid", ctxHTTPAll, Args1, false, checkSeconds, "sluice opens and reads files without tuning"},
	{"open_file_cache_min_uses", ctxHTTPAll, Args1, false, checkNum, "sluice opens and reads files without tuning"},
	{"open_file_cache_errors", ctxHTTPAll, ArgsFlag, false, checkFlag, "sluice opens and reads files without tuning"},
	{"open_file_cache_events", ctxHTTPAll, ArgsFlag, false, checkFlag, "sluice opens and reads files without tuning"},
	{"open_log_file_cache", ctxHTTPAll, Args1234, false, checkCustom, "log files are opened once and kept open"},
	{"output_buffers", ctxHTTPAll, Args2, false, checkCustom, "sluice opens and reads files without tuning"},
	{"postpone_output", ctxHTTPAll, Args1, false, checkSize, "response data is sent as it arrives"},
	{"aio", ctxHTTPAll, Args1, false, checkCustom, "sluice opens and reads files without tuning"},
	{"aio_write", ctxHTTPAll, ArgsFlag, false, checkFlag, "responses are never written to temporary files"},
	{"directio", ctxHTTPAll, Args1, false, checkCustom, "sluice opens and reads files without tuning"},
	{"directio_alignment", ctxHTTPAll, Args1, false, checkOffset, "sluice opens and reads files without tuning"},
	{"read_ahead", ctxHTTPAll, Args1, false, checkSize, "sluice opens and reads files without tuning"},
	{"keepalive_disable", ctxHTTPAll, Args12, false, checkEnum, "keep-alive is not disabled for any browser"},
	{"msie_padding", ctxHTTPAll, ArgsFlag, false, checkFlag, "error pages are not padded for MSIE"},
	{"msie_refresh", ctxHTTPAll, ArgsFlag, false, checkFlag, "redirects to MSIE are sent as for other browsers"},
	{"log_subrequest", ctxHTTPAll, ArgsFlag, false, checkFlag, "sluice makes no subrequests"},
	{"subrequest_output_buffer_size", ctxHTTPAll, Args1, false, checkSize, "sluice makes no subrequests"},
	{"gzip_static", ctxHTTPAll, Args1, false, checkEnum, "sluice does not serve precompressed .gz files"},
	{"send_lowat", ctxHTTPAll, Args1, false, checkSize, "nginx ignores it on Linux too"},
	{"proxy_send_lowat", ctxHTTPAll, Args1, false, checkSize, "nginx ignores it on Linux too"},
	{"fastcgi_send_lowat", ctxHTTPAll, Args1, false, checkSize, "nginx ignores it on Linux too"},
	{"fastcgi_max_temp_file_size", ctxHTTPAll, Args1, false, checkSize, "responses are never written to temporary files (as with 0)"},
	{"fastcgi_temp_file_write_size", ctxHTTPAll, Args1, false, checkSize, "responses are never written to temporary files"},
	{"fastcgi_temp_path", ctxHTTPAll, Args1234, false, checkNone, "responses are never written to temporary files"},
	{"uwsgi_send_lowat", ctxHTTPAll, Args1, false, checkSize, "nginx ignores it on Linux too"},
	{"uwsgi_max_temp_file_size", ctxHTTPAll, Args1, false, checkSize, "responses are never written to temporary files (as with 0)"},
	{"uwsgi_temp_file_write_size", ctxHTTPAll, Args1, false, checkSize, "responses are never written to temporary files"},
	{"uwsgi_temp_path", ctxHTTPAll, Args1234, false, checkNone, "responses are never written to temporary files"},
	{"scgi_send_lowat", ctxHTTPAll, Args1, false, checkSize, "nginx ignores it on Linux too"},
	{"scgi_max_temp_file_size", ctxHTTPAll, Args1, false, checkSize, "responses are never written to temporary files (as with 0)"},
	{"scgi_temp_file_write_size", ctxHTTPAll, Args1, false, checkSize, "responses are never written to temporary files"},
	{"scgi_temp_path", ctxHTTPAll, Args1234, false, checkNone, "responses are never written to temporary files"},
	{"connection_pool_size", ctxHTTPSrv, Args1, false, checkCustom, "sluice has no memory pools"},
	{"request_pool_size", ctxHTTPSrv, Args1, false, checkCustom, "sluice has no memory pools"},
	{"ssl_buffer_size", ctxHTTPSrv, Args1, false, checkSize, "TLS records are sized by Go's TLS stack"},
	{"ssl_stapling", ctxHTTPSrv, ArgsFlag, false, checkFlag, stapling},
	{"ssl_stapling_verify", ctxHTTPSrv, ArgsFlag, false, checkFlag, stapling},
	{"ssl_stapling_file", ctxHTTPSrv, Args1, false, checkNone, stapling},
	{"ssl_stapling_responder", ctxHTTPSrv, Args1, false, checkNone, stapling},
}

// stapling is why the OCSP stapling directives are ignored.
const stapling = "sluice does not staple OCSP responses; clients fetch them themselves"

// ignoredEnums are the values nginx allows for the ignored directives
// checked with checkEnum (ngx_conf_set_enum_slot, ngx_conf_set_bitmask_slot).
var ignoredEnums = map[string][]string{
	"client_body_in_file_only": {"off", "on", "clean"},
	"keepalive_disable":        {"none", "msie6", "safari"},
	"gzip_static":              {"off", "on", "always"},
}

// ignoredChecks are nginx's own argument parsers for the ignored
// directives checked with checkCustom.
var ignoredChecks = map[string]func(d *Directive) error{
	"open_file_cache":      checkOpenFileCache,
	"open_log_file_cache":  checkOpenFileCache,
	"output_buffers":       checkBufs,
	"aio":                  checkAio,
	"directio":             checkDirectio,
	"connection_pool_size": checkPoolSize,
	"request_pool_size":    checkPoolSize,
}

// valueCheck is the check nginx makes on an ignored directive's argument.
type valueCheck int

const (
	checkNone    valueCheck = iota
	checkFlag               // on or off
	checkNum                // a number (ngx_conf_set_num_slot)
	checkSize               // a size (ngx_conf_set_size_slot)
	checkTime               // a time in milliseconds (ngx_conf_set_msec_slot)
	checkSeconds            // a time in seconds (ngx_conf_set_sec_slot)
	checkOffset             // an offset (ngx_conf_set_off_slot)
	checkEnum               // one of ignoredEnums (several for a bitmask)
	checkCustom             // the directive's function in ignoredChecks
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
				case checkSeconds:
					_, err = secondsArg(d, d.Args[0])
				case checkOffset:
					if _, perr := ParseOffset(d.Args[0]); perr != nil {
						err = errorf(d.File, d.Line, `"%s" directive invalid value`, d.Name)
					}
				case checkEnum:
					for _, a := range d.Args {
						if !slices.Contains(ignoredEnums[d.Name], a) {
							err = errorf(d.File, d.Line, `invalid value "%s"`, a)
							break
						}
					}
				case checkCustom:
					err = ignoredChecks[d.Name](d)
				}
				if err != nil {
					return nil, err
				}
				c.warnf(d, `the "%s" directive is ignored: %s`, d.Name, ig.why)
				return nil, nil
			}}
		specs = append(specs, s)
	}
	return specs
}

// checkOpenFileCache checks open_file_cache and open_log_file_cache as
// nginx does: "off", or max=N with optional inactive=time (and, for logs,
// min_uses=N and valid=time).
func checkOpenFileCache(d *Directive) error {
	logs := d.Name == "open_log_file_cache"
	off, max := false, false
	for _, a := range d.Args {
		name, v, _ := strings.Cut(a, "=")
		bad := false
		switch {
		case a == "off":
			off = true
			continue
		case !strings.Contains(a, "="):
			bad = true
		case name == "max":
			n, err := strconv.Atoi(v)
			bad = err != nil || n < 0 || n == 0 && !logs || strings.HasPrefix(v, "+")
			max = n > 0
		case name == "inactive" || logs && name == "valid":
			_, err := ParseSeconds(v)
			bad = err != nil
		case logs && name == "min_uses":
			n, err := strconv.Atoi(v)
			bad = err != nil || n < 0 || strings.HasPrefix(v, "+")
		default:
			bad = true
		}
		if bad {
			return errorf(d.File, d.Line, `invalid "%s" parameter "%s"`, d.Name, a)
		}
	}
	switch {
	case off:
		return nil
	case !max && logs:
		return errorf(d.File, d.Line, `"%s" must have "max" parameter`, d.Name)
	case !max:
		return errorf(d.File, d.Line, `"%s" must have the "max" parameter`, d.Name)
	}
	return nil
}

// checkBufs checks "number size" as ngx_conf_set_bufs_slot: both above 0.
func checkBufs(d *Directive) error {
	n, err := strconv.Atoi(d.Args[0])
	size, serr := ParseSize(d.Args[1])
	if err != nil || n <= 0 || strings.HasPrefix(d.Args[0], "+") || serr != nil || size == 0 {
		return errorf(d.File, d.Line, `"%s" directive invalid value`, d.Name)
	}
	return nil
}

// checkAio checks aio: on, off, threads or threads=pool. nginx built
// without file AIO (Debian's) refuses "on"; sluice accepts it, and does not
// check that the thread pool exists.
func checkAio(d *Directive) error {
	switch a := d.Args[0]; {
	case a == "on", a == "off", a == "threads", strings.HasPrefix(a, "threads=") && len(a) > len("threads="):
		return nil
	}
	return errorf(d.File, d.Line, `"%s" directive invalid value`, d.Name)
}

// checkDirectio checks directio: off or an offset.
func checkDirectio(d *Directive) error {
	if d.Args[0] == "off" {
		return nil
	}
	if _, err := ParseOffset(d.Args[0]); err != nil {
		return errorf(d.File, d.Line, `"%s" directive invalid value`, d.Name)
	}
	return nil
}

// checkPoolSize checks connection_pool_size and request_pool_size: a size
// of at least nginx's minimum pool (112 bytes on 64-bit systems) and a
// multiple of 16.
func checkPoolSize(d *Directive) error {
	n, err := sizeArg(d, d.Args[0])
	switch {
	case err != nil:
		return err
	case n < 112:
		return errorf(d.File, d.Line, "the pool size must be no less than 112")
	case n%16 != 0:
		return errorf(d.File, d.Line, "the pool size must be a multiple of 16")
	}
	return nil
}
