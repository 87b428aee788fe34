package vars

import (
	"strings"
)

// Escape is the escaping a log format applies to variable values.
type Escape uint8

const (
	// EscapeDefault writes '"', '\\', bytes below 0x20 and bytes from 0x7f
	// as \xXX, and a variable with no value as "-".
	EscapeDefault Escape = iota
	// EscapeJSON escapes as a JSON string body; a variable with no value
	// writes nothing.
	EscapeJSON
	// EscapeNone writes values as they are; a variable with no value writes
	// nothing.
	EscapeNone
)

// String returns the escape= keyword.
func (e Escape) String() string {
	switch e {
	case EscapeJSON:
		return "json"
	case EscapeNone:
		return "none"
	}
	return "default"
}

// CombinedFormat is the text of the "combined" format that nginx's http
// module predefines.
const CombinedFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

type logOp struct {
	lit string
	v   Var
	isV bool
}

// LogFormat is a compiled log_format. It is immutable and safe for
// concurrent use once its Table is frozen.
type LogFormat[T Context] struct {
	tab    *Table[T]
	name   string
	escape Escape
	ops    []logOp
}

// CompileLogFormat compiles the strings of a log_format directive (the
// arguments after the name, optionally starting with escape=...). The
// strings are concatenated as nginx does. Unlike complex values, "$1" here
// names a variable called "1", as in nginx.
func (t *Table[T]) CompileLogFormat(name string, args []string, pos string) (*LogFormat[T], error) {
	f := &LogFormat[T]{tab: t, name: name}
	if len(args) > 0 && strings.HasPrefix(args[0], "escape=") {
		switch args[0][len("escape="):] {
		case "json":
			f.escape = EscapeJSON
		case "none":
			f.escape = EscapeNone
		case "default":
		default:
			return nil, errorf(pos, "unknown log format escaping \"%s\"", args[0][len("escape="):])
		}
		args = args[1:]
	}
	for _, s := range args {
		i := 0
		for i < len(s) {
			if s[i] != '$' {
				j := strings.IndexByte(s[i:], '$')
				if j < 0 {
					j = len(s) - i
				}
				f.addLiteral(s[i : i+j])
				i += j
				continue
			}
			vname, next, bad, unclosed := scanVar(s, i+1)
			if unclosed {
				return nil, errorf(pos, "the closing bracket in \"%s\" variable is missing", vname)
			}
			if bad {
				return nil, errorf(pos, "invalid parameter \"%s\"", s[i:])
			}
			v, err := t.Ref(vname, pos)
			if err != nil {
				return nil, err
			}
			f.ops = append(f.ops, logOp{v: v, isV: true})
			i = next
		}
	}
	return f, nil
}

func (f *LogFormat[T]) addLiteral(s string) {
	if n := len(f.ops); n > 0 && !f.ops[n-1].isV {
		f.ops[n-1].lit += s
		return
	}
	f.ops = append(f.ops, logOp{lit: s})
}

// Name returns the format's name.
func (f *LogFormat[T]) Name() string { return f.name }

// Escaping returns the format's escape= mode.
func (f *LogFormat[T]) Escaping() Escape { return f.escape }

// Append appends one log line for ctx to dst, without the trailing newline.
func (f *LogFormat[T]) Append(dst []byte, ctx T) []byte {
	for i := range f.ops {
		op := &f.ops[i]
		if !op.isV {
			dst = append(dst, op.lit...)
			continue
		}
		start := len(dst)
		var ok bool
		dst, ok = f.tab.get(dst, ctx, op.v)
		if !ok {
			dst = dst[:start]
			if f.escape == EscapeDefault {
				dst = append(dst, '-')
			}
			continue
		}
		switch f.escape {
		case EscapeDefault:
			dst = escapeDefaultTail(dst, start)
		case EscapeJSON:
			dst = escapeJSONTail(dst, start)
		}
	}
	return dst
}

// AppendLine is Append followed by a newline.
func (f *LogFormat[T]) AppendLine(dst []byte, ctx T) []byte {
	return append(f.Append(dst, ctx), '\n')
}

// needsDefaultEscape reports the bytes nginx's access log escapes.
func needsDefaultEscape(c byte) bool {
	return c < 0x20 || c >= 0x7f || c == '"' || c == '\\'
}

const upperHex = "0123456789ABCDEF"

// escapeDefaultTail escapes dst[start:] in place as nginx's access log does.
func escapeDefaultTail(dst []byte, start int) []byte {
	n := 0
	for _, c := range dst[start:] {
		if needsDefaultEscape(c) {
			n++
		}
	}
	if n == 0 {
		return dst
	}
	old := len(dst)
	dst = grow(dst, 3*n)
	w := len(dst)
	for r := old - 1; r >= start; r-- {
		c := dst[r]
		if needsDefaultEscape(c) {
			w -= 4
			dst[w], dst[w+1], dst[w+2], dst[w+3] = '\\', 'x', upperHex[c>>4], upperHex[c&0xf]
		} else {
			w--
			dst[w] = c
		}
	}
	return dst
}

