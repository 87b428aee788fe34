package httpproxy

import (
	"fmt"
	"github.com/sluicelb/sluice/internal/pcre"
	"strings"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/httpproxy/h1"
	"github.com/sluicelb/sluice/vars"
)

// redirectRule is one compiled proxy_redirect rule.
type redirectRule struct {
	// from is the text replaced at the start of the value (plain rules
	// and "default"); nil for a regular expression rule.
	from      *vars.Template[*request]
	fromConst []byte // from when it has no variables
	re        *pcre.Regexp
	// to is the replacement, split at the captures $1..$9 of re: parts
	// alternate literal templates (possibly nil) and capture numbers.
	to []replPart
}

type replPart struct {
	t   *vars.Template[*request] // text with variables, or nil
	lit []byte                   // constant text, or nil
	cap int                      // a capture, when t and lit are nil
}

// buildRedirects compiles the proxy_redirect rules of a location: nginx's
// "default" becomes a plain rule from the proxy_pass URL to the location
// name (or from "URL/" to "/" when proxy_pass has no URI part).
func (p *proxy) buildRedirects(l *location, st *config.HTTPSettings, pos string) error {
	for _, rd := range st.ProxyRedirect {
		switch {
		case rd.Off:
			l.redirects = nil
			return nil
		case rd.Default:
			if l.pass == nil || l.pass.prefix == "" {
				continue
			}
			from, to := l.pass.prefix+l.pass.uri, l.name
			if !l.pass.hasURI {
				from, to = l.pass.prefix+"/", "/"
			}
			rule := redirectRule{fromConst: []byte(from), to: []replPart{{lit: []byte(to)}}}
			l.redirects = append(l.redirects, rule)
		default:
			var rule redirectRule
			if strings.HasPrefix(rd.Redirect, "~") {
				pat := strings.TrimPrefix(rd.Redirect[1:], "*")
				re, err := config.CompileRegex(pat, strings.HasPrefix(rd.Redirect, "~*"))
				if err != nil {
					return fmt.Errorf("invalid regular expression %q: %v in %s", pat, err, pos)
				}
				rule.re = re
			} else {
				var err error
				if rule.fromConst, rule.from, err = p.compileValue(rd.Redirect, pos); err != nil {
					return err
				}
			}
			parts, err := p.splitReplacement(rd.Replacement, pos, rule.re != nil)
			if err != nil {
				return err
			}
			rule.to = parts
			l.redirects = append(l.redirects, rule)
		}
	}
	return nil
}

// splitReplacement compiles a replacement: with a regular expression its
// captures $1..$9 are taken from the match, the rest is a complex value.
func (p *proxy) splitReplacement(s, pos string, captures bool) ([]replPart, error) {
	var parts []replPart
	lit := func(text string) error {
		if text == "" {
			return nil
		}
		k, t, err := p.compileValue(text, pos)
		if err != nil {
			return err
		}
		parts = append(parts, replPart{lit: k, t: t})
		return nil
	}
	start := 0
	for i := 0; captures && i+1 < len(s); i++ {
		if s[i] == '$' && s[i+1] >= '1' && s[i+1] <= '9' {
			if err := lit(s[start:i]); err != nil {
				return nil, err
			}
			parts = append(parts, replPart{cap: int(s[i+1] - '0')})
			i++
			start = i + 1
		}
	}
	if err := lit(s[start:]); err != nil {
		return nil, err
	}
	return parts, nil
}

// rewriteRedirect applies the proxy_redirect rules to v from offset
// prefix, as nginx's ngx_http_proxy_rewrite_redirect: the first rule that
// matches rewrites it. It returns the new value and whether one matched.
func (c *conn) rewriteRedirect(r *request, l *location, v []byte, prefix int) ([]byte, bool) {
	rest := v[prefix:]
	for i := range l.redirects {
		rule := &l.redirects[i]
		var tail []byte
		var m []int
		if rule.re != nil {
			m = rule.re.FindSubmatchIndex(rest)
			if m == nil {
				continue
			}
		} else {
			from := rule.fromConst
			if rule.from != nil {
				from = rule.from.Append(nil, r)
			}
			if len(from) > len(rest) || string(rest[:len(from)]) != string(from) {
				continue
			}
			tail = rest[len(from):]
		}
		out := make([]byte, 0, len(v)+32)
		out = append(out, v[:prefix]...)
		out = expandReplacement(out, r, rule.to, rest, m)
		return append(out, tail...), true
	}
	return v, false
}

// appendRedirected appends a Location or Refresh header with the
// proxy_redirect rules applied. A rewritten Location that starts with "/"
// is made absolute, as nginx does with absolute_redirect on; in Refresh
// the text after "url=" is rewritten.
func (c *conn) appendRedirected(out []byte, r *request, h *h1.Header, l *location) []byte {
	v := h.Value
	location := len(h.Name) == 8
	var nv []byte
	var ok bool
	if location {
		if len(v) > 0 {
			nv, ok = c.rewriteRedirect(r, l, v, 0)
			if ok && len(nv) > 0 && nv[0] == '/' {
				nv = c.absolute(r, nv)
			}
		}
	} else if i := indexFold(v, "url="); i >= 0 {
		nv, ok = c.rewriteRedirect(r, l, v, i+4)
	}
	if !ok {
		nv = v
	}
	out = append(out, h.Name...)
	out = append(out, ':', ' ')
	out = append(out, nv...)
	return append(out, '\r', '\n')
}

// indexFold returns the index of the lower-case s in b, compared without
// regard to ASCII case, or -1.
func indexFold(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if equalFoldLower(b[i:i+len(s)], s) {
			return i
		}
	}
	return -1
}

// compileValue compiles a value that may hold variables: its bytes when
// it holds none (k), else its template (t).
func (p *proxy) compileValue(src, pos string) (k []byte, t *vars.Template[*request], err error) {
	t, err = p.tab.Compile(src, pos)
	if err != nil {
		return nil, nil, vars.NginxError(err)
	}
	if c, ok := t.Const(); ok {
		return []byte(c), nil, nil
	}
	return nil, t, nil
}
