package httpproxy

import (
	"bytes"
	"fmt"
	"github.com/sluicelb/sluice/internal/pcre"
	"strings"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/vars"
)

// cookieRules are the compiled proxy_cookie_domain, proxy_cookie_path and
// proxy_cookie_flags rules of a location; a location without any has none.
type cookieRules struct {
	domains []cookieRewrite
	paths   []cookieRewrite
	flags   []cookieFlagRule
}

// cookieRewrite is one proxy_cookie_domain or proxy_cookie_path rule.
type cookieRewrite struct {
	// from is the text matched, constant (fromConst) or with variables;
	// unused with re, which is matched against the whole value.
	from      *vars.Template[*request]
	fromConst []byte
	re        *pcre.Regexp
	domain    bool // nginx's domain matching: exact, without case, after a leading dot
	to        []replPart
}

// cookieFlagRule is one proxy_cookie_flags rule.
type cookieFlagRule struct {
	name      *vars.Template[*request] // the cookie name, with variables
	nameConst []byte
	re        *pcre.Regexp
	mask      uint16                     // the constant flags
	vars      []*vars.Template[*request] // flags with variables
}

// Cookie flag bits, as nginx's NGX_HTTP_PROXY_COOKIE_*.
const (
	ckSecure uint16 = 1 << iota
	ckSecureOn
	ckSecureOff
	ckHTTPOnly
	ckHTTPOnlyOn
	ckHTTPOnlyOff
	ckSameSite
	ckSameSiteStrict
	ckSameSiteLax
	ckSameSiteNone
	ckSameSiteOff
)

// cookieFlagMask returns the bits of a proxy_cookie_flags flag (compared
// without case), or 0 for one nginx does not know.
func cookieFlagMask(f []byte) uint16 {
	switch strings.ToLower(string(f)) {
	case "secure":
		return ckSecure | ckSecureOn
	case "nosecure":
		return ckSecure | ckSecureOff
	case "httponly":
		return ckHTTPOnly | ckHTTPOnlyOn
	case "nohttponly":
		return ckHTTPOnly | ckHTTPOnlyOff
	case "samesite=strict":
		return ckSameSite | ckSameSiteStrict
	case "samesite=lax":
		return ckSameSite | ckSameSiteLax
	case "samesite=none":
		return ckSameSite | ckSameSiteNone
	case "nosamesite":
		return ckSameSite | ckSameSiteOff
	}
	return 0
}

// buildCookies compiles the cookie rules of a location (nil when there
// are none, or all are off).
func (p *proxy) buildCookies(l *location, st *config.HTTPSettings, pos string) error {
	var cr cookieRules
	var err error
	if cr.domains, err = p.buildCookieRewrites(st.ProxyCookieDomain, true, pos); err != nil {
		return err
	}
	if cr.paths, err = p.buildCookieRewrites(st.ProxyCookiePath, false, pos); err != nil {
		return err
	}
	for _, f := range st.ProxyCookieFlags {
		if f.Off {
			break
		}
		var rule cookieFlagRule
		if strings.HasPrefix(f.Cookie, "~") {
			re, err := config.CompileRegex(f.Cookie[1:], true)
			if err != nil {
				return errorfRegex(f.Cookie[1:], err, pos)
			}
			rule.re = re
		} else {
			var err error
			if rule.nameConst, rule.name, err = p.compileValue(f.Cookie, pos); err != nil {
				return err
			}
		}
		for _, v := range f.Flags {
			k, t, err := p.compileValue(v, pos)
			if err != nil {
				return err
			}
			if t == nil {
				rule.mask |= cookieFlagMask(k)
			} else {
				rule.vars = append(rule.vars, t)
			}
		}
		cr.flags = append(cr.flags, rule)
	}
	if len(cr.domains)+len(cr.paths)+len(cr.flags) > 0 {
		l.cookies = &cr
	}
	return nil
}

// buildCookieRewrites compiles proxy_cookie_domain (domain) or
// proxy_cookie_path rules. A leading dot of a constant-free domain and of
// its replacement is dropped, as nginx does: the dot of the cookie's
// Domain is kept.
func (p *proxy) buildCookieRewrites(list []config.HTTPCookieRewrite, domain bool, pos string) ([]cookieRewrite, error) {
	var out []cookieRewrite
	for _, rw := range list {
		if rw.Off {
			return nil, nil
		}
		rule := cookieRewrite{domain: domain}
		from, to := rw.From, rw.To
		if strings.HasPrefix(from, "~") {
			pat, caseless := from[1:], true
			if !domain {
				pat, caseless = strings.TrimPrefix(pat, "*"), strings.HasPrefix(pat, "*")
			}
			re, err := config.CompileRegex(pat, caseless)
			if err != nil {
				return nil, errorfRegex(pat, err, pos)
			}
			rule.re, rule.domain = re, false
		} else {
			if domain {
				from = strings.TrimPrefix(from, ".")
				to = strings.TrimPrefix(to, ".")
			}
			var err error
			if rule.fromConst, rule.from, err = p.compileValue(from, pos); err != nil {
				return nil, err
			}
		}
		if rule.re != nil {
			to = namedCaptures(to, rule.re)
		}
		parts, err := p.splitReplacement(to, pos, rule.re != nil)
		if err != nil {
			return nil, err
		}
		rule.to = parts
		out = append(out, rule)
	}
	return out, nil
}

