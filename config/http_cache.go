package config

import (
	"fmt"
	"strings"
	"time"
)

// HTTPCachePath is one proxy_cache_path directive: a cache directory and
// its keys zone (ngx_http_file_cache).
type HTTPCachePath struct {
	Path string // the directory, resolved against the prefix
	// Levels are the directory levels (levels=1:2 is [1 2]); each is 1 or
	// 2 characters of the key's MD5 taken from its end.
	Levels []int `json:",omitempty"`
	// Zone and ZoneSize are keys_zone=name:size; the size bounds the
	// number of keys kept in memory (nginx's 8000 keys per megabyte).
	Zone     string
	ZoneSize int64
	// Inactive is inactive= (default 10m): an entry not used for that long
	// is removed. MaxSize is max_size= (0: no limit): past it the least
	// recently used entries are removed. MinFree is min_free= (accepted).
	Inactive time.Duration
	MaxSize  int64 `json:",omitempty"`
	MinFree  int64 `json:",omitempty"`
	// UseTempPath is use_temp_path= (default on); Sluice always writes
	// entries to a temporary file beside them.
	UseTempPath bool
	// ManagerFiles, ManagerSleep, ManagerThreshold, LoaderFiles,
	// LoaderSleep and LoaderThreshold are accepted as nginx's tuning of
	// its cache manager and loader processes.
	ManagerFiles     int           `json:",omitempty"`
	ManagerSleep     time.Duration `json:",omitempty"`
	ManagerThreshold time.Duration `json:",omitempty"`
	LoaderFiles      int           `json:",omitempty"`
	LoaderSleep      time.Duration `json:",omitempty"`
	LoaderThreshold  time.Duration `json:",omitempty"`
	Pos              string        // file:line
}

// HTTPCacheValid is one proxy_cache_valid directive: the statuses (0 for
// "any") and how long a response with one of them is fresh.
type HTTPCacheValid struct {
	Codes []int
	Time  time.Duration
}

// HTTPProxyCache are the proxy_cache* settings of one level
// (ngx_http_proxy_module with ngx_http_upstream's cache). Each directive
// is inherited on its own, as nginx does.
type HTTPProxyCache struct {
	// Zone is proxy_cache: a keys zone name, a complex value naming one
	// (ZoneVar), or "" for off (the default).
	Zone    string `json:",omitempty"`
	ZoneVar bool   `json:",omitempty"`
	// Key is proxy_cache_key, a complex value; empty for nginx's
	// built-in key (documented as $scheme$proxy_host$request_uri, it is
	// the proxy_pass URL's scheme and host and the URI sent upstream).
	Key   string           `json:",omitempty"`
	Valid []HTTPCacheValid `json:",omitempty"` // proxy_cache_valid, in order
	// Methods are proxy_cache_methods (GET and HEAD are always included).
	Methods []string
	// Bypass and NoCache are proxy_cache_bypass and proxy_no_cache: complex
	// values; any that is neither empty nor "0" applies.
	Bypass  []string `json:",omitempty"`
	NoCache []string `json:",omitempty"`
	MinUses int      // proxy_cache_min_uses, default 1
	// UseStale are the proxy_cache_use_stale conditions (default off).
	UseStale []string
	// Lock, LockTimeout and LockAge are proxy_cache_lock (off),
	// proxy_cache_lock_timeout (5s) and proxy_cache_lock_age (5s).
	Lock        bool `json:",omitempty"`
	LockTimeout time.Duration
	LockAge     time.Duration
	// Revalidate, BackgroundUpdate and ConvertHead are
	// proxy_cache_revalidate (off), proxy_cache_background_update (off)
	// and proxy_cache_convert_head (on).
	Revalidate       bool `json:",omitempty"`
	BackgroundUpdate bool `json:",omitempty"`
	ConvertHead      bool
	// IgnoreHeaders are the proxy_ignore_headers names as written.
	IgnoreHeaders []string `json:",omitempty"`
}

// DefaultHTTPProxyCache are the proxy cache settings of a level that sets
// none.
var DefaultHTTPProxyCache = HTTPProxyCache{
	Methods:     []string{"GET", "HEAD"},
	MinUses:     1,
	UseStale:    []string{"off"},
	LockTimeout: 5 * time.Second,
	LockAge:     5 * time.Second,
	ConvertHead: true,
}

// cacheMethods are the values of proxy_cache_methods.
var cacheMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE", "OPTIONS", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH"}

// cacheUseStale are the values of proxy_cache_use_stale.
var cacheUseStale = []string{"error", "timeout", "invalid_header", "updating", "http_500", "http_502", "http_503", "http_504", "http_403", "http_404", "http_429", "off"}

