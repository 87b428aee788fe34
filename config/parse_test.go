package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestLexerWords checks how text splits into directives and arguments.
func TestLexerWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [][]string // each directive's name and arguments
	}{
		{`a b c;`, [][]string{{"a", "b", "c"}}},
		{`a "b c" 'd e';`, [][]string{{"a", "b c", "d e"}}},
		{`a "x")y;`, [][]string{{"a", "x", ")y"}}},
		{`a "x") ;`, [][]string{{"a", "x", ")"}}},
		{`a ${{b};`, [][]string{{"a", "${{b}"}}},
		{`a ${b}c;`, [][]string{{"a", "${b}c"}}},
		{`a b#c;`, [][]string{{"a", "b#c"}}},
		{"a b #c;\n;", [][]string{{"a", "b"}}},
		{`a b}c;`, [][]string{{"a", "b}c"}}},
		{`a \;b;`, [][]string{{"a", `\;b`}}},
		{`a "\"\'\\\t\r\n\x";`, [][]string{{"a", "\"'\\\t\r\n\\x"}}},
		{`a '"';`, [][]string{{"a", `"`}}},
		{`a "";`, [][]string{{"a", ""}}},
		{"a\r\nb;c;", [][]string{{"a", "b"}, {"c"}}},
	} {
		l := &lexer{file: "t", src: []byte(tc.in), line: 1}
		p := newParser("/", func(string) ([]byte, error) { return nil, os.ErrNotExist })
		list, err := p.block(l, false)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var got [][]string
		for _, d := range list {
			got = append(got, append([]string{d.Name}, d.Args...))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestLexerLines checks the line each directive is reported at: the line
// of the ";" or "{" that ends it.
func TestLexerLines(t *testing.T) {
	src := "a\nb\n;\nc \"x\ny\" {\n}\nd\\\ne;\n"
	l := &lexer{file: "t", src: []byte(src), line: 1}
	p := newParser("/", nil)
	list, err := p.block(l, false)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, d := range list {
		lines = append(lines, d.Line)
	}
	if want := []int{3, 5, 8}; !reflect.DeepEqual(lines, want) {
		t.Errorf("lines %v, want %v", lines, want)
	}
	if list[1].EndLine != 6 {
		t.Errorf("block end line %d, want 6", list[1].EndLine)
	}
}

// TestGlob checks include patterns against the C library's glob rules.
func TestGlob(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.conf", "a.conf", ".h.conf", "a[.conf", "x.txt", "sub/c.conf", "sub/.d.conf"} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"*.conf", []string{"a.conf", "a[.conf", "b.conf"}},
		{".*", []string{".h.conf"}},
		{"*", []string{"a.conf", "a[.conf", "b.conf", "sub", "x.txt"}},
		{"?.conf", []string{"a.conf", "b.conf"}},
		{"[ab].conf", []string{"a.conf", "b.conf"}},
		{"a[.conf", []string{"a[.conf"}}, // a "[" without "]" stands for itself
		{"*[.conf", []string{"a[.conf"}},
		{"*/*.conf", []string{"sub/c.conf"}},
		{"*/c.conf", []string{"sub/c.conf"}},
		{"*/missing.conf", nil},
		{"nothing/*", nil},
	} {
		got, err := cGlob(filepath.Join(dir, tc.pattern))
		if err != nil {
			t.Errorf("%s: %v", tc.pattern, err)
			continue
		}
		for i := range got {
			got[i] = strings.TrimPrefix(got[i], dir+"/")
		}
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.pattern, got, tc.want)
		}
	}
}

// TestIgnoredDocumented checks that docs/configuration.md lists every
// directive that is accepted and ignored.
func TestIgnoredDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(doc), "## Directives accepted and ignored")
	if i < 0 {
		t.Fatal("docs/configuration.md has no section on ignored directives")
	}
	section := string(doc[i:])
	for _, ig := range ignored {
		if !strings.Contains(section, "`"+ig.name+"`") && !strings.Contains(section, "`"+ig.name+" { }`") {
			t.Errorf("ignored directive %q is not in docs/configuration.md", ig.name)
		}
	}
}
