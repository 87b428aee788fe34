package httpproxy

import (
	"bytes"
	"fmt"
	"github.com/sluicelb/sluice/internal/pcre"
	"os"
	"strings"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/vars"
)

// The rewrite module: the return, rewrite, set, break and if directives of
// a server or location, run in configuration order as nginx's rewrite
// phases run them.

// scriptOp is one compiled rewrite module directive.
type scriptOp struct {
	op  string // config.Op*
	pos string

	ret *retConf // return

	// rewrite
	re       *pcre.Regexp
	pat      string // the regular expression as written
	named    []namedCapture
	repl     []rwPart
	hasArgs  bool // the replacement has a "?"
	addArgs  bool // the request arguments are appended (no final "?")
	flag     string
	redirect bool

	v    vars.Var                 // set
	val  *vars.Template[*request] // set
	rate bool                     // set $limit_rate (rate.go)

	cond *ifCond    // if
	body []scriptOp // if
	loc  *location  // if inside a location: the configuration taken when the condition holds
}

// namedCapture is a named group of a regular expression and the variable
// a match assigns.
type namedCapture struct {
	group int
	v     vars.Var
}

// ifCond is a compiled if condition.
type ifCond struct {
	subject *vars.Template[*request] // the variable, or the path of a file test
	op      string
	operand *vars.Template[*request] // "=", "!="
	re      *pcre.Regexp             // "~", "~*", "!~", "!~*"
	pat     string                   // the regular expression as written
	named   []namedCapture
}

// scriptEnd is how a script run ended.
type scriptEnd int

const (
	scriptDone   scriptEnd = iota // it ran to its end
	scriptStop                    // break, rewrite ... last or break
	scriptAnswer                  // a response was sent (return, redirect, error)
)

// buildScript compiles the rewrite module directives of one level; parent
// is the location they belong to (nil at server level).
func (p *proxy) buildScript(ops []config.HTTPScriptOp, parent *location) ([]scriptOp, error) {
	var out []scriptOp
	for _, o := range ops {
		so := scriptOp{op: o.Op, pos: o.Pos}
		var err error
		switch o.Op {
		case config.OpReturn:
			so.ret, err = p.buildReturn(o.Return)
		case config.OpSet:
			so.rate = o.Var == "limit_rate"
			if so.v, err = p.tab.Settable(o.Var, o.Pos); err == nil {
				so.val, err = p.tab.Compile(o.Value, o.Pos)
			}
		case config.OpRewrite:
			err = p.buildRewrite(&so, o)
		case config.OpIf:
			so.cond, err = p.buildIf(o.If)
			if err == nil {
				so.body, err = p.buildScript(o.If.Script, nil)
			}
			if err == nil && o.If.Location != nil && parent != nil {
				so.loc, err = p.buildIfLocation(o.If.Location, parent)
			}
		}
		if err != nil {
			return nil, vars.NginxError(err)
		}
		out = append(out, so)
	}
	return out, nil
}

// buildIfLocation compiles the configuration of an if block inside the
// location parent. As in nginx, the block keeps the location's content
// handler unless it has its own proxy_pass, grpc_pass or fastcgi_pass
// (uwsgi_pass, scgi_pass); one that keeps a gateway handler gets the
// module's upstream settings (cgi_build.go).
func (p *proxy) buildIfLocation(lc *config.HTTPLocation, parent *location) (*location, error) {
	own := lc.ProxyPass != nil || lc.GRPCPass != nil || lc.CGIPass != nil
	proto := ""
	switch {
	case lc.CGIPass != nil:
		proto = lc.CGIPass.Proto
	case !own && parent.cgi != nil:
		proto = parent.cgi.proto // the inherited handler's settings
	}
	l, err := p.buildLocationFor(parent.srv, parent.name, lc, &lc.Settings, proto)
	if err != nil {
		return nil, err
	}
	if !own {
		l.pass, l.grpc, l.cgi, l.stub, l.keepalive = parent.pass, parent.grpc, parent.cgi, parent.stub, parent.keepalive
		l.gif, l.api, l.metrics = parent.gif, parent.api, parent.metrics
		if parent.dashboard != nil {
			l.dashboard = parent.dashboard
			if err := p.addNoCache(l, lc.Pos()); err != nil {
				return nil, err
			}
		}
	}
	return l, nil
}

// namedCaptures declares the variables of re's named groups.
func (p *proxy) namedCaptures(re *pcre.Regexp, pos string) ([]namedCapture, error) {
	var out []namedCapture
	for i, n := range re.SubexpNames() {
		if n == "" {
			continue
		}
		v, err := p.tab.CaptureVar(n, pos)
		if err != nil {
			return nil, err
		}
		out = append(out, namedCapture{group: i, v: v})
	}
	return out, nil
}

