package httpproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/httpproxy/h1"
	"github.com/sluicelb/sluice/internal/pcre"
	ups "github.com/sluicelb/sluice/upstream"
)

// Active health checks (NGINX Plus's health_check in a location).
//
// Each health_check of a location adds a check of the group its
// proxy_pass names to the build's upstream.Checks, which runs it against
// every server of the group between the build's start and its stop. A
// check connects to the server (or to port=), sends "GET uri" with the
// location's proxy_http_version, Host and proxy_set_header headers, within
// the location's proxy_connect_timeout, proxy_send_timeout and
// proxy_read_timeout, and passes when the status is 2xx or 3xx, or, with
// match=, when every test of the match block holds. Body tests see the
// first 256 KB of the body. Nothing of it runs on the request path: a
// server found unhealthy is skipped by the group's Pick.

// healthBodyMax is how much of a response body the body tests of a match
// block see, as in NGINX Plus.
const healthBodyMax = 256 << 10

// healthProbe is one compiled health_check.
type healthProbe struct {
	upName  string // the upstream's name, for the log
	name    string // the match block's name, or ""
	head    []byte // the request head, whole
	port    string // port=, or ""
	connect time.Duration
	send    time.Duration
	read    time.Duration
	maxHead int // proxy_buffer_size
	bind    net.Addr
	dial    func(network, address string, timeout time.Duration, local net.Addr) (net.Conn, error)
	tls     *upstreamTLS
	tlsName string // server name for SNI and verification
	match   *healthMatch
	log     *slog.Logger

	// keepalive is keepalive_time=: a connection is reused for checks of
	// its server for that long. conns are the idle ones, by server.
	keepalive time.Duration
	mu        sync.Mutex
	conns     map[*balance.Peer]*hcConn
}

// hcConn is a kept health check connection.
type hcConn struct {
	nc      net.Conn
	created time.Time
	reused  bool // it served an earlier check
}

// healthMatch is a compiled match block.
type healthMatch struct {
	tests []matchTest
	body  bool // some test reads the body
}

type matchTest struct {
	t  config.HTTPMatchTest
	re *pcre.Regexp // for ~ and !~
}

// hcError is a failed check: what went wrong, worded as nginx words it,
// and the phase ("while ...") for the state change message.
type hcError struct {
	msg   string // logged at error level when set (I/O errors)
	phase string
}

func (e *hcError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return "peer is unhealthy " + e.phase
}

// addHealthChecks adds the health checks of location l (configured by lc)
// to the build's checks.
func (p *proxy) addHealthChecks(l *location, lc *config.HTTPLocation, matches map[string]*healthMatch) error {
	pc := l.pass
	if pc == nil || pc.up == nil {
		// config refuses it; a build from a hand-made configuration
		return fmt.Errorf("httpproxy: health_check without an upstream group in %s", lc.Pos())
	}
	log := l.log
	if log == nil {
		log = l.srv.log
	}
	for _, hc := range lc.HealthChecks {
		pr := &healthProbe{upName: pc.up.name, name: hc.Match, connect: l.set.ProxyConnectTimeout,
			send: l.set.ProxySendTimeout, read: l.set.ProxyReadTimeout, maxHead: int(l.set.ProxyBufferSize),
			bind: l.bind, dial: p.opts.Dial, tls: pc.tls, log: log, keepalive: hc.KeepaliveTime}
		if hc.Port != 0 {
			pr.port = strconv.Itoa(hc.Port)
		}
		if hc.Match != "" {
			if pr.match = matches[hc.Match]; pr.match == nil {
				return fmt.Errorf("match %q not found in %s", hc.Match, hc.Pos)
			}
		}
		pr.head = healthRequest(pc, l.set, &hc)
		if pc.tls != nil {
			name := pc.hostName
			if pc.tls.name != nil {
				name = healthValue(pc.tls.name.Raw(), pc)
			}
			pr.tlsName = sslName(name)
		}
		p.checks.Add(pc.up.group, ups.HealthCheck{
			Interval: hc.Interval, Jitter: hc.Jitter, Fails: hc.Fails, Passes: hc.Passes,
			Mandatory: hc.Mandatory, Persistent: hc.Persistent,
			Probe: pr.probe, Report: pr.report,
		})
		if hc.KeepaliveTime > 0 {
			p.built.Stoppers = append(p.built.Stoppers, pr.closeIdle)
		}
	}
	return nil
}

