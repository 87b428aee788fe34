package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/runtime"
)

// Worker processes, as nginx runs them. With worker_processes above one,
// sluice runs as a master process that opens the listening sockets and
// starts that many worker processes, each a whole sluice serving the
// configuration on one processor (GOMAXPROCS 1) and accepting from the
// same sockets. Each worker then waits for its network events in its own
// epoll set and runs what they wake on the thread that waited: one
// process with several processors hands much of that work from thread to
// thread instead.
//
// The master does what nginx's does: it writes the pid file, takes the
// signals, starts the workers again when one dies, and on a reload
// checks the new configuration, opens the sockets it adds, starts new
// workers on it and, once they serve, tells the old ones to stop
// accepting and finish their connections (SIGQUIT). A configuration that
// fails, or whose workers fail to start, leaves the old workers serving.
//
// As in nginx without a "zone", each worker keeps its own upstream state
// (round-robin position, connection counts, failures). State that nginx
// keeps in shared memory (limit zones, caches, upstream zones, status and
// the API, health checks) sluice keeps in one process: a configuration
// that uses it runs as one process with worker_processes processors (one
// worker, under the master, after a reload).
//
// The master starts a worker by running its own executable again with
// the listening sockets as descriptors 3 and up and these variables:
const (
	envWorker = "SLUICE_WORKER" // the number of processors the worker uses
	envListen = "SLUICE_LISTEN" // the sockets' addresses, one per line, in descriptor order
)

// The worker's status socket, the descriptor after the listening sockets,
// carries one byte when the worker serves (workerReady) and one when it
// has stopped accepting (workerStopped). The worker reads the end of the
// stream there when its master is gone, and then stops gracefully.
const (
	workerReady   = 'R'
	workerStopped = 'Q'
)

// workerCount is the number of worker processes cfg asks for: 0 when
// sluice should run as one process.
func workerCount(cfg *config.Config) int {
	n := cfg.WorkerProcesses
	if n == 0 {
		n = goruntime.NumCPU()
	}
	if n < 2 || !cfg.MasterProcess || goruntime.GOOS == "windows" {
		return 0
	}
	return n
}

// workerPlan is how a configuration is served under the master: count
// workers of procs processors each.
func workerPlan(cfg *config.Config) (count, procs int) {
	n := cfg.WorkerProcesses
	if n == 0 {
		n = goruntime.NumCPU()
	}
	if cfg.SharedState != "" {
		return 1, n
	}
	return n, 1
}

// isWorker reports whether this process is a worker its master started,
// and with how many processors.
func isWorker() (procs int, ok bool) {
	v := os.Getenv(envWorker)
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		n = 1
	}
	return n, true
}

// workerSockets returns the listening sockets and the status socket a
// master handed to this worker.
func workerSockets() (keys []string, files []*os.File, status *os.File) {
	if v := os.Getenv(envListen); v != "" {
		keys = strings.Split(v, "\n")
	}
	for i := range keys {
		files = append(files, os.NewFile(uintptr(3+i), keys[i]))
	}
	status = os.NewFile(uintptr(3+len(keys)), "status")
	os.Unsetenv(envWorker)
	os.Unsetenv(envListen)
	return keys, files, status
}

// serveWorker is serve for a worker process: it serves the sockets its
// master opened, tells the master when it serves and when it has stopped
// accepting, and stops when the master says so or is gone.
func serveWorker(procs int, cfg *config.Config, elog *errlog.Log, log *slog.Logger, sigs chan os.Signal) int {
	keys, files, status := workerSockets()
	defer status.Close()
	goruntime.GOMAXPROCS(procs)
	// worker_connections and the upstream keepalive pools are per
	// worker, as in nginx
	cfg.WorkerProcesses = procs

	srv := runtime.NewServer(log)
	err := srv.Inherit(keys, files)
	var gen *runtime.Generation
	if err == nil {
		gen, err = runtime.Build(cfg, log)
	}
	if err == nil {
		err = srv.Apply(gen)
	}
	if err != nil {
		log.Log(context.Background(), errlog.LevelEmerg, err.Error())
		srv.Shutdown(context.Background(), false)
		return 1
	}
	status.Write([]byte{workerReady})
	masterGone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, status)
		close(masterGone)
	}()

	stop := func(graceful bool) int {
		srv.StopAccepting()
		status.Write([]byte{workerStopped})
		srv.Shutdown(context.Background(), graceful)
		return 0
	}
	for {
		select {
		case <-masterGone:
			log.Log(context.Background(), errlog.LevelAlert, "the master process is gone, shutting down gracefully")
			return stop(true)
		case sig := <-sigs:
			switch sig {
			case syscall.SIGUSR1:
				reopenLogs(elog, log, srv)
			case syscall.SIGHUP:
				// the master reloads, by starting new workers
			case syscall.SIGQUIT:
				return stop(true)
			default:
				return stop(false)
			}
		}
	}
}

