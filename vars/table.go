package vars

import (
	"errors"
	"fmt"
	"strings"
)

// Context is implemented by the proxy's request or session type. VarState
// returns the per-request State used to cache map results, hold values
// assigned with set and keep regular-expression captures. It must return the
// same non-nil State for the whole life of one request.
type Context interface {
	VarState() *State
}

// Getter appends the value of a variable for ctx to dst and returns the
// extended slice. ok is false when the variable has no value for this request
// (nginx's "not found": an access log prints "-" for it); dst is then returned
// unchanged. A Getter must not retain dst and must be safe for concurrent use
// with different contexts.
type Getter[T any] func(dst []byte, ctx T) (out []byte, ok bool)

// PrefixGetter builds the Getter for one member of a variable family, such as
// $http_user_agent in the $http_* family. It is called once per distinct name
// when the table is frozen, with the part of the name after the prefix
// ("user_agent"), so that any work on the name (case folding, '_' to '-')
// happens at configuration time.
type PrefixGetter[T any] func(suffix string) Getter[T]

// Flags qualify a variable registered with Define.
type Flags uint8

const (
	// Changeable marks a proxy variable that map, geo, split_clients and set
	// may redefine or assign, as nginx's NGX_HTTP_VAR_CHANGEABLE does. Without
	// it, such a configuration is refused: the duplicate "x" variable.
	Changeable Flags = 1 << iota
)

// Var identifies a variable in a Table. It is obtained from Table.Ref or
// Table.Settable and is valid for that table only.
type Var int32

// Error is a configuration error found by this package. Msg is worded as
// nginx words it (for example `unknown "foo" variable`); Pos is the
// "file:line" given by the caller, or empty.
type Error struct {
	Msg string
	Pos string
}

// Error returns "vars: Msg in Pos".
func (e *Error) Error() string { return "vars: " + e.nginx() }

func (e *Error) nginx() string {
	if e.Pos == "" {
		return e.Msg
	}
	return e.Msg + " in " + e.Pos
}

// NginxError returns err as nginx words a configuration error, "Msg in
// file:line" without the package prefix, when err is an *Error; any other
// error is returned as it is.
func NginxError(err error) error {
	var ve *Error
	if errors.As(err, &ve) {
		return errors.New(ve.nginx())
	}
	return err
}

// AddBlock adds a map, geo or split_clients block, named by its
// directive, with its source template, the variable it defines and its
// lines.
func (t *Table[T]) AddBlock(kind, source, variable string, lines []Line, pos string) error {
	switch kind {
	case "map":
		return t.AddMap(MapSpec{Source: source, Variable: variable, Lines: lines, Pos: pos})
	case "geo":
		return t.AddGeo(GeoSpec{Source: source, Variable: variable, Lines: lines, Pos: pos})
	case "split_clients":
		return t.AddSplitClients(SplitSpec{Source: source, Variable: variable, Lines: lines, Pos: pos})
	}
	return &Error{Msg: fmt.Sprintf("unknown variable block %q", kind), Pos: pos}
}

func errorf(pos, format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Pos: pos}
}

type entryKind uint8

const (
	kindUnresolved entryKind = iota // referenced, not (yet) defined
	kindProxy                       // Define
	kindSettable                    // set $x, or a named regex capture
	kindComputed                    // map, geo, split_clients
)

type entry[T Context] struct {
	name  string
	kind  entryKind
	flags Flags
	get   Getter[T]
	slot  int32 // per-request State slot, or -1
	cache bool  // store computed values in slot
	pos   string
}

type prefix[T Context] struct {
	prefix string
	bind   PrefixGetter[T]
}

// maxDepth bounds nested variable evaluation, as nginx's variable depth does:
// a cycle (map $a $b { default $b; }) yields "not found" instead of
// recursing forever.
const maxDepth = 100

// Table is the registry of variables known to one proxy (the stream or the
// http side). The zero value is not usable; create one with NewTable. A Table
// is built by a single goroutine (Define, Compile, AddMap, ...), then frozen
// with Freeze; after Freeze it is read-only and safe for concurrent use, and
// definitions are refused.
type Table[T Context] struct {
	vars     []entry[T]
	index    map[string]Var
	prefixes []prefix[T]
	nslots   int32
	frozen   bool
	warn     func(msg, pos string)
}

// NewTable returns an empty Table.
func NewTable[T Context]() *Table[T] {
	return &Table[T]{index: make(map[string]Var)}
}

// OnWarn sets the function that receives nginx-style warnings found while
// building (for example `duplicate network "10.0.0.0/8", value: "b", old
// value: "a"`). By default warnings are dropped.
func (t *Table[T]) OnWarn(f func(msg, pos string)) { t.warn = f }