// namedCaptures rewrites the named captures of re used in a replacement
// ($name or ${name}) as their numbers ($1..$9), which nginx sets as
// variables when the expression matches.
func namedCaptures(s string, re *pcre.Regexp) string {
	names := re.SubexpNames()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		j, braced := i+1, false
		if j < len(s) && s[j] == '{' {
			j, braced = j+1, true
		}
		k := j
		for k < len(s) && (s[k] == '_' || 'a' <= s[k]|0x20 && s[k]|0x20 <= 'z' || '0' <= s[k] && s[k] <= '9') {
			k++
		}
		name, end := s[j:k], k
		if braced {
			if k >= len(s) || s[k] != '}' {
				b.WriteByte('$')
				continue
			}
			end = k + 1
		}
		idx := -1
		for n, sub := range names {
			if n > 0 && n <= 9 && sub != "" && sub == name {
				idx = n
				break
			}
		}
		if idx < 0 {
			b.WriteByte('$')
			continue
		}
		b.WriteByte('$')
		b.WriteByte(byte('0' + idx))
		i = end - 1
	}
	return b.String()
}

// cookieAttr is one attribute of a Set-Cookie value (the first is the
// cookie itself): its name, and its value when it has one.
type cookieAttr struct {
	key, val []byte
	hasVal   bool
	drop     bool
}

// rewriteCookie applies the cookie rules to a Set-Cookie value as nginx's
// ngx_http_proxy_rewrite_cookie: the value is split into attributes at
// ";", the first matching rule rewrites Domain and Path, and the first
// proxy_cookie_flags rule whose name matches the cookie edits its flags.
// When any of them applied, the value is rebuilt with "; " between the
// attributes; else it is returned as it was.
func (c *conn) rewriteCookie(r *request, cr *cookieRules, v []byte) []byte {
	var arr [12]cookieAttr
	attrs := parseCookie(v, arr[:0])
	if !attrs[0].hasVal {
		return v
	}
	changed := false
	for i := 1; i < len(attrs); i++ {
		a := &attrs[i]
		if !a.hasVal {
			continue
		}
		var rules []cookieRewrite
		switch {
		case len(cr.domains) > 0 && equalFoldLower(a.key, "domain"):
			rules = cr.domains
		case len(cr.paths) > 0 && equalFoldLower(a.key, "path"):
			rules = cr.paths
		default:
			continue
		}
		if nv, ok := c.rewriteCookieValue(r, rules, a.val); ok {
			a.val, changed = nv, true
		}
	}
	if len(cr.flags) > 0 {
		var ok bool
		if attrs, ok = c.cookieFlags(r, cr.flags, attrs); ok {
			changed = true
		}
	}
	if !changed {
		return v
	}
	out := make([]byte, 0, len(v)+32)
	for i := range attrs {
		a := &attrs[i]
		if a.drop {
			continue
		}
		if i > 0 {
			out = append(out, ';', ' ')
		}
		out = append(out, a.key...)
		if a.hasVal {
			out = append(out, '=')
			out = append(out, a.val...)
		}
	}
	return out
}

// parseCookie splits a Set-Cookie value into attributes, trimming the
// spaces around names and values, as nginx's ngx_http_proxy_parse_cookie.
func parseCookie(v []byte, attrs []cookieAttr) []cookieAttr {
	for {
		seg := v
		last := bytes.IndexByte(v, ';')
		if last >= 0 {
			seg = v[:last]
		}
		for len(seg) > 0 && seg[0] == ' ' {
			seg = seg[1:]
		}
		var a cookieAttr
		eq := bytes.IndexByte(seg, '=')
		if eq < 0 {
			a.key = bytes.TrimRight(seg, " ")
		} else {
			a.key = bytes.TrimRight(seg[:eq], " ")
			a.val = bytes.TrimRight(bytes.TrimLeft(seg[eq+1:], " "), " ")
			a.hasVal = true
		}
		attrs = append(attrs, a)
		if last < 0 {
			return attrs
		}
		v = v[last+1:]
	}
}