// worker is one worker process, seen from the master.
type worker struct {
	cmd    *exec.Cmd
	index  int           // which of the listening sockets it serves
	status chan byte     // bytes from the status socket; closed at its end
	exited chan struct{} // closed when the process has exited
	quit   bool          // told to stop: its exit is expected
}

// startWorker starts worker i, serving its share of ls's sockets for
// bindings with procs processors.
func startWorker(ls *runtime.ListenSet, bindings []runtime.Binding, i, procs int, stderr io.Writer) (*worker, error) {
	// The running executable, as fork would run it: on Linux
	// /proc/self/exe opens it even if its file has been replaced since
	// (an upgrade takes a restart, as it does for nginx without its
	// binary-upgrade signals).
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	keys, files, err := ls.FilesFor(bindings, i)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	// close-on-exec, so that no other child inherits it (ExtraFiles
	// passes it to this one)
	syscall.ForkLock.RLock()
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(pair[0])
		syscall.CloseOnExec(pair[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	mine, theirs := os.NewFile(uintptr(pair[0]), "status"), os.NewFile(uintptr(pair[1]), "status")
	defer theirs.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), envWorker+"="+strconv.Itoa(procs), envListen+"="+strings.Join(keys, "\n"))
	cmd.Stdout, cmd.Stderr = os.Stdout, stderr
	cmd.ExtraFiles = append(append([]*os.File(nil), files...), theirs)
	if err := cmd.Start(); err != nil {
		mine.Close()
		return nil, err
	}
	w := &worker{cmd: cmd, index: i, status: make(chan byte, 4), exited: make(chan struct{})}
	go func() {
		defer close(w.status)
		defer mine.Close()
		b := make([]byte, 1)
		for {
			if _, err := mine.Read(b); err != nil {
				return
			}
			w.status <- b[0]
		}
	}()
	go func() {
		cmd.Wait()
		close(w.exited)
	}()
	return w, nil
}

// waitStatus waits for the worker to send want. It reports false when
// the worker ended first, or timeout passed.
func (w *worker) waitStatus(want byte, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case b, ok := <-w.status:
			if !ok {
				return false
			}
			if b == want {
				return true
			}
		case <-t.C:
			return false
		}
	}
}

func (w *worker) signal(s syscall.Signal) { w.cmd.Process.Signal(s) }

// startTimeout bounds how long a worker may take to start serving.
const startTimeout = 30 * time.Second

