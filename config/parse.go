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
	file string
	src  []byte
	pos  int
	line int
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
			l.pos++
			variable = false
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
			return token{}, errorf(l.file, l.line, `unexpected end of file, expecting ";" or "}"`)
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
			// nginx drops a ")" that directly follows a quoted word
			// (it closes an "if" condition).
			l.pos++
		default:
			return token{}, errorf(l.file, l.line, "unexpected %q", string(c))
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
// must exist.
type parser struct {
	confPrefix string
	files      []SourceFile
	depth      int
	readFile   func(string) ([]byte, error)
}

const maxIncludeDepth = 64

func (p *parser) parseFile(name string) ([]*Directive, *Error) {
	return p.parseFileFrom(name, "", 0)
}

func (p *parser) parseFileFrom(name, fromFile string, fromLine int) ([]*Directive, *Error) {
	data, err := p.readFile(name)
	if err != nil {
		msg := fmt.Sprintf("open() %q failed (%s)", name, errnoText(err))
		if fromFile == "" {
			return nil, &Error{Msg: msg}
		}
		return nil, errorf(fromFile, fromLine, "%s", msg)
	}
	p.files = append(p.files, SourceFile{Name: name, Content: data})
	return p.parseBytes(name, data)
}

func (p *parser) parseBytes(name string, data []byte) ([]*Directive, *Error) {
	l := &lexer{file: name, src: data, line: 1}
	return p.block(l, false)
}

// block parses directives until "}" (inBlock) or end of file.
func (p *parser) block(l *lexer, inBlock bool) ([]*Directive, *Error) {
	list := []*Directive{}
	for {
		var args []string
		var quoted []bool
		for {
			t, err := l.next()
			if err != nil {
				return nil, err
			}
			switch t.kind {
			case tokWord:
				args = append(args, t.text)
				quoted = append(quoted, t.quoted)
				continue
			case tokEOF:
				if len(args) > 0 {
					return nil, errorf(l.file, t.line, `unexpected end of file, expecting ";" or "}"`)
				}
				if inBlock {
					return nil, errorf(l.file, t.line, `unexpected end of file, expecting "}"`)
				}
				return list, nil
			case tokClose:
				if len(args) > 0 {
					return nil, errorf(l.file, t.line, `unexpected "}"`)
				}
				if !inBlock {
					return nil, errorf(l.file, t.line, `unexpected "}"`)
				}
				return list, nil
			case tokSemi:
				if len(args) == 0 {
					return nil, errorf(l.file, t.line, `unexpected ";"`)
				}
				d := &Directive{Name: args[0], Args: args[1:], Quoted: quoted[1:], File: l.file, Line: t.line}
				if d.Name == "include" {
					inc, err := p.include(d)
					if err != nil {
						return nil, err
					}
					list = append(list, inc...)
				} else {
					list = append(list, d)
				}
			case tokOpen:
				if len(args) == 0 {
					return nil, errorf(l.file, t.line, `unexpected "{"`)
				}
				d := &Directive{Name: args[0], Args: args[1:], Quoted: quoted[1:], File: l.file, Line: t.line}
				children, err := p.block(l, true)
				if err != nil {
					return nil, err
				}
				d.Block = children
				d.EndLine = l.line
				list = append(list, d)
			}
			break
		}
	}
}

func (p *parser) include(d *Directive) ([]*Directive, *Error) {
	if len(d.Args) != 1 {
		return nil, errorf(d.File, d.Line, `invalid number of arguments in "include" directive`)
	}
	if p.depth >= maxIncludeDepth {
		return nil, errorf(d.File, d.Line, "too many nested includes")
	}
	name := d.Args[0]
	if !filepath.IsAbs(name) {
		name = filepath.Join(p.confPrefix, name)
	}
	p.depth++
	defer func() { p.depth-- }()
	if !strings.ContainsAny(name, "*?[") {
		return p.parseFileFrom(name, d.File, d.Line)
	}
	matches, err := filepath.Glob(name)
	if err != nil {
		return nil, errorf(d.File, d.Line, "glob() %q failed (%v)", name, err)
	}
	sort.Strings(matches)
	var out []*Directive
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			continue // nginx skips directories matched by a glob
		}
		list, err := p.parseFileFrom(m, d.File, d.Line)
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	return out, nil
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