// rewriteCookieValue applies the first matching rule to a Domain or Path
// value.
func (c *conn) rewriteCookieValue(r *request, rules []cookieRewrite, v []byte) ([]byte, bool) {
	for i := range rules {
		rule := &rules[i]
		if rule.re != nil {
			m := rule.re.FindSubmatchIndex(v)
			if m == nil {
				continue
			}
			return expandReplacement(nil, r, rule.to, v, m), true
		}
		from := rule.fromConst
		if rule.from != nil {
			from = rule.from.Append(nil, r)
		}
		if rule.domain {
			dot := 0
			if len(v) > 0 && v[0] == '.' {
				dot = 1
			}
			if !bytes.EqualFold(from, v[dot:]) {
				continue
			}
			out := append([]byte(nil), v[:dot]...)
			return expandReplacement(out, r, rule.to, nil, nil), true
		}
		if !bytes.HasPrefix(v, from) {
			continue
		}
		out := expandReplacement(nil, r, rule.to, nil, nil)
		return append(out, v[len(from):]...), true
	}
	return v, false
}

// expandReplacement appends a replacement to out, taking captures from
// the match m of subject.
func expandReplacement(out []byte, r *request, to []replPart, subject []byte, m []int) []byte {
	for _, part := range to {
		switch {
		case part.lit != nil:
			out = append(out, part.lit...)
		case part.t != nil:
			out = part.t.Append(out, r)
		case 2*part.cap+1 < len(m) && m[2*part.cap] >= 0:
			out = append(out, subject[m[2*part.cap]:m[2*part.cap+1]]...)
		}
	}
	if out == nil {
		out = []byte{}
	}
	return out
}

// cookieFlags applies the first proxy_cookie_flags rule that names the
// cookie, as nginx's ngx_http_proxy_rewrite_cookie_flags and
// ngx_http_proxy_edit_cookie_flags: flags already present are kept (and a
// SameSite of another value is replaced), "no" flags remove them, and the
// missing ones are appended as Secure, HttpOnly and SameSite=.
func (c *conn) cookieFlags(r *request, rules []cookieFlagRule, attrs []cookieAttr) ([]cookieAttr, bool) {
	name := attrs[0].key
	var rule *cookieFlagRule
	for i := range rules {
		ru := &rules[i]
		if ru.re != nil {
			if ru.re.Match(name) {
				rule = ru
				break
			}
			continue
		}
		want := ru.nameConst
		if ru.name != nil {
			want = ru.name.Append(nil, r)
		}
		if bytes.EqualFold(want, name) {
			rule = ru
			break
		}
	}
	if rule == nil {
		return attrs, false
	}
	f := rule.mask
	for _, t := range rule.vars {
		f |= cookieFlagMask(t.Append(nil, r))
	}
	if f == 0 {
		return attrs, false
	}
	for i := 1; i < len(attrs); i++ {
		a := &attrs[i]
		switch {
		case equalFoldLower(a.key, "secure"):
			if f&ckSecureOn != 0 {
				f &^= ckSecureOn
			} else if f&ckSecureOff != 0 {
				a.drop = true
			}
		case equalFoldLower(a.key, "httponly"):
			if f&ckHTTPOnlyOn != 0 {
				f &^= ckHTTPOnlyOn
			} else if f&ckHTTPOnlyOff != 0 {
				a.drop = true
			}
		case equalFoldLower(a.key, "samesite"):
			var want string
			switch {
			case f&ckSameSiteStrict != 0:
				f &^= ckSameSiteStrict
				want = "Strict"
			case f&ckSameSiteLax != 0:
				f &^= ckSameSiteLax
				want = "Lax"
			case f&ckSameSiteNone != 0:
				f &^= ckSameSiteNone
				want = "None"
			case f&ckSameSiteOff != 0:
				a.drop = true
			}
			if want != "" && !equalFoldLower(a.val, strings.ToLower(want)) {
				a.key, a.val, a.hasVal = []byte("SameSite"), []byte(want), true
			}
		}
	}
	if f&ckSecureOn != 0 {
		attrs = append(attrs, cookieAttr{key: []byte("Secure")})
	}
	if f&ckHTTPOnlyOn != 0 {
		attrs = append(attrs, cookieAttr{key: []byte("HttpOnly")})
	}
	switch {
	case f&ckSameSiteStrict != 0:
		attrs = append(attrs, cookieAttr{key: []byte("SameSite"), val: []byte("Strict"), hasVal: true})
	case f&ckSameSiteLax != 0:
		attrs = append(attrs, cookieAttr{key: []byte("SameSite"), val: []byte("Lax"), hasVal: true})
	case f&ckSameSiteNone != 0:
		attrs = append(attrs, cookieAttr{key: []byte("SameSite"), val: []byte("None"), hasVal: true})
	}
	return attrs, true
}

// errorfRegex is the error of a regular expression that does not compile.
func errorfRegex(pat string, err error, pos string) error {
	return fmt.Errorf("invalid regular expression %q: %v in %s", pat, err, pos)
}
