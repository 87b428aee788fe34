package stream

import (
	"crypto/tls"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/sluicelb/sluice/proxyproto"
	"github.com/sluicelb/sluice/tlspreread"
	"github.com/sluicelb/sluice/vars"
)

// try is one attempt to reach an upstream server, for $upstream_*.
// Durations are -1 when the step was not reached (nginx prints "-").
type try struct {
	addr      string
	connect   time.Duration
	firstByte time.Duration
	session   time.Duration
	sent      int64
	received  int64
}

// session is one client connection as the variable system sees it.
type session struct {
	vs     vars.State
	h      *Handler
	id     uint64
	client net.Conn
	start  time.Time

	remote     netip.AddrPort
	local      netip.AddrPort
	unix       bool
	udp        bool // a "listen ... udp" session
	status     int
	bytesSent  int64 // to the client
	bytesRecvd int64 // from the client
	tries      []try
	pp         *proxyproto.Header
	limitState string // $limit_conn_status
	logBuf     []byte
	hello      *tlspreread.Parser // ssl_preread's ClientHello, or nil

	realip       *realIP              // the peer, when realip replaced it
	tlsState     *tls.ConnectionState // TLS termination, once the handshake is done
	clientVerify string               // $ssl_client_verify
	sniName      string               // the server name during the handshake

	fin *sessionEnd // what to do once the session is over, or nil
}

// sessionEnd is what a session's phases leave to be done once it is over.
type sessionEnd struct {
	held     []heldConn // limit_conn counts to give back
	prereadN int64      // bytes prereaded, not counted in $bytes_received
}

// heldConn is a connection counted in a limit_conn zone under key.
type heldConn struct {
	z   *zone
	key string
}

// atEnd returns s.fin, which it creates when needed.
func (s *session) atEnd() *sessionEnd {
	if s.fin == nil {
		s.fin = &sessionEnd{}
	}
	return s.fin
}

// realIP is the address of the peer that sent a trusted PROXY header.
type realIP struct {
	addr netip.AddrPort
	unix bool
}

// peer returns the address the connection came from, before realip.
func (s *session) peer() (netip.AddrPort, bool) {
	if s.realip != nil {
		return s.realip.addr, s.realip.unix
	}
	return s.remote, s.unix
}

// VarState implements vars.Context.
func (s *session) VarState() *vars.State { return &s.vs }

func tryList(field func(*try, []byte) []byte) vars.Getter[*session] {
	return vars.List(func(s *session) []try { return s.tries }, field)
}

func timeField(get func(*try) time.Duration) func(*try, []byte) []byte {
	return func(t *try, dst []byte) []byte {
		if d := get(t); d >= 0 {
			return vars.AppendSeconds(dst, d)
		}
		return append(dst, '-')
	}
}

func addrText(dst []byte, a netip.Addr) []byte {
	return a.Unmap().AppendTo(dst)
}