func (p *proxy) buildRewrite(so *scriptOp, o config.HTTPScriptOp) error {
	re, err := config.CompileRegex(o.Regex, false)
	if err != nil {
		return fmt.Errorf("invalid regular expression %q: %v in %s", o.Regex, err, o.Pos)
	}
	so.re, so.pat = re, o.Regex
	if so.named, err = p.namedCaptures(re, o.Pos); err != nil {
		return err
	}
	repl := o.Replacement
	so.addArgs = true
	if strings.HasSuffix(repl, "?") {
		repl, so.addArgs = repl[:len(repl)-1], false
	}
	so.hasArgs = strings.IndexByte(repl, '?') >= 0
	if so.repl, err = p.compileReplacement(repl, o.Pos); err != nil {
		return err
	}
	so.flag, so.redirect = o.Flag, o.Redirect
	return nil
}

func (p *proxy) buildIf(f *config.HTTPIf) (*ifCond, error) {
	ic := &ifCond{op: f.Operator}
	var err error
	switch {
	case f.Var == "": // file test
		ic.subject, err = p.tab.Compile(f.Operand, f.Pos)
		return ic, err
	default:
		if ic.subject, err = p.tab.Compile(f.Var, f.Pos); err != nil {
			return nil, err
		}
	}
	switch f.Operator {
	case "=", "!=":
		ic.operand, err = p.tab.Compile(f.Operand, f.Pos)
	case "~", "~*", "!~", "!~*":
		if ic.re, err = config.CompileRegex(f.Operand, strings.HasSuffix(f.Operator, "*")); err != nil {
			return nil, fmt.Errorf("invalid regular expression %q: %v in %s", f.Operand, err, f.Pos)
		}
		ic.pat = f.Operand
		ic.named, err = p.namedCaptures(ic.re, f.Pos)
	}
	return ic, err
}

// rewriteLog writes a rewrite_log entry when the level has it on; the
// message is built only then.
func (c *conn) rewriteLog(r *request, msg func() string) {
	if r.loc.set.RewriteLog {
		c.logf(r.srv, errlog.LevelNotice, msg())
	}
}

// serverCaptures records the captures of the regular expression server
// name that chose r's server, and assigns its named ones, as nginx does
// once it has found the server.
func (c *conn) serverCaptures(r *request) {
	if idx := r.sm.CaptureIndex(); idx != nil {
		c.setCaptures(r, []byte(r.sm.Host), idx, r.srv.captures[r.sm.Regex()])
	}
}

// matchedCaptures records the captures of the regular expression location
// r matched (r.loc), and assigns its named ones, as nginx does when it
// finds the location: proxy_pass, root and the rest use them.
func (c *conn) matchedCaptures(r *request) {
	if r.m.Location == nil || r.m.Location.Conf != r.loc.cfg {
		return
	}
	if idx := r.m.CaptureIndex(bstr(r.h1.URI)); idx != nil {
		c.setCaptures(r, r.h1.URI, idx, r.loc.captures)
	}
}

// setCaptures records the captures of a match of re on subject and assigns
// its named captures.
func (c *conn) setCaptures(r *request, subject []byte, idx []int, named []namedCapture) {
	r.vs.SetCaptures(subject, idx)
	for _, nc := range named {
		c.h.p.tab.Set(r, nc.v, r.vs.Capture(nc.group))
	}
}

// runScript runs the rewrite module directives of one level. It returns how
// the run ended and, for scriptAnswer, whether the connection may be kept.
func (c *conn) runScript(r *request, ops []scriptOp) (scriptEnd, bool) {
	for i := range ops {
		op := &ops[i]
		switch op.op {
		case config.OpReturn:
			c.discardBody(r)
			return scriptAnswer, c.doReturn(r, op.ret)
		case config.OpSet:
			if op.rate {
				c.setLimitRate(r, op.val)
				break
			}
			c.h.p.tab.SetTemplate(r, op.v, op.val)
		case config.OpBreak:
			if r.rw.changed {
				r.rw.noLocation, r.rw.changed = true, false
			}
			return scriptStop, false
		case config.OpIf:
			if c.test(r, op.cond) {
				if op.loc != nil {
					r.loc = op.loc
				}
				if end, ok := c.runScript(r, op.body); end != scriptDone {
					return end, ok
				}
			}
		case config.OpRewrite:
			if end, ok := c.rewrite(r, op); end != scriptDone {
				return end, ok
			}
		}
	}
	return scriptDone, false
}

