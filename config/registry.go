package config

import (
	_ "embed"
	"fmt"
	"strings"
)

// Context is a set of places in a configuration where a directive may
// appear, as nginx's NGX_*_CONF flags.
type Context uint32

// The contexts of a configuration.
const (
	CtxMain Context = 1 << iota
	CtxEvents
	CtxStream
	CtxStreamServer
	CtxStreamUpstream
	CtxHTTP
	CtxHTTPServer
	CtxHTTPLocation
	CtxHTTPUpstream
	CtxHTTPIf
	CtxHTTPLimitExcept
	CtxRaw       // the body of map, geo, split_clients, types and similar blocks
	CtxHTTPSrvIf // the body of an if block at server level
)

var contextNames = map[Context]string{
	CtxMain: "main", CtxEvents: "events", CtxStream: "stream", CtxStreamServer: "stream server",
	CtxStreamUpstream: "stream upstream", CtxHTTP: "http", CtxHTTPServer: "http server",
	CtxHTTPLocation: "location", CtxHTTPUpstream: "http upstream", CtxHTTPIf: "if",
	CtxHTTPLimitExcept: "limit_except", CtxRaw: "block", CtxHTTPSrvIf: "server if",
}

func (c Context) String() string {
	var parts []string
	for bit := Context(1); bit != 0 && bit <= c; bit <<= 1 {
		if c&bit != 0 {
			parts = append(parts, contextNames[bit])
		}
	}
	return strings.Join(parts, "|")
}

// Arity is the set of argument counts a directive accepts, as nginx's
// NGX_CONF_TAKE* flags.
type Arity uint16

// Argument counts.
const (
	Args0 Arity = 1 << iota
	Args1
	Args2
	Args3
	Args4
	Args5
	Args6
	Args7
	ArgsFlag  // exactly one argument, "on" or "off"
	Args1More // one or more
	Args2More // two or more
	ArgsAny   // any number, including none

	Args12   = Args1 | Args2
	Args13   = Args1 | Args3
	Args23   = Args2 | Args3
	Args123  = Args1 | Args2 | Args3
	Args1234 = Args1 | Args2 | Args3 | Args4
)

func (a Arity) accepts(n int) bool {
	switch {
	case a&ArgsAny != 0:
		return true
	case a&ArgsFlag != 0 && n == 1:
		return true
	case a&Args1More != 0 && n >= 1:
		return true
	case a&Args2More != 0 && n >= 2:
		return true
	case n <= 7 && a&(Arity(1)<<n) != 0:
		return true
	}
	return false
}

// Spec describes one directive: where it may appear, how many arguments it
// takes, whether it opens a block, and the function that compiles it into
// typed configuration. The same name may have several specs for different
// contexts (for example "server" in stream, http and upstream blocks).
type Spec struct {
	Name string
	Ctx  Context // where the directive may appear
	Args Arity
	// Block, when non-zero, means the directive must open a block whose
	// body is compiled in this context. CtxRaw bodies are not checked
	// against the registry: the directive's Set reads them itself.
	Block Context
	// Multi allows the directive more than once in the same block; without
	// it a repeat is refused as nginx refuses it: "x" directive is duplicate.
	Multi bool
	// Set compiles the directive. parent is the typed value of the
	// enclosing block; for a block directive Set returns the typed value of
	// its body, handed as parent to the directives inside.
	Set func(c *compiler, d *Directive, parent any) (child any, err error)
	// Close, when set, runs after the body of a block directive.
	Close func(c *compiler, d *Directive, child any) error
}

// registry maps a directive name to its specs. It is filled once in init
// from the tables of each area (main.go, and later stream and http files).
var registry = map[string][]*Spec{}

//go:embed nginx_directives.txt
var nginxDirectiveList string

// nginxDirectives is every directive nginx 1.22 (with its stream module)
// knows, to tell an unsupported nginx directive from a misspelt one.
var nginxDirectives = func() map[string]bool {
	m := map[string]bool{}
	for _, name := range strings.Fields(nginxDirectiveList) {
		m[name] = true
	}
	return m
}()

// listenCounters count the listening sockets of a configuration, one
// function per area that has listen directives; registered in init like the
// directive tables. nginx refuses a worker_connections smaller than the
// number of listening sockets plus one.
var listenCounters []func(*Config) int

// registerListenCounter adds a function counting listening sockets.
func registerListenCounter(f func(*Config) int) {
	listenCounters = append(listenCounters, f)
}

func register(tables ...[]*Spec) {
	for _, t := range tables {
		for _, s := range t {
			for _, other := range registry[s.Name] {
				if other.Ctx&s.Ctx != 0 {
					panic(fmt.Sprintf("config: directive %q registered twice for %v", s.Name, s.Ctx&other.Ctx))
				}
			}
			registry[s.Name] = append(registry[s.Name], s)
		}
	}
}

// lookup finds the spec for name in ctx, or the error nginx gives.
func lookup(d *Directive, ctx Context) (*Spec, error) {
	specs, ok := registry[d.Name]
	if !ok {
		if nginxDirectives[d.Name] {
			return nil, errorf(d.File, d.Line, `"%s" directive is not supported by sluice`, d.Name)
		}
		return nil, errorf(d.File, d.Line, `unknown directive "%s"`, d.Name)
	}
	for _, s := range specs {
		if s.Ctx&ctx != 0 {
			return s, nil
		}
	}
	return nil, errorf(d.File, d.Line, `"%s" directive is not allowed here`, d.Name)
}

// compiler walks the directive tree, checks every directive against the
// registry and hands it to its Set function.
type compiler struct {
	cfg *Config
}

func (c *compiler) warnf(d *Directive, format string, args ...any) {
	c.cfg.Warnings = append(c.cfg.Warnings, errorf(d.File, d.Line, format, args...).Error())
}

// walk compiles the directives of one block.
func (c *compiler) walk(list []*Directive, ctx Context, target any) error {
	seen := map[*Spec]bool{}
	for _, d := range list {
		s, err := lookup(d, ctx)
		if err != nil {
			return err
		}
		if s.Block == 0 && d.IsBlock() {
			return errorf(d.File, d.Line, `directive "%s" is not terminated by ";"`, d.Name)
		}
		if s.Block != 0 && !d.IsBlock() {
			return errorf(d.File, d.Line, `directive "%s" has no opening "{"`, d.Name)
		}
		if !s.Args.accepts(len(d.Args)) {
			return errorf(d.File, d.Line, `invalid number of arguments in "%s" directive`, d.Name)
		}
		if !s.Multi {
			if seen[s] {
				return errorf(d.File, d.Line, `"%s" directive is duplicate`, d.Name)
			}
			seen[s] = true
		}
		child, err := s.Set(c, d, target)
		if err != nil {
			return err
		}
		if s.Block == 0 || s.Block == CtxRaw {
			if s.Close != nil {
				if err := s.Close(c, d, child); err != nil {
					return err
				}
			}
			continue
		}
		if err := c.walk(d.Block, s.Block, child); err != nil {
			return err
		}
		if d.partial {
			// the block was cut short by a syntax error: its
			// closing checks would report what nginx never reaches
			return nil
		}
		if s.Close != nil {
			if err := s.Close(c, d, child); err != nil {
				return err
			}
		}
	}
	return nil
}
