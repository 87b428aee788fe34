// Command sluice is a load balancer and reverse proxy that reads nginx
// configuration files. Its command line is nginx's:
//
//	sluice [-?hvVtTq] [-s signal] [-p prefix] [-e filename] [-c filename] [-g directives]
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Version is the sluice version printed by -v and -V.
const Version = "0.1.0"

type options struct {
	help, version, versionFull bool
	test, dump, quiet          bool
	signal                     string
	prefix, errlog, conf       string
	directives                 string
	confGiven                  bool
}

func main() {
	stop := startProfile(profilePath(os.Getenv("SLUICE_CPUPROFILE")))
	code := run(os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(args []string, stdout, stderr io.Writer) int {
	if demo, implicit, rest := wantDemo(args); demo {
		return runDemo(rest, implicit, stdout, stderr)
	}
	opts, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	if opts.help || opts.version || opts.versionFull {
		fmt.Fprintf(stderr, "sluice version: sluice/%s\n", Version)
		if opts.versionFull {
			fmt.Fprint(stderr, buildInfo())
		}
		if opts.help {
			fmt.Fprint(stderr, usage(opts))
		}
		return 0
	}
	switch {
	case opts.signal != "":
		return sendSignal(opts, stderr)
	case opts.test || opts.dump:
		return testConfig(opts, stdout, stderr)
	}
	return serve(opts, stderr)
}

// parseArgs parses nginx's command line: single-letter options that may be
// grouped (-tq), with values either attached (-cfile) or in the next
// argument (-c file).
func parseArgs(args []string) (*options, error) {
	o := &options{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' {
			return nil, fmt.Errorf("invalid option: %q", a)
		}
	flags:
		for j := 1; j < len(a); j++ {
			switch c := a[j]; c {
			case '?', 'h':
				o.help = true
			case 'v':
				o.version = true
			case 'V':
				o.versionFull = true
			case 't':
				o.test = true
			case 'T':
				o.test, o.dump = true, true
			case 'q':
				o.quiet = true
			case 'c', 'p', 'g', 'e', 's':
				var v string
				if j+1 < len(a) {
					v = a[j+1:]
				} else if i+1 < len(args) {
					i++
					v = args[i]
				} else {
					return nil, fmt.Errorf("option \"-%c\" requires %s", c, map[byte]string{
						'c': "file name", 'p': "directory name", 'g': "parameter",
						'e': "file name", 's': "parameter"}[c])
				}
				switch c {
				case 'c':
					o.conf, o.confGiven = v, true
				case 'p':
					o.prefix = v
				case 'g':
					o.directives = v
				case 'e':
					o.errlog = v
				case 's':
					switch v {
					case "stop", "quit", "reopen", "reload":
						o.signal = v
					default:
						return nil, fmt.Errorf("invalid option: \"-s %s\"", v)
					}
				}
				break flags
			default:
				return nil, fmt.Errorf("invalid option: %q", a[j:])
			}
		}
	}
	if o.prefix == "" {
		if wd, err := os.Getwd(); err == nil {
			o.prefix = wd
		}
	} else if p, err := filepath.Abs(o.prefix); err == nil {
		o.prefix = p
	}
	if o.conf == "" {
		o.conf = "conf/sluice.conf"
	}
	if !filepath.IsAbs(o.conf) {
		o.conf = filepath.Join(o.prefix, o.conf)
	}
	return o, nil
}

func usage(o *options) string {
	return strings.Join([]string{
		"Usage: sluice [-?hvVtTq] [-s signal] [-p prefix]",
		"              [-e filename] [-c filename] [-g directives]",
		"       sluice demo",
		"",
		"Options:",
		"  -?,-h         : this help",
		"  -v            : show version and exit",
		"  -V            : show version and configure options then exit",
		"  -t            : test configuration and exit",
		"  -T            : test configuration, dump it and exit",
		"  -q            : suppress non-error messages during configuration testing",
		"  -s signal     : send signal to a master process: stop, quit, reopen, reload",
		"  -p prefix     : set prefix path (default: the current directory)",
		"  -e filename   : set error log file (default: stderr)",
		"  -c filename   : set configuration file (default: conf/sluice.conf)",
		"  -g directives : set global directives out of configuration file",
		"",
	}, "\n")
}
