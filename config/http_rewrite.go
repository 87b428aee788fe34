package config

import (
	"strings"
)

// The directives of nginx's ngx_http_rewrite_module: rewrite, return, set,
// break, if, rewrite_log and uninitialized_variable_warn.

// Script operations, as HTTPScriptOp.Op.
const (
	OpReturn  = "return"
	OpRewrite = "rewrite"
	OpSet     = "set"
	OpBreak   = "break"
	OpIf      = "if"
)

// Rewrite flags, as HTTPScriptOp.Flag.
const (
	RewriteLast      = "last"
	RewriteBreak     = "break"
	RewriteRedirect  = "redirect"
	RewritePermanent = "permanent"
)

// HTTPScriptOp is one directive of the rewrite module in a server,
// location or if block; a block's operations run in configuration order
// (nginx's rewrite phase).
type HTTPScriptOp struct {
	Op string // one of the Op* constants
	// Return is the return directive (OpReturn).
	Return *HTTPReturn `json:",omitempty"`
	// Regex, Replacement and Flag are the arguments of rewrite; Flag is
	// one of the Rewrite* constants or "". Redirect is set when the
	// replacement starts with http://, https:// or $scheme, or the flag is
	// redirect or permanent.
	Regex       string `json:",omitempty"`
	Replacement string `json:",omitempty"`
	Flag        string `json:",omitempty"`
	Redirect    bool   `json:",omitempty"`
	// Var and Value are set's arguments (Var without "$").
	Var   string `json:",omitempty"`
	Value string `json:",omitempty"`
	// If is the if block (OpIf).
	If  *HTTPIf `json:",omitempty"`
	Pos string
}

// HTTPIf is an if block: its condition and the operations it runs when the
// condition holds.
type HTTPIf struct {
	// Var is the variable tested ("$name"), empty for a file test.
	Var string `json:",omitempty"`
	// Operator is "" (the variable is true when neither empty nor "0"),
	// "=", "!=", "~", "~*", "!~", "!~*", or a file test "-f", "!-f",
	// "-d", "!-d", "-e", "!-e", "-x", "!-x".
	Operator string `json:",omitempty"`
	// Operand is the value compared, the regular expression, or the path
	// tested (a complex value, except for regular expressions).
	Operand string         `json:",omitempty"`
	Script  []HTTPScriptOp `json:",omitempty"`
	// Server is set for an if at server level.
	Server bool `json:",omitempty"`
	// Location, for an if inside a location, holds the configuration the
	// request takes when the condition holds, as nginx's if blocks are
	// nameless locations: the enclosing location's settings merged with
	// the directives of the block (proxy_pass without a URI, grpc_pass,
	// add_header, access_log, error_page, gzip, root). Its Script is empty: the
	// block's rewrite directives are in Script above.
	Location *HTTPLocation `json:",omitempty"`
	Pos      string
}

const ctxRewrite = CtxHTTPServer | CtxHTTPLocation | CtxHTTPIf | CtxHTTPSrvIf

var httpRewriteDirectives = []*Spec{
	{Name: "return", Ctx: ctxRewrite, Args: Args12, Multi: true, Set: setHTTPReturn},
	{Name: "rewrite", Ctx: ctxRewrite, Args: Args23, Multi: true, Set: setHTTPRewrite},
	{Name: "set", Ctx: ctxRewrite, Args: Args2, Multi: true, Set: setHTTPSet},
	{Name: "break", Ctx: ctxRewrite, Args: Args0, Multi: true, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		addScript(parent, HTTPScriptOp{Op: OpBreak, Pos: pos(d)})
		return nil, nil
	}},
	{Name: "if", Ctx: CtxHTTPServer, Args: Args1More, Block: CtxHTTPSrvIf, Multi: true, Set: setHTTPIf},
	{Name: "if", Ctx: CtxHTTPLocation, Args: Args1More, Block: CtxHTTPIf, Multi: true, Set: setHTTPIf},
	{Name: "rewrite_log", Ctx: ctxHTTPAll | CtxHTTPIf | CtxHTTPSrvIf, Args: ArgsFlag, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		on, err := parseFlag(d)
		if err != nil {
			return nil, err
		}
		if f, ok := parent.(*HTTPIf); ok {
			// the if block's own configuration: sluice applies the
			// level's value to the block
			_ = f
			return nil, nil
		}
		s := hset(c, parent)
		s.RewriteLog = on
		s.mark(d.Name)
		return nil, nil
	}},
}

func init() { register(httpRewriteDirectives) }

// addScript appends op to the script of the server, location or if block.
func addScript(parent any, op HTTPScriptOp) {
	switch p := parent.(type) {
	case *HTTPServer:
		p.Script = append(p.Script, op)
	case *HTTPLocation:
		if p.ifBlock != nil {
			p.ifBlock.Script = append(p.ifBlock.Script, op)
			return
		}
		p.Script = append(p.Script, op)
	case *HTTPIf:
		p.Script = append(p.Script, op)
	}
}

