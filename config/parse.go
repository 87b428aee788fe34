package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Directive is one node of a parsed configuration: a simple directive
// (`name args;`) or a block (`name args { ... }`). Every node carries the file
// and line where nginx would report an error about it: the line of the `;` or
// `{` that ends it.
type Directive struct {
	Name   string
	Args   []string
	Quoted []bool // Quoted[i] reports whether Args[i] was written in quotes
	// Block holds the children of a block directive; it is nil for a simple
	// directive and non-nil (possibly empty) for a block.
	Block   []*Directive
	File    string
	Line    int
	EndLine int // line of the closing "}" of a block

	// partial marks a block whose end was not reached because of a parse
	// error; it is compiled only to find errors that come before it.
	partial bool
}

// IsBlock reports whether d was written with a { ... } block.
func (d *Directive) IsBlock() bool { return d.Block != nil }

// Pos returns "file:line" for d.
func (d *Directive) Pos() string { return fmt.Sprintf("%s:%d", d.File, d.Line) }

// SourceFile is one configuration file read while parsing, kept for -T.
type SourceFile struct {
	Name    string
	Content []byte
}

// Error is a configuration error positioned at a file and line. Its text
// follows nginx: `unknown directive "x" in /etc/sluice/sluice.conf:12`.
type Error struct {
	Msg  string
	File string // empty for errors not tied to a file
	Line int
}

func (e *Error) Error() string {
	if e.File == "" {
		return e.Msg
	}
	if e.File == cmdline {
		return e.Msg + " in command line"
	}
	return fmt.Sprintf("%s in %s:%d", e.Msg, e.File, e.Line)
}

// cmdline is the pseudo file name of directives given with -g.
const cmdline = "command line"

func errorf(file string, line int, format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...), File: file, Line: line}
}

// token kinds
const (
	tokWord = iota
	tokSemi
	tokOpen
	tokClose
	tokEOF
)

type token struct {
	kind   int
	text   string
	quoted bool
	line   int
}

// lexer splits a configuration file into tokens following nginx's
// ngx_conf_read_token: words end at whitespace, ";" or "{"; "#" starts a
// comment only where a token could start; quotes start only where a token
// could start and must be followed by whitespace, ";", "{" or ")"; a
// backslash escapes the next character; "${" does not end a word.
type lexer struct {
	file  string
	src   []byte
	pos   int
	line  int
	param bool // reading -g directives: no blocks, nginx's "end of parameter" wording
}

// eofError is the error for an end of input in the middle of a directive.
func (l *lexer) eofError() *Error {
	if l.param {
		return errorf(l.file, l.line, `unexpected end of parameter, expecting ";"`)
	}
	return errorf(l.file, l.line, `unexpected end of file, expecting ";" or "}"`)
}

func (l *lexer) next() (token, *Error) {
	// skip whitespace and comments
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case '\n':
			l.line++
			l.pos++
			continue
		case ' ', '\t', '\r':
			l.pos++
			continue
		case '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
			continue
		}
		break
	}
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, line: l.line}, nil
	}
	c := l.src[l.pos]
	switch c {
	case ';':
		l.pos++
		return token{kind: tokSemi, line: l.line}, nil
	case '{':
		l.pos++
		return token{kind: tokOpen, line: l.line}, nil
	case '}':
		l.pos++
		return token{kind: tokClose, line: l.line}, nil
	case '"', '\'':
		return l.quoted(c)
	}
	start := l.pos
	variable := false
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == '\\' {
			if l.pos+1 < len(l.src) && l.src[l.pos+1] == '\n' {
				l.line++
			}
			l.pos += 2
			variable = false
			continue
		}
		if c == '{' && variable {
			// "${" does not end a word; nginx keeps the "$" state, so
			// "${{" does not end it either.
			l.pos++
			continue
		}
		variable = c == '$'
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '{' {
			break
		}
		l.pos++
	}
	if l.pos > len(l.src) {
		l.pos = len(l.src)
	}
	return token{kind: tokWord, text: unescape(l.src[start:l.pos]), line: l.line}, nil
}

