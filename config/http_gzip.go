package config

import (
	"slices"
	"strings"
)

// HTTPGzip are the gzip directives of one level (ngx_http_gzip_module).
// Each directive is inherited on its own, as nginx does.
type HTTPGzip struct {
	On bool // gzip, default off
	// Types are the MIME types compressed (gzip_types), lower case;
	// "text/html" is always among them. AnyType is "gzip_types *".
	Types   []string
	AnyType bool `json:",omitempty"`
	// MinLength is gzip_min_length (default 20): a response whose
	// Content-Length is known and smaller is sent as is.
	MinLength int64
	Level     int // gzip_comp_level, 1 to 9, default 1
	// Proxied are the gzip_proxied values (default "off"): off, expired,
	// no-cache, no-store, private, no_last_modified, no_etag, auth, any.
	Proxied []string
	Vary    bool // gzip_vary, default off
	// HTTPVersion is gzip_http_version: 10 for "1.0", 11 for "1.1"
	// (the default).
	HTTPVersion int
	// Disable are the gzip_disable regular expressions (matched without
	// regard to case against User-Agent); DisableMSIE6 is the special
	// mask "msie6".
	Disable      []string `json:",omitempty"`
	DisableMSIE6 bool     `json:",omitempty"`
	// BuffersNum and BuffersSize are gzip_buffers (default 32 4k): they
	// are accepted; Sluice's compressor needs no such buffers.
	BuffersNum  int
	BuffersSize int64
}

var defaultHTTPGzip = HTTPGzip{
	Types:       []string{"text/html"},
	MinLength:   20,
	Level:       1,
	Proxied:     []string{"off"},
	HTTPVersion: 11,
	BuffersNum:  32,
	BuffersSize: 4 << 10,
}

// gzipProxiedValues are gzip_proxied's values.
var gzipProxiedValues = []string{"off", "expired", "no-cache", "no-store", "private", "no_last_modified", "no_etag", "auth", "any"}

func init() {
	httpInherit = append(httpInherit, []httpInheritRule{
		{"gzip", func(d, s *HTTPSettings) { d.Gzip.On = s.Gzip.On }},
		{"gzip_types", func(d, s *HTTPSettings) { d.Gzip.Types, d.Gzip.AnyType = s.Gzip.Types, s.Gzip.AnyType }},
		{"gzip_min_length", func(d, s *HTTPSettings) { d.Gzip.MinLength = s.Gzip.MinLength }},
		{"gzip_comp_level", func(d, s *HTTPSettings) { d.Gzip.Level = s.Gzip.Level }},
		{"gzip_proxied", func(d, s *HTTPSettings) { d.Gzip.Proxied = s.Gzip.Proxied }},
		{"gzip_vary", func(d, s *HTTPSettings) { d.Gzip.Vary = s.Gzip.Vary }},
		{"gzip_http_version", func(d, s *HTTPSettings) { d.Gzip.HTTPVersion = s.Gzip.HTTPVersion }},
		{"gzip_disable", func(d, s *HTTPSettings) { d.Gzip.Disable, d.Gzip.DisableMSIE6 = s.Gzip.Disable, s.Gzip.DisableMSIE6 }},
		{"gzip_buffers", func(d, s *HTTPSettings) {
			d.Gzip.BuffersNum, d.Gzip.BuffersSize = s.Gzip.BuffersNum, s.Gzip.BuffersSize
		}},
	}...)
	register(httpGzipDirectives)
}

