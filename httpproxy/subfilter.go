package httpproxy

import (
	"slices"
	"strings"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/vars"
)

// The sub filter (ngx_http_sub_module): sub_filter replaces strings in
// response bodies as they stream, with nginx's algorithm, so that what is
// replaced is exactly what nginx replaces. The strings are searched
// without regard to ASCII case; at each position the first string (in
// configuration order) that matches is replaced, and the search goes on
// after it. A string split over two reads of the body is found: the bytes
// that may start a match (fewer than the longest string) are held back
// until the next read decides. At the end of the body the bytes still held
// are sent as they are, as nginx sends them.

// subConf is a location's compiled sub_filter settings (nil without
// sub_filter).
type subConf struct {
	pairs        []subPair
	tab          *subTables // the search tables when no string has variables
	types        map[string]bool
	anyType      bool
	once         bool
	lastModified bool
}

// subPair is one sub_filter: the string (lower case), or a template that
// gives it, and the replacement.
type subPair struct {
	match  []byte
	tmpl   *vars.Template[*request] // the string has variables, or nil
	value  *vars.Template[*request]
	konst  []byte // the replacement when it is constant
	isVar  bool   // the replacement has variables
	hasVar bool   // the string has variables
}

// subTables are nginx's search tables (ngx_http_sub_init_tables) for a
// set of strings: the strings sorted (stably) by their byte at min-1,
// index[c] the first of them whose byte there is c, and a Horspool shift
// for the byte at the end of a window of min bytes.
type subTables struct {
	min, max int
	matches  [][]byte
	pair     []int // the subPair of each sorted string
	index    [257]uint16
	shift    [256]uint8
}

// buildSub compiles the sub_filter settings of a level.
func (p *proxy) buildSub(s *config.HTTPSubFilter, pos string) (*subConf, error) {
	if len(s.Filters) == 0 {
		return nil, nil
	}
	sc := &subConf{types: map[string]bool{"text/html": true}, anyType: s.AnyType, once: s.Once, lastModified: s.LastModified}
	for _, t := range s.Types {
		sc.types[strings.ToLower(t)] = true
	}
	dynamic := false
	for _, f := range s.Filters {
		at := f.Pos
		if at == "" {
			at = pos
		}
		mt, err := p.tab.Compile(f.Match, at)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		vt, err := p.tab.Compile(f.Value, at)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		sp := subPair{value: vt}
		if m, ok := mt.Const(); ok {
			sp.match = []byte(m)
		} else {
			sp.tmpl, sp.hasVar, dynamic = mt, true, true
		}
		if v, ok := vt.Const(); ok {
			sp.konst = []byte(v)
		} else {
			sp.isVar = true
		}
		sc.pairs = append(sc.pairs, sp)
	}
	if !dynamic {
		ms := make([][]byte, len(sc.pairs))
		idx := make([]int, len(sc.pairs))
		for i := range sc.pairs {
			ms[i], idx[i] = sc.pairs[i].match, i
		}
		sc.tab = newSubTables(ms, idx)
	}
	return sc, nil
}

// newSubTables builds the tables of the strings ms (none empty); pair
// gives each string's subPair.
func newSubTables(ms [][]byte, pair []int) *subTables {
	t := &subTables{min: len(ms[0]), max: len(ms[0])}
	for _, m := range ms[1:] {
		t.min, t.max = min(t.min, len(m)), max(t.max, len(m))
	}
	order := make([]int, len(ms))
	for i := range order {
		order[i] = i
	}
	k := t.min - 1
	slices.SortStableFunc(order, func(a, b int) int { return int(ms[a][k]) - int(ms[b][k]) })
	t.matches = make([][]byte, len(ms))
	t.pair = make([]int, len(ms))
	for i, o := range order {
		t.matches[i], t.pair[i] = ms[o], pair[o]
	}
	lim := min(t.min, 255)
	for i := range t.shift {
		t.shift[i] = uint8(lim)
	}
	ch := 0
	for i, m := range t.matches {
		for j := 0; j < lim; j++ {
			c := m[t.min-1-j]
			t.shift[c] = min(t.shift[c], uint8(j))
		}
		c := int(m[t.min-1])
		for ch <= c {
			t.index[ch] = uint16(i)
			ch++
		}
	}
	for ch < 257 {
		t.index[ch] = uint16(len(t.matches))
		ch++
	}
	return t
}