func (l *lexer) quoted(q byte) (token, *Error) {
	l.pos++ // opening quote
	start := l.pos
	for {
		if l.pos >= len(l.src) {
			return token{}, l.eofError()
		}
		c := l.src[l.pos]
		if c == '\n' {
			l.line++
		}
		if c == '\\' {
			if l.pos+1 < len(l.src) && l.src[l.pos+1] == '\n' {
				l.line++
			}
			l.pos += 2
			continue
		}
		if c == q {
			break
		}
		l.pos++
	}
	text := unescape(l.src[start:l.pos])
	l.pos++ // closing quote
	if l.pos < len(l.src) {
		switch c := l.src[l.pos]; c {
		case ' ', '\t', '\r', '\n', ';', '{':
		case ')':
			// A ")" may directly follow a quoted word (it closes an
			// "if" condition); it starts the next word, as in nginx.
		default:
			return token{}, errorf(l.file, l.line, `unexpected "%s"`, []byte{c})
		}
	}
	return token{kind: tokWord, text: text, quoted: true, line: l.line}, nil
}

// unescape applies nginx's escape rules: \" \' and \\ stand for the
// character, \t \r \n for tab, CR and LF; any other backslash is kept.
func unescape(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			switch b[i+1] {
			case '"', '\'', '\\':
				sb.WriteByte(b[i+1])
				i++
				continue
			case 't':
				sb.WriteByte('\t')
				i++
				continue
			case 'r':
				sb.WriteByte('\r')
				i++
				continue
			case 'n':
				sb.WriteByte('\n')
				i++
				continue
			}
		}
		sb.WriteByte(b[i])
	}
	return sb.String()
}

// parser turns files into a tree of Directives, expanding include as nginx
// does: relative paths are taken from the directory of the main file, glob
// patterns are expanded in sorted order and may match nothing, a plain path
// must exist. On an error it still returns what it parsed before the error
// (blocks left open are marked partial), so that Load can report an earlier
// directive error first, as nginx, which handles each directive as soon as
// it is read, does.
type parser struct {
	confPrefix string
	files      []SourceFile
	stack      []string // files being read, outermost first
	reads      int      // files read so far
	readFile   func(string) ([]byte, error)
	glob       func(string) ([]string, error)
}

const (
	// maxIncludeDepth bounds include nesting. nginx has no bound (an
	// include loop crashes it); sluice refuses loops and deep nesting.
	maxIncludeDepth = 64
	// maxFiles bounds the number of files read for one configuration, so
	// that globs including each other cannot make the work explode.
	maxFiles = 10000
)

func newParser(confPrefix string, readFile func(string) ([]byte, error)) *parser {
	return &parser{confPrefix: confPrefix, readFile: readFile, glob: cGlob}
}

// parseFile reads and parses one file. fromFile and fromLine name the
// include directive that asked for it, if any.
func (p *parser) parseFile(name, fromFile string, fromLine int) ([]*Directive, *Error) {
	for _, f := range p.stack {
		if f == name {
			return nil, errorf(fromFile, fromLine, `recursive include of "%s"`, name)
		}
	}
	if len(p.stack) > maxIncludeDepth {
		return nil, errorf(fromFile, fromLine, "too many nested includes")
	}
	if p.reads >= maxFiles {
		return nil, errorf(fromFile, fromLine, "too many included files (more than %d)", maxFiles)
	}
	p.reads++
	data, err := p.readFile(name)
	if err != nil {
		if errors.Is(err, syscall.EISDIR) {
			// nginx opens a directory, then fails to read it and
			// reports the read without a position.
			return nil, &Error{Msg: fmt.Sprintf(`pread() "%s" failed (%s)`, name, errnoText(err))}
		}
		msg := fmt.Sprintf(`open() "%s" failed (%s)`, name, errnoText(err))
		if fromFile == "" {
			return nil, &Error{Msg: msg}
		}
		return nil, errorf(fromFile, fromLine, "%s", msg)
	}
	p.files = append(p.files, SourceFile{Name: name, Content: data})
	p.stack = append(p.stack, name)
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	l := &lexer{file: name, src: data, line: 1}
	return p.block(l, false)
}

