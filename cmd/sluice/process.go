package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/sluicelb/sluice/internal/logconf"
	"io"
	"log/slog"
	"os"
	"os/signal"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/runtime"
)

// modules lists nginx's modules in the order nginx's configure names them
// and whether sluice implements them; -V prints them as --with-X or
// --without-X.
var modules = []struct {
	name string
	done bool
}{
	{"stream", true},
	{"stream_ssl_module", true},
	{"stream_ssl_preread_module", true},
	{"stream_realip_module", true},
	{"stream_upstream_hash_module", true},
	{"http_upstream_module", true},
	{"http_proxy_module", true},
	{"http_ssl_module", true},
	{"http_v2_module", true},
	{"http_realip_module", true},
	{"http_sub_module", true},
	{"http_auth_request_module", true},
	{"http_stub_status_module", true},
	{"http_gzip_module", true},
	{"http_gunzip_module", true},
	{"http_secure_link_module", true},
	{"http_random_index_module", true},
	{"http_userid_module", true},
	{"http_empty_gif_module", true},
	{"http_auth_basic_module", true},
	{"http_mirror_module", true},
	{"http_grpc_module", true},
	{"http_fastcgi_module", true},
	{"http_uwsgi_module", true},
	{"http_scgi_module", true},
}

func buildInfo() string {
	var args []string
	for _, m := range modules {
		if m.done {
			args = append(args, "--with-"+m.name)
		} else {
			args = append(args, "--without-"+m.name)
		}
	}
	return fmt.Sprintf("built with %s\nconfigure arguments: %s\n", goruntime.Version(), strings.Join(args, " "))
}

func loadConfig(o *options) (*config.Config, error) {
	return config.Load(config.Options{File: o.conf, Prefix: o.prefix, Directives: o.directives})
}

// testConfig implements -t and -T.
func testConfig(o *options, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: [emerg] %v\n", err)
		fmt.Fprintf(stderr, "sluice: configuration file %s test failed\n", o.conf)
		return 1
	}
	if !o.quiet {
		for _, w := range cfg.Warnings {
			fmt.Fprintf(stderr, "sluice: [warn] %s\n", w)
		}
	}
	if _, err := runtime.Build(cfg, slog.New(slog.DiscardHandler)); err != nil {
		fmt.Fprintf(stderr, "sluice: [emerg] %v\n", err)
		fmt.Fprintf(stderr, "sluice: configuration file %s test failed\n", o.conf)
		return 1
	}
	if !o.quiet {
		fmt.Fprintf(stderr, "sluice: the configuration file %s syntax is ok\n", o.conf)
		fmt.Fprintf(stderr, "sluice: configuration file %s test is successful\n", o.conf)
	}
	if o.dump {
		var b bytes.Buffer
		for _, f := range cfg.Files {
			fmt.Fprintf(&b, "# configuration file %s:\n", f.Name)
			b.Write(f.Content)
			b.WriteByte('\n')
		}
		stdout.Write(b.Bytes())
	}
	return 0
}

// sendSignal implements -s: it reads the configuration to find the pid
// file and signals the process named there.
func sendSignal(o *options, stderr io.Writer) int {
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: [emerg] %v\n", err)
		return 1
	}
	data, err := os.ReadFile(cfg.Pid)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: [error] open() %q failed (%v)\n", cfg.Pid, errnoOf(err))
		return 1
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		fmt.Fprintf(stderr, "sluice: [error] invalid PID number %q in %q\n", strings.TrimSpace(string(data)), cfg.Pid)
		return 1
	}
	sig := map[string]syscall.Signal{"stop": syscall.SIGTERM, "quit": syscall.SIGQUIT,
		"reopen": syscall.SIGUSR1, "reload": syscall.SIGHUP}[o.signal]
	if err := syscall.Kill(pid, sig); err != nil {
		fmt.Fprintf(stderr, "sluice: [alert] kill(%d, %d) failed (%v)\n", pid, int(sig), errnoOf(err))
		return 1
	}
	return 0
}

func errnoOf(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		t := errno.Error()
		return fmt.Sprintf("%d: %s", int(errno), strings.ToUpper(t[:1])+t[1:])
	}
	return err.Error()
}

// logTargets returns the error log targets of cfg; -e sets the default
// used when the configuration has no error_log.
func logTargets(o *options, cfg *config.Config) []errlog.Target {
	ts := logconf.ErrorTargets(cfg.ErrorLog)
	if len(ts) == 0 {
		path := "stderr"
		if o.errlog != "" {
			path = o.errlog
		}
		ts = append(ts, errlog.Target{Path: path, Level: errlog.LevelError})
	}
	return ts
}

// setLimit sets both fields of a syscall.Rlimit, whose type is uint64 on
// Linux and int64 on some other systems.
func setLimit[T int64 | uint64](cur, max *T, n int) {
	*cur, *max = T(n), T(n)
}

// applyProcessSettings applies worker_processes, worker_rlimit_nofile and env.
func applyProcessSettings(cfg *config.Config, log *slog.Logger) {
	if cfg.WorkerProcesses > 0 {
		goruntime.GOMAXPROCS(cfg.WorkerProcesses)
	} else {
		goruntime.GOMAXPROCS(goruntime.NumCPU())
	}
	if n := cfg.WorkerRlimitNofile; n > 0 {
		var lim syscall.Rlimit
		setLimit(&lim.Cur, &lim.Max, n)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Log(context.Background(), errlog.LevelAlert, "setrlimit(RLIMIT_NOFILE) failed", "value", n, "err", err)
		}
	}
	for _, e := range cfg.Env {
		if k, v, ok := strings.Cut(e, "="); ok {
			os.Setenv(k, v)
		}
	}
}