// buildMatches compiles the match blocks.
func buildMatches(list []*config.HTTPMatch) (map[string]*healthMatch, error) {
	out := map[string]*healthMatch{}
	for _, m := range list {
		hm := &healthMatch{}
		for _, t := range m.Tests {
			mt := matchTest{t: t}
			if t.Op == "~" || t.Op == "!~" {
				re, err := config.CompileRegex(t.Value, false)
				if err != nil {
					return nil, fmt.Errorf("invalid regular expression %q: %v in %s", t.Value, err, t.Pos)
				}
				mt.re = re
			}
			hm.body = hm.body || t.Kind == "body"
			hm.tests = append(hm.tests, mt)
		}
		out[m.Name] = hm
	}
	return out, nil
}

// healthRequest returns the request head of a check: "GET uri", Host and
// the other proxy_set_header headers of the location. There is no client
// request: $proxy_host and $proxy_port have their values, other variables
// are empty, and a header whose value is empty is not sent.
func healthRequest(pc *passConf, st *config.HTTPSettings, hc *config.HTTPHealthCheck) []byte {
	proto := "HTTP/1.0"
	if st.ProxyHTTPVersion == "1.1" {
		proto = "HTTP/1.1"
	}
	b := []byte("GET " + hc.URI + " " + proto + "\r\n")
	for _, h := range st.ProxySetHeaders {
		v := healthValue(h.Value, pc)
		if strings.EqualFold(h.Name, "Connection") && hc.KeepaliveTime > 0 {
			v = ""
			if proto == "HTTP/1.0" {
				v = "keep-alive"
			}
		}
		if v == "" {
			continue
		}
		b = append(b, h.Name...)
		b = append(b, ": "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// healthValue evaluates a complex value for a health check: $proxy_host
// and $proxy_port are known; every other variable is empty.
func healthValue(s string, pc *passConf) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		i++
		if i < len(s) && s[i] >= '1' && s[i] <= '9' {
			i++ // a capture: empty
			continue
		}
		brace := i < len(s) && s[i] == '{'
		if brace {
			i++
		}
		start := i
		for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9') {
			i++
		}
		name := s[start:i]
		if brace && i < len(s) && s[i] == '}' {
			i++
		}
		switch name {
		case "proxy_host":
			b.WriteString(pc.hostName)
		case "proxy_port":
			b.WriteString(pc.port)
		}
	}
	return b.String()
}

// report logs a change of a server's state as NGINX Plus does.
func (pr *healthProbe) report(peer *balance.Peer, healthy bool, err error) {
	phase := "while checking status code"
	var he *hcError
	if errors.As(err, &he) {
		phase = he.phase
	}
	where := fmt.Sprintf(", health check %q of peer %s in upstream %q", pr.name, peer.Addr(), pr.upName)
	if healthy {
		pr.log.Log(context.Background(), errlog.LevelNotice, "peer is healthy"+where)
		return
	}
	pr.log.Warn("peer is unhealthy " + phase + where)
}

// closeIdle closes the kept connections.
func (pr *healthProbe) closeIdle() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for p, c := range pr.conns {
		c.nc.Close()
		delete(pr.conns, p)
	}
}

// probe checks peer once.
func (pr *healthProbe) probe(ctx context.Context, peer *balance.Peer) error {
	c, err := pr.conn(ctx, peer)
	if err != nil {
		return pr.fail(peer, err)
	}
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	keep, got, err := pr.exchange(c.nc)
	if !stop() {
		keep = false
	}
	if err != nil && c.reused && !got && ctx.Err() == nil {
		// the server closed the kept connection: check on a new one
		c.nc.Close()
		if c, err = pr.conn(ctx, peer); err != nil {
			return pr.fail(peer, err)
		}
		stop = context.AfterFunc(ctx, func() { c.nc.Close() })
		keep, _, err = pr.exchange(c.nc)
		if !stop() {
			keep = false
		}
	}
	if keep && pr.keepalive > 0 && time.Since(c.created) < pr.keepalive {
		pr.mu.Lock()
		if pr.conns == nil {
			pr.conns = map[*balance.Peer]*hcConn{}
		}
		pr.conns[peer] = c
		pr.mu.Unlock()
	} else {
		c.nc.Close()
	}
	if err != nil {
		return pr.fail(peer, err)
	}
	return nil
}

