// Package runtime runs configurations. It builds a Generation from a
// config.Config (listeners, upstream groups, handler chains), and swaps
// generations on reload: a listener whose address is unchanged is kept
// open and handed to the new generation's handler, sessions already
// running finish on the generation that accepted them, and a generation
// that fails to build leaves the running one serving.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/internal/listen"
	"github.com/sluicelb/sluice/internal/loopbulk"
	"github.com/sluicelb/sluice/internal/tcpsock"
)

// ConnHandler serves one accepted connection. ServeConn owns c and closes
// it before returning. ctx is cancelled on a fast stop.
type ConnHandler interface {
	ServeConn(ctx context.Context, c net.Conn)
}

// SocketHandler is a ConnHandler that takes the TCP connections it is
// given as *tcpsock.Conn rather than *net.TCPConn, where the platform
// has them (tcpsock.Supported).
type SocketHandler interface {
	ConnHandler
	TakesSockets() bool
}

// takesSockets says whether h is a SocketHandler that takes them.
func takesSockets(h ConnHandler) bool {
	sh, ok := h.(SocketHandler)
	return ok && sh.TakesSockets()
}

// ListenOptions are the socket options of a listening socket, from the
// parameters of nginx's listen directive.
type ListenOptions = listen.Options

// Binding is one listening socket a generation needs, and its handler.
type Binding struct {
	Network string // "tcp", "unix" or "udp"
	Address string
	Options ListenOptions
	Handler ConnHandler
}

func (b Binding) key() string { return b.Network + " " + b.Address }

// Generation is everything built from one configuration.
type Generation struct {
	Config   *config.Config
	Bindings []Binding
	// Starters run when the generation begins serving, after the
	// Stoppers of the one it replaces; Stoppers run, once, when a reload
	// replaces it or a stop begins (health checks run between the two).
	Starters []func()
	Stoppers []func()
	// Retirers run when the generation stops serving new connections:
	// a reload replaced it, or a graceful or fast stop began (idle
	// keep-alive connections close then).
	Retirers []func()
	// Closers run when the generation is retired and its last session
	// has ended (access log files, health-check goroutines, ...).
	Closers []func()
	// Reopeners run on SIGUSR1 to reopen log files.
	Reopeners []func()

	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	idle    *sync.Cond // on mu: signalled when conns becomes empty
	conns   map[net.Conn]struct{}
	drained bool // retire has seen no session left: track refuses
	once    sync.Once
	stopped sync.Once // the Retirers have run
	halted  sync.Once // the Stoppers have run
}

func (g *Generation) init() {
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.conns = map[net.Conn]struct{}{}
	g.idle = sync.NewCond(&g.mu)
}

// track counts c as a session of g. It reports false when g has been
// retired already (an accept loop that read the handler just before a
// reload replaced it): the caller then serves c with the new handler.
func (g *Generation) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.drained {
		return false
	}
	g.conns[c] = struct{}{}
	return true
}

func (g *Generation) untrack(c net.Conn) {
	g.mu.Lock()
	delete(g.conns, c)
	if len(g.conns) == 0 {
		g.idle.Broadcast()
	}
	g.mu.Unlock()
}

// wait waits until g has no session left.
func (g *Generation) wait() {
	g.mu.Lock()
	for len(g.conns) > 0 {
		g.idle.Wait()
	}
	g.mu.Unlock()
}

// closeConns closes every connection still open (fast stop).
func (g *Generation) closeConns() {
	g.cancel()
	g.mu.Lock()
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
}

// shutdownTimeout is the generation's worker_shutdown_timeout: how long
// it may keep its sessions once it stops serving new ones (0: no limit).
func (g *Generation) shutdownTimeout() time.Duration {
	if g.Config == nil {
		return 0
	}
	return g.Config.WorkerShutdownTimeout
}

// halt runs the Stoppers, once.
func (g *Generation) halt() {
	g.halted.Do(func() {
		for _, f := range g.Stoppers {
			f()
		}
	})
}

// stopServing runs the Stoppers and the Retirers, once.
func (g *Generation) stopServing() {
	g.halt()
	g.stopped.Do(func() {
		for _, f := range g.Retirers {
			f()
		}
	})
}

// retire waits for the generation's sessions and runs its closers. When
// worker_shutdown_timeout passes first, the sessions still open are
// closed, as nginx closes an old worker's connections.
func (g *Generation) retire() {
	g.stopServing()
	if d := g.shutdownTimeout(); d > 0 {
		t := time.AfterFunc(d, g.closeConns)
		defer t.Stop()
	}
	g.mu.Lock()
	for len(g.conns) > 0 {
		g.idle.Wait()
	}
	g.drained = true
	g.mu.Unlock()
	g.once.Do(func() {
		for _, f := range g.Closers {
			f()
		}
	})
}

