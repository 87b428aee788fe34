package runtime

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/sluicelb/sluice/internal/listen"
)

// Worker processes. A master process opens the listening sockets of a
// configuration (ListenSet) and hands them to the worker processes it
// starts, which serve them (Server.Inherit) as an nginx worker serves the
// sockets its master opened: every worker accepts from the same sockets,
// and a reload starts new workers on them while the old ones finish.

// Discard releases what a generation that never served holds (the files
// and goroutines its build opened). A master builds each configuration to
// check it and to learn its listening sockets, then discards it.
func (g *Generation) Discard() {
	g.init()
	g.retire()
}

// ListenSet is the master's set of listening sockets, by address. A TCP
// address has one socket per worker, all bound with SO_REUSEPORT, so
// that the kernel spreads new connections evenly over the workers (a
// socket they all accept from goes to whichever wakes first, and one
// worker may take most of a burst); the master keeps them open, and the
// worker that replaces worker i on a reload takes over socket i with the
// connections waiting in it. A unix socket is one, shared by all.
type ListenSet struct {
	fds map[string][]int
}

// Opened names what Update opened, for Close.
type Opened struct {
	keys  []string
	extra map[string]int // keys that had sockets: how many they had
}

// Update opens the sockets that bindings need for n workers and the set
// lacks. Sockets the bindings no longer need stay open until Retain.
func (ls *ListenSet) Update(bindings []Binding, n int) (opened Opened, err error) {
	if ls.fds == nil {
		ls.fds = map[string][]int{}
	}
	opened.extra = map[string]int{}
	for _, b := range bindings {
		k := b.key()
		cur := ls.fds[k]
		want := n
		if b.Network != "tcp" {
			want = 1
		}
		if len(cur) >= want {
			continue
		}
		if len(cur) == 0 && b.Network == "tcp" && !b.Options.ReusePort {
			// As nginx, refuse an address another process listens on:
			// binding it without SO_REUSEPORT tells.
			probe, err := openListener(b)
			if err != nil {
				ls.Close(opened)
				return Opened{}, err
			}
			probe.Close()
		}
		if len(cur) == 0 {
			opened.keys = append(opened.keys, k)
		} else {
			opened.extra[k] = len(cur)
		}
		rb := b
		rb.Options.ReusePort = b.Network == "tcp"
		for len(ls.fds[k]) < want {
			fd, err := openListenerFD(rb)
			if err != nil {
				ls.Close(opened)
				return Opened{}, err
			}
			ls.fds[k] = append(ls.fds[k], fd)
		}
	}
	ls.steer(bindings, n)
	return opened, nil
}

// steer sets how the kernel picks one of an address's sockets for a new
// connection, for n workers. A socket group spreads connections by a hash
// of their addresses and ports. A stream address (SteerLocal) gives those
// from this host by the CPU that received them, which is the CPU their
// client connected from: CPU c picks worker c mod n. The connections a
// client thread opens then go to one worker, which serves them in bigger
// batches per wake-up than two or more workers sharing them would; the
// threads of a client that runs on several CPUs still spread over the
// workers. Measured on two vCPUs shared with the client and the backend
// (docs/differences.md), this takes a Redis client's 50 connections to
// one worker and cuts the CPU time per request by a quarter.
//
// HTTP addresses keep the hash: proxying an HTTP request costs more, and
// one worker given all the connections of a load generator whose threads
// connected from one CPU became the bottleneck at half the rate two
// workers serve. So do connections from other hosts, which would all go
// to one worker on a host whose network card interrupts one CPU, and
// groups with more workers than CPUs, some of which would get none.
// Where the kernel refuses the program, the hash stays.
func (ls *ListenSet) steer(bindings []Binding, n int) {
	for _, b := range bindings {
		fds := ls.fds[b.key()]
		if b.Network != "tcp" || len(fds) == 0 {
			continue
		}
		if b.Options.SteerLocal && n >= 2 && n <= cpuCount() {
			listen.SteerLocal(fds[0], n)
		} else {
			listen.SteerLocal(fds[0], 0)
		}
	}
}