// defineVars defines nginx's stream variables on t.
func defineVars(t *vars.Table[*session]) error {
	defs := []struct {
		name string
		get  vars.Getter[*session]
	}{
		{"remote_addr", func(dst []byte, s *session) ([]byte, bool) {
			if s.unix {
				return append(dst, "unix:"...), true
			}
			return addrText(dst, s.remote.Addr()), true
		}},
		{"remote_port", func(dst []byte, s *session) ([]byte, bool) {
			if s.unix {
				return dst, true
			}
			return strconv.AppendUint(dst, uint64(s.remote.Port()), 10), true
		}},
		{"binary_remote_addr", func(dst []byte, s *session) ([]byte, bool) {
			if s.unix {
				return dst, true
			}
			a := s.remote.Addr().Unmap()
			if a.Is4() {
				b := a.As4()
				return append(dst, b[:]...), true
			}
			b := a.As16()
			return append(dst, b[:]...), true
		}},
		{"server_addr", func(dst []byte, s *session) ([]byte, bool) {
			if s.unix {
				return append(dst, "unix:"...), true
			}
			return addrText(dst, s.local.Addr()), true
		}},
		{"server_port", func(dst []byte, s *session) ([]byte, bool) {
			if s.unix {
				return dst, true
			}
			return strconv.AppendUint(dst, uint64(s.local.Port()), 10), true
		}},
		{"protocol", func(dst []byte, s *session) ([]byte, bool) {
			if s.udp {
				return append(dst, "UDP"...), true
			}
			return append(dst, "TCP"...), true
		}},
		{"status", func(dst []byte, s *session) ([]byte, bool) {
			return strconv.AppendInt(dst, int64(s.status), 10), true
		}},
		{"bytes_sent", func(dst []byte, s *session) ([]byte, bool) { return strconv.AppendInt(dst, s.bytesSent, 10), true }},
		{"bytes_received", func(dst []byte, s *session) ([]byte, bool) { return strconv.AppendInt(dst, s.bytesRecvd, 10), true }},
		{"session_time", func(dst []byte, s *session) ([]byte, bool) {
			return vars.AppendSeconds(dst, s.h.s.p.now().Sub(s.start)), true
		}},
		{"connection", func(dst []byte, s *session) ([]byte, bool) { return strconv.AppendUint(dst, s.id, 10), true }},
		{"upstream_addr", tryList(func(t *try, dst []byte) []byte { return append(dst, t.addr...) })},
		{"upstream_bytes_sent", tryList(func(t *try, dst []byte) []byte { return strconv.AppendInt(dst, t.sent, 10) })},
		{"upstream_bytes_received", tryList(func(t *try, dst []byte) []byte { return strconv.AppendInt(dst, t.received, 10) })},
		{"upstream_connect_time", tryList(timeField(func(t *try) time.Duration { return t.connect }))},
		{"upstream_first_byte_time", tryList(timeField(func(t *try) time.Duration { return t.firstByte }))},
		{"upstream_session_time", tryList(timeField(func(t *try) time.Duration { return t.session }))},
		{"limit_conn_status", func(dst []byte, s *session) ([]byte, bool) {
			if s.limitState == "" {
				return dst, false
			}
			return append(dst, s.limitState...), true
		}},
		{"proxy_protocol_addr", func(dst []byte, s *session) ([]byte, bool) {
			if s.pp == nil || !s.pp.Source.IsValid() {
				return dst, false
			}
			return addrText(dst, s.pp.Source.Addr()), true
		}},
		{"proxy_protocol_port", func(dst []byte, s *session) ([]byte, bool) {
			if s.pp == nil || !s.pp.Source.IsValid() {
				return dst, false
			}
			return strconv.AppendUint(dst, uint64(s.pp.Source.Port()), 10), true
		}},
		{"proxy_protocol_server_addr", func(dst []byte, s *session) ([]byte, bool) {
			if s.pp == nil || !s.pp.Destination.IsValid() {
				return dst, false
			}
			return addrText(dst, s.pp.Destination.Addr()), true
		}},
		{"proxy_protocol_server_port", func(dst []byte, s *session) ([]byte, bool) {
			if s.pp == nil || !s.pp.Destination.IsValid() {
				return dst, false
			}
			return strconv.AppendUint(dst, uint64(s.pp.Destination.Port()), 10), true
		}},
	}
	defs = append(defs, []struct {
		name string
		get  vars.Getter[*session]
	}{
		{"ssl_preread_server_name", helloVar((*tlspreread.Parser).ServerName)},
		{"ssl_preread_alpn_protocols", helloVar((*tlspreread.Parser).ALPNProtocols)},
		{"ssl_preread_protocol", helloVar((*tlspreread.Parser).Protocol)},
	}...)
	defs = append(defs, tlsVars()...)
	defs = append(defs, []struct {
		name string
		get  vars.Getter[*session]
	}{
		{"realip_remote_addr", func(dst []byte, s *session) ([]byte, bool) {
			a, unix := s.peer()
			if unix {
				return append(dst, "unix:"...), true
			}
			return addrText(dst, a.Addr()), true
		}},
		{"realip_remote_port", func(dst []byte, s *session) ([]byte, bool) {
			a, unix := s.peer()
			if unix {
				return dst, true
			}
			return strconv.AppendUint(dst, uint64(a.Port()), 10), true
		}},
	}...)
	for _, d := range defs {
		if err := t.Define(d.name, d.get, 0); err != nil {
			return err
		}
	}
	return nil
}

// helloVar returns the getter of an $ssl_preread_* variable: not found
// unless ssl_preread ran.
func helloVar(get func(*tlspreread.Parser) string) vars.Getter[*session] {
	return func(dst []byte, s *session) ([]byte, bool) {
		if s.hello == nil {
			return dst, false
		}
		return append(dst, get(s.hello)...), true
	}
}
