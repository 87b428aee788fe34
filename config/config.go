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
}

// Load parses and compiles the configuration described by opts.
func Load(opts Options) (*Config, error) {
	tree, files, err := Parse(opts)
	if err != nil {
		return nil, err
	}
	cfg, err := Compile(tree, opts)
	if err != nil {
		return nil, err
	}
	cfg.Files = files
	return cfg, nil
}

// Parse reads opts.File (with its includes) and the -g directives into one
// main-context directive list. Directives given with -g come first, as in
// nginx, and carry the file name "command line".
func Parse(opts Options) ([]*Directive, []SourceFile, error) {
	opts = opts.withDefaults()
	confPrefix := filepath.Dir(opts.File)
	p := &parser{confPrefix: confPrefix, readFile: opts.ReadFile}
	var tree []*Directive
	if opts.Directives != "" {
		l := &lexer{file: cmdline, src: []byte(opts.Directives), line: 1}
		list, err := p.block(l, false)
		if err != nil {
			return nil, nil, err
		}
		tree = append(tree, list...)
	}
	list, err := p.parseFile(opts.File)
	if err != nil {
		return nil, nil, err
	}
	tree = append(tree, list...)
	return tree, p.files, nil
}

// Compile checks a parsed tree against the registry and builds the typed
// configuration.
func Compile(tree []*Directive, opts Options) (*Config, error) {
	opts = opts.withDefaults()
	c := &compiler{cfg: defaultConfig(opts.File, opts.Prefix)}
	if err := c.walk(tree, CtxMain, c.cfg); err != nil {
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
	}
	if !filepath.IsAbs(o.File) {
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