// openListenerFD opens b's socket and returns its descriptor, held by
// no poller: the master only hands it over. The descriptor stays
// non-blocking, a flag all its copies share: os.File's Fd, which clears
// it on a socket file, is never called on it.
func openListenerFD(b Binding) (int, error) {
	if b.Network == "udp" {
		return -1, fmt.Errorf("listen %s: UDP sockets are served by one process", b.Address)
	}
	ln, err := openListener(b)
	if err != nil {
		return -1, err
	}
	defer ln.Close()
	if ul, ok := ln.(*net.UnixListener); ok {
		// the socket file outlives this listener: the workers' copies
		// serve it
		ul.SetUnlinkOnClose(false)
	}
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("listen %s: no descriptor to hand over", b.Address)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	dup, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { dup, derr = listen.DupCloexec(int(fd)) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("listen %s: %w", b.Address, derr)
	}
	return dup, nil
}

// Retain closes the sockets that bindings for n workers do not use.
// Connections waiting in a closed socket of a reuseport group are lost, as
// with nginx's reuseport when a reload lowers worker_processes.
func (ls *ListenSet) Retain(bindings []Binding, n int) {
	keep := map[string]bool{}
	for _, b := range bindings {
		keep[b.key()] = true
	}
	for k, fds := range ls.fds {
		if !keep[k] {
			closeFDs(fds)
			delete(ls.fds, k)
			if network, addr, _ := strings.Cut(k, " "); network == "unix" {
				os.Remove(addr)
			}
		} else if len(fds) > max(n, 1) {
			closeFDs(fds[max(n, 1):])
			ls.fds[k] = fds[:max(n, 1)]
		}
	}
	ls.steer(bindings, n)
}

// Close closes what Update opened; the zero Opened, everything.
func (ls *ListenSet) Close(o Opened) {
	if o.keys == nil && o.extra == nil {
		for k, fds := range ls.fds {
			closeFDs(fds)
			delete(ls.fds, k)
		}
		return
	}
	for _, k := range o.keys {
		closeFDs(ls.fds[k])
		delete(ls.fds, k)
	}
	for k, had := range o.extra {
		closeFDs(ls.fds[k][had:])
		ls.fds[k] = ls.fds[k][:had]
	}
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// FilesFor returns the sockets worker i serves for bindings and their
// keys, in the same order, for it to Inherit: new copies, which the caller
// closes once the worker has started.
func (ls *ListenSet) FilesFor(bindings []Binding, i int) (keys []string, files []*os.File, err error) {
	for _, b := range bindings {
		k := b.key()
		fds := ls.fds[k]
		fd := -1
		if len(fds) == 0 {
			err = fmt.Errorf("listen %s: the socket is not open", b.Address)
		} else if fd, err = listen.DupCloexec(fds[i%len(fds)]); err == nil {
			keys = append(keys, k)
			files = append(files, os.NewFile(uintptr(fd), k))
			continue
		}
		for _, f := range files {
			f.Close()
		}
		return nil, nil, err
	}
	return keys, files, nil
}

// Inherit makes the server serve the listening sockets a master opened:
// files[i] is the socket for keys[i], as ListenSet.Files returned them.
// Apply then takes a binding's socket from them instead of opening one;
// a binding for an address none of them has is an error, since a worker
// must not open sockets the other workers do not share.
func (s *Server) Inherit(keys []string, files []*os.File) error {
	if len(keys) != len(files) {
		return errors.New("runtime: inherited sockets and addresses differ in number")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inherited = map[string]net.Listener{}
	for i, k := range keys {
		ln, err := net.FileListener(files[i])
		files[i].Close()
		if err != nil {
			return fmt.Errorf("runtime: inherited socket for %s: %w", k, err)
		}
		if ul, ok := ln.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false)
		}
		s.inherited[k] = ln
	}
	return nil
}

// takeInherited returns the inherited socket for b, if the server
// inherits sockets; with mu held.
func (s *Server) takeInherited(b Binding) (ln net.Listener, inherits bool, err error) {
	if s.inherited == nil {
		return nil, false, nil
	}
	ln, ok := s.inherited[b.key()]
	if !ok {
		return nil, true, fmt.Errorf("listen %s: not among the sockets the master process opened", b.Address)
	}
	delete(s.inherited, b.key())
	return ln, true, nil
}
