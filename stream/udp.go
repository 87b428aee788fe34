package stream

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/errlog"
)

// udpEvent is one thing that happened in a UDP session.
type udpEvent struct {
	fromClient bool
	try        int    // the try whose upstream socket it came from
	n          int    // bytes of the datagram
	data       []byte // a datagram, written on by the session loop
	err        error
}

// udpSession is what a UDP session keeps across its tries of upstream
// servers: the client's datagrams are read by one goroutine for the whole
// session, and its first datagram is kept to be sent again to the next
// server when one refuses it.
type udpSession struct {
	events    chan udpEvent
	stop      chan struct{}
	first     []byte // the session's first datagram, once read
	tries     int    // upstream sockets opened so far
	requests  int
	responses int
	idle      *time.Timer
}

// close ends the goroutines of the session and closes the client side.
func (u *udpSession) close(s *session) {
	close(u.stop)
	u.idle.Stop()
	s.client.Close()
}

// newUDPSession starts reading the client's datagrams.
func (s *session) newUDPSession() *udpSession {
	cfg := s.h.s.cfg
	u := &udpSession{events: make(chan udpEvent, 16), stop: make(chan struct{}), idle: time.NewTimer(cfg.ProxyTimeout)}
	detach, canDetach := s.client.(interface{ Detach() })
	go func() { // client -> upstream
		buf := make([]byte, 65536)
		count := 0
		for {
			n, err := s.client.Read(buf)
			if err != nil {
				u.send(udpEvent{fromClient: true, err: err})
				return
			}
			count++
			// The session loop writes it upstream, so that a reply can
			// never be counted before the request it answers.
			u.send(udpEvent{fromClient: true, n: n, data: append([]byte(nil), buf[:n]...)})
			if cfg.ProxyRequests > 0 && count >= cfg.ProxyRequests {
				if canDetach {
					detach.Detach()
				}
				return
			}
		}
	}()
	return u
}

func (u *udpSession) send(ev udpEvent) {
	select {
	case u.events <- ev:
	case <-u.stop:
	}
}

// udpPipe proxies a "listen ... udp" session through up: each datagram of
// the client goes to the upstream and each datagram of the upstream goes
// back, until the session is done as nginx decides it:
//
//   - with proxy_requests N, the client's address is released after N
//     datagrams (its next datagram starts a new session);
//   - with proxy_responses M, the session is done once M answers per
//     client datagram have come back ("udp done", status 200);
//   - after proxy_timeout without a datagram either way, the session ends
//     with 200 if the expected answers came (or none were expected to be
//     counted), else with 502 ("upstream timed out").
//
// With proxy_protocol on, the PROXY protocol header goes in front of the
// first datagram sent to a server, in the same datagram, as nginx sends
// it.
//
// udpPipe reports next when the server refused the session (an ICMP port
// unreachable, seen as ECONNREFUSED) before it answered anything: the
// session may then go on with the next server, to which the first
// datagram is sent again, as nginx's proxy_next_upstream does.
func (s *session) udpPipe(ctx context.Context, u *udpSession, up net.Conn, tr *try) (next bool) {
	cfg := s.h.s.cfg
	start := s.h.s.p.now()
	u.tries++
	try := u.tries
	var header []byte
	if cfg.ProxyProtocol > 0 {
		hdr := s.proxyHeader(cfg.ProxyProtocol)
		var err error
		if header, err = hdr.Append(nil); err != nil {
			s.logf(errlog.LevelError, "could not send PROXY protocol header: %v", err)
			s.status = statusInternal
			return false
		}
	}
	// write sends one datagram of the client, with the header when it is
	// the first to this server.
	write := func(d []byte) (int, error) {
		if header == nil {
			return up.Write(d)
		}
		b := append(header, d...)
		header = nil
		n, err := up.Write(b)
		return n, err
	}
	go func() { // upstream -> client
		buf := make([]byte, 65536)
		for {
			n, err := up.Read(buf)
			if err != nil {
				u.send(udpEvent{try: try, err: err})
				return
			}
			u.send(udpEvent{try: try, n: n, data: append([]byte(nil), buf[:n]...)})
		}
	}()
	// refused reports whether err lets the session try the next server.
	refused := func(err error) bool {
		return errors.Is(err, syscall.ECONNREFUSED) && tr.received == 0
	}
	if u.first != nil {
		// The first datagram, again, for this server.
		w, err := write(u.first)
		tr.sent += int64(w)
		if err != nil {
			s.logf(errlog.LevelError, "%s while proxying connection", sendErrText(err))
			return refused(err)
		}
	}
	expected := func() bool {
		return cfg.ProxyResponses < 0 || u.responses >= cfg.ProxyResponses*u.requests
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-u.idle.C:
			if expected() {
				s.logf(errlog.LevelInfo, "udp timed out, packets from/to client:%d/%d", u.requests, u.responses)
				return false
			}
			s.logf(errlog.LevelError, "upstream timed out (110: Connection timed out) while proxying connection")
			s.status = statusBadGateway
			return false
		case ev := <-u.events:
			if !ev.fromClient && ev.try != try {
				continue // from the socket of an earlier try
			}
			if ev.err != nil {
				if ev.fromClient {
					if !errors.Is(ev.err, net.ErrClosed) {
						s.logf(errlog.LevelInfo, "%s while proxying connection", ioErrText(ev.err))
					}
					return false
				}
				s.logf(errlog.LevelError, "%s while proxying connection", ioErrText(ev.err))
				if refused(ev.err) {
					return true
				}
				if u.responses == 0 {
					s.status = statusBadGateway
				}
				return false
			}
			if ev.fromClient {
				if u.first == nil {
					u.first = ev.data
				}
				w, err := write(ev.data)
				u.requests++
				s.bytesRecvd += int64(ev.n)
				tr.sent += int64(w)
				if err != nil {
					s.logf(errlog.LevelError, "%s while proxying connection", sendErrText(err))
					return refused(err)
				}
			} else {
				if tr.received == 0 && tr.firstByte < 0 {
					tr.firstByte = s.h.s.p.now().Sub(start) + tr.connect
				}
				u.responses++
				tr.received += int64(ev.n)
				// Answers are sent from here, so that none goes out
				// once the session is done.
				w, err := s.client.Write(ev.data)
				s.bytesSent += int64(w)
				if err != nil {
					return false
				}
			}
			if !u.idle.Stop() {
				select {
				case <-u.idle.C:
				default:
				}
			}
			u.idle.Reset(cfg.ProxyTimeout)
			if cfg.ProxyRequests > 0 && u.requests < cfg.ProxyRequests {
				continue
			}
			if cfg.ProxyResponses < 0 || u.responses < cfg.ProxyResponses*u.requests {
				continue
			}
			s.logf(errlog.LevelInfo, "udp done, packets from/to client:%d/%d", u.requests, u.responses)
			return false
		}
	}
}

// sendErrText words a failed send as nginx does.
func sendErrText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return "send() failed (" + errnoText(errno) + ")"
	}
	return err.Error()
}
