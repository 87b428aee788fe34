package config

import (
	"math"
	"strings"
)

// HTTPStatic holds the directives of nginx's static, index and core
// modules that decide how files are served: types, default_type, etag,
// if_modified_since, max_ranges and log_not_found. root, alias, index and
// try_files are in HTTPSettings and HTTPLocation.
type HTTPStatic struct {
	// Types maps a lower-case file extension to its MIME type (the types
	// blocks of the level, or inherited whole); nil means nginx's
	// built-in types (html, gif, jpg). It is left out of the JSON form:
	// mime.types alone has hundreds of entries.
	Types map[string]string `json:"-"`
	// DefaultType is default_type (default text/plain).
	DefaultType string
	// ETag is etag (default on).
	ETag bool
	// IfModifiedSince is if_modified_since: off, exact (default) or before.
	IfModifiedSince string
	// MaxRanges is max_ranges: the most byte ranges a request may ask for
	// (more get the whole file); math.MaxInt32 (the default) is no limit.
	MaxRanges int
	// LogNotFound is log_not_found (default on): a missing file is logged.
	LogNotFound bool
	// Autoindex is autoindex (default off): a directory without an index
	// file is listed, in AutoindexFormat (html, xml, json or jsonp), with
	// exact sizes (autoindex_exact_size, default on) and local times
	// (autoindex_localtime, default off; html only).
	Autoindex          bool   `json:",omitempty"`
	AutoindexExactSize bool   `json:",omitempty"`
	AutoindexFormat    string `json:",omitempty"`
	AutoindexLocaltime bool   `json:",omitempty"`
}

var defaultHTTPStatic = HTTPStatic{
	DefaultType:     "text/plain",
	ETag:            true,
	IfModifiedSince: "exact",
	MaxRanges:       math.MaxInt32,
	LogNotFound:     true,

	AutoindexExactSize: true,
	AutoindexFormat:    "html",
}

// DefaultTypes are nginx's types when no types block applies
// (ngx_http_core_default_types).
var DefaultTypes = map[string]string{"html": "text/html", "gif": "image/gif", "jpg": "image/jpeg"}

func init() {
	httpInherit = append(httpInherit, []httpInheritRule{
		{"types", func(d, s *HTTPSettings) { d.Static.Types = s.Static.Types }},
		{"default_type", func(d, s *HTTPSettings) { d.Static.DefaultType = s.Static.DefaultType }},
		{"etag", func(d, s *HTTPSettings) { d.Static.ETag = s.Static.ETag }},
		{"if_modified_since", func(d, s *HTTPSettings) { d.Static.IfModifiedSince = s.Static.IfModifiedSince }},
		{"max_ranges", func(d, s *HTTPSettings) { d.Static.MaxRanges = s.Static.MaxRanges }},
		{"log_not_found", func(d, s *HTTPSettings) { d.Static.LogNotFound = s.Static.LogNotFound }},
		{"autoindex", func(d, s *HTTPSettings) { d.Static.Autoindex = s.Static.Autoindex }},
		{"autoindex_exact_size", func(d, s *HTTPSettings) { d.Static.AutoindexExactSize = s.Static.AutoindexExactSize }},
		{"autoindex_format", func(d, s *HTTPSettings) { d.Static.AutoindexFormat = s.Static.AutoindexFormat }},
		{"autoindex_localtime", func(d, s *HTTPSettings) { d.Static.AutoindexLocaltime = s.Static.AutoindexLocaltime }},
	}...)
	register(httpStaticDirectives)
}

var httpStaticDirectives = []*Spec{
	{Name: "types", Ctx: ctxHTTPAll, Args: Args0, Block: CtxRaw, Multi: true, Set: setHTTPTypes},
	{Name: "default_type", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, stringValue, func(s *HTTPSettings) *string { return &s.Static.DefaultType })},
	{Name: "etag", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.Static.ETag })},
	{Name: "if_modified_since", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, httpDialect.enum("off", "exact", "before"), func(s *HTTPSettings) *string { return &s.Static.IfModifiedSince })},
	{Name: "max_ranges", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, func(_ *compiler, d *Directive) (int, error) { return parseNum(d, d.Args[0]) }, func(s *HTTPSettings) *int { return &s.Static.MaxRanges })},
	{Name: "log_not_found", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.Static.LogNotFound })},
	{Name: "autoindex", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.Static.Autoindex })},
	{Name: "autoindex_exact_size", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.Static.AutoindexExactSize })},
	{Name: "autoindex_format", Ctx: ctxHTTPAll, Args: Args1, Set: setting(hset, httpDialect.enum("html", "xml", "json", "jsonp"), func(s *HTTPSettings) *string { return &s.Static.AutoindexFormat })},
	{Name: "autoindex_localtime", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.Static.AutoindexLocaltime })},
}

// setHTTPTypes parses a types block: lines "type ext ...;". Several
// blocks at one level add up; an extension given twice keeps the later
// type, with nginx's warning.
func setHTTPTypes(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	if !s.set["types"] || s.Static.Types == nil {
		s.Static.Types = map[string]string{}
	}
	for _, l := range d.Block {
		if l.IsBlock() {
			return nil, errorf(l.File, l.Line, `unexpected "{"`)
		}
		for _, ext := range l.Args {
			ext = strings.ToLower(ext)
			if old, ok := s.Static.Types[ext]; ok {
				c.warnf(l, `duplicate extension "%s", content type: "%s", previous content type: "%s"`, ext, l.Name, old)
			}
			s.Static.Types[ext] = l.Name
		}
	}
	s.mark(d.Name)
	return nil, nil
}
