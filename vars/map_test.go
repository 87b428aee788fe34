package vars

import (
	"testing"
)

func TestMap(t *testing.T) {
	const block = `
		hostnames;
		default def;
		example.com exact;
		*.example.com head;
		*.a.example.com head-a;
		.example.org dot;
		www.example.* tail;
		www.example.co.* tail-co;
		\default literal-default;
		~^(?<first>[a-z]+)\.re\.net$ re:$1:$first;
		~*^UP upper;
		~^up second-regex;
		~^var- var:$host;
	`
	tests := []struct{ in, want string }{
		{"example.com", "exact"},
		{"EXAMPLE.Com", "exact"},
		{"example.com.", "exact"}, // trailing dot dropped with hostnames
		{"www.example.com", "head"},
		{"x.a.example.com", "head-a"},
		{"a.example.com", "head"},
		{"example.org", "dot"},
		{"deep.sub.example.org", "dot"},
		{"www.example.net", "tail"},
		{"www.example.co.uk", "tail-co"},
		{"www.example", "def"},
		{"default", "literal-default"},
		{"abc.re.net", "re:abc:abc"},
		{"upper", "upper"}, // first regex in order wins
		{"UPPER", "upper"},
		{"var-1", "var:h.test"},
		{"nothing", "def"},
		{"", "def"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			tab := newTable(t)
			must(t, tab.AddMap(MapSpec{Source: "$arg_h", Variable: "$m", Lines: lines(block)}))
			r := newReq("host", "h.test")
			r.args.Set("h", tc.in)
			if got := eval(t, tab, "$m", r); got != tc.want {
				t.Errorf("map(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMapWithoutHostnames(t *testing.T) {
	tab := newTable(t)
	must(t, tab.AddMap(MapSpec{Source: "$arg_h", Variable: "$m", Lines: lines(`
		*.example.com star; example.com. dot; Key upper;`)}))
	for in, want := range map[string]string{
		"*.example.com": "star", "www.example.com": "", "example.com.": "dot",
		"example.com": "", "key": "upper", "KEY": "upper",
	} {
		r := newReq()
		r.args.Set("h", in)
		if got := eval(t, tab, "$m", r); got != want {
			t.Errorf("map(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMapErrors(t *testing.T) {
	tests := []struct{ spec, msg string }{
		{"a 1; A 2;", `conflicting parameter "A"`},
		{"a 1; a 1;", `conflicting parameter "a"`},
		{"hostnames; *.a.com 1; .a.com 2;", `conflicting parameter ".a.com"`},
		{"hostnames; a.com 1; .a.com 2;", `conflicting parameter ".a.com"`},
		{"hostnames; *a.com 1;", `invalid hostname or wildcard "*a.com"`},
		{"hostnames; *.a.* 1;", `invalid hostname or wildcard "*.a.*"`},
		{"default 1; default 2;", "duplicate default map parameter"},
		{"a b c;", "invalid number of the map parameters"},
		{"a $nosuch;", `unknown "nosuch" variable`},
		{"~(unclosed x;", `invalid regular expression "(unclosed": missing closing ) at "(unclosed"`},
		{"a ${x;", `the closing bracket in "x" variable is missing`},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			tab := newTable(t)
			err := tab.AddMap(MapSpec{Source: "$host", Variable: "$m", Lines: lines(tc.spec)})
			if err == nil {
				err = tab.Freeze()
			}
			checkErr(t, err, tc.msg)
		})
	}
	tab := newTable(t)
	checkErr(t, tab.AddMap(MapSpec{Source: "$host", Variable: "$remote_addr"}), `the duplicate "remote_addr" variable`)
	checkErr(t, tab.AddMap(MapSpec{Source: "$host", Variable: "m"}), `invalid variable name "m"`)
}

func TestMapCachingAndVolatile(t *testing.T) {
	for _, volatile := range []bool{false, true} {
		tab := newTable(t)
		spec := "default $counted;"
		if volatile {
			spec += "volatile;"
		}
		must(t, tab.AddMap(MapSpec{Source: "$host", Variable: "$m", Lines: lines(spec)}))
		tp := tab.MustCompile("$m$m$m")
		must(t, tab.Freeze())
		r := newReq("counted", "c")
		if got := string(tp.Append(nil, r)); got != "ccc" {
			t.Fatalf("got %q", got)
		}
		want := 1
		if volatile {
			want = 3
		}
		if tab.calls["counted"] != want {
			t.Errorf("volatile=%v: source evaluated %d times, want %d", volatile, tab.calls["counted"], want)
		}
		r.st.Reset()
		tp.Append(nil, r)
		if tab.calls["counted"] != 2*want {
			t.Errorf("volatile=%v: after Reset evaluated %d times, want %d", volatile, tab.calls["counted"], 2*want)
		}
	}
}

func TestMapChainsAndCycles(t *testing.T) {
	tab := newTable(t)
	must(t, tab.AddMap(MapSpec{Source: "$host", Variable: "$a", Lines: lines("default [$host];")}))
	must(t, tab.AddMap(MapSpec{Source: "$a", Variable: "$b", Lines: lines("default x; ~^\\[(.*)\\]$ inner:$1;")}))
	must(t, tab.AddMap(MapSpec{Source: "$host", Variable: "$loop", Lines: lines("default <$loop>;")}))
	if got := eval(t, tab, "$b", newReq("host", "h")); got != "inner:h" {
		t.Fatalf("chained map gave %q", got)
	}
	// A cycle is cut at nginx's variable depth instead of recursing forever.
	got := eval(t, tab, "$loop", newReq("host", "h"))
	if len(got) != 2*maxDepth || got[0] != '<' {
		t.Fatalf("cycle evaluation gave %d bytes: %.20q", len(got), got)
	}
}

func TestMapSetOverrides(t *testing.T) {
	tab := newTable(t)
	must(t, tab.AddMap(MapSpec{Source: "$host", Variable: "$m", Lines: lines("default d;")}))
	v, err := tab.Settable("m", "")
	must(t, err)
	must(t, tab.Freeze())
	r := newReq("host", "h")
	tab.Set(r, v, []byte("set"))
	if got := eval(t, tab, "$m", r); got != "set" {
		t.Fatalf("got %q", got)
	}
}