func (t *Table[T]) warnf(pos, format string, args ...any) {
	if t.warn != nil {
		t.warn(fmt.Sprintf(format, args...), pos)
	}
}

var errFrozen = errors.New("vars: table is frozen")

// Define registers a proxy variable. Defining a name twice is an error.
func (t *Table[T]) Define(name string, get Getter[T], flags Flags) error {
	if t.frozen {
		return errFrozen
	}
	if get == nil {
		return fmt.Errorf("vars: define %q: nil getter", name)
	}
	v := t.lookupOrAdd(name, "")
	e := &t.vars[v]
	if e.kind != kindUnresolved {
		return fmt.Errorf("vars: define %q: already defined", name)
	}
	e.kind, e.get, e.flags = kindProxy, get, flags
	if flags&Changeable != 0 {
		e.slot = t.newSlot()
	}
	return nil
}

// DefinePrefix registers a variable family: any name starting with prefix
// (for example "http_") that is not defined otherwise is served by the
// Getter bind returns for the rest of the name. Families are tried in the
// order they were defined.
func (t *Table[T]) DefinePrefix(pfx string, bind PrefixGetter[T]) error {
	if t.frozen {
		return errFrozen
	}
	if pfx == "" || bind == nil {
		return fmt.Errorf("vars: define prefix %q: empty prefix or nil binder", pfx)
	}
	for _, p := range t.prefixes {
		if p.prefix == pfx {
			return fmt.Errorf("vars: define prefix %q: already defined", pfx)
		}
	}
	t.prefixes = append(t.prefixes, prefix[T]{pfx, bind})
	return nil
}

// Ref returns the handle of a variable by name (without '$'), for directives
// that take a bare variable such as geo's source. The name need not be
// defined yet; Freeze reports it if it never is. pos is "file:line" for that
// report.
func (t *Table[T]) Ref(name, pos string) (Var, error) {
	if t.frozen {
		if v, ok := t.index[name]; ok {
			return v, nil
		}
		return 0, errFrozen
	}
	if !validName(name) {
		return 0, errorf(pos, "invalid variable name \"%s\"", name)
	}
	return t.lookupOrAdd(name, pos), nil
}

// Settable declares a variable assigned by `set $name value;` and returns its
// handle for Set. Declaring an existing map, geo, split_clients or set
// variable, or a Changeable proxy variable, returns that variable: set then
// overrides its value for the rest of the request, as in nginx. A variable
// never assigned reads as the empty string.
func (t *Table[T]) Settable(name, pos string) (Var, error) {
	if t.frozen {
		return 0, errFrozen
	}
	if !validName(name) {
		return 0, errorf(pos, "invalid variable name \"%s\"", name)
	}
	v := t.lookupOrAdd(name, pos)
	e := &t.vars[v]
	switch e.kind {
	case kindUnresolved:
		e.kind = kindSettable
		e.get = getEmpty[T]
		e.slot = t.newSlot()
	case kindProxy:
		if e.flags&Changeable == 0 {
			return 0, errorf(pos, "the duplicate \"%s\" variable", name)
		}
	}
	return v, nil
}

// captureVar declares the variable of a named regular-expression capture:
// like a set variable, but "not found" until a match assigns it, as in nginx.
func (t *Table[T]) captureVar(name, pos string) (Var, error) {
	prev, existed := t.index[name]
	wasSettable := existed && t.vars[prev].kind == kindSettable
	v, err := t.Settable(name, pos)
	if err != nil {
		return 0, err
	}
	if e := &t.vars[v]; !wasSettable && e.kind == kindSettable {
		e.get = getNotFound[T]
	}
	return v, nil
}

// SettableNotFound declares a variable assigned by the proxy, such as
// auth_request_set's: like Settable, but "not found" until assigned when no
// set directive declared it first, as nginx's own variables of that kind.
func (t *Table[T]) SettableNotFound(name, pos string) (Var, error) {
	return t.captureVar(name, pos)
}

func getNotFound[T any](dst []byte, _ T) ([]byte, bool) { return dst, false }

// defineComputed makes name a map/geo/split_clients variable. A later
// definition of the same name replaces an earlier one, as in nginx.
func (t *Table[T]) defineComputed(name, pos string, get Getter[T], cache bool) error {
	if t.frozen {
		return errFrozen
	}
	if !validName(name) {
		return errorf(pos, "invalid variable name \"$%s\"", name)
	}
	v := t.lookupOrAdd(name, pos)
	e := &t.vars[v]
	if e.kind == kindProxy && e.flags&Changeable == 0 {
		return errorf(pos, "the duplicate \"%s\" variable", name)
	}
	e.kind = kindComputed
	e.get = get
	e.cache = cache
	if e.slot < 0 {
		e.slot = t.newSlot()
	}
	return nil
}

