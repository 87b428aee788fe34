package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// positionless are the errors nginx reports without a file and line: checks
// of the whole configuration made once it is read.
var positionless = regexp.MustCompile(`^(\d+ worker_connections are not enough for \d+ listening sockets|zero size shared memory zone "[^"]*"|no (proxy_)?ssl_(client|trusted)_certificate for (proxy_)?ssl_verify(_client)?|no "proxy_ssl_certificate_key" is defined for certificate "[^"]*")$`)

// FuzzParse feeds arbitrary bytes to the lexer, parser and compiler as a
// configuration file (and as -g directives) through a ReadFile stub. It
// must never panic, and every error must carry a file and a line >= 1.
// The included file "inc.conf" reads as the input itself, so includes
// nest and loop; globs match nothing.
func FuzzParse(f *testing.F) {
	f.Add([]byte("worker_processes auto;\nevents { worker_connections 1024; }\n"), "")
	f.Add([]byte("env \"a\\\"b\" 'c' ${x} $y;\ninclude inc.conf;\n"), "pid x.pid;")
	f.Add([]byte("events {\n include *.conf;\n}\n}"), "env A")
	f.Add([]byte("http { types { text/html html; } }\nstream { }\n"), "")
	f.Add([]byte("env \"a\")\n\"b\"c;#\x00\xff"), "events {}")
	// no name resolution while fuzzing: it is slow and not the parser's
	lookup := LookupHost
	LookupHost = func(host string) ([]string, error) { return nil, errors.New("no resolution while fuzzing") }
	f.Cleanup(func() { LookupHost = lookup })
	goldens, _ := filepath.Glob("testdata/golden/*.conf")
	for _, name := range goldens {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b, "")
		}
	}
	f.Fuzz(func(t *testing.T, conf []byte, g string) {
		const main = "/fuzz/conf/main.conf"
		reads := 0
		opts := Options{
			File:       main,
			Prefix:     "/fuzz",
			Directives: g,
			ReadFile: func(name string) ([]byte, error) {
				reads++
				switch name {
				case main, "/fuzz/conf/inc.conf":
					return conf, nil
				}
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			},
			glob: func(string) ([]string, error) { return nil, nil },
		}
		type result struct {
			cfg *Config
			err error
		}
		done := make(chan result, 1)
		go func() {
			cfg, err := Load(opts)
			done <- result{cfg, err}
		}()
		var cfg *Config
		var err error
		select {
		case r := <-done:
			cfg, err = r.cfg, r.err
		case <-time.After(10 * time.Second):
			t.Fatalf("Load did not return within 10s")
		}
		if reads > maxFiles+1 {
			t.Fatalf("read %d files, more than the bound %d", reads, maxFiles)
		}
		if err == nil {
			if cfg == nil {
				t.Fatal("no configuration and no error")
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error of type %T, want *Error: %v", err, err)
		}
		if positionless.MatchString(e.Msg) {
			return
		}
		if e.File == "" || e.Line < 1 {
			t.Fatalf("error without a position (file %q, line %d): %v", e.File, e.Line, err)
		}
		if e.File != main && e.File != "/fuzz/conf/inc.conf" && e.File != cmdline {
			t.Fatalf("error in unexpected file %q: %v", e.File, err)
		}
		if strings.Count(string(conf), "\n")+1 < e.Line && e.File != cmdline {
			t.Fatalf("error line %d beyond the input's %d lines: %v", e.Line, strings.Count(string(conf), "\n")+1, err)
		}
	})
}
