// Package pcre compiles the regular expressions of nginx configurations,
// which nginx hands to PCRE. Go's regexp package (RE2) compiles most of
// them and runs them in linear time; the patterns it refuses (look-ahead
// and look-behind such as `location ~ /\.(?!well-known)`, back-references,
// atomic groups, possessive quantifiers) are compiled by
// github.com/dlclark/regexp2, a backtracking engine with Perl's syntax,
// and run with a time limit. Groups are numbered as PCRE numbers them, in
// the order of their opening parentheses, named or not.
//
// The package imports nothing else of the module, so that config may use
// it.
package pcre

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"
	"unsafe"

	"github.com/dlclark/regexp2/v2"
)

// MatchTimeout bounds one match of a pattern run by the backtracking
// engine; a match that runs longer counts as no match, as PCRE's match
// limit makes nginx's regex fail.
const MatchTimeout = 100 * time.Millisecond

// Regexp is a compiled regular expression. It is safe for concurrent use.
type Regexp struct {
	pat   string
	re2   *regexp.Regexp  // the RE2 form, or nil
	bt    *regexp2.Regexp // the backtracking form when RE2 refused the pattern
	names []string        // the names of the groups, "" for the whole match and unnamed ones
}

// Compile compiles pat; caseless makes it match without regard to case
// (nginx's ~*). An error names what is wrong in nginx's words where RE2
// explains it: `missing closing ): ...`.
func Compile(pat string, caseless bool) (*Regexp, error) {
	re, err := regexp.Compile(pat)
	if err == nil && caseless {
		re, err = regexp.Compile("(?i)" + pat)
	}
	if err == nil {
		return &Regexp{pat: pat, re2: re, names: re.SubexpNames()}, nil
	}
	plain, names, ok := unname(pat)
	if ok {
		opt := regexp2.None
		if caseless {
			opt = regexp2.IgnoreCase
		}
		if bt, berr := regexp2.Compile(plain, opt); berr == nil {
			bt.MatchTimeout = MatchTimeout
			return &Regexp{pat: pat, bt: bt, names: names}, nil
		}
	}
	var se *syntax.Error
	if errors.As(err, &se) {
		return nil, fmt.Errorf("%s at \"%s\"", se.Code, se.Expr)
	}
	return nil, err
}

// unname rewrites the named groups of pat ((?<name>...), (?P<name>...),
// (?'name'...)) as plain ones, so that the backtracking engine numbers all
// groups in order as PCRE does (it would number named ones last), and
// returns the names by group number. ok is false for a pattern whose
// groups it cannot follow, or that refers to a group by name.
func unname(pat string) (plain string, names []string, ok bool) {
	var b strings.Builder
	names = []string{""}
	inClass := false
	for i := 0; i < len(pat); i++ {
		ch := pat[i]
		switch {
		case ch == '\\':
			if i+1 < len(pat) {
				if !inClass && (pat[i+1] == 'k' || pat[i+1] == 'g') {
					return "", nil, false // \k<name>, \g{...}
				}
				b.WriteByte(ch)
				i++
				ch = pat[i]
			}
		case inClass:
			if ch == ']' {
				inClass = false
			}
		case ch == '[':
			inClass = true
			if i+1 < len(pat) && pat[i+1] == '^' {
				b.WriteByte(ch)
				i++
				ch = pat[i]
			}
			if i+1 < len(pat) && pat[i+1] == ']' { // "[]...]": a literal ]
				b.WriteByte(ch)
				i++
				ch = pat[i]
			}
		case ch == '(':
			rest := pat[i+1:]
			var name string
			var skip int
			switch {
			case !strings.HasPrefix(rest, "?"):
				names = append(names, "")
			case strings.HasPrefix(rest, "?P<"), strings.HasPrefix(rest, "?<") && !strings.HasPrefix(rest, "?<=") && !strings.HasPrefix(rest, "?<!"):
				start := strings.IndexByte(rest, '<') + 1
				end := strings.IndexByte(rest[start:], '>')
				if end < 0 {
					return "", nil, false
				}
				name, skip = rest[start:start+end], start+end+1
			case strings.HasPrefix(rest, "?'"):
				end := strings.IndexByte(rest[2:], '\'')
				if end < 0 {
					return "", nil, false
				}
				name, skip = rest[2:2+end], 2+end+1
			case strings.HasPrefix(rest, "?P=") || strings.HasPrefix(rest, "?P>") || strings.HasPrefix(rest, "?&"):
				return "", nil, false // references by name
			}
			if skip > 0 {
				names = append(names, name)
				b.WriteByte('(')
				i += skip
				continue
			}
		}
		b.WriteByte(ch)
	}
	return b.String(), names, true
}

// String returns the pattern as written.
func (r *Regexp) String() string { return r.pat }

// NumSubexp returns the number of groups.
func (r *Regexp) NumSubexp() int { return len(r.names) - 1 }

// SubexpNames returns the names of the groups by number; index 0 (the
// whole match) and unnamed groups have "".
func (r *Regexp) SubexpNames() []string { return r.names }

// MatchString reports whether s holds a match.
func (r *Regexp) MatchString(s string) bool {
	if r.re2 != nil {
		return r.re2.MatchString(s)
	}
	ok, err := r.bt.MatchString(s)
	return err == nil && ok
}

// Match reports whether b holds a match.
func (r *Regexp) Match(b []byte) bool {
	if r.re2 != nil {
		return r.re2.Match(b)
	}
	return r.MatchString(bstr(b))
}

// FindStringSubmatchIndex returns the byte offsets of the leftmost match
// and of its groups, as regexp.Regexp.FindStringSubmatchIndex: pairs, -1
// for a group that did not take part; nil for no match.
func (r *Regexp) FindStringSubmatchIndex(s string) []int {
	if r.re2 != nil {
		return r.re2.FindStringSubmatchIndex(s)
	}
	m, err := r.bt.FindStringMatch(s)
	if err != nil || m == nil {
		return nil
	}
	idx := make([]int, 2*len(r.names))
	for i := range idx {
		idx[i] = -1
	}
	for n := 0; n < len(r.names); n++ {
		g := m.GroupByNumber(n)
		if g == nil || len(g.Captures) == 0 {
			continue
		}
		at, l := g.ByteRange()
		idx[2*n], idx[2*n+1] = at, at+l
	}
	return idx
}

// FindSubmatchIndex is FindStringSubmatchIndex on b.
func (r *Regexp) FindSubmatchIndex(b []byte) []int {
	if r.re2 != nil {
		return r.re2.FindSubmatchIndex(b)
	}
	return r.FindStringSubmatchIndex(bstr(b))
}

// FindStringSubmatch returns the text of the leftmost match and of its
// groups ("" for a group that did not take part); nil for no match.
func (r *Regexp) FindStringSubmatch(s string) []string {
	if r.re2 != nil {
		return r.re2.FindStringSubmatch(s)
	}
	idx := r.FindStringSubmatchIndex(s)
	if idx == nil {
		return nil
	}
	out := make([]string, len(idx)/2)
	for i := range out {
		if idx[2*i] >= 0 {
			out[i] = s[idx[2*i]:idx[2*i+1]]
		}
	}
	return out
}

// bstr views b as a string without copying, for the duration of a match.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