// master runs the master process of cfg, whose error log is elog, until
// it is stopped. sigs receives the signals it handles.
func master(o *options, cfg *config.Config, elog *errlog.Log, log *slog.Logger, sigs chan os.Signal, stderr io.Writer) int {
	goruntime.GOMAXPROCS(1)
	bindings, err := checkConfig(cfg, log)
	var ls runtime.ListenSet
	if err == nil {
		n, _ := workerPlan(cfg)
		_, err = ls.Update(bindings, n)
	}
	if err != nil {
		log.Log(context.Background(), errlog.LevelEmerg, err.Error())
		if !strings.Contains(fmt.Sprint(logTargets(o, cfg)), "stderr") {
			fmt.Fprintf(stderr, "sluice: [emerg] %v\n", err)
		}
		return 1
	}
	defer ls.Close(runtime.Opened{})
	pidFile, ok := takePidFile(cfg, log)
	if !ok {
		return 1
	}
	defer removePidFile(pidFile)

	m := &masterState{log: log, stderr: stderr, ls: &ls}
	if err := m.startAll(cfg, bindings); err != nil {
		log.Log(context.Background(), errlog.LevelEmerg, err.Error())
		return 1
	}
	log.Log(context.Background(), errlog.LevelNotice, "sluice/"+Version+" started", "pid", os.Getpid())

	for {
		select {
		case <-m.exits:
			m.reap()
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				log.Log(context.Background(), errlog.LevelNotice, "signal 1 (SIGHUP) received, reconfiguring")
				m.reload(o, elog)
			case syscall.SIGUSR1:
				log.Log(context.Background(), errlog.LevelNotice, "signal 10 (SIGUSR1) received, reopening logs")
				reopenLogs(elog, log, nil)
				m.signalAll(syscall.SIGUSR1)
			case syscall.SIGQUIT:
				log.Log(context.Background(), errlog.LevelNotice, "signal 3 (SIGQUIT) received, shutting down gracefully")
				m.stopAll(syscall.SIGQUIT)
				log.Log(context.Background(), errlog.LevelNotice, "exit")
				return 0
			default:
				log.Log(context.Background(), errlog.LevelNotice, fmt.Sprintf("signal %d (%s) received, exiting", sigNum(sig), sigName(sig)))
				m.stopAll(syscall.SIGTERM)
				log.Log(context.Background(), errlog.LevelNotice, "exit")
				return 0
			}
		}
	}
}

// checkConfig builds cfg to check it, as a worker will, and returns the
// listening sockets it needs.
func checkConfig(cfg *config.Config, log *slog.Logger) ([]runtime.Binding, error) {
	gen, err := runtime.Build(cfg, log)
	if err != nil {
		return nil, err
	}
	bindings := gen.Bindings
	gen.Discard()
	return bindings, nil
}

// masterState is what the master keeps: its sockets and its workers.
type masterState struct {
	log    *slog.Logger
	stderr io.Writer
	ls     *runtime.ListenSet

	bindings []runtime.Binding // the current configuration's sockets
	procs    int               // processors per worker
	workers  []*worker         // serving the current configuration
	old      []*worker         // finishing an earlier one
	exits    chan struct{}     // a worker has exited
}

// spawn starts workers first to first+n-1 for bindings and waits until
// they serve. If one fails, the ones started are stopped and the error
// returned.
func (m *masterState) spawn(first, n, procs int, bindings []runtime.Binding) ([]*worker, error) {
	var started []*worker
	fail := func(err error) ([]*worker, error) {
		for _, w := range started {
			w.quit = true
			w.signal(syscall.SIGTERM)
		}
		for _, w := range started {
			<-w.exited
		}
		return nil, err
	}
	for i := first; i < first+n; i++ {
		w, err := startWorker(m.ls, bindings, i, procs, m.stderr)
		if err != nil {
			return fail(fmt.Errorf("could not start a worker process: %v", err))
		}
		started = append(started, w)
	}
	for _, w := range started {
		if !w.waitStatus(workerReady, startTimeout) {
			return fail(fmt.Errorf("worker process %d did not start", w.cmd.Process.Pid))
		}
		m.log.Log(context.Background(), errlog.LevelNotice, fmt.Sprintf("start worker process %d", w.cmd.Process.Pid))
		m.watch(w)
	}
	return started, nil
}

// watch makes the worker's exit reach the master's loop.
func (m *masterState) watch(w *worker) {
	go func() {
		<-w.exited
		m.exits <- struct{}{}
	}()
}

// plan is workerPlan, told in the error log when the configuration
// keeps the workers from being several.
func (m *masterState) plan(cfg *config.Config) (count, procs int) {
	count, procs = workerPlan(cfg)
	if count == 1 && procs > 1 {
		m.log.Log(context.Background(), errlog.LevelNotice, fmt.Sprintf("one worker process with %d processors serves: %s keeps state the processes would share", procs, cfg.SharedState))
	}
	return count, procs
}

