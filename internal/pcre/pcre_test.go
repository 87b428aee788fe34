package pcre

import (
	"reflect"
	"strings"
	"testing"
)

// TestEngines: RE2 takes what it can; look-around and back-references go
// to the backtracking engine, which matches as PCRE does.
func TestEngines(t *testing.T) {
	for _, c := range []struct {
		pat      string
		caseless bool
		re2      bool
		yes, no  []string
	}{
		{`^/api/(\d+)$`, false, true, []string{"/api/12"}, []string{"/api/x"}},
		{`/\.(?!well-known)`, false, false, []string{"/.git/config", "/a/.htaccess"}, []string{"/.well-known/acme", "/x"}},
		{`MSIE [1-6].(?!.*SV1)`, true, false, []string{"Mozilla/4.0 (compatible; msie 6.0; Windows NT 5.1)"}, []string{"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", "Firefox"}},
		{`(?<=/v)\d+`, false, false, []string{"/v2/x"}, []string{"/x2"}},
		{`^/(\w+)/\1$`, false, false, []string{"/ab/ab"}, []string{"/ab/cd"}},
		{`^/A(?=b)`, true, false, []string{"/aB"}, []string{"/ac"}},
	} {
		re, err := Compile(c.pat, c.caseless)
		if err != nil {
			t.Fatalf("%s: %v", c.pat, err)
		}
		if (re.re2 != nil) != c.re2 {
			t.Errorf("%s: RE2 %v, want %v", c.pat, re.re2 != nil, c.re2)
		}
		for _, s := range c.yes {
			if !re.MatchString(s) || !re.Match([]byte(s)) {
				t.Errorf("%s does not match %q", c.pat, s)
			}
		}
		for _, s := range c.no {
			if re.MatchString(s) {
				t.Errorf("%s matches %q", c.pat, s)
			}
		}
	}
}

// TestGroups: groups are numbered in the order of their parentheses,
// named or not, on both engines, with byte offsets in UTF-8 text.
func TestGroups(t *testing.T) {
	for _, pat := range []string{
		`(?<a>é+)(x)(?P<b>y)?z`,          // RE2
		`(?<a>é+)(x)(?P<b>y)?z(?!q)`,     // backtracking
		`(?'a'é+)(x)(?<b>y)?z(?=$|[^q])`, // backtracking, Perl's quotes
	} {
		re, err := Compile(pat, false)
		if err != nil {
			t.Fatalf("%s: %v", pat, err)
		}
		if got := re.SubexpNames(); !reflect.DeepEqual(got, []string{"", "a", "", "b"}) || re.NumSubexp() != 3 {
			t.Errorf("%s: names %q", pat, got)
		}
		s := "--ééxz"
		idx := re.FindStringSubmatchIndex(s)
		if want := []int{2, 8, 2, 6, 6, 7, -1, -1}; !reflect.DeepEqual(idx, want) {
			t.Errorf("%s: index %v, want %v", pat, idx, want)
		}
		if got := re.FindSubmatchIndex([]byte(s)); !reflect.DeepEqual(got, idx) {
			t.Errorf("%s: byte index %v", pat, got)
		}
		if got := re.FindStringSubmatch(s); !reflect.DeepEqual(got, []string{"ééxz", "éé", "x", ""}) {
			t.Errorf("%s: submatches %q", pat, got)
		}
		if re.FindStringSubmatch("nothing") != nil || re.FindStringSubmatchIndex("nothing") != nil {
			t.Errorf("%s: a match in %q", pat, "nothing")
		}
	}
}

// TestErrors: what neither engine compiles is refused in RE2's words,
// about the pattern as written (without the (?i) of ~*).
func TestErrors(t *testing.T) {
	for _, c := range []struct{ pat, want string }{
		{`(a`, `missing closing ) at "(a"`},
		{`(?<=a b`, `invalid named capture at "(?<=a b"`},
		{`a**`, `invalid nested repetition operator at "**"`},
	} {
		_, err := Compile(c.pat, true)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: %v, want %q", c.pat, err, c.want)
		}
	}
}

// TestUnname covers what the group rewriting skips: classes, escapes and
// non-capturing groups.
func TestUnname(t *testing.T) {
	plain, names, ok := unname(`[(?<x>]\((?:a)(?<n>b)(?i:c)(?=d)(?<!e)(?>f)[]()]`)
	if !ok || plain != `[(?<x>]\((?:a)(b)(?i:c)(?=d)(?<!e)(?>f)[]()]` || strings.Join(names, ",") != ",n" {
		t.Errorf("unname: %q %q %v", plain, names, ok)
	}
	if _, _, ok := unname(`(?<n>a)\k<n>`); ok {
		t.Error("a reference by name was rewritten")
	}
}