// typeOK reports whether a Content-Type is in sub_filter_types: its
// type (before a "; charset=" parameter, as nginx reads it) compared
// without regard to case; "*" matches any response, one without a
// Content-Type too.
func (sc *subConf) typeOK(ct []byte) bool {
	if sc.anyType {
		return true
	}
	if len(ct) == 0 {
		return false
	}
	n, _ := splitCharset(ct)
	return sc.types[strings.ToLower(string(ct[:n]))]
}

// subStart decides, as nginx's sub header filter, whether the response to
// r is filtered: the location has sub_filter, the body is not known to be
// empty (clen is its length, -1 when unknown) and its type ct is listed. It sets r.sub to the filter's
// state, or nil. A string with variables is evaluated now; one that is
// empty is left out, and when all are the response is not filtered.
func (c *conn) subStart(r *request, sc *subConf, ct []byte, clen int64) *subFilter {
	r.sub = nil
	if sc == nil || clen == 0 || !sc.typeOK(ct) {
		return nil
	}
	f := &subFilter{conf: sc, tab: sc.tab}
	if f.tab == nil {
		var ms [][]byte
		var idx []int
		for i := range sc.pairs {
			sp := &sc.pairs[i]
			m := sp.match
			if sp.hasVar {
				m = sp.tmpl.Append(nil, r)
				if len(m) == 0 {
					continue
				}
				for j, b := range m {
					m[j] = lower(b)
				}
			}
			ms, idx = append(ms, m), append(idx, i)
		}
		if len(ms) == 0 {
			return nil
		}
		f.tab = newSubTables(ms, idx)
	}
	f.offset = f.tab.min - 1
	f.subs = make([][]byte, len(f.tab.matches))
	f.looked = make([]byte, 0, f.tab.max)
	r.sub = f
	return f
}

// lower lower-cases an ASCII letter, as nginx's ngx_tolower.
func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// subFilter is the state of the sub filter for one response
// (ngx_http_sub_ctx_t).
type subFilter struct {
	conf    *subConf
	tab     *subTables
	subs    [][]byte // the replacement of each string, evaluated at its first match
	looked  []byte   // bytes held back: the start of a possible match
	offset  int      // the end of the next window, relative to the unread input
	index   int      // the string to try first at that window
	once    bool     // sub_filter_once and every string replaced: pass the rest
	applied int
	out     []byte // the output being gathered
	// noRanges drops the upstream's Accept-Ranges (cacheOwnsRanges).
	noRanges bool
}

// Results of subFilter.match.
const (
	subDeclined = iota
	subAgain
	subOK
)

// match compares the string m with the input from start (negative: in the
// held bytes), ASCII case folded: it matches, does not, or needs more
// input.
func (f *subFilter) match(buf []byte, start int, m []byte) int {
	k := 0
	if start < 0 {
		for p := len(f.looked) + start; p < len(f.looked) && k < len(m); p, k = p+1, k+1 {
			if lower(f.looked[p]) != m[k] {
				return subDeclined
			}
		}
		start = 0
	}
	for p := start; p < len(buf) && k < len(m); p, k = p+1, k+1 {
		if lower(buf[p]) != m[k] {
			return subDeclined
		}
	}
	if k != len(m) {
		return subAgain
	}
	return subOK
}