// serve runs sluice in the foreground until it is stopped.
func serve(o *options, stderr io.Writer) int {
	cfg, err := loadConfig(o)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: [emerg] %v\n", err)
		return 1
	}
	elog, err := errlog.New(logTargets(o, cfg), errlog.Options{Stderr: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "sluice: [emerg] %v\n", err)
		return 1
	}
	defer elog.Close()
	log := elog.Logger()
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "sluice: [warn] %s\n", w)
	}
	applyProcessSettings(cfg, log)

	// Signals are caught before anything is bound so that none is lost.
	sigs := notifySignals()
	defer signal.Stop(sigs)
	if procs, ok := isWorker(); ok {
		return serveWorker(procs, cfg, elog, log, sigs)
	}
	if workerCount(cfg) > 0 {
		return master(o, cfg, elog, log, sigs, stderr)
	}

	srv := runtime.NewServer(log)
	gen, err := runtime.Build(cfg, log)
	if err == nil {
		err = srv.Apply(gen)
	}
	if err != nil {
		log.Log(context.Background(), errlog.LevelEmerg, err.Error())
		if !strings.Contains(fmt.Sprint(logTargets(o, cfg)), "stderr") {
			fmt.Fprintf(stderr, "sluice: [emerg] %v\n", err)
		}
		srv.Shutdown(context.Background(), false)
		return 1
	}
	pidFile, ok := takePidFile(cfg, log)
	if !ok {
		srv.Shutdown(context.Background(), false)
		return 1
	}
	defer removePidFile(pidFile)
	log.Log(context.Background(), errlog.LevelNotice, "sluice/"+Version+" started", "pid", os.Getpid())

	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			log.Log(context.Background(), errlog.LevelNotice, "signal 1 (SIGHUP) received, reconfiguring")
			reload(o, srv, elog, log)
		case syscall.SIGUSR1:
			log.Log(context.Background(), errlog.LevelNotice, "signal 10 (SIGUSR1) received, reopening logs")
			reopenLogs(elog, log, srv)
		case syscall.SIGQUIT:
			log.Log(context.Background(), errlog.LevelNotice, "signal 3 (SIGQUIT) received, shutting down gracefully")
			srv.Shutdown(context.Background(), true)
			log.Log(context.Background(), errlog.LevelNotice, "exit")
			return 0
		default:
			log.Log(context.Background(), errlog.LevelNotice, fmt.Sprintf("signal %d (%s) received, exiting", sigNum(sig), sigName(sig)))
			srv.Shutdown(context.Background(), false)
			log.Log(context.Background(), errlog.LevelNotice, "exit")
			return 0
		}
	}
	return 0
}

// reopenLogs reopens the error log and, with srv, the log files of the
// configuration srv serves (SIGUSR1).
func reopenLogs(elog *errlog.Log, log *slog.Logger, srv *runtime.Server) {
	if err := elog.Reopen(); err != nil {
		log.Log(context.Background(), errlog.LevelAlert, "reopen failed", "err", err)
	}
	if srv == nil {
		return
	}
	if g := srv.Current(); g != nil {
		for _, r := range g.Reopeners {
			r()
		}
	}
}

// reload reads the configuration again and swaps it in; on any error the
// running configuration keeps serving and the error is logged.
func reload(o *options, srv *runtime.Server, elog *errlog.Log, log *slog.Logger) {
	cfg, err := loadConfig(o)
	if err == nil {
		var gen *runtime.Generation
		gen, err = runtime.Build(cfg, log)
		if err == nil {
			err = srv.Apply(gen)
		}
	}
	if err != nil {
		log.Log(context.Background(), errlog.LevelEmerg, err.Error())
		log.Log(context.Background(), errlog.LevelNotice, "reload failed, the running configuration is kept")
		return
	}
	if err := elog.SetTargets(logTargets(o, cfg)); err != nil {
		log.Log(context.Background(), errlog.LevelAlert, "error log kept", "err", err)
	}
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	log.Log(context.Background(), errlog.LevelNotice, "configuration reloaded")
}

// takePidFile writes the pid file cfg names. When it cannot, it logs why
// and, if the pid directive asked for that file, reports false (sluice
// does not start); otherwise it runs without one and returns "".
func takePidFile(cfg *config.Config, log *slog.Logger) (path string, ok bool) {
	if err := writePid(cfg.Pid); err != nil {
		if cfg.PidSet {
			log.Log(context.Background(), errlog.LevelEmerg, err.Error())
			return "", false
		}
		log.Warn("running without a pid file", "err", err)
		return "", true
	}
	return cfg.Pid, true
}

// removePidFile removes the pid file takePidFile wrote, if any.
func removePidFile(path string) {
	if path != "" {
		os.Remove(path)
	}
}

func writePid(path string) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("open() %q failed (%s)", path, errnoOf(err))
	}
	return nil
}

func sigNum(s os.Signal) int {
	if ss, ok := s.(syscall.Signal); ok {
		return int(ss)
	}
	return 0
}

func sigName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return s.String()
}