// block parses directives until "}" (inBlock) or the end of the input.
func (p *parser) block(l *lexer, inBlock bool) ([]*Directive, *Error) {
	list := []*Directive{}
	for {
		var args []string
		var quoted []bool
		for {
			t, err := l.next()
			if err != nil {
				return list, err
			}
			switch t.kind {
			case tokWord:
				args = append(args, t.text)
				quoted = append(quoted, t.quoted)
				continue
			case tokEOF:
				if len(args) > 0 {
					return list, l.eofError()
				}
				if inBlock {
					return list, errorf(l.file, t.line, `unexpected end of file, expecting "}"`)
				}
				return list, nil
			case tokClose:
				if len(args) > 0 || !inBlock {
					return list, errorf(l.file, t.line, `unexpected "}"`)
				}
				return list, nil
			case tokSemi:
				if len(args) == 0 {
					return list, errorf(l.file, t.line, `unexpected ";"`)
				}
				d := &Directive{Name: args[0], Args: args[1:], Quoted: quoted[1:], File: l.file, Line: t.line}
				if d.Name != "include" {
					list = append(list, d)
					break
				}
				inc, err := p.include(d)
				list = append(list, inc...)
				if err != nil {
					return list, err
				}
			case tokOpen:
				if len(args) == 0 {
					return list, errorf(l.file, t.line, `unexpected "{"`)
				}
				if l.param {
					return list, errorf(l.file, t.line, "block directives are not supported in -g option")
				}
				d := &Directive{Name: args[0], Args: args[1:], Quoted: quoted[1:], File: l.file, Line: t.line}
				if d.Name == "include" {
					return list, errorf(l.file, t.line, `directive "include" is not terminated by ";"`)
				}
				children, err := p.block(l, true)
				d.Block = children
				d.EndLine = l.line
				list = append(list, d)
				if err != nil {
					d.partial = true
					return list, err
				}
			}
			break
		}
	}
}

func (p *parser) include(d *Directive) ([]*Directive, *Error) {
	if len(d.Args) != 1 {
		return nil, errorf(d.File, d.Line, `invalid number of arguments in "include" directive`)
	}
	name := d.Args[0]
	if !filepath.IsAbs(name) {
		name = filepath.Join(p.confPrefix, name)
	}
	if !strings.ContainsAny(name, "*?[") {
		return p.parseFile(name, d.File, d.Line)
	}
	matches, err := p.glob(name)
	if err != nil {
		return nil, errorf(d.File, d.Line, `glob() "%s" failed (%s)`, name, errnoText(err))
	}
	var out []*Directive
	for _, m := range matches {
		list, err := p.parseFile(m, d.File, d.Line)
		out = append(out, list...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// cGlob expands pattern as the C library's glob(3) does for nginx: a name
// starting with "." is matched only by a pattern component starting with
// "."; a "[" without its "]" stands for itself; directories are matched
// like files; the result is sorted bytewise; no match is not an error.
func cGlob(pattern string) ([]string, error) {
	paths := []string{""}
	if strings.HasPrefix(pattern, "/") {
		paths = []string{"/"}
	}
	parts := strings.Split(pattern, "/")
	literalTail := false
	for _, part := range parts {
		if part == "" {
			continue
		}
		var next []string
		if !strings.ContainsAny(part, "*?[") {
			for _, p := range paths {
				next = append(next, p+part+"/")
			}
			paths = next
			literalTail = true
			continue
		}
		literalTail = false
		for _, p := range paths {
			dir := p
			if dir == "" {
				dir = "."
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				continue // not a directory, or unreadable: no match below it
			}
			for _, e := range entries {
				name := e.Name()
				if name[0] == '.' && part[0] != '.' {
					continue
				}
				ok, err := filepath.Match(part, name)
				if err != nil {
					ok, _ = filepath.Match(escapeOpenBrackets(part), name)
				}
				if ok {
					next = append(next, p+name+"/")
				}
			}
		}
		paths = next
	}
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		p = strings.TrimSuffix(p, "/")
		if p == "" {
			p = "/"
		}
		if literalTail {
			if _, err := os.Lstat(p); err != nil {
				continue
			}
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

// escapeOpenBrackets escapes each "[" that has no "]" after it: glob(3)
// takes such a "[" as itself, where filepath.Match refuses the pattern.
func escapeOpenBrackets(pattern string) string {
	var sb strings.Builder
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '[' && !strings.Contains(pattern[i+1:], "]") {
			sb.WriteString(`\[`)
			continue
		}
		sb.WriteByte(pattern[i])
	}
	return sb.String()
}

// errnoText renders an OS error the way nginx does: "2: No such file or directory".
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		text := errno.Error()
		if text != "" {
			text = strings.ToUpper(text[:1]) + text[1:]
		}
		return fmt.Sprintf("%d: %s", int(errno), text)
	}
	return err.Error()
}