// AppendEscapeDefault appends s escaped as escape=default does.
func AppendEscapeDefault(dst, s []byte) []byte {
	start := len(dst)
	return escapeDefaultTail(append(dst, s...), start)
}

// AppendEscapeJSON appends s escaped as escape=json does: '"' and '\\' get a
// backslash, \n \r \t \b \f their short forms, other bytes below 0x20
// \u00XX; everything else, including bytes from 0x7f, is copied.
func AppendEscapeJSON(dst, s []byte) []byte {
	start := len(dst)
	return escapeJSONTail(append(dst, s...), start)
}

func jsonExtra(c byte) int {
	switch {
	case c == '"' || c == '\\':
		return 1
	case c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
		return 1
	case c < 0x20:
		return 5
	}
	return 0
}

func escapeJSONTail(dst []byte, start int) []byte {
	n := 0
	for _, c := range dst[start:] {
		n += jsonExtra(c)
	}
	if n == 0 {
		return dst
	}
	old := len(dst)
	dst = grow(dst, n)
	w := len(dst)
	for r := old - 1; r >= start; r-- {
		c := dst[r]
		switch jsonExtra(c) {
		case 0:
			w--
			dst[w] = c
		case 1:
			w -= 2
			dst[w] = '\\'
			switch c {
			case '\n':
				dst[w+1] = 'n'
			case '\r':
				dst[w+1] = 'r'
			case '\t':
				dst[w+1] = 't'
			case '\b':
				dst[w+1] = 'b'
			case '\f':
				dst[w+1] = 'f'
			default:
				dst[w+1] = c
			}
		default:
			w -= 6
			dst[w], dst[w+1], dst[w+2], dst[w+3] = '\\', 'u', '0', '0'
			dst[w+4], dst[w+5] = upperHex[c>>4], upperHex[c&0xf]
		}
	}
	return dst
}

// grow extends dst by n bytes (contents of the new bytes unspecified).
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst[:len(dst)+n]
	}
	nb := make([]byte, len(dst)+n, 2*cap(dst)+n)
	copy(nb, dst)
	return nb
}

// LogFormats is the set of log_format definitions of one proxy (the http or
// the stream side). Names are unique ("duplicate "log_format" name") and
// looked up without regard to case (the first match wins), as nginx does. The zero value is not
// usable; create it with NewLogFormats. Not safe for concurrent use while
// being built; read-only afterwards.
type LogFormats[T Context] struct {
	tab      *Table[T]
	list     []*LogFormat[T]
	combined bool
	comb     *LogFormat[T]
}

// NewLogFormats returns an empty set for tab. With combined set (the http
// proxy), the name "combined" is predefined with CombinedFormat and is
// compiled the first time it is looked up, as nginx compiles it only when an
// access_log uses it. The stream proxy predefines nothing: its access_log
// must name a format.
func NewLogFormats[T Context](tab *Table[T], combined bool) *LogFormats[T] {
	return &LogFormats[T]{tab: tab, combined: combined}
}

// Add compiles one log_format directive: args are its arguments (name, an
// optional escape=, then the strings).
func (s *LogFormats[T]) Add(args []string, pos string) error {
	if len(args) < 2 {
		return errorf(pos, "invalid number of arguments in \"log_format\" directive")
	}
	name := args[0]
	dup := s.combined && name == "combined"
	for _, f := range s.list {
		dup = dup || f.name == name
	}
	if dup {
		return errorf(pos, "duplicate \"log_format\" name \"%s\"", name)
	}
	f, err := s.tab.CompileLogFormat(name, args[1:], pos)
	if err != nil {
		return err
	}
	s.list = append(s.list, f)
	return nil
}

// Lookup returns the format called name (case-insensitive). pos is used in
// the error of an unknown name: unknown log format "x".
func (s *LogFormats[T]) Lookup(name, pos string) (*LogFormat[T], error) {
	if s.combined && strings.EqualFold(name, "combined") {
		if s.comb == nil {
			f, err := s.tab.CompileLogFormat("combined", []string{CombinedFormat}, pos)
			if err != nil {
				return nil, err
			}
			s.comb = f
		}
		return s.comb, nil
	}
	for _, f := range s.list {
		if strings.EqualFold(f.name, name) {
			return f, nil
		}
	}
	return nil, errorf(pos, "unknown log format \"%s\"", name)
}
