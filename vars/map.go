package vars

import (
	"github.com/sluicelb/sluice/internal/pcre"
	"strings"
)

// Line is one statement inside a map, geo or split_clients block: its
// arguments as the configuration parser produced them (quotes removed), and
// its position "file:line" for error messages. Statements from an included
// file are passed in place of the include, already parsed.
type Line struct {
	Args []string
	Pos  string
}

// MapSpec describes a map block: map Source Variable { Lines }.
type MapSpec struct {
	Source   string // the string matched, a complex value such as "$host"
	Variable string // the variable created, with its '$'
	Lines    []Line
	Pos      string // position of the map directive
}

type mapValue[T Context] struct {
	text  string
	tmpl  *Template[T] // nil when text has no variables
	named []namedCap   // for regex entries: named captures to assign
}

type namedCap struct {
	group int
	v     Var
}

func (mv *mapValue[T]) append(dst []byte, ctx T) []byte {
	if mv.tmpl == nil {
		return append(dst, mv.text...)
	}
	return mv.tmpl.Append(dst, ctx)
}

type mapRegex[T Context] struct {
	re    *pcre.Regexp
	value *mapValue[T]
}

type mapVar[T Context] struct {
	tab       *Table[T]
	src       *Template[T]
	hostnames bool
	exact     map[string]*mapValue[T]
	head      map[string]*mapValue[T] // ".example.com" for *.example.com and .example.com
	tail      map[string]*mapValue[T] // "www.example" for www.example.*
	regex     []mapRegex[T]
	def       *mapValue[T]
}

// AddMap builds a map block and defines its variable. Matching follows
// nginx: the source value (without a trailing dot when hostnames is set) is
// compared without regard to case with the exact keys, then, with hostnames,
// with the longest matching "*.example.com" / ".example.com" key, then the
// longest matching "www.example.*" key, then the regular expressions ("~"
// case-sensitive, "~*" case-insensitive) in the order given; the first
// that matches wins, else default (empty string when not given). Values may
// contain variables and, for regular expression keys, captures $1..$9;
// named captures (?<name>...) become variables. The result is cached for the
// request unless the block says volatile.
func (t *Table[T]) AddMap(spec MapSpec) error {
	name, err := varName(spec.Variable, spec.Pos)
	if err != nil {
		return err
	}
	src, err := t.Compile(spec.Source, spec.Pos)
	if err != nil {
		return err
	}
	m := &mapVar[T]{tab: t, src: src}
	volatile := false
	for _, ln := range spec.Lines {
		a := ln.Args
		if len(a) == 1 && a[0] == "hostnames" {
			m.hostnames = true
			continue
		}
		if len(a) == 1 && a[0] == "volatile" {
			volatile = true
			continue
		}
		if len(a) != 2 {
			return errorf(ln.Pos, "invalid number of the map parameters")
		}
		if a[0] == "include" {
			return errorf(ln.Pos, "\"include\" in map must be expanded by the configuration parser")
		}
		val, err := m.compileValue(a[1], ln.Pos)
		if err != nil {
			return err
		}
		key := a[0]
		if key == "default" {
			if m.def != nil {
				return errorf(ln.Pos, "duplicate default map parameter")
			}
			m.def = val
			continue
		}
		if strings.HasPrefix(key, "~") {
			if err := m.addRegex(key[1:], val, ln.Pos); err != nil {
				return err
			}
			continue
		}
		if strings.HasPrefix(key, "\\") {
			key = key[1:]
		}
		if err := m.addKey(key, val, ln.Pos); err != nil {
			return err
		}
	}
	if m.def == nil {
		m.def = &mapValue[T]{}
	}
	return t.defineComputed(name, spec.Pos, m.eval, !volatile)
}

func (m *mapVar[T]) compileValue(s, pos string) (*mapValue[T], error) {
	if !strings.Contains(s, "$") {
		return &mapValue[T]{text: s}, nil
	}
	tp, err := m.tab.Compile(s, pos)
	if err != nil {
		return nil, err
	}
	return &mapValue[T]{text: s, tmpl: tp}, nil
}