var httpGzipDirectives = []*Spec{
	{Name: "gzip", Ctx: ctxHTTPAll | CtxHTTPIf, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.Gzip.On })},
	{Name: "gzip_types", Ctx: ctxHTTPAll, Args: Args1More, Multi: true, Set: setHTTPGzipTypes},
	{Name: "gzip_min_length", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, sizeValue, func(s *HTTPSettings) *int64 { return &s.Gzip.MinLength })},
	{Name: "gzip_comp_level", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, func(_ *compiler, d *Directive) (int, error) {
		n, err := parseNum(d, d.Args[0])
		if err != nil {
			return 0, err
		}
		if n < 1 || n > 9 {
			return 0, errorf(d.File, d.Line, "value must be between 1 and 9")
		}
		return n, nil
	}, func(s *HTTPSettings) *int { return &s.Gzip.Level })},
	{Name: "gzip_proxied", Ctx: ctxHTTPAll, Args: Args1More, Multi: true, Set: setHTTPGzipProxied},
	{Name: "gzip_vary", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.Gzip.Vary })},
	{Name: "gzip_http_version", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, func(_ *compiler, d *Directive) (int, error) {
		switch d.Args[0] {
		case "1.0":
			return 10, nil
		case "1.1":
			return 11, nil
		}
		return 0, errorf(d.File, d.Line, `invalid value "%s"`, d.Args[0])
	}, func(s *HTTPSettings) *int { return &s.Gzip.HTTPVersion })},
	{Name: "gzip_disable", Ctx: ctxHTTPAll, Args: Args1More, Multi: true, Set: setHTTPGzipDisable},
	{Name: "gzip_buffers", Ctx: ctxHTTPAll, Args: Args2, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		n, size, err := bufsArg(d)
		if err != nil {
			return nil, err
		}
		s := hset(c, parent)
		s.Gzip.BuffersNum, s.Gzip.BuffersSize = n, size
		s.mark(d.Name)
		return nil, nil
	}},
}

// setHTTPGzipTypes parses gzip_types (typesSlot).
func setHTTPGzipTypes(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	typesSlot(c, d, s, &s.Gzip.Types, &s.Gzip.AnyType)
	return nil, nil
}

// typesSlot parses a MIME type list directive as ngx_http_types_slot
// does: types added to "text/html", or "*" for any type. The block's first
// use replaces the inherited list; a repeat in the same block adds to it,
// and duplicates are warned about, lower-cased as nginx prints them.
func typesSlot(c *compiler, d *Directive, s *HTTPSettings, types *[]string, anyType *bool) {
	if !s.set[d.Name] {
		*types, *anyType = []string{"text/html"}, false
	}
	s.mark(d.Name)
	if *anyType {
		return
	}
	list := append([]string(nil), *types...)
	for _, a := range d.Args {
		if a == "*" {
			*types, *anyType = nil, true
			return
		}
		t := strings.ToLower(a)
		if slices.Contains(list, t) {
			c.warnf(d, `duplicate MIME type "%s"`, t)
			continue
		}
		list = append(list, t)
	}
	*types = list
}

// setHTTPGzipProxied parses gzip_proxied (a bit mask: repeats add).
func setHTTPGzipProxied(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	var list []string
	if s.set[d.Name] {
		list = append(list, s.Gzip.Proxied...)
	}
	for _, a := range d.Args {
		ok := false
		for _, v := range gzipProxiedValues {
			if a == v {
				ok = true
			}
		}
		if !ok {
			return nil, errorf(d.File, d.Line, `invalid value "%s"`, a)
		}
		list = append(list, a)
	}
	s.Gzip.Proxied = list
	s.mark(d.Name)
	return nil, nil
}

// setHTTPGzipDisable parses gzip_disable: regular expressions matched
// against User-Agent without regard to case, and the mask "msie6".
func setHTTPGzipDisable(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	g := &s.Gzip
	if !s.set[d.Name] {
		g.Disable, g.DisableMSIE6 = nil, false
	}
	list := append([]string(nil), g.Disable...)
	for _, a := range d.Args {
		if a == "msie6" {
			g.DisableMSIE6 = true
			continue
		}
		if _, err := compileNginxRegex(a, true); err != nil {
			return nil, errorf(d.File, d.Line, `invalid regular expression "%s": %v`, a, err)
		}
		list = append(list, a)
	}
	g.Disable = list
	s.mark(d.Name)
	return nil, nil
}
