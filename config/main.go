package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Config is a compiled configuration: typed, defaulted and validated. It is
// plain data; nothing in it listens, dials or starts goroutines.
type Config struct {
	File   string // the main configuration file
	Prefix string // the prefix path (-p), ending in "/"

	// WorkerProcesses is the number of CPUs to use; 0 means "auto" (all).
	// nginx's default of 1 applies when the directive is absent.
	WorkerProcesses    int
	Pid                string // path of the pid file
	PidSet             bool   // whether the pid directive was given
	ErrorLog           []ErrorLog
	Daemon             bool // sluice always runs in the foreground; kept for -T
	MasterProcess      bool
	WorkerRlimitNofile int // 0: leave the limit as it is
	// WorkerShutdownTimeout bounds a graceful stop and the life of a
	// retired generation after a reload: when it has passed, the
	// connections still open are closed. 0 (the default) waits for them.
	WorkerShutdownTimeout time.Duration
	Env                   []string

	Events Events

	Stream *Stream `json:",omitempty"`
	HTTP   *HTTP   `json:",omitempty"`

	// Warnings are nginx-style "[warn]" messages with file:line, such as
	// directives that are accepted and ignored.
	Warnings []string `json:",omitempty"`

	// SharedState says where the configuration first uses state that
	// nginx keeps in shared memory for its worker processes (limits,
	// caches, upstream zones, status), as "directive \"name\" in
	// file:line"; "" when it uses none. Such a configuration runs in one
	// process.
	SharedState string `json:"-"`

	// Files are the files read, in order, for -T.
	Files []SourceFile `json:"-"`
}

// ErrorLog is one error_log target.
type ErrorLog struct {
	Path   string  // a file path, "stderr", or a "syslog:" target as written
	Level  string  // debug, info, notice, warn, error, crit, alert or emerg
	Syslog *Syslog `json:",omitempty"` // the parsed "syslog:" target, or nil
}

// Events holds the events {} block.
type Events struct {
	WorkerConnections int // default 512
	Use               string
	MultiAccept       bool
	AcceptMutex       bool
}

// Stream (the stream {} block) is declared in stream.go.

// HTTP holds the http {} block; the L7 proxy fills it.
// type HTTP is declared in http.go.

// LogLevels are nginx's error log levels from most to least verbose.
var LogLevels = []string{"debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"}

func defaultConfig(file, prefix string) *Config {
	return &Config{
		File:            file,
		Prefix:          prefix,
		WorkerProcesses: 1,
		Pid:             filepath.Join(prefix, "logs/sluice.pid"),
		MasterProcess:   true,
		Events:          Events{WorkerConnections: 512},
	}
}

// path resolves a relative path against the prefix, as nginx does for
// pid, error_log and similar paths.
func (c *compiler) path(p string) string {
	if p == "stderr" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.cfg.Prefix, p)
}

