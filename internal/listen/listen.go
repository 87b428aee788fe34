// Package listen describes the listening sockets a configuration block
// needs: what the stream and http blocks build, and what the runtime
// opens and hands connections from.
package listen

// Options are the socket options of a listening socket, from the
// parameters of nginx's listen directive.
type Options struct {
	Backlog   int // 0: the system default (nginx uses 511)
	ReusePort bool
	RcvBuf    int
	SndBuf    int
	IPv6Only  bool
	// Deferred asks the kernel to hand over a connection only once the
	// client has sent data (TCP_DEFER_ACCEPT on Linux, listen ...
	// deferred).
	Deferred bool
	// FastOpen is the queue length of TCP Fast Open connections
	// (TCP_FASTOPEN, listen ... fastopen=); 0 leaves it off.
	FastOpen int
	// SteerLocal gives a connection from this host (one that came in
	// through the loopback interface) to the worker that the CPU its
	// client connected from selects, where the address has one socket
	// per worker: the connections of a client thread then share a worker
	// (see runtime.ListenSet). Others spread over the workers as before.
	SteerLocal bool
}

// Socket is a listening socket a block needs, with the handler H of its
// connections.
type Socket[H any] struct {
	Network string // "tcp", "unix" or "udp"
	Address string
	Options
	Handler H
}

// Built is what building a block gives: the sockets to open, the
// functions to run when the generation starts serving and when it stops
// (its background work: health checks), those to run when it stops
// serving new connections (a reload replaced it, or a graceful stop
// began), those that release its resources once its sessions have ended
// (log files, idle upstream connections), and those that reopen its log
// files.
type Built[H any] struct {
	Listeners []Socket[H]
	Starters  []func()
	Stoppers  []func()
	Retirers  []func()
	Closers   []func()
	Reopeners []func()
}