// cacheIgnoreHeaders are the values of proxy_ignore_headers.
var cacheIgnoreHeaders = []string{"X-Accel-Redirect", "X-Accel-Expires", "X-Accel-Limit-Rate", "X-Accel-Buffering", "X-Accel-Charset", "Expires", "Cache-Control", "Set-Cookie", "Vary"}

var proxyCacheInherit = []struct {
	key  string
	copy func(d, s *HTTPProxyCache)
}{
	{"proxy_cache", func(d, s *HTTPProxyCache) { d.Zone, d.ZoneVar = s.Zone, s.ZoneVar }},
	{"proxy_cache_key", func(d, s *HTTPProxyCache) { d.Key = s.Key }},
	{"proxy_cache_valid", func(d, s *HTTPProxyCache) { d.Valid = s.Valid }},
	{"proxy_cache_methods", func(d, s *HTTPProxyCache) { d.Methods = s.Methods }},
	{"proxy_cache_bypass", func(d, s *HTTPProxyCache) { d.Bypass = s.Bypass }},
	{"proxy_no_cache", func(d, s *HTTPProxyCache) { d.NoCache = s.NoCache }},
	{"proxy_cache_min_uses", func(d, s *HTTPProxyCache) { d.MinUses = s.MinUses }},
	{"proxy_cache_use_stale", func(d, s *HTTPProxyCache) { d.UseStale = s.UseStale }},
	{"proxy_cache_lock", func(d, s *HTTPProxyCache) { d.Lock = s.Lock }},
	{"proxy_cache_lock_timeout", func(d, s *HTTPProxyCache) { d.LockTimeout = s.LockTimeout }},
	{"proxy_cache_lock_age", func(d, s *HTTPProxyCache) { d.LockAge = s.LockAge }},
	{"proxy_cache_revalidate", func(d, s *HTTPProxyCache) { d.Revalidate = s.Revalidate }},
	{"proxy_cache_background_update", func(d, s *HTTPProxyCache) { d.BackgroundUpdate = s.BackgroundUpdate }},
	{"proxy_cache_convert_head", func(d, s *HTTPProxyCache) { d.ConvertHead = s.ConvertHead }},
	{"proxy_ignore_headers", func(d, s *HTTPProxyCache) { d.IgnoreHeaders = s.IgnoreHeaders }},
}

func init() {
	register(httpCacheDirectives)
	httpInherit = append(httpInherit,
		httpInheritRule{"", func(d, s *HTTPSettings) { mergeExt(d.set, &d.ProxyCache, s.ProxyCache, proxyCacheInherit) }})
}

// proxyCache returns the level's proxy cache settings, made on first use.
func (s *HTTPSettings) proxyCache() *HTTPProxyCache {
	if s.ProxyCache == nil {
		v := DefaultHTTPProxyCache
		s.ProxyCache = &v
	}
	return s.ProxyCache
}

// cacheSetting is setting for a value of HTTPProxyCache.
func cacheSetting[T any](parse func(*compiler, *Directive) (T, error), field func(*HTTPProxyCache) *T) func(*compiler, *Directive, any) (any, error) {
	return extSetting((*HTTPSettings).proxyCache, parse, field)
}

// cacheList is the Set of a directive whose arguments, over all its
// occurrences at a level, form a list (proxy_cache_bypass, proxy_no_cache).
func cacheList(field func(*HTTPProxyCache) *[]string) func(*compiler, *Directive, any) (any, error) {
	return extList((*HTTPSettings).proxyCache, field)
}

// bitmaskValue parses the arguments of an ngx_conf_set_bitmask_slot
// directive: each must be one of values (compared without regard to case).
func bitmaskValue(values []string) func(*compiler, *Directive) ([]string, error) {
	return func(_ *compiler, d *Directive) ([]string, error) {
		var out []string
		for _, a := range d.Args {
			found := false
			for _, v := range values {
				if strings.EqualFold(a, v) {
					out = append(out, v)
					found = true
					break
				}
			}
			if !found {
				return nil, errorf(d.File, d.Line, `invalid value "%s"`, a)
			}
		}
		return out, nil
	}
}