// test evaluates an if condition.
func (c *conn) test(r *request, ic *ifCond) bool {
	val := ic.subject.Append(nil, r)
	switch ic.op {
	case "":
		return !(len(val) == 0 || len(val) == 1 && val[0] == '0')
	case "=", "!=":
		other := ic.operand.Append(nil, r)
		return bytes.Equal(val, other) == (ic.op == "=")
	case "~", "~*", "!~", "!~*":
		idx := ic.re.FindSubmatchIndex(val)
		if idx != nil {
			c.setCaptures(r, val, idx, ic.named)
			c.rewriteLog(r, func() string { return `"` + ic.pat + `" matches "` + string(val) + `"` })
		} else {
			c.rewriteLog(r, func() string { return `"` + ic.pat + `" does not match "` + string(val) + `"` })
		}
		return (idx != nil) == (ic.op[0] == '~')
	}
	// file tests
	neg := ic.op[0] == '!'
	fi, err := os.Stat(string(val))
	var ok bool
	if err == nil {
		switch ic.op[len(ic.op)-1] {
		case 'f':
			ok = fi.Mode().IsRegular()
		case 'd':
			ok = fi.IsDir()
		case 'e':
			ok = true
		case 'x':
			ok = fi.Mode()&0o100 != 0
		}
	}
	return ok != neg
}

// rewrite runs one rewrite directive on $uri.
func (c *conn) rewrite(r *request, op *scriptOp) (scriptEnd, bool) {
	uri := r.h1.URI
	idx := op.re.FindSubmatchIndex(uri)
	if idx == nil {
		c.rewriteLog(r, func() string { return `"` + op.pat + `" does not match "` + string(uri) + `"` })
		return scriptDone, false
	}
	c.rewriteLog(r, func() string { return `"` + op.pat + `" matches "` + string(uri) + `"` })
	c.setCaptures(r, uri, idx, op.named)
	val := c.appendReplacement(nil, r, op)
	if op.redirect {
		val = unescapeRedirect(val)
		if op.addArgs && len(r.h1.Args) > 0 {
			if op.hasArgs {
				val = append(val, '&')
			} else {
				val = append(val, '?')
			}
			val = append(val, r.h1.Args...)
		}
		c.rewriteLog(r, func() string { return `rewritten redirect: "` + string(val) + `"` })
		code := 302
		if op.flag == config.RewritePermanent {
			code = 301
		}
		c.discardBody(r)
		if len(val) > 0 && val[0] == '/' {
			val = c.absolute(r, val)
		}
		page := appendErrorPage(nil, code, r.loc.tokens)
		return scriptAnswer, c.sendSimple(r, code, "text/html", page, val)
	}
	newURI, args := val, r.h1.Args
	if op.hasArgs {
		q := bytes.IndexByte(val, '?')
		newURI, args = val[:q], val[q+1:]
		if op.addArgs && len(r.h1.Args) > 0 {
			args = append(append(args, '&'), r.h1.Args...)
		}
	} else if !op.addArgs {
		args = nil
	}
	c.rewriteLog(r, func() string { return `rewritten data: "` + string(newURI) + `", args: "` + string(args) + `"` })
	if len(newURI) == 0 {
		c.logf(r.srv, errlog.LevelError, "the rewritten URI has a zero length")
		c.discardBody(r)
		return scriptAnswer, c.sendError(r, 500)
	}
	r.h1.URI, r.h1.Args = newURI, args
	r.rw.internal = true
	switch op.flag {
	case config.RewriteBreak:
		r.rw.noLocation, r.rw.changed = true, false
		return scriptStop, false
	case config.RewriteLast:
		r.rw.changed = true
		return scriptStop, false
	}
	r.rw.changed = true
	return scriptDone, false
}

// unescapeRedirect decodes the %XX escapes of a redirect target before its
// "?" that stand for printable characters after "%", as nginx's
// NGX_UNESCAPE_REDIRECT.
func unescapeRedirect(b []byte) []byte {
	out := b[:0:0]
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if ch == '?' {
			return append(out, b[i:]...)
		}
		if ch == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
			d := unhex(b[i+1])<<4 | unhex(b[i+2])
			if d > '%' && d < 0x7f {
				out = append(out, d)
			} else {
				out = append(out, b[i:i+3]...)
			}
			i += 2
			continue
		}
		out = append(out, ch)
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// rwState is what the rewrite directives changed in a request.
type rwState struct {
	// changed is set when a rewrite changed the URI and the location is
	// to be found again (nginx's uri_changed).
	changed bool
	// noLocation is set after rewrite ... break: the location keeps
	// serving the new URI, which proxy_pass sends whole (nginx's
	// valid_location = 0).
	noLocation bool
	// internal is set once a rewrite changed the URI: proxy_pass sends
	// the new URI rather than the client's request-target.
	internal bool
}

