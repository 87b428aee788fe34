package listen

import (
	"net"
	"time"
)

// KeepAliver is a TCP connection whose keepalive can be set: a
// *net.TCPConn or a *tcpsock.Conn.
type KeepAliver interface {
	SetKeepAliveConfig(net.KeepAliveConfig) error
}

// KeepAlive applies a listen directive's so_keepalive to an accepted
// connection: "on" turns SO_KEEPALIVE on, with the given idle time,
// interval and count where they are set (so_keepalive=idle:intvl:cnt) and
// the system's values elsewhere. Otherwise SO_KEEPALIVE stays off, as
// nginx leaves it: the runtime's listeners do not turn it on.
func KeepAlive(tc KeepAliver, mode string, idle, intvl time.Duration, cnt int) {
	if mode != "on" {
		return
	}
	cfg := net.KeepAliveConfig{Enable: true, Idle: idle, Interval: intvl, Count: cnt}
	if cfg.Idle == 0 {
		cfg.Idle = -1
	}
	if cfg.Interval == 0 {
		cfg.Interval = -1
	}
	if cfg.Count == 0 {
		cfg.Count = -1
	}
	tc.SetKeepAliveConfig(cfg)
}