func (m *mapVar[T]) addRegex(pat string, val *mapValue[T], pos string) error {
	expr, caseless := pat, false
	if strings.HasPrefix(pat, "*") {
		expr, caseless = pat[1:], true
	}
	re, err := pcre.Compile(expr, caseless)
	if err != nil {
		return errorf(pos, "invalid regular expression \"%s\": %v", pat, err)
	}
	if names := re.SubexpNames(); len(names) > 1 {
		v := *val
		for i, n := range names {
			if n == "" {
				continue
			}
			h, err := m.tab.captureVar(n, pos)
			if err != nil {
				return err
			}
			v.named = append(v.named, namedCap{group: i, v: h})
		}
		val = &v
	}
	m.regex = append(m.regex, mapRegex[T]{re: re, value: val})
	return nil
}

func (m *mapVar[T]) addKey(key string, val *mapValue[T], pos string) error {
	low := strings.ToLower(key)
	conflict := func() error { return errorf(pos, "conflicting parameter \"%s\"", key) }
	put := func(tab *map[string]*mapValue[T], k string) error {
		if *tab == nil {
			*tab = make(map[string]*mapValue[T])
		}
		if _, dup := (*tab)[k]; dup {
			return conflict()
		}
		(*tab)[k] = val
		return nil
	}
	if !m.hostnames {
		return put(&m.exact, low)
	}
	stars := strings.Count(low, "*")
	if stars > 1 || strings.Contains(low, "..") || strings.IndexByte(low, 0) >= 0 {
		return errorf(pos, "invalid hostname or wildcard \"%s\"", key)
	}
	switch {
	case len(low) > 1 && low[0] == '.':
		// ".example.com" is "example.com" and "*.example.com".
		if m.head[low] != nil {
			return conflict()
		}
		if err := put(&m.exact, low[1:]); err != nil {
			return err
		}
		return put(&m.head, low)
	case len(low) > 2 && strings.HasPrefix(low, "*."):
		return put(&m.head, low[1:])
	case len(low) > 2 && strings.HasSuffix(low, ".*"):
		return put(&m.tail, low[:len(low)-2])
	case stars > 0:
		return errorf(pos, "invalid hostname or wildcard \"%s\"", key)
	}
	return put(&m.exact, low)
}

func (m *mapVar[T]) eval(dst []byte, ctx T) ([]byte, bool) {
	st := ctx.VarState()
	start := len(dst)
	dst = m.src.Append(dst, ctx)
	key := dst[start:]
	if m.hostnames && len(key) > 0 && key[len(key)-1] == '.' {
		key = key[:len(key)-1]
	}
	val := m.find(st, key)
	if val == nil {
		val = m.def
	} else if len(val.named) > 0 {
		for _, nc := range val.named {
			m.tab.Set(ctx, nc.v, st.capture(nc.group))
		}
	}
	return val.append(dst[:start], ctx), true
}

// find looks key up; key is not retained. A regular expression match stores
// its captures in st.
func (m *mapVar[T]) find(st *State, key []byte) *mapValue[T] {
	if m.exact != nil || m.head != nil || m.tail != nil {
		low := key
		if hasUpper(key) {
			st.tmp = appendLower(st.tmp[:0], key)
			low = st.tmp
		}
		if v := m.findHash(low); v != nil {
			return v
		}
	}
	if len(key) == 0 {
		return nil
	}
	for i := range m.regex {
		r := &m.regex[i]
		if r.re.NumSubexp() == 0 {
			if r.re.Match(key) {
				st.setCaptures(nil, nil)
				return r.value
			}
			continue
		}
		if idx := r.re.FindSubmatchIndex(key); idx != nil {
			st.setCaptures(key, idx)
			return r.value
		}
	}
	return nil
}

func (m *mapVar[T]) findHash(low []byte) *mapValue[T] {
	if v, ok := m.exact[string(low)]; ok {
		return v
	}
	if m.head != nil {
		// Longest suffix first: the suffix starting at the first dot.
		for i := 1; i < len(low); i++ {
			if low[i] == '.' {
				if v, ok := m.head[string(low[i:])]; ok {
					return v
				}
			}
		}
	}
	if m.tail != nil {
		for i := len(low) - 1; i > 0; i-- {
			if low[i] == '.' && i+1 < len(low) {
				if v, ok := m.tail[string(low[:i])]; ok {
					return v
				}
			}
		}
	}
	return nil
}

func hasUpper(b []byte) bool {
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

func appendLower(dst, b []byte) []byte {
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