var httpCacheDirectives = []*Spec{
	{Name: "proxy_store", Ctx: ctxHTTPAll, Args: Args1, Set: setProxyStore},
	{Name: "proxy_cache_path", Ctx: CtxHTTP, Args: Args2More, Multi: true, Set: setHTTPCachePath},
	{Name: "proxy_cache", Ctx: ctxHTTPAll, Args: Args1, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		pc := s.proxyCache()
		pc.Zone, pc.ZoneVar = d.Args[0], hasVariables(d.Args[0])
		if d.Args[0] == "off" {
			pc.Zone = ""
		}
		s.mark(d.Name)
		return nil, nil
	}},
	{Name: "proxy_cache_key", Ctx: ctxHTTPAll, Args: Args1, Set: cacheSetting(stringValue, func(p *HTTPProxyCache) *string { return &p.Key })},
	{Name: "proxy_cache_valid", Ctx: ctxHTTPAll, Args: Args1More, Multi: true, Set: setHTTPCacheValid},
	{Name: "proxy_cache_methods", Ctx: ctxHTTPAll, Args: Args1More, Set: cacheSetting(func(c *compiler, d *Directive) ([]string, error) {
		m, err := bitmaskValue(cacheMethods)(c, d)
		if err != nil {
			return nil, err
		}
		out := []string{"GET", "HEAD"}
		for _, v := range m {
			if v != "GET" && v != "HEAD" {
				out = append(out, v)
			}
		}
		return out, nil
	}, func(p *HTTPProxyCache) *[]string { return &p.Methods })},
	{Name: "proxy_cache_bypass", Ctx: ctxHTTPAll, Args: Args1More, Multi: true, Set: cacheList(func(p *HTTPProxyCache) *[]string { return &p.Bypass })},
	{Name: "proxy_no_cache", Ctx: ctxHTTPAll, Args: Args1More, Multi: true, Set: cacheList(func(p *HTTPProxyCache) *[]string { return &p.NoCache })},
	{Name: "proxy_cache_min_uses", Ctx: ctxHTTPAll, Args: Args1, Set: cacheSetting(numValue, func(p *HTTPProxyCache) *int { return &p.MinUses })},
	{Name: "proxy_cache_use_stale", Ctx: ctxHTTPAll, Args: Args1More, Set: cacheSetting(bitmaskValue(cacheUseStale), func(p *HTTPProxyCache) *[]string { return &p.UseStale })},
	{Name: "proxy_cache_lock", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: cacheSetting(flagValue, func(p *HTTPProxyCache) *bool { return &p.Lock })},
	{Name: "proxy_cache_lock_timeout", Ctx: ctxHTTPAll, Args: Args1, Set: cacheSetting(timeValue, func(p *HTTPProxyCache) *time.Duration { return &p.LockTimeout })},
	{Name: "proxy_cache_lock_age", Ctx: ctxHTTPAll, Args: Args1, Set: cacheSetting(timeValue, func(p *HTTPProxyCache) *time.Duration { return &p.LockAge })},
	{Name: "proxy_cache_revalidate", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: cacheSetting(flagValue, func(p *HTTPProxyCache) *bool { return &p.Revalidate })},
	{Name: "proxy_cache_background_update", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: cacheSetting(flagValue, func(p *HTTPProxyCache) *bool { return &p.BackgroundUpdate })},
	{Name: "proxy_cache_convert_head", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: cacheSetting(flagValue, func(p *HTTPProxyCache) *bool { return &p.ConvertHead })},
	{Name: "proxy_ignore_headers", Ctx: ctxHTTPAll, Args: Args1More, Set: cacheSetting(bitmaskValue(cacheIgnoreHeaders), func(p *HTTPProxyCache) *[]string { return &p.IgnoreHeaders })},
}