// Server owns the listening sockets and the current generation. It is safe
// for concurrent use.
type Server struct {
	log      *slog.Logger
	maxConns atomic.Int64 // worker_connections × workers; 0 = no limit
	conns    atomic.Int64

	mu        sync.Mutex
	listeners map[string]*listener
	inherited map[string]net.Listener // sockets from a master process (Inherit); nil: none
	current   *Generation
	retired   sync.WaitGroup
	loops     sync.WaitGroup
	stopping  bool
}

type listener struct {
	net.Listener
	binding Binding
	handler atomic.Pointer[handlerRef]

	accOnce sync.Once
	acc     *tcpsock.Acceptor // nil: none (not TCP, or not supported)
	closed  atomic.Bool
}

// acceptor returns the listener's tcpsock.Acceptor, made at the first
// call, or nil.
func (l *listener) acceptor() *tcpsock.Acceptor {
	l.accOnce.Do(func() {
		if tl, ok := l.Listener.(*net.TCPListener); ok && tcpsock.Supported && !l.closed.Load() {
			if a, err := tcpsock.NewAcceptor(tl); err == nil {
				l.acc = a
				if l.closed.Load() { // closed meanwhile
					a.Close()
				}
			}
		}
	})
	return l.acc
}

// Close closes the listener and its acceptor.
func (l *listener) Close() error {
	l.closed.Store(true)
	err := l.Listener.Close()
	l.accOnce.Do(func() {}) // no acceptor from now on
	if l.acc != nil {
		l.acc.Close()
	}
	return err
}

type handlerRef struct {
	h   ConnHandler
	gen *Generation
}

// NewServer returns a Server that logs to log.
func NewServer(log *slog.Logger) *Server {
	return &Server{log: log, listeners: map[string]*listener{}}
}

