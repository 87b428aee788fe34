package config

import (
	"fmt"
	"strings"
)

// HTTPCharset holds the directives of ngx_http_charset_module of one level.
// Each directive is inherited on its own, as nginx does. Recoding between
// charsets (charset_map) is not supported: a level whose charset and
// source_charset name different charsets is refused, as nginx refuses it
// when no charset_map joins them.
type HTTPCharset struct {
	// Charset is the charset added to the Content-Type of responses
	// ("charset"): a name as the http block first spelt it, or a value
	// with variables; empty for "charset off" (the default).
	Charset string `json:",omitempty"`
	// Types are the MIME types (lower case) that get the charset
	// (charset_types); "text/html" is always among them. AnyType is
	// "charset_types *".
	Types   []string
	AnyType bool `json:",omitempty"`
	// Override is override_charset (default off): a response that already
	// names a charset is handled too.
	Override bool `json:",omitempty"`
	// Source is source_charset: the charset of responses that name none;
	// empty when not set ("off" is a charset name here, as in nginx).
	Source string `json:",omitempty"`
}

// defaultCharsetTypes are charset_types' defaults.
var defaultCharsetTypes = []string{"text/html", "text/xml", "text/plain", "text/vnd.wap.wml",
	"application/javascript", "application/rss+xml"}

var defaultHTTPCharset = HTTPCharset{Types: defaultCharsetTypes}

func init() {
	httpInherit = append(httpInherit, []httpInheritRule{
		{"charset", func(d, s *HTTPSettings) { d.Charset.Charset = s.Charset.Charset }},
		{"charset_types", func(d, s *HTTPSettings) {
			d.Charset.Types, d.Charset.AnyType = s.Charset.Types, s.Charset.AnyType
		}},
		{"override_charset", func(d, s *HTTPSettings) { d.Charset.Override = s.Charset.Override }},
		{"source_charset", func(d, s *HTTPSettings) { d.Charset.Source = s.Charset.Source }},
	}...)
	register(httpCharsetDirectives)
}

var httpCharsetDirectives = []*Spec{
	{Name: "charset", Ctx: ctxHTTPAll | CtxHTTPIf, Args: Args1, Set: setHTTPCharset},
	{Name: "source_charset", Ctx: ctxHTTPAll | CtxHTTPIf, Args: Args1, Set: setHTTPCharset},
	{Name: "charset_types", Ctx: ctxHTTPAll, Args: Args1More, Multi: true, Set: setHTTPCharsetTypes},
	{Name: "override_charset", Ctx: ctxHTTPAll | CtxHTTPIf, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.Charset.Override })},
}

// setHTTPCharset parses charset and source_charset: "off" (charset only),
// a value with variables, or a charset name. A name is entered in the http
// block's table of charsets, whose first spelling (letter case) is the one
// used from then on, as nginx's charset table does.
func setHTTPCharset(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	v := d.Args[0]
	switch {
	case d.Name == "charset" && v == "off":
		v = ""
	case strings.HasPrefix(v, "$"):
		if len(v) == 1 {
			return nil, errorf(d.File, d.Line, `invalid variable name "%s"`, v)
		}
	default:
		v = c.cfg.HTTP.addCharset(v)
	}
	if d.Name == "charset" {
		s.Charset.Charset = v
	} else {
		s.Charset.Source = v
	}
	s.mark(d.Name)
	return nil, nil
}

// addCharset enters name in the table of charsets and returns the spelling
// the table holds.
func (h *HTTP) addCharset(name string) string {
	for _, have := range h.Charsets {
		if strings.EqualFold(have, name) {
			return have
		}
	}
	h.Charsets = append(h.Charsets, name)
	return name
}

// setHTTPCharsetTypes parses charset_types (typesSlot).
func setHTTPCharsetTypes(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	typesSlot(c, d, s, &s.Charset.Types, &s.Charset.AnyType)
	return nil, nil
}

// checkCharsetMaps refuses, as nginx does when its configuration is
// loaded, a server or location whose charset and source_charset are
// different charsets: sluice has no charset_map to recode between them.
// Levels where either is off or a variable are not checked.
func checkCharsetMaps(h *HTTP) error {
	var err error
	walkHTTPSettings(h, func(s *HTTPSettings) {
		cs := &s.Charset
		if err != nil || cs.Charset == "" || cs.Source == "" ||
			strings.HasPrefix(cs.Charset, "$") || strings.HasPrefix(cs.Source, "$") || cs.Charset == cs.Source {
			return
		}
		err = &Error{Msg: fmt.Sprintf(`no "charset_map" between the charsets "%s" and "%s"`, cs.Source, cs.Charset)}
	})
	return err
}