// startAll starts the workers of the first configuration.
func (m *masterState) startAll(cfg *config.Config, bindings []runtime.Binding) error {
	m.exits = make(chan struct{}, 64)
	n, procs := m.plan(cfg)
	ws, err := m.spawn(0, n, procs, bindings)
	if err != nil {
		return err
	}
	m.workers, m.bindings, m.procs = ws, bindings, procs
	return nil
}

// reap handles the workers that have exited: an old one that finished is
// forgotten; a current one that died is replaced, as nginx's master
// replaces it.
func (m *masterState) reap() {
	m.old = without(m.old, func(w *worker) bool { return exited(w) })
	for i, w := range m.workers {
		if !exited(w) || w.quit {
			continue
		}
		m.log.Log(context.Background(), errlog.LevelAlert, fmt.Sprintf("worker process %d exited %s", w.cmd.Process.Pid, howExited(w.cmd.ProcessState)))
		nw, err := m.spawn(w.index, 1, m.procs, m.bindings)
		if err != nil {
			m.log.Log(context.Background(), errlog.LevelAlert, err.Error())
			continue
		}
		m.workers[i] = nw[0]
	}
}

// howExited says how a process ended, in nginx's words.
func howExited(ps *os.ProcessState) string {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("on signal %d", int(ws.Signal()))
	}
	return fmt.Sprintf("with code %d", ps.ExitCode())
}

func exited(w *worker) bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

func without(ws []*worker, drop func(*worker) bool) []*worker {
	out := ws[:0]
	for _, w := range ws {
		if !drop(w) {
			out = append(out, w)
		}
	}
	return out
}

// reload checks the configuration again and, if it is good, starts
// workers on it and retires the old ones; on any error the old workers
// keep serving and the error is logged.
func (m *masterState) reload(o *options, elog *errlog.Log) {
	cfg, err := loadConfig(o)
	var bindings []runtime.Binding
	var opened runtime.Opened
	var ws []*worker
	if err == nil {
		bindings, err = checkConfig(cfg, m.log)
	}
	n, procs := 0, 0
	if err == nil {
		n, procs = m.plan(cfg)
		opened, err = m.ls.Update(bindings, n)
	}
	if err == nil {
		ws, err = m.spawn(0, n, procs, bindings)
		if err != nil {
			m.ls.Close(opened)
		}
	}
	if err != nil {
		m.log.Log(context.Background(), errlog.LevelEmerg, err.Error())
		m.log.Log(context.Background(), errlog.LevelNotice, "reload failed, the running configuration is kept")
		return
	}
	// The old workers stop accepting before the reload is reported:
	// from then on, new connections reach the new configuration.
	retiring := m.workers
	for _, w := range retiring {
		w.quit = true
		w.signal(syscall.SIGQUIT)
	}
	for _, w := range retiring {
		w.waitStatus(workerStopped, 5*time.Second)
	}
	m.old = append(m.old, retiring...)
	m.workers, m.bindings, m.procs = ws, bindings, procs
	m.ls.Retain(bindings, n)
	if err := elog.SetTargets(logTargets(o, cfg)); err != nil {
		m.log.Log(context.Background(), errlog.LevelAlert, "error log kept", "err", err)
	}
	for _, w := range cfg.Warnings {
		m.log.Warn(w)
	}
	m.log.Log(context.Background(), errlog.LevelNotice, "configuration reloaded")
}

// signalAll sends s to every worker, current and old.
func (m *masterState) signalAll(s syscall.Signal) {
	for _, w := range append(append([]*worker(nil), m.workers...), m.old...) {
		w.signal(s)
	}
}

// stopAll stops every worker with s (SIGQUIT: gracefully) and waits
// for them to exit.
func (m *masterState) stopAll(s syscall.Signal) {
	all := append(append([]*worker(nil), m.workers...), m.old...)
	for _, w := range all {
		w.quit = true
		w.signal(s)
	}
	for _, w := range all {
		<-w.exited
	}
}

// notifySignals routes the signals sluice handles to a new channel.
func notifySignals() chan os.Signal {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	return sigs
}
