package balance

import (
	"fmt"
	"strings"
	"time"
)

// Defaults applied to zero-valued Server fields, as nginx applies them to a
// bare "server" line.
const (
	DefaultWeight      = 1
	DefaultMaxFails    = 1
	DefaultFailTimeout = 10 * time.Second

	// MaxFailsOff disables failure accounting for a server, like nginx's
	// max_fails=0. (The zero value of Server.MaxFails means the default, 1.)
	MaxFailsOff = -1

	// MaxWeight is the largest accepted Server.Weight.
	MaxWeight = 1 << 20
)

// Server is the configuration of one upstream server, the parameters of an
// nginx "server" line inside an "upstream" block.
//
// The zero value of every field except Addr means nginx's default. Server is
// plain data and safe to copy.
type Server struct {
	// Addr is the address to connect to: "host:port" (IPv6 as "[::1]:80")
	// or "unix:/path/to/socket".
	Addr string

	// Name is the server name as written in the configuration; it is what
	// "hash ... consistent" places on its ring, as nginx does. Several
	// Servers may share one Name when a host name resolves to several
	// addresses. Empty means Addr.
	Name string

	// Weight is the relative share of requests (nginx weight=). Zero means 1.
	Weight int

	// MaxConns limits simultaneous active connections (nginx max_conns=).
	// Zero means unlimited.
	MaxConns int

	// MaxFails is the number of failed attempts within FailTimeout after
	// which the server is considered unavailable for FailTimeout (nginx
	// max_fails=). Zero means 1; MaxFailsOff disables the accounting.
	MaxFails int

	// FailTimeout is both the window in which failures are counted and how
	// long the server then stays unavailable (nginx fail_timeout=). Zero
	// means 10s.
	FailTimeout time.Duration

	// Backup marks a server that receives requests only when every primary
	// server is unavailable (nginx backup).
	Backup bool

	// Down marks the server permanently unavailable (nginx down).
	Down bool

	// Drain stops new sessions to the server while existing ones finish
	// (NGINX Plus drain).
	Drain bool

	// SlowStart is the time over which the server's share ramps from zero to
	// full after it recovers from being unavailable or unhealthy, or is added
	// to a running group (NGINX Plus slow_start=). Zero disables it.
	SlowStart time.Duration

	// Route is the server's route for session persistence (NGINX Plus
	// route=): what "sticky route" matches and "sticky cookie" sends
	// instead of the hash of the address. Empty means none. The balancer
	// itself does not read it.
	Route string
}

func (s Server) withDefaults() Server {
	if s.Name == "" {
		s.Name = s.Addr
	}
	if s.Weight == 0 {
		s.Weight = DefaultWeight
	}
	switch {
	case s.MaxFails == 0:
		s.MaxFails = DefaultMaxFails
	case s.MaxFails < 0:
		s.MaxFails = 0
	}
	if s.FailTimeout == 0 {
		s.FailTimeout = DefaultFailTimeout
	}
	return s
}

func (s Server) validate(group string) error {
	bad := func(what string, v any) error {
		return fmt.Errorf("balance: upstream %q: server %q: invalid %s %v", group, s.Addr, what, v)
	}
	switch {
	case s.Addr == "":
		return fmt.Errorf("balance: upstream %q: server with empty address", group)
	case strings.HasPrefix(strings.ToLower(s.Addr), "unix:") && len(s.Addr) == 5:
		return bad("unix socket path", `""`)
	case s.Weight < 0 || s.Weight > MaxWeight:
		return bad("weight", s.Weight)
	case s.MaxConns < 0:
		return bad("max_conns", s.MaxConns)
	case s.MaxFails < MaxFailsOff:
		return bad("max_fails", s.MaxFails)
	case s.FailTimeout < 0:
		return bad("fail_timeout", s.FailTimeout)
	case s.SlowStart < 0:
		return bad("slow_start", s.SlowStart)
	}
	return nil
}

// network splits Addr into the arguments of net.Dial.
func network(addr string) (string, string) {
	if len(addr) >= 5 && strings.EqualFold(addr[:5], "unix:") {
		return "unix", addr[5:]
	}
	return "tcp", addr
}
