package config

// HTTPSubFilter holds the directives of ngx_http_sub_module of one level:
// sub_filter pairs are inherited as a whole by a level that has none, and
// each other directive on its own, as nginx does.
type HTTPSubFilter struct {
	// Filters are the sub_filter pairs in order. Each Match is lower-case
	// (nginx lower-cases the argument, variable names included) and may
	// hold variables, as may each Value.
	Filters []HTTPSubPair `json:",omitempty"`
	// Types are the MIME types (lower case) filtered (sub_filter_types);
	// "text/html" is always among them. AnyType is "sub_filter_types *".
	Types   []string
	AnyType bool `json:",omitempty"`
	// Once is sub_filter_once (default on): each string is replaced once.
	Once bool
	// LastModified is sub_filter_last_modified (default off): a filtered
	// response keeps its Last-Modified (and a weak ETag).
	LastModified bool `json:",omitempty"`
}

// HTTPSubPair is one sub_filter directive.
type HTTPSubPair struct {
	Match string
	Value string
	Pos   string `json:"-"`
}

var defaultHTTPSubFilter = HTTPSubFilter{Types: []string{"text/html"}, Once: true}

// maxSubFilters is nginx's limit of sub_filter strings per level.
const maxSubFilters = 255

func init() {
	httpInherit = append(httpInherit, []httpInheritRule{
		{"sub_filter", func(d, s *HTTPSettings) { d.SubFilter.Filters = s.SubFilter.Filters }},
		{"sub_filter_types", func(d, s *HTTPSettings) {
			d.SubFilter.Types, d.SubFilter.AnyType = s.SubFilter.Types, s.SubFilter.AnyType
		}},
		{"sub_filter_once", func(d, s *HTTPSettings) { d.SubFilter.Once = s.SubFilter.Once }},
		{"sub_filter_last_modified", func(d, s *HTTPSettings) { d.SubFilter.LastModified = s.SubFilter.LastModified }},
	}...)
	register(httpSubDirectives)
}

var httpSubDirectives = []*Spec{
	{Name: "sub_filter", Ctx: ctxHTTPAll, Args: Args2, Multi: true, Set: setHTTPSubFilter},
	{Name: "sub_filter_types", Ctx: ctxHTTPAll, Args: Args1More, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		s := hset(c, parent)
		typesSlot(c, d, s, &s.SubFilter.Types, &s.SubFilter.AnyType)
		return nil, nil
	}},
	{Name: "sub_filter_once", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.SubFilter.Once })},
	{Name: "sub_filter_last_modified", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.SubFilter.LastModified })},
}

// setHTTPSubFilter parses sub_filter string replacement: the string is
// lower-cased as nginx does (matching ignores ASCII case); an empty one
// and more than 255 per level are refused with nginx's messages.
func setHTTPSubFilter(c *compiler, d *Directive, parent any) (any, error) {
	if d.Args[0] == "" {
		return nil, errorf(d.File, d.Line, "empty search pattern")
	}
	s := hset(c, parent)
	if !s.set[d.Name] {
		s.SubFilter.Filters = nil
	}
	if len(s.SubFilter.Filters) == maxSubFilters {
		return nil, errorf(d.File, d.Line, "number of search patterns exceeds 255")
	}
	s.SubFilter.Filters = append(s.SubFilter.Filters, HTTPSubPair{Match: asciiLower(d.Args[0]), Value: d.Args[1], Pos: pos(d)})
	s.mark(d.Name)
	return nil, nil
}

// asciiLower lower-cases the ASCII letters of s, as nginx's ngx_strlow.
func asciiLower(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}