// fail logs an I/O error of a check as nginx logs it and returns err.
func (pr *healthProbe) fail(peer *balance.Peer, err error) error {
	var he *hcError
	if errors.As(err, &he) && he.msg != "" {
		pr.log.Error(he.msg + fmt.Sprintf(", health check %q of peer %s in upstream %q", pr.name, peer.Addr(), pr.upName))
	}
	return err
}

// conn returns a kept connection to peer or opens one.
func (pr *healthProbe) conn(ctx context.Context, peer *balance.Peer) (*hcConn, error) {
	pr.mu.Lock()
	c := pr.conns[peer]
	delete(pr.conns, peer)
	pr.mu.Unlock()
	if c != nil {
		c.reused = true
		return c, nil
	}
	network, addr := peer.Network(), peer.DialAddr()
	if pr.port != "" && network == "tcp" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = net.JoinHostPort(host, pr.port)
		}
	}
	var nc net.Conn
	var err error
	if pr.dial != nil {
		nc, err = pr.dial(network, addr, pr.connect, pr.bind)
	} else {
		d := net.Dialer{Timeout: pr.connect, KeepAlive: -1}
		if pr.bind != nil && network == "tcp" {
			d.LocalAddr = pr.bind
		}
		nc, err = d.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, &hcError{msg: connectErrorText(err, isTimeout(err)), phase: "while connecting to upstream"}
	}
	if pr.tls != nil {
		cfg := pr.tls.cfg
		if pr.tls.sni && pr.tlsName != "" || pr.tls.verify != nil {
			cfg = cfg.Clone()
			if pr.tls.sni {
				cfg.ServerName = pr.tlsName
			}
			if pr.tls.verify != nil {
				cfg.VerifyConnection = pr.tls.verify.VerifyConnection(pr.tlsName)
			}
		}
		tc := tls.Client(nc, cfg)
		if pr.connect > 0 {
			nc.SetDeadline(time.Now().Add(pr.connect))
		}
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, &hcError{msg: connectErrorText(&upTLSError{err}, isTimeout(err)), phase: "while SSL handshaking to upstream"}
		}
		nc.SetDeadline(time.Time{})
		nc = tc
	}
	return &hcConn{nc: nc, created: time.Now()}, nil
}

// exchange sends the check's request on nc, reads the response and
// judges it. keep says nc can serve another check, got that a byte of a
// response came.
func (pr *healthProbe) exchange(nc net.Conn) (keep, got bool, err error) {
	if pr.send > 0 {
		nc.SetWriteDeadline(time.Now().Add(pr.send))
	}
	if _, err := nc.Write(pr.head); err != nil {
		return false, false, ioFailure(err, "sending request to upstream", "send() failed")
	}
	if pr.read > 0 {
		nc.SetReadDeadline(time.Now().Add(pr.read))
	}
	max := pr.maxHead
	if max <= 0 {
		max = 4096
	}
	buf := make([]byte, max)
	var resp h1.Response
	have, n := 0, 0
	for {
		if have > 0 {
			n, err = h1.ParseResponse(buf[:have], &resp, h1.ResponseOptions{MaxHeadSize: max})
			if err == nil && resp.Interim() {
				have = copy(buf, buf[n:have])
				continue
			}
			if err == nil {
				break
			}
			if err != h1.ErrNeedMore {
				var e *h1.Error
				errors.As(err, &e)
				return false, true, &hcError{msg: e.Reason + " while reading response header from upstream", phase: "while reading response header from upstream"}
			}
		}
		if have == len(buf) {
			return false, true, &hcError{msg: "upstream sent too big header while reading response header from upstream", phase: "while reading response header from upstream"}
		}
		m, rerr := nc.Read(buf[have:])
		have += m
		if rerr != nil && m == 0 {
			if rerr == io.EOF {
				return false, have > 0, &hcError{msg: "upstream prematurely closed connection while reading response header from upstream", phase: "while reading response header from upstream"}
			}
			return false, have > 0, ioFailure(rerr, "reading response header from upstream", "recv() failed")
		}
	}
	var body []byte
	whole := true
	if pr.match != nil && pr.match.body || pr.keepalive > 0 {
		body, whole, err = readHealthBody(nc, &resp, buf[n:have])
		if err != nil {
			return false, true, err
		}
	}
	keep = resp.KeepAlive && whole
	if pr.match == nil {
		if resp.Status < 200 || resp.Status >= 400 {
			return keep, true, &hcError{phase: "while checking status code"}
		}
		return keep, true, nil
	}
	return keep, true, pr.match.judge(&resp, body)
}

