// Package config reads nginx-style configuration files into a typed,
// defaulted and validated Config.
//
// Reading goes in two steps. Parse turns text into a tree of Directives,
// each with its file and line, following nginx's grammar: simple directives
// `name args;`, blocks `name args { ... }`, single and double quotes with
// backslash escapes, `$var` and `${var}` kept for later evaluation, `#`
// comments, and `include` with glob patterns. Compile then checks every
// directive against one registry table (name, contexts, number of
// arguments, whether it may repeat) and hands it to the function that
// fills the typed configuration. Errors read as nginx's do, with file and
// line: `unknown directive "x" in /etc/sluice/sluice.conf:12`.
//
// The package does no I/O beyond reading configuration files, starts no
// goroutines and never logs: warnings are returned in Config.Warnings.
package config

import (
	"os"
	"path/filepath"
)

func init() {
	register(mainDirectives, ignoredSpecs())
}

// Options says where a configuration comes from.
type Options struct {
	// File is the main configuration file. A relative path is taken
	// from Prefix.
	File string
	// Prefix is the prefix path (nginx's -p); relative paths in pid,
	// error_log and similar directives are taken from it. Default: the
	// directory of File.
	Prefix string
	// Directives are extra main-context directives given with -g.
	Directives string
	// ReadFile reads a file; default os.ReadFile. Tests may replace it.
	ReadFile func(string) ([]byte, error)

	// glob expands an include pattern; default cGlob. Tests replace it
	// to keep the file system out.
	glob func(string) ([]string, error)
}

// Load parses and compiles the configuration described by opts. As in
// nginx, which handles each directive as soon as it has read it, the
// error reported is the first one in reading order: a directive error
// before a syntax error wins over it.
func Load(opts Options) (*Config, error) {
	opts = opts.withDefaults()
	tree, files, perr := parse(opts)
	if perr != nil {
		if _, err := compile(tree, opts, true); err != nil {
			return nil, err
		}
		return nil, perr
	}
	cfg, err := compile(tree, opts, false)
	if err != nil {
		return nil, err
	}
	cfg.Files = files
	cfg.SharedState = sharedState(tree)
	return cfg, nil
}

// Parse reads opts.File (with its includes) and the -g directives into one
// main-context directive list. Directives given with -g come first, as in
// nginx, and carry the file name "command line".
func Parse(opts Options) ([]*Directive, []SourceFile, error) {
	tree, files, err := parse(opts.withDefaults())
	if err != nil {
		return nil, nil, err
	}
	return tree, files, nil
}

// parse is Parse that also returns, on an error, the directives read
// before it.
func parse(opts Options) ([]*Directive, []SourceFile, *Error) {
	p := newParser(filepath.Dir(opts.File), opts.ReadFile)
	if opts.glob != nil {
		p.glob = opts.glob
	}
	var tree []*Directive
	if opts.Directives != "" {
		l := &lexer{file: cmdline, src: []byte(opts.Directives), line: 1, param: true}
		list, err := p.block(l, false)
		tree = append(tree, list...)
		if err != nil {
			return tree, p.files, err
		}
	}
	list, err := p.parseFile(opts.File, "", 0)
	tree = append(tree, list...)
	return tree, p.files, err
}

// Compile checks a parsed tree against the registry and builds the typed
// configuration.
func Compile(tree []*Directive, opts Options) (*Config, error) {
	return compile(tree, opts.withDefaults(), false)
}

// compile builds the configuration. A partial tree, cut short by a syntax
// error, is only checked: checks that need the whole configuration are
// skipped.
func compile(tree []*Directive, opts Options, partial bool) (*Config, error) {
	c := &compiler{cfg: defaultConfig(opts.File, opts.Prefix)}
	if err := c.walk(tree, CtxMain, c.cfg); err != nil {
		return nil, err
	}
	if partial {
		return c.cfg, nil
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	return c.cfg, nil
}

func (o Options) withDefaults() Options {
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.Prefix == "" {
		o.Prefix = filepath.Dir(o.File)
	} else if !filepath.IsAbs(o.File) {
		o.File = filepath.Join(o.Prefix, o.File)
	}
	if p, err := filepath.Abs(o.Prefix); err == nil {
		o.Prefix = p
	}
	if f, err := filepath.Abs(o.File); err == nil {
		o.File = f
	}
	return o
}