// setHTTPRewrite parses rewrite regex replacement [flag].
func setHTTPRewrite(c *compiler, d *Directive, parent any) (any, error) {
	op := HTTPScriptOp{Op: OpRewrite, Regex: d.Args[0], Replacement: d.Args[1], Pos: pos(d)}
	if _, err := compileNginxRegex(op.Regex, false); err != nil {
		return nil, errorf(d.File, d.Line, `invalid regular expression "%s": %v`, op.Regex, err)
	}
	r := op.Replacement
	if r == "" {
		return nil, errorf(d.File, d.Line, "empty replacement")
	}
	if strings.HasPrefix(r, "http://") || strings.HasPrefix(r, "https://") || strings.HasPrefix(r, "$scheme") {
		op.Redirect = true
	}
	if len(d.Args) == 3 {
		switch f := d.Args[2]; f {
		case RewriteLast, RewriteBreak:
			op.Flag = f
		case RewriteRedirect, RewritePermanent:
			op.Flag, op.Redirect = f, true
		default:
			return nil, errorf(d.File, d.Line, `invalid parameter "%s"`, f)
		}
	}
	addScript(parent, op)
	return nil, nil
}

// setHTTPSet parses set $variable value.
func setHTTPSet(c *compiler, d *Directive, parent any) (any, error) {
	v := d.Args[0]
	if v == "" || v[0] != '$' {
		return nil, errorf(d.File, d.Line, `invalid variable name "%s"`, v)
	}
	addScript(parent, HTTPScriptOp{Op: OpSet, Var: v[1:], Value: d.Args[1], Pos: pos(d)})
	return nil, nil
}

// setHTTPIf parses the condition of an if block, as nginx's
// ngx_http_rewrite_if_condition.
func setHTTPIf(c *compiler, d *Directive, parent any) (any, error) {
	f := &HTTPIf{Pos: pos(d)}
	_, f.Server = parent.(*HTTPServer)
	args := append([]string(nil), d.Args...)
	invalid := func(s string) error { return errorf(d.File, d.Line, `invalid condition "%s"`, s) }
	if args[0] == "" || args[0][0] != '(' {
		return nil, invalid(args[0])
	}
	if args[0] == "(" {
		args = args[1:]
	} else {
		args[0] = args[0][1:]
	}
	if len(args) == 0 {
		// "if ( {": nginx then looks at the "(" itself
		return nil, invalid("(")
	}
	last := args[len(args)-1]
	if last == "" || last[len(last)-1] != ')' {
		return nil, invalid(last)
	}
	if last == ")" {
		args = args[:len(args)-1]
	} else {
		args[len(args)-1] = last[:len(last)-1]
	}
	if len(args) == 0 {
		return nil, invalid(")")
	}
	cur := args[0]
	switch {
	case len(cur) > 1 && cur[0] == '$':
		if len(args) != 1 && len(args) != 3 {
			return nil, invalid(cur)
		}
		if !validVarRef(cur) {
			return nil, errorf(d.File, d.Line, `invalid variable name "%s"`, cur)
		}
		f.Var = cur
		if len(args) == 1 {
			break
		}
		switch op := args[1]; op {
		case "=", "!=":
			f.Operator, f.Operand = op, args[2]
		case "~", "~*", "!~", "!~*":
			f.Operator, f.Operand = op, args[2]
			if _, err := compileNginxRegex(args[2], strings.HasSuffix(op, "*")); err != nil {
				return nil, errorf(d.File, d.Line, `invalid regular expression "%s": %v`, args[2], err)
			}
		default:
			return nil, errorf(d.File, d.Line, `unexpected "%s" in condition`, op)
		}
	case len(cur) == 2 && cur[0] == '-' || len(cur) == 3 && cur[0] == '!' && cur[1] == '-':
		if len(args) != 2 {
			return nil, invalid(cur)
		}
		switch strings.TrimPrefix(cur, "!") {
		case "-f", "-d", "-e", "-x":
		default:
			return nil, invalid(cur)
		}
		f.Operator, f.Operand = cur, args[1]
	default:
		return nil, invalid(cur)
	}
	addScript(parent, HTTPScriptOp{Op: OpIf, If: f, Pos: f.Pos})
	if !f.Server {
		f.Location = &HTTPLocation{File: d.File, Line: d.Line, ifBlock: f}
		return f.Location, nil
	}
	return f, nil
}

// mergeIfLocations completes the configurations of the if blocks of l:
// they inherit l's settings, name and modifier (proxy_pass replaces the
// location's prefix as in l).
func mergeIfLocations(l *HTTPLocation) {
	for _, op := range l.Script {
		if op.Op != OpIf || op.If.Location == nil {
			continue
		}
		il := op.If.Location
		il.Modifier, il.Name = l.Modifier, l.Name
		if !il.Settings.set["root"] {
			il.Alias = l.Alias // as nginx merges root and alias together
		}
		il.Settings.merge(&l.Settings)
	}
}

// validVarRef reports whether s is "$name" or "${name}" with a valid name.
func validVarRef(s string) bool {
	name := s[1:]
	if strings.HasPrefix(name, "{") {
		if !strings.HasSuffix(name, "}") {
			return false
		}
		name = name[1 : len(name)-1]
	}
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// leavesLocation reports whether a location's script has, at its top
// level, a rewrite with last, redirect or permanent: such a location sends
// requests elsewhere and is not meant to serve files, so the static files
// warning is left out.
func leavesLocation(script []HTTPScriptOp) bool {
	for _, op := range script {
		if op.Op == OpRewrite && (op.Flag == RewriteLast || op.Redirect) {
			return true
		}
	}
	return false
}