func getEmpty[T any](dst []byte, _ T) ([]byte, bool) { return dst, true }

func (t *Table[T]) newSlot() int32 {
	t.nslots++
	return t.nslots - 1
}

func (t *Table[T]) lookupOrAdd(name, pos string) Var {
	if v, ok := t.index[name]; ok {
		if t.vars[v].pos == "" {
			t.vars[v].pos = pos
		}
		return v
	}
	v := Var(len(t.vars))
	t.vars = append(t.vars, entry[T]{name: name, slot: -1, pos: pos})
	t.index[name] = v
	return v
}

// Freeze resolves every referenced name: names defined exactly win, then
// variable families in definition order. It reports the first name that is
// neither, as nginx does: unknown "foo" variable. After Freeze the table is
// read-only; Freeze may be called more than once.
func (t *Table[T]) Freeze() error {
	if t.frozen {
		return nil
	}
	for i := range t.vars {
		e := &t.vars[i]
		if e.kind != kindUnresolved {
			continue
		}
		for _, p := range t.prefixes {
			if strings.HasPrefix(e.name, p.prefix) {
				if g := p.bind(e.name[len(p.prefix):]); g != nil {
					e.kind, e.get = kindProxy, g
				}
				break
			}
		}
		if e.kind == kindUnresolved {
			return errorf(e.pos, "unknown \"%s\" variable", e.name)
		}
	}
	t.frozen = true
	return nil
}

// Frozen reports whether Freeze has succeeded.
func (t *Table[T]) Frozen() bool { return t.frozen }

// Lookup returns the handle of a defined or referenced variable.
func (t *Table[T]) Lookup(name string) (Var, bool) {
	v, ok := t.index[name]
	return v, ok
}

// Name returns the name of v without '$'.
func (t *Table[T]) Name(v Var) string { return t.vars[v].name }

// NumSlots is the number of per-request slots a State needs for this table.
// A State grows on demand, so this is only a sizing hint.
func (t *Table[T]) NumSlots() int { return int(t.nslots) }

// Get appends the value of v for ctx to dst. ok is false when the variable
// has no value. Get must only be called after Freeze.
func (t *Table[T]) Get(dst []byte, ctx T, v Var) ([]byte, bool) {
	return t.get(dst, ctx, v)
}

// Set assigns val to a variable declared with Settable (or a map, geo,
// split_clients or Changeable proxy variable) for the rest of ctx's request.
func (t *Table[T]) Set(ctx T, v Var, val []byte) {
	e := &t.vars[v]
	if e.slot < 0 {
		return
	}
	ctx.VarState().store(e.slot, val, true)
}

// SetTemplate evaluates tmpl and assigns the result to v, which is what
// `set $v "template";` does.
func (t *Table[T]) SetTemplate(ctx T, v Var, tmpl *Template[T]) {
	e := &t.vars[v]
	if e.slot < 0 {
		return
	}
	st := ctx.VarState()
	buf := tmpl.Append(st.setBuf[:0], ctx)
	st.store(e.slot, buf, true)
	st.setBuf = buf[:0]
}

func (t *Table[T]) get(dst []byte, ctx T, v Var) ([]byte, bool) {
	e := &t.vars[v]
	if e.slot >= 0 {
		st := ctx.VarState()
		if val, found, ok := st.load(e.slot); ok {
			if !found {
				return dst, false
			}
			return append(dst, val...), true
		}
		if e.cache {
			if st.depth >= maxDepth {
				return dst, false
			}
			st.depth++
			start := len(dst)
			out, ok := e.get(dst, ctx)
			st.depth--
			if ok {
				st.store(e.slot, out[start:], true)
			} else {
				st.store(e.slot, nil, false)
			}
			return out, ok
		}
		if e.kind == kindComputed {
			if st.depth >= maxDepth {
				return dst, false
			}
			st.depth++
			out, ok := e.get(dst, ctx)
			st.depth--
			return out, ok
		}
	}
	return e.get(dst, ctx)
}

func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i]) {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
}

// varName strips the '$' of a variable argument such as map's "$name",
// reporting nginx's error when it is missing.
func varName(arg, pos string) (string, error) {
	if len(arg) < 2 || arg[0] != '$' {
		return "", errorf(pos, "invalid variable name \"%s\"", arg)
	}
	return arg[1:], nil
}

// CaptureVar declares the variable of a named capture of a regular
// expression (rewrite, if): "not found" until a match assigns it with Set.
func (t *Table[T]) CaptureVar(name, pos string) (Var, error) { return t.captureVar(name, pos) }