// parse is nginx's ngx_http_sub_parse over the unread input buf. It
// appends to out the bytes settled (held ones, then input) and returns
// how much of buf it consumed and the string that matched after them
// (-1 for none). flush lets it release the bytes no string could start.
func (f *subFilter) parse(out, buf []byte, flush bool) (_ []byte, consumed, matched int) {
	t := f.tab
	offset := f.offset
	end := len(buf)
	var start, next int
	matched = -1
	if f.once {
		offset = end + t.min - 1
		goto again
	}
	for offset < end {
		var c byte
		if offset < 0 {
			c = f.looked[len(f.looked)+offset]
		} else {
			c = buf[offset]
		}
		c = lower(c)
		if s := t.shift[c]; s > 0 {
			offset += int(s)
			continue
		}
		start = offset - t.min + 1
		for i, j := max(int(t.index[c]), f.index), int(t.index[int(c)+1]); i < j; i++ {
			if f.conf.once && f.subs[i] != nil {
				continue
			}
			m := t.matches[i]
			rc := f.match(buf, start, m)
			if rc == subDeclined {
				continue
			}
			f.index = i
			if rc == subAgain {
				goto again
			}
			f.offset = offset + len(m)
			next = start + len(m)
			end = max(next, 0)
			matched = i
			goto done
		}
		offset++
		f.index = 0
	}
	if flush {
		for {
			start = offset - t.min + 1
			if start >= end {
				break
			}
			for _, m := range t.matches {
				if f.match(buf, start, m) == subAgain {
					goto again
				}
			}
			offset++
		}
	}
again:
	f.offset = offset
	start = offset - t.min + 1
	next = start
done:
	// send [-len(looked), start), keep [next, end)
	out = append(out, f.looked[:len(f.looked)+min(start, 0)]...)
	out = append(out, buf[:max(start, 0)]...)
	if next < 0 {
		n := copy(f.looked, f.looked[len(f.looked)+next:])
		f.looked = f.looked[:n]
	} else {
		f.looked = f.looked[:0]
	}
	f.looked = append(f.looked, buf[max(next, 0):end]...)
	f.offset -= end
	return out, end, matched
}

// subFlushAt is how much filtered output is gathered before it is passed
// on: a body with many long replacements is sent in pieces.
const subFlushAt = 32 << 10

// run filters p, passing the output on to w in pieces; last says p ends
// the body (the bytes held back are then passed as they are). It reports
// false when w did.
func (f *subFilter) run(r *request, p []byte, last bool, w *bodyWriter) bool {
	out, ok := f.filter(r, f.out[:0], p, last, w)
	f.out = out[:0] // kept for the next read
	return ok
}

// filter is run, gathering the output in out.
func (f *subFilter) filter(r *request, out, p []byte, last bool, w *bodyWriter) ([]byte, bool) {
	for len(p) > 0 {
		if f.once && len(f.looked) == 0 {
			// every string replaced: the rest passes as it is
			if len(out) > 0 && !w.pass(out) {
				return out, false
			}
			return out[:0], w.pass(p)
		}
		var n, m int
		out, n, m = f.parse(out, p, true)
		p = p[n:]
		if m >= 0 {
			out = append(out, f.replacement(r, m)...)
			f.index = 0
			f.applied++
			f.once = f.conf.once && f.applied == len(f.tab.matches)
		}
		if len(out) >= subFlushAt {
			if !w.pass(out) {
				return out, false
			}
			out = out[:0]
		}
	}
	if last {
		out = append(out, f.looked...)
		f.looked = f.looked[:0]
	}
	return out, len(out) == 0 || w.pass(out)
}

// replacement returns the replacement of sorted string i, evaluated at its
// first use as nginx does.
func (f *subFilter) replacement(r *request, i int) []byte {
	if f.subs[i] == nil {
		sp := &f.conf.pairs[f.tab.pair[i]]
		if sp.isVar {
			f.subs[i] = sp.value.Append(make([]byte, 0, 64), r)
		} else {
			f.subs[i] = append(make([]byte, 0, len(sp.konst)), sp.konst...)
		}
	}
	return f.subs[i]
}

// filterAll filters a whole body, appending the result to dst.
func (f *subFilter) filterAll(r *request, dst, body []byte) []byte {
	w := bodyWriter{collect: &dst}
	f.run(r, body, true, &w)
	return dst
}