var mainDirectives = []*Spec{
	{Name: "worker_processes", Ctx: CtxMain, Args: Args1, Set: func(c *compiler, d *Directive, _ any) (any, error) {
		if d.Args[0] == "auto" {
			c.cfg.WorkerProcesses = 0
			return nil, nil
		}
		// nginx also takes 0 (no worker at all) and any larger number;
		// sluice refuses 0 and numbers above maxWorkerProcesses, which it
		// could not turn into a number of CPUs to use.
		n, ok := parseDigits(d.Args[0])
		if !ok || n < 1 || n > maxWorkerProcesses {
			return nil, errorf(d.File, d.Line, `"%s" directive invalid value`, d.Name)
		}
		c.cfg.WorkerProcesses = int(n)
		return nil, nil
	}},
	{Name: "pid", Ctx: CtxMain, Args: Args1, Set: func(c *compiler, d *Directive, _ any) (any, error) {
		c.cfg.Pid = c.path(d.Args[0])
		c.cfg.PidSet = true
		return nil, nil
	}},
	{Name: "error_log", Ctx: CtxMain, Args: Args1More, Multi: true, Set: func(c *compiler, d *Directive, _ any) (any, error) {
		el, err := parseErrorLog(c, d)
		if err != nil {
			return nil, err
		}
		c.cfg.ErrorLog = append(c.cfg.ErrorLog, el)
		return nil, nil
	}},
	{Name: "daemon", Ctx: CtxMain, Args: ArgsFlag, Set: func(c *compiler, d *Directive, _ any) (any, error) {
		on, err := parseFlag(d)
		if err != nil {
			return nil, err
		}
		c.cfg.Daemon = on
		if on {
			c.warnf(d, `"daemon on" is not supported, sluice runs in the foreground`)
		}
		return nil, nil
	}},
	{Name: "master_process", Ctx: CtxMain, Args: ArgsFlag, Set: func(c *compiler, d *Directive, _ any) (any, error) {
		on, err := parseFlag(d)
		c.cfg.MasterProcess = on
		return nil, err
	}},
	{Name: "worker_rlimit_nofile", Ctx: CtxMain, Args: Args1, Set: func(c *compiler, d *Directive, _ any) (any, error) {
		n, err := parseNum(d, d.Args[0])
		c.cfg.WorkerRlimitNofile = n
		return nil, err
	}},
	{Name: "worker_shutdown_timeout", Ctx: CtxMain, Args: Args1, Set: func(c *compiler, d *Directive, _ any) (any, error) {
		t, err := timeValue(c, d)
		c.cfg.WorkerShutdownTimeout = t
		return nil, err
	}},
	{Name: "env", Ctx: CtxMain, Args: Args1, Multi: true, Set: func(c *compiler, d *Directive, _ any) (any, error) {
		c.cfg.Env = append(c.cfg.Env, d.Args[0])
		return nil, nil
	}},
	{Name: "load_module", Ctx: CtxMain, Args: Args1, Multi: true, Set: func(c *compiler, d *Directive, _ any) (any, error) {
		c.warnf(d, `the "%s" directive is ignored (the modules of sluice are built in)`, d.Name)
		return nil, nil
	}},
	{Name: "events", Ctx: CtxMain, Args: Args0, Block: CtxEvents, Set: func(c *compiler, d *Directive, _ any) (any, error) {
		return &c.cfg.Events, nil
	}},
	{Name: "worker_connections", Ctx: CtxEvents, Args: Args1, Set: func(c *compiler, d *Directive, t any) (any, error) {
		// a number too small for the listening sockets is refused once
		// they are all known, in finish
		n, ok := parseDigits(d.Args[0])
		if !ok {
			return nil, errorf(d.File, d.Line, `invalid number "%s"`, d.Args[0])
		}
		t.(*Events).WorkerConnections = int(n)
		return nil, nil
	}},
	{Name: "use", Ctx: CtxEvents, Args: Args1, Set: func(c *compiler, d *Directive, t any) (any, error) {
		// nginx built for Linux has the epoll event module only (select
		// and poll are left out when a better method exists).
		if d.Args[0] != "epoll" {
			return nil, errorf(d.File, d.Line, `invalid event type "%s"`, d.Args[0])
		}
		t.(*Events).Use = d.Args[0]
		return nil, nil
	}},
	{Name: "multi_accept", Ctx: CtxEvents, Args: ArgsFlag, Set: func(c *compiler, d *Directive, t any) (any, error) {
		on, err := parseFlag(d)
		t.(*Events).MultiAccept = on
		return nil, err
	}},
	{Name: "accept_mutex", Ctx: CtxEvents, Args: ArgsFlag, Set: func(c *compiler, d *Directive, t any) (any, error) {
		on, err := parseFlag(d)
		t.(*Events).AcceptMutex = on
		return nil, err
	}},
	{Name: "stream", Ctx: CtxMain, Args: Args0, Block: CtxStream, Set: func(c *compiler, d *Directive, _ any) (any, error) {
		c.cfg.Stream = &Stream{}
		return c.cfg.Stream, nil
	}},
	{Name: "http", Ctx: CtxMain, Args: Args0, Block: CtxHTTP, Set: func(c *compiler, d *Directive, _ any) (any, error) {
		c.cfg.HTTP = &HTTP{}
		return c.cfg.HTTP, nil
	}},
}

// maxWorkerProcesses bounds worker_processes: sluice turns it into the
// number of CPUs Go may use at once.
const maxWorkerProcesses = 1 << 20

// parseErrorLog reads error_log's arguments as nginx does: a target, then
// levels. nginx takes one of the eight levels and, with debug support,
// debug_core, debug_http and similar per-module debug masks; sluice treats
// a mask as the level "debug" and says so with a warning.
func parseErrorLog(c *compiler, d *Directive) (ErrorLog, error) {
	target := d.Args[0]
	if strings.HasPrefix(target, "memory:") {
		return ErrorLog{}, errorf(d.File, d.Line, `"%s" error log target is not supported by sluice`, target)
	}
	el := ErrorLog{Path: target, Level: "error"}
	if isSyslog(target) {
		sl, err := parseSyslog(d, target)
		if err != nil {
			return ErrorLog{}, err
		}
		el.Syslog = sl
	} else {
		el.Path = c.path(target)
	}
	var level string
	var masks []string
	for _, a := range d.Args[1:] {
		switch {
		case isLogLevel(a):
			if level != "" || len(masks) > 0 {
				return ErrorLog{}, errorf(d.File, d.Line, `duplicate log level "%s"`, a)
			}
			level = a
		case isDebugMask(a):
			if level != "" {
				return ErrorLog{}, errorf(d.File, d.Line, `invalid log level "%s"`, a)
			}
			masks = append(masks, a)
		default:
			return ErrorLog{}, errorf(d.File, d.Line, `invalid log level "%s"`, a)
		}
	}
	if level != "" {
		el.Level = level
	}
	if len(masks) > 0 {
		el.Level = "debug"
		c.warnf(d, `the debug mask "%s" is not supported, all debug messages are logged`, masks[0])
	}
	return el, nil
}

func isLogLevel(s string) bool {
	for _, l := range LogLevels {
		if l == s {
			return true
		}
	}
	return false
}

// debugMasks are nginx's per-module debug levels.
var debugMasks = []string{"debug_core", "debug_alloc", "debug_mutex", "debug_event", "debug_http", "debug_mail", "debug_stream"}

func isDebugMask(s string) bool {
	for _, m := range debugMasks {
		if m == s {
			return true
		}
	}
	return false
}

// finish runs the checks nginx makes once the whole configuration is read.
func (c *compiler) finish() error {
	// nginx keeps one connection for the channel to the master process
	listening := 0
	for _, count := range listenCounters {
		listening += count(c.cfg)
	}
	if n := c.cfg.Events.WorkerConnections; n < listening+1 {
		return &Error{Msg: fmt.Sprintf("%d worker_connections are not enough for %d listening sockets", n, listening)}
	}
	return nil
}
