package stream

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/sluicelb/sluice/errlog"
)

// udpEvent is one thing that happened in a UDP session.
type udpEvent struct {
	fromClient bool
	n          int    // bytes of the datagram
	data       []byte // a datagram, written on by the session loop
	err        error
}

// udpPipe proxies a "listen ... udp" session: each datagram of the client
// goes to the upstream and each datagram of the upstream goes back, until
// the session is done as nginx decides it:
//
//   - with proxy_requests N, the client's address is released after N
//     datagrams (its next datagram starts a new session);
//   - with proxy_responses M, the session is done once M answers per
//     client datagram have come back ("udp done", status 200);
//   - after proxy_timeout without a datagram either way, the session ends
//     with 200 if the expected answers came (or none were expected to be
//     counted), else with 502 ("upstream timed out").
func (s *session) udpPipe(ctx context.Context, up net.Conn, tr *try) {
	cfg := s.h.s.cfg
	start := s.h.s.p.now()
	events := make(chan udpEvent, 16)
	stop := make(chan struct{})
	detach, canDetach := s.client.(interface{ Detach() })
	go func() { // client -> upstream
		buf := make([]byte, 65536)
		count := 0
		for {
			n, err := s.client.Read(buf)
			if err != nil {
				s.sendEvent(events, stop, udpEvent{fromClient: true, err: err})
				return
			}
			count++
			// The loop below writes it upstream, so that a reply can
			// never be counted before the request it answers.
			s.sendEvent(events, stop, udpEvent{fromClient: true, n: n, data: append([]byte(nil), buf[:n]...)})
			if cfg.ProxyRequests > 0 && count >= cfg.ProxyRequests {
				if canDetach {
					detach.Detach()
				}
				return
			}
		}
	}()
	go func() { // upstream -> client
		buf := make([]byte, 65536)
		for {
			n, err := up.Read(buf)
			if err != nil {
				s.sendEvent(events, stop, udpEvent{err: err})
				return
			}
			s.sendEvent(events, stop, udpEvent{n: n, data: append([]byte(nil), buf[:n]...)})
		}
	}()
	defer func() {
		close(stop)
		up.Close()
		s.client.Close()
	}()
	var requests, responses int
	idle := time.NewTimer(cfg.ProxyTimeout)
	defer idle.Stop()
	expected := func() bool {
		return cfg.ProxyResponses < 0 || responses >= cfg.ProxyResponses*requests
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
			if expected() {
				s.logf(errlog.LevelInfo, "udp timed out, packets from/to client:%d/%d", requests, responses)
				return
			}
			s.logf(errlog.LevelError, "upstream timed out (110: Connection timed out) while proxying connection")
			s.status = statusBadGateway
			return
		case ev := <-events:
			if ev.err != nil {
				if ev.fromClient {
					if !errors.Is(ev.err, net.ErrClosed) {
						s.logf(errlog.LevelInfo, "%s while proxying connection", ioErrText(ev.err))
					}
					return
				}
				if !ev.fromClient && ev.n == 0 {
					s.logf(errlog.LevelError, "%s while proxying connection", ioErrText(ev.err))
					if responses == 0 {
						s.status = statusBadGateway
					}
					return
				}
			}
			if ev.fromClient {
				w, err := up.Write(ev.data)
				requests++
				s.bytesRecvd += int64(ev.n)
				tr.sent += int64(w)
				if err != nil {
					s.logf(errlog.LevelError, "%s while proxying connection", ioErrText(err))
					return
				}
			} else {
				if responses == 0 {
					tr.firstByte = s.h.s.p.now().Sub(start) + tr.connect
				}
				responses++
				tr.received += int64(ev.n)
				// Answers are sent from here, so that none goes out
				// once the session is done.
				w, err := s.client.Write(ev.data)
				s.bytesSent += int64(w)
				if err != nil {
					return
				}
			}
			if !idle.Stop() {
				select {
				case <-idle.C:
				default:
				}
			}
			idle.Reset(cfg.ProxyTimeout)
			if cfg.ProxyRequests > 0 && requests < cfg.ProxyRequests {
				continue
			}
			if cfg.ProxyResponses < 0 || responses < cfg.ProxyResponses*requests {
				continue
			}
			s.logf(errlog.LevelInfo, "udp done, packets from/to client:%d/%d", requests, responses)
			return
		}
	}
}

func (s *session) sendEvent(events chan<- udpEvent, stop <-chan struct{}, ev udpEvent) {
	select {
	case events <- ev:
	case <-stop:
	}
}