// Current returns the generation being served, or nil.
func (s *Server) Current() *Generation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// Apply makes gen the current generation: it binds the addresses gen needs
// that are not open yet, points every kept listener at gen's handlers,
// closes the listeners gen no longer uses and retires the previous
// generation once its sessions end. If a bind fails, the sockets opened for
// gen are closed, gen's closers run, the previous generation keeps serving
// and the error is returned.
func (s *Server) Apply(gen *Generation) (err error) {
	gen.init()
	defer func() {
		if err != nil {
			// gen never served: release what its build opened.
			gen.retire()
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return errors.New("runtime: server is stopping")
	}
	wanted := map[string]Binding{}
	for _, b := range gen.Bindings {
		if _, dup := wanted[b.key()]; dup {
			return fmt.Errorf("duplicate listen %s", b.Address)
		}
		wanted[b.key()] = b
	}
	opened := map[string]*listener{}
	for k, b := range wanted {
		if _, ok := s.listeners[k]; ok {
			continue
		}
		ln, inherits, err := s.takeInherited(b)
		if !inherits {
			ln, err = openListener(b)
		}
		if err != nil {
			for _, l := range opened {
				l.Close()
			}
			return err
		}
		opened[k] = &listener{Listener: ln, binding: b}
	}
	for k, l := range opened {
		s.listeners[k] = l
	}
	workers := gen.Config.WorkerProcesses
	if workers == 0 {
		workers = cpuCount()
	}
	s.maxConns.Store(int64(gen.Config.Events.WorkerConnections) * int64(workers))
	for k, b := range wanted {
		s.listeners[k].handler.Store(&handlerRef{h: b.Handler, gen: gen})
	}
	for k, l := range s.listeners {
		if _, ok := wanted[k]; !ok {
			l.Close()
			delete(s.listeners, k)
		}
	}
	for _, l := range opened {
		s.loops.Add(1)
		go s.acceptLoop(l)
	}
	prev := s.current
	s.current = gen
	if prev != nil {
		prev.halt()
	}
	for _, f := range gen.Starters {
		f()
	}
	if prev != nil {
		s.retired.Add(1)
		go func() {
			defer s.retired.Done()
			prev.retire()
		}()
	}
	return nil
}

func (s *Server) acceptLoop(l *listener) {
	defer s.loops.Done()
	var delay time.Duration
	// A TCP listener whose handler takes tcpsock connections accepts
	// them through a tcpsock.Acceptor (the handler may change on reload,
	// so it is asked for each connection).
	for {
		var c net.Conn
		var err error
		var a *tcpsock.Acceptor
		if takesSockets(l.handler.Load().h) {
			a = l.acceptor()
		}
		if a != nil {
			var sc *tcpsock.Conn
			if sc, err = a.Accept(); err == nil {
				c = sc
			}
		} else {
			c, err = l.Accept()
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off as net/http does.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			s.log.Error("accept() failed", "listen", l.binding.Address, "err", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if max := s.maxConns.Load(); max > 0 && s.conns.Add(1) > max {
			s.conns.Add(-1)
			s.log.Log(context.Background(), slog.Level(11), fmt.Sprintf("%d worker_connections are not enough", max))
			c.Close()
			continue
		} else if max <= 0 {
			s.conns.Add(1)
		}
		ref := l.handler.Load()
		for ref != nil && !ref.gen.track(c) {
			// retired under this accept: a reload has replaced the
			// handler, unless it dropped the listener too
			next := l.handler.Load()
			if next == ref {
				next = nil
			}
			ref = next
		}
		if ref == nil {
			s.conns.Add(-1)
			c.Close()
			continue
		}
		go func() {
			defer s.conns.Add(-1)
			defer ref.gen.untrack(c)
			ref.h.ServeConn(ref.gen.ctx, c)
		}()
		// Let the connection's goroutine start before the next accept,
		// as nginx with multi_accept off handles one connection per
		// wake-up: a burst is then set up as it arrives instead of
		// being accepted whole first, which held every connection's
		// setup stack at once (4000 idle stream connections opened in a
		// row through one worker: about 1.4 KB more per connection).
		goruntime.Gosched()
	}
}

// Active returns the number of connections being served.
func (s *Server) Active() int64 { return s.conns.Load() }

// StopAccepting closes the listening sockets and returns once no
// connection is being accepted; the sessions open go on. A worker process
// does this first when it is told to stop, and then tells its master.
func (s *Server) StopAccepting() {
	s.mu.Lock()
	s.stopping = true
	for k, l := range s.listeners {
		l.Close()
		delete(s.listeners, k)
	}
	s.mu.Unlock()
	s.loops.Wait()
}

// Shutdown stops accepting connections. With graceful set it waits for
// sessions to end (or ctx to be done, or the current generation's
// worker_shutdown_timeout to pass, after which it closes them); without
// it closes every connection at once. It then runs the closers of every
// generation.
func (s *Server) Shutdown(ctx context.Context, graceful bool) {
	s.mu.Lock()
	s.stopping = true
	for k, l := range s.listeners {
		l.Close()
		delete(s.listeners, k)
	}
	cur := s.current
	s.mu.Unlock()
	s.loops.Wait()
	if cur == nil {
		return
	}
	cur.stopServing()
	if !graceful {
		cur.closeConns()
	} else {
		done := make(chan struct{})
		go func() {
			cur.wait()
			close(done)
		}()
		var timeout <-chan time.Time
		if d := cur.shutdownTimeout(); d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-done:
		case <-ctx.Done():
			cur.closeConns()
		case <-timeout:
			cur.closeConns()
		}
	}
	cur.retire()
	s.retired.Wait()
}

// Addrs returns the addresses being listened on, for tests and -T.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for _, l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

func openListener(b Binding) (net.Listener, error) {
	// KeepAlive -1: accepted connections keep SO_KEEPALIVE off, as in
	// nginx, where Go's default would turn it on (and set its timers: four
	// system calls per connection) for the handlers to turn it off again.
	// Listeners with so_keepalive=on set it per connection.
	lc := net.ListenConfig{KeepAlive: -1, Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if b.Options.ReusePort {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0x0F /* SO_REUSEPORT */, 1)
			}
			if serr == nil && b.Options.RcvBuf > 0 {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, b.Options.RcvBuf)
			}
			if serr == nil && b.Options.SndBuf > 0 {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, b.Options.SndBuf)
			}
			if serr == nil && b.Options.IPv6Only && strings.HasPrefix(address, "[") {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1)
			}
			if serr == nil && b.Options.Deferred && goruntime.GOOS == "linux" {
				// nginx's timeout: a connection waits for data for about
				// a second (then it is handed over anyway)
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, 9 /* TCP_DEFER_ACCEPT */, 1)
			}
			if serr == nil && b.Options.FastOpen > 0 && goruntime.GOOS == "linux" {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, 23 /* TCP_FASTOPEN */, b.Options.FastOpen)
			}
			if serr == nil && b.Network == "tcp" {
				// A loopback address's connections stay on this host:
				// no pacing (package loopbulk).
				loopbulk.UnpaceLoopback(fd, address)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	// Plain TCP, as nginx's sockets: Go would open MPTCP ones, which
	// refuse the program that steers a stream address's connections
	// (ListenSet.steer).
	lc.SetMultipathTCP(false)
	if b.Network == "unix" {
		// nginx removes a stale socket file before binding.
		if st, err := os.Lstat(b.Address); err == nil && st.Mode()&os.ModeSocket != 0 {
			os.Remove(b.Address)
		}
	}
	if b.Network == "udp" {
		pc, err := lc.ListenPacket(context.Background(), "udp", b.Address)
		if err != nil {
			return nil, fmt.Errorf("bind() to %s failed (%v)", b.Address, unwrapSyscall(err))
		}
		return newPacketListener(pc.(*net.UDPConn)), nil
	}
	ln, err := lc.Listen(context.Background(), b.Network, b.Address)
	if err != nil {
		return nil, fmt.Errorf("bind() to %s failed (%v)", b.Address, unwrapSyscall(err))
	}
	return ln, nil
}

func unwrapSyscall(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		text := errno.Error()
		return fmt.Errorf("%d: %s", int(errno), strings.ToUpper(text[:1])+text[1:])
	}
	return err
}