// setHTTPCachePath compiles proxy_cache_path with nginx's errors
// (ngx_http_file_cache_set_slot).
func setHTTPCachePath(c *compiler, d *Directive, parent any) (any, error) {
	h := parent.(*HTTP)
	cp := HTTPCachePath{Path: strings.TrimSuffix(c.path(d.Args[0]), "/"), Inactive: 10 * time.Minute, UseTempPath: true, Pos: fmt.Sprintf("%s:%d", d.File, d.Line)}
	bad := func(what, arg string) error {
		return errorf(d.File, d.Line, `invalid %s value "%s"`, what, arg)
	}
	for _, a := range d.Args[1:] {
		name, val, _ := strings.Cut(a, "=")
		switch name {
		case "levels":
			levels, ok := parseCacheLevels(val)
			if !ok {
				return nil, errorf(d.File, d.Line, `invalid "levels" "%s"`, a)
			}
			cp.Levels = levels
		case "use_temp_path":
			switch val {
			case "on":
				cp.UseTempPath = true
			case "off":
				cp.UseTempPath = false
			default:
				return nil, errorf(d.File, d.Line, `invalid use_temp_path value "%s", it must be "on" or "off"`, a)
			}
		case "keys_zone":
			zn, size, ok := strings.Cut(val, ":")
			if !ok {
				return nil, errorf(d.File, d.Line, `invalid keys zone size "%s"`, a)
			}
			n, err := ParseSize(size)
			if err != nil {
				return nil, errorf(d.File, d.Line, `invalid keys zone size "%s"`, a)
			}
			if n < 8192 {
				return nil, errorf(d.File, d.Line, `keys zone "%s" is too small`, a)
			}
			cp.Zone, cp.ZoneSize = zn, n
		case "inactive", "manager_sleep", "manager_threshold", "loader_sleep", "loader_threshold":
			var t time.Duration
			var err error
			if name == "inactive" {
				t, err = ParseSeconds(val)
			} else {
				t, err = ParseTime(val)
			}
			if err != nil {
				return nil, bad(name, a)
			}
			switch name {
			case "inactive":
				cp.Inactive = t
			case "manager_sleep":
				cp.ManagerSleep = t
			case "manager_threshold":
				cp.ManagerThreshold = t
			case "loader_sleep":
				cp.LoaderSleep = t
			default:
				cp.LoaderThreshold = t
			}
		case "max_size", "min_free":
			n, err := ParseOffset(val)
			if err != nil {
				return nil, bad(name, a)
			}
			if name == "max_size" {
				cp.MaxSize = n
			} else {
				cp.MinFree = n
			}
		case "manager_files", "loader_files":
			n, ok := parseDigits(val)
			if !ok || n > 1<<31-1 {
				return nil, bad(name, a)
			}
			if name == "manager_files" {
				cp.ManagerFiles = int(n)
			} else {
				cp.LoaderFiles = int(n)
			}
		default:
			return nil, errorf(d.File, d.Line, `invalid parameter "%s"`, a)
		}
	}
	if cp.Zone == "" || cp.ZoneSize == 0 {
		return nil, errorf(d.File, d.Line, `"%s" must have "keys_zone" parameter`, d.Name)
	}
	for _, o := range h.CachePaths {
		if o.Path == cp.Path {
			return nil, errorf(d.File, d.Line, `the same path name "%s" used in %s and`, cp.Path, o.Pos)
		}
	}
	for _, o := range h.CachePaths {
		if o.Zone == cp.Zone {
			return nil, errorf(d.File, d.Line, `duplicate zone "%s"`, cp.Zone)
		}
	}
	h.CachePaths = append(h.CachePaths, cp)
	return nil, nil
}

// parseCacheLevels parses levels=: one to three levels of 1 or 2,
// separated by colons.
func parseCacheLevels(s string) ([]int, bool) {
	parts := strings.Split(s, ":")
	if s == "" || len(parts) > 3 {
		return nil, false
	}
	var out []int
	for _, p := range parts {
		if p != "1" && p != "2" {
			return nil, false
		}
		out = append(out, int(p[0]-'0'))
	}
	return out, true
}

// setHTTPCacheValid compiles proxy_cache_valid
// (ngx_http_file_cache_valid_set_slot).
func setHTTPCacheValid(c *compiler, d *Directive, parent any) (any, error) {
	last := d.Args[len(d.Args)-1]
	t, err := ParseSeconds(last)
	if err != nil {
		return nil, errorf(d.File, d.Line, `invalid time value "%s"`, last)
	}
	v := HTTPCacheValid{Time: t}
	if len(d.Args) == 1 {
		v.Codes = []int{200, 301, 302}
	}
	for _, a := range d.Args[:len(d.Args)-1] {
		if a == "any" {
			v.Codes = append(v.Codes, 0)
			continue
		}
		n, ok := parseDigits(a)
		if !ok || n < 100 || n > 599 {
			return nil, errorf(d.File, d.Line, `invalid status "%s"`, a)
		}
		v.Codes = append(v.Codes, int(n))
	}
	s := hset(c, parent)
	pc := s.proxyCache()
	if !s.set[d.Name] {
		pc.Valid = nil
	}
	pc.Valid = append(pc.Valid, v)
	s.mark(d.Name)
	return nil, nil
}

// checkCacheZones reports a proxy_cache naming no keys zone, as nginx's
// cycle initialisation does.
func checkCacheZones(h *HTTP) error {
	zones := map[string]bool{}
	for _, cp := range h.CachePaths {
		zones[cp.Zone] = true
	}
	var zoneErr error
	check := func(s *HTTPSettings) {
		if pc := s.ProxyCache; pc != nil && pc.Zone != "" && !pc.ZoneVar && !zones[pc.Zone] && zoneErr == nil {
			zoneErr = &Error{Msg: fmt.Sprintf(`zero size shared memory zone "%s"`, pc.Zone)}
		}
	}
	check(h.settings)
	walkHTTPSettings(h, check)
	return zoneErr
}

// setProxyStore accepts "proxy_store off", nginx's default: responses are
// not saved to files. Saving them (on, or a path) is refused by name.
func setProxyStore(_ *compiler, d *Directive, _ any) (any, error) {
	if d.Args[0] != "off" {
		return nil, errorf(d.File, d.Line, `"%s" directive is not supported by sluice`, d.Name)
	}
	return nil, nil
}