// ioFailure words a failed read or write as nginx logs it.
func ioFailure(err error, what, call string) error {
	if isTimeout(err) || errors.Is(err, os.ErrDeadlineExceeded) {
		return &hcError{msg: "upstream timed out (110: Connection timed out) while " + what, phase: "while " + what}
	}
	return &hcError{msg: call + " " + errText(err) + " while " + what, phase: "while " + what}
}

// readHealthBody reads the body of resp, of which got are the first
// bytes, up to healthBodyMax bytes (decoded). whole says the body was read
// to its end.
func readHealthBody(nc net.Conn, resp *h1.Response, got []byte) (body []byte, whole bool, err error) {
	rerr := func(err error) error {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return &hcError{msg: "upstream prematurely closed connection while reading upstream", phase: "while reading upstream"}
		}
		return ioFailure(err, "reading upstream", "recv() failed")
	}
	switch resp.Body {
	case h1.BodyNone:
		return nil, true, nil
	case h1.BodyLength:
		n := resp.ContentLength
		if n > healthBodyMax {
			n = healthBodyMax
		}
		body = make([]byte, n)
		c := copy(body, got)
		if _, err := io.ReadFull(nc, body[c:]); err != nil {
			return nil, false, rerr(err)
		}
		return body, n == resp.ContentLength && int64(len(got)) <= n, nil
	case h1.BodyChunked:
		var dec h1.ChunkedDecoder
		raw := got
		buf := make([]byte, 16<<10)
		for {
			for len(raw) > 0 && !dec.Done() {
				k, data, err := dec.Decode(raw)
				if err != nil {
					return nil, false, &hcError{msg: "upstream sent invalid chunked response while reading upstream", phase: "while reading upstream"}
				}
				raw = raw[k:]
				room := healthBodyMax - len(body)
				if len(data) > room {
					return append(body, data[:room]...), false, nil
				}
				body = append(body, data...)
			}
			if dec.Done() {
				return body, len(raw) == 0, nil
			}
			m, err := nc.Read(buf)
			if m == 0 && err != nil {
				return nil, false, rerr(err)
			}
			raw = buf[:m]
		}
	default: // until the server closes
		body = append(body, got...)
		buf := make([]byte, 16<<10)
		for len(body) < healthBodyMax {
			m, err := nc.Read(buf)
			body = append(body, buf[:m]...)
			if err == io.EOF {
				break
			}
			if err != nil && m == 0 {
				return nil, false, rerr(err)
			}
		}
		if len(body) > healthBodyMax {
			body = body[:healthBodyMax]
		}
		return body, false, nil
	}
}

// judge runs the tests of a match block on a response.
func (m *healthMatch) judge(resp *h1.Response, body []byte) error {
	for i := range m.tests {
		mt := &m.tests[i]
		t := &mt.t
		switch t.Kind {
		case "status":
			in := false
			for _, r := range t.Codes {
				in = in || r.Contains(resp.Status)
			}
			if in == t.Not {
				return &hcError{phase: "while checking status code"}
			}
		case "header":
			if !mt.header(resp) {
				return &hcError{phase: "while checking headers"}
			}
		case "body":
			if mt.re.Match(body) != (t.Op == "~") {
				return &hcError{phase: "while checking body"}
			}
		}
	}
	return nil
}

// header runs a header test: present (or absent with "!"), or some
// header of that name whose value passes the comparison.
func (mt *matchTest) header(resp *h1.Response) bool {
	t := &mt.t
	found := false
	for _, h := range resp.Headers {
		if !h1.EqualFold(h.Name, []byte(t.Name)) {
			continue
		}
		found = true
		v := string(h.Value)
		switch t.Op {
		case "":
			return !t.Not
		case "=":
			if v == t.Value {
				return true
			}
		case "!=":
			if v != t.Value {
				return true
			}
		case "~":
			if mt.re.MatchString(v) {
				return true
			}
		case "!~":
			if !mt.re.MatchString(v) {
				return true
			}
		}
	}
	return !found && t.Op == "" && t.Not
}
