package vars

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzCompile compiles arbitrary complex values and log formats: no panic,
// and a template that compiles evaluates to its literal text when every
// variable is empty.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"", "$", "${", "${}", "${host", "$host$1${uri}x", "a$$b", "$9$0", "${a}}", "\x00$\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tab := NewTable[*req]()
		tp, err := tab.Compile(src, "")
		lf, lerr := tab.CompileLogFormat("f", []string{src}, "")
		if (err == nil) != (lerr == nil) {
			t.Fatalf("%q: complex value error %v, log format error %v", src, err, lerr)
		}
		for i := range tab.vars {
			e := &tab.vars[i]
			if e.kind == kindUnresolved {
				e.kind, e.get = kindProxy, getEmpty[*req]
			}
		}
		tab.frozen = true
		r := newReq()
		if err == nil {
			out := string(tp.Append(nil, r))
			var lits strings.Builder
			for _, p := range tp.parts {
				lits.WriteString(p.lit)
			}
			if out != lits.String() {
				t.Fatalf("%q evaluated to %q, literals %q", src, out, lits.String())
			}
		}
		if lerr == nil {
			lf.Append(nil, r)
		}
	})
}

// FuzzEscape checks that escape=json output is a valid JSON string body
// decoding to the input (for inputs without bytes >= 0x80, which nginx
// copies as they are), and that escape=default output has no raw byte that
// needs escaping.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\", "\x00\x1f\x7f", "\n\r\t\b\f", "\xc3\xa9"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		def := AppendEscapeDefault(nil, in)
		for i := 0; i < len(def); i++ {
			c := def[i]
			if c == '\\' {
				if i+3 >= len(def) || def[i+1] != 'x' {
					t.Fatalf("bad escape in %q", def)
				}
				i += 3
				continue
			}
			if needsDefaultEscape(c) {
				t.Fatalf("raw byte %#x in %q", c, def)
			}
		}
		js := AppendEscapeJSON([]byte{'"'}, in)
		js = append(js, '"')
		ascii := true
		for _, c := range in {
			ascii = ascii && c < 0x80
		}
		if !ascii {
			return
		}
		var s string
		if err := json.Unmarshal(js, &s); err != nil || s != string(in) {
			t.Fatalf("json %q: %v, %q", js, err, s)
		}
	})
}