// serverRewrite runs the server-level rewrite directives. It reports
// whether a response was sent, and then whether the connection may be kept.
func (c *conn) serverRewrite(r *request) (bool, bool) {
	if len(r.srv.script) == 0 {
		return false, false
	}
	end, ok := c.runScript(r, r.srv.script)
	// the location is found next anyway; noLocation (after break) stays,
	// as nginx's valid_location
	r.rw.changed = false
	return end == scriptAnswer, ok
}

// locationRewrite runs the location's rewrite directives. It reports whether
// a response was sent (and whether the connection may be kept), or whether
// the location is to be found again for a rewritten URI. A request that
// the location's limit_except limits runs none of them, as in nginx (the
// block's configuration has no rewrite directives of its own and does not
// inherit the location's).
func (c *conn) locationRewrite(r *request) (answered, ok, again bool) {
	l := r.loc
	if len(l.script) == 0 {
		return false, false, false
	}
	if le := l.limitExcept; le != nil && !methodIn(le.methods, r.h1.Method) {
		return false, false, false
	}
	r.rw.changed = false
	end, ok := c.runScript(r, l.script)
	if end == scriptAnswer {
		return true, ok, false
	}
	if !r.rw.changed {
		return false, false, false
	}
	r.rw.changed = false
	r.ep.changes++
	if r.ep.changes > maxURIChanges {
		c.logf(r.srv, errlog.LevelError, fmt.Sprintf("rewrite or internal redirection cycle while processing %q", r.h1.URI))
		c.discardBody(r)
		return true, c.sendError(r, 500), false
	}
	return false, false, true
}

// rwPart is a piece of a rewrite replacement: text with variables, or a
// capture $1..$9 (capture > 0).
type rwPart struct {
	tmpl    *vars.Template[*request]
	capture int
	args    bool // after the first "?" of the replacement
}

// compileReplacement splits a rewrite replacement at its captures: nginx
// escapes a capture taken from a URI that had escapes when it goes into
// the arguments or into a redirect.
func (p *proxy) compileReplacement(repl, pos string) ([]rwPart, error) {
	var parts []rwPart
	inArgs := false
	flush := func(text string) error {
		if text == "" {
			return nil
		}
		t, err := p.tab.Compile(text, pos)
		if err != nil {
			return err
		}
		parts = append(parts, rwPart{tmpl: t, args: inArgs})
		return nil
	}
	start := 0
	for i := 0; i < len(repl); i++ {
		switch {
		case repl[i] == '?' && !inArgs:
			if err := flush(repl[start : i+1]); err != nil {
				return nil, err
			}
			start, inArgs = i+1, true
		case repl[i] == '$' && i+1 < len(repl) && repl[i+1] >= '1' && repl[i+1] <= '9':
			if err := flush(repl[start:i]); err != nil {
				return nil, err
			}
			parts = append(parts, rwPart{capture: int(repl[i+1] - '0'), args: inArgs})
			i++
			start = i + 1
		}
	}
	if err := flush(repl[start:]); err != nil {
		return nil, err
	}
	return parts, nil
}

// appendReplacement evaluates the replacement of a rewrite that matched.
func (c *conn) appendReplacement(dst []byte, r *request, op *scriptOp) []byte {
	quoted := bytes.IndexByte(r.h1.Path, '%') >= 0 || bytes.IndexByte(r.h1.Path, '+') >= 0
	for _, pt := range op.repl {
		if pt.capture == 0 {
			dst = pt.tmpl.Append(dst, r)
			continue
		}
		cp := r.vs.Capture(pt.capture)
		if quoted && (pt.args || op.redirect) {
			dst = appendEscapedArgs(dst, cp)
		} else {
			dst = append(dst, cp...)
		}
	}
	return dst
}

// appendEscapedArgs escapes b as nginx's NGX_ESCAPE_ARGS: controls,
// space, "#", "%", "&", "+", ";", "?" and bytes from 0x7f.
func appendEscapedArgs(dst, b []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, ch := range b {
		switch {
		case ch <= ' ' || ch >= 0x7f, ch == '#', ch == '%', ch == '&', ch == '+', ch == ';', ch == '?':
			dst = append(dst, '%', hex[ch>>4], hex[ch&15])
		default:
			dst = append(dst, ch)
		}
	}
	return dst
}
