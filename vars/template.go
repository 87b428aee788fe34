package vars

import "strings"

type partKind uint8

const (
	partLiteral partKind = iota
	partVar
	partCapture
)

type part struct {
	kind partKind
	n    int8 // capture number
	v    Var
	lit  string
}

// Template is a compiled nginx "complex value": literal text with variables
// ("$name" or "${name}") and, where nginx allows them, regular-expression
// captures $1..$9. It is immutable and safe for concurrent use once its Table
// is frozen.
type Template[T Context] struct {
	tab   *Table[T]
	raw   string
	parts []part
}

// Compile parses src with nginx's rules for complex values and returns the
// template. Variable names are [A-Za-z0-9_]+ or enclosed in braces; "$1" to
// "$9" are captures of the last regular expression that matched. A lone "$"
// or "${}" is refused ("invalid variable name"), as is an unclosed brace
// ("the closing bracket in "x" variable is missing"). Names are resolved when
// the table is frozen. pos ("file:line") is used in error messages.
func (t *Table[T]) Compile(src, pos string) (*Template[T], error) {
	parts, err := t.parse(src, pos, true)
	if err != nil {
		return nil, err
	}
	return &Template[T]{tab: t, raw: src, parts: parts}, nil
}

// MustCompile is Compile that panics on error, for fixed strings in code.
func (t *Table[T]) MustCompile(src string) *Template[T] {
	tp, err := t.Compile(src, "")
	if err != nil {
		panic(err)
	}
	return tp
}

// scanVar reads a variable reference at src[i] (just after '$'). It returns
// the name and the index after the reference. bad is set for nginx's
// "invalid variable name" cases, unclosed for a missing '}'.
func scanVar(src string, i int) (name string, next int, bad, unclosed bool) {
	if i == len(src) {
		return "", i, true, false
	}
	bracket := false
	if src[i] == '{' {
		bracket = true
		i++
		if i == len(src) {
			return "", i, true, false
		}
	}
	start := i
	for i < len(src) {
		c := src[i]
		if c == '}' && bracket {
			name = src[start:i]
			if name == "" {
				return "", i + 1, true, false
			}
			return name, i + 1, false, false
		}
		if !isNameByte(c) {
			break
		}
		i++
	}
	name = src[start:i]
	if bracket {
		return name, i, false, true
	}
	if name == "" {
		return "", i, true, false
	}
	return name, i, false, false
}

func (t *Table[T]) parse(src, pos string, captures bool) ([]part, error) {
	var parts []part
	i := 0
	for i < len(src) {
		if src[i] != '$' {
			j := strings.IndexByte(src[i:], '$')
			if j < 0 {
				j = len(src) - i
			}
			parts = append(parts, part{kind: partLiteral, lit: src[i : i+j]})
			i += j
			continue
		}
		i++
		if captures && i < len(src) && src[i] >= '1' && src[i] <= '9' {
			parts = append(parts, part{kind: partCapture, n: int8(src[i] - '0')})
			i++
			continue
		}
		name, next, bad, unclosed := scanVar(src, i)
		if unclosed {
			return nil, errorf(pos, "the closing bracket in \"%s\" variable is missing", name)
		}
		if bad {
			return nil, errorf(pos, "invalid variable name")
		}
		v, err := t.Ref(name, pos)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part{kind: partVar, v: v})
		i = next
	}
	return parts, nil
}

// Append appends the value of the template for ctx to dst. A variable with no
// value contributes nothing, as in nginx.
func (tp *Template[T]) Append(dst []byte, ctx T) []byte {
	for i := range tp.parts {
		p := &tp.parts[i]
		switch p.kind {
		case partLiteral:
			dst = append(dst, p.lit...)
		case partVar:
			dst, _ = tp.tab.get(dst, ctx, p.v)
		case partCapture:
			dst = append(dst, ctx.VarState().capture(int(p.n))...)
		}
	}
	return dst
}

// String returns the value of the template for ctx. It allocates; prefer
// Append on hot paths.
func (tp *Template[T]) String(ctx T) string {
	if s, ok := tp.Const(); ok {
		return s
	}
	return string(tp.Append(nil, ctx))
}

// Const reports whether the template has no variables and returns its text.
func (tp *Template[T]) Const() (string, bool) {
	switch len(tp.parts) {
	case 0:
		return "", true
	case 1:
		if tp.parts[0].kind == partLiteral {
			return tp.parts[0].lit, true
		}
	}
	return "", false
}

// Raw returns the source text the template was compiled from.
func (tp *Template[T]) Raw() string { return tp.raw }

// Truthy evaluates the template as nginx evaluates an "if=" condition: false
// when the value is empty or "0", true otherwise. scratch is reused for the
// evaluation and returned for reuse.
func (tp *Template[T]) Truthy(ctx T, scratch []byte) (bool, []byte) {
	scratch = tp.Append(scratch[:0], ctx)
	return !(len(scratch) == 0 || len(scratch) == 1 && scratch[0] == '0'), scratch
}
