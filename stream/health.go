package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/internal/pcre"
	ups "github.com/sluicelb/sluice/upstream"
)

// udpCheckData is what a UDP health check sends when its match block
// has no send, as NGINX Plus.
const udpCheckData = "nginx health check"

// healthProbe is the probe of one health_check directive: a TCP connect,
// or a UDP datagram, then the send and expect of its match block.
type healthProbe struct {
	p        *proxy
	log      *slog.Logger
	upstream string
	match    string // the match block's name, for the error log
	send     []byte // nil: send nothing (TCP)
	literal  []byte // expect "string"
	re       *pcre.Regexp
	port     string // port= , or ""
	udp      bool
	// connect is proxy_connect_timeout; timeout is health_check_timeout,
	// the time to send and read once connected; bufSize is
	// proxy_buffer_size, the most data read for expect.
	connect, timeout time.Duration
	bufSize          int
}

// addHealthChecks adds the checks of server s to checks.
func (p *proxy) addHealthChecks(st *config.Stream, s *server, checks *ups.Checks) error {
	for _, hc := range s.cfg.HealthChecks {
		hp := &healthProbe{p: p, log: s.log, upstream: s.target.name, udp: hc.UDP,
			connect: s.cfg.ProxyConnectTimeout, timeout: hc.Timeout, bufSize: int(s.cfg.ProxyBufferSize)}
		if hp.bufSize <= 0 {
			hp.bufSize = 16 << 10
		}
		if hc.Port > 0 {
			hp.port = strconv.Itoa(hc.Port)
		}
		if m := st.MatchByName(hc.Match); m != nil {
			hp.match = m.Name
			if m.SendSet {
				hp.send = []byte(m.Send)
			}
			switch {
			case m.ExpectRegex:
				re, err := config.CompileRegex(m.Expect, m.ExpectCaseless)
				if err != nil {
					return fmt.Errorf("invalid regular expression %q: %v in %s", m.Expect, err, m.Pos)
				}
				hp.re = re
			case m.Expect != "":
				hp.literal = []byte(m.Expect)
			}
		}
		if hp.udp && len(hp.send) == 0 {
			hp.send = []byte(udpCheckData)
		}
		checks.Add(s.target.group, ups.HealthCheck{Interval: hc.Interval, Jitter: hc.Jitter, Fails: hc.Fails,
			Passes: hc.Passes, Mandatory: hc.Mandatory, Persistent: hc.Persistent, Probe: hp.probe, Report: hp.report})
	}
	return nil
}

// checkError is why a check failed: the phase it failed in, for the
// error log's "while ...", and the error line logged, if any (a response
// that does not match is no error of its own).
type checkError struct {
	phase string
	text  string
}

func (e *checkError) Error() string {
	if e.text == "" {
		return "health check failed while " + e.phase
	}
	return e.text + " while " + e.phase
}

const (
	phaseConnect = "connecting to upstream"
	phaseSend    = "sending to upstream"
	phaseRead    = "reading from upstream"
	phaseCheck   = "checking response"
)

// context is the end of the check's error log lines.
func (hp *healthProbe) context(peer *balance.Peer) string {
	return fmt.Sprintf("health check %q of peer %s in upstream %q", hp.match, peer.Addr(), hp.upstream)
}

// report logs a change of a server's state, in NGINX Plus's words.
func (hp *healthProbe) report(peer *balance.Peer, healthy bool, err error) {
	if healthy {
		phase := phaseConnect
		if hp.udp || hp.literal != nil || hp.re != nil {
			phase = phaseCheck
		}
		hp.log.Log(context.Background(), errlog.LevelNotice, "peer is healthy while "+phase+", "+hp.context(peer))
		return
	}
	phase := phaseCheck
	var ce *checkError
	if errors.As(err, &ce) {
		phase = ce.phase
	}
	hp.log.Log(context.Background(), errlog.LevelWarn, "peer is unhealthy while "+phase+", "+hp.context(peer))
}

// fail returns the error of a failed check, logging its error line.
func (hp *healthProbe) fail(peer *balance.Peer, phase, text string) error {
	if text != "" {
		hp.log.Log(context.Background(), errlog.LevelError, text+" while "+phase+", "+hp.context(peer))
	}
	return &checkError{phase: phase, text: text}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ioText is the error log text of a failed connect, read or write.
func ioText(op string, err error) string {
	if isTimeout(err) {
		return "upstream timed out (110: Connection timed out)"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return op + "() failed (" + errnoText(errno) + ")"
	}
	return op + "() failed (" + err.Error() + ")"
}

// probe runs one check of peer.
func (hp *healthProbe) probe(ctx context.Context, peer *balance.Peer) error {
	network, addr := peer.Network(), peer.DialAddr()
	if hp.port != "" && network == "tcp" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = net.JoinHostPort(host, hp.port)
		}
	}
	if hp.udp {
		network = map[string]string{"tcp": "udp", "unix": "unixgram"}[network]
	}
	c, err := hp.dial(ctx, network, addr)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return hp.fail(peer, phaseConnect, ioText("connect", err))
	}
	defer c.Close()
	if !hp.udp && hp.send == nil && hp.literal == nil && hp.re == nil {
		return nil
	}
	c.SetDeadline(time.Now().Add(hp.timeout))
	// a check ends at once when its configuration stops serving
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if len(hp.send) > 0 {
		if _, err := c.Write(hp.send); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return hp.fail(peer, phaseSend, ioText("send", err))
		}
	}
	if hp.udp {
		return hp.readUDP(ctx, peer, c)
	}
	if hp.literal == nil && hp.re == nil {
		return nil
	}
	// only the first proxy_buffer_size bytes are examined
	buf := make([]byte, hp.bufSize)
	got := 0
	for {
		n, err := c.Read(buf[got:])
		got += n
		if n > 0 && hp.matches(buf[:got]) {
			return nil
		}
		switch {
		case err == nil && got == len(buf):
			return hp.fail(peer, phaseCheck, "")
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case got > 0 && (err == io.EOF || isTimeout(err)):
			// what the server sent, all of it or all it sent in time,
			// does not match
			return hp.fail(peer, phaseCheck, "")
		case err == io.EOF:
			return hp.fail(peer, phaseRead, "upstream prematurely closed connection")
		default:
			return hp.fail(peer, phaseRead, ioText("recv", err))
		}
	}
}

// readUDP waits for the answer to a UDP check: an ICMP port unreachable
// (reported on the connected socket as ECONNREFUSED) fails it; without
// expect, no answer within health_check_timeout passes it; with expect, a
// datagram must match.
func (hp *healthProbe) readUDP(ctx context.Context, peer *balance.Peer, c net.Conn) error {
	buf := make([]byte, min(hp.bufSize, 64<<10))
	for {
		n, err := c.Read(buf)
		if err == nil {
			if hp.literal == nil && hp.re == nil || hp.matches(buf[:n]) {
				return nil
			}
			continue // another datagram may match
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isTimeout(err) && hp.literal == nil && hp.re == nil {
			return nil
		}
		return hp.fail(peer, phaseRead, ioText("recv", err))
	}
}

// matches reports whether the data read holds what expect wants.
func (hp *healthProbe) matches(b []byte) bool {
	if hp.re != nil {
		return hp.re.Match(b)
	}
	return bytes.Contains(b, hp.literal)
}

func (hp *healthProbe) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if hp.p.opts.Dial != nil {
		return hp.p.opts.Dial(network, addr, hp.connect, nil)
	}
	d := net.Dialer{Timeout: hp.connect, KeepAlive: -1}
	return d.DialContext(ctx, network, addr)
}
