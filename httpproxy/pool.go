package httpproxy

import (
	"net"
	"sync"
	"syscall"
	"time"
)

// poolKey says which idle connections a request may take: those to the
// same server address over the same transport. A TLS connection is made
// with one location's proxy_ssl_* settings and one server name (SNI and
// verified name), so it serves only requests with the same.
type poolKey struct {
	addr string
	tls  *upstreamTLS // nil: plain TCP
	name string       // the TLS server name
}

// upConn is a connection to an upstream server.
type upConn struct {
	nc       net.Conn
	key      poolKey
	created  time.Time
	idle     time.Time // when it went back to the pool
	requests int
	rdl, wdl deadline

	// sock is the socket of a plain TCP connection (a *net.TCPConn or an
	// *upSock; nil otherwise, and unused once nc is no longer that socket,
	// as after a TLS handshake), and rc its raw connection; the fields
	// after them are the state of exchange (proxy.go).
	sock  net.Conn
	rc    syscall.RawConn
	lazy  *upSock // sock while its handshake may be under way (dialSock)
	xfn   func(fd uintptr) bool
	xreq  []byte
	xbuf  []byte
	xwrit int
	xn    int
	xerr  error
	// the request write exchange deferred (wbatch.go), and whether it may
	xdefer bool
	ws     wslot
}

// pool is the idle connection cache of one upstream (nginx's "keepalive
// N"): at most max idle connections over all its servers, each reused for
// at most maxReq requests (keepalive_requests), for at most maxTime since
// it was opened (keepalive_time), and closed after idleTimeout unused
// (keepalive_timeout, checked when a connection is taken). It is safe for
// concurrent use.
type pool struct {
	max         int
	maxReq      int
	maxTime     time.Duration
	idleTimeout time.Duration
	now         func() time.Time

	mu     sync.Mutex
	idle   map[poolKey][]*upConn
	n      int
	closed bool
}

func newPool(max, maxReq int, maxTime, idleTimeout time.Duration, now func() time.Time) *pool {
	return &pool{max: max, maxReq: maxReq, maxTime: maxTime, idleTimeout: idleTimeout, now: now,
		idle: map[poolKey][]*upConn{}}
}

// get returns an idle connection for key, most recently used first, or nil.
func (p *pool) get(key poolKey, now time.Time) *upConn {
	p.mu.Lock()
	for {
		list := p.idle[key]
		if len(list) == 0 {
			p.mu.Unlock()
			return nil
		}
		uc := list[len(list)-1]
		list[len(list)-1] = nil
		p.idle[key] = list[:len(list)-1]
		p.n--
		if p.idleTimeout > 0 && now.Sub(uc.idle) >= p.idleTimeout {
			p.mu.Unlock()
			uc.nc.Close()
			p.mu.Lock()
			continue
		}
		p.mu.Unlock()
		return uc
	}
}

// put returns uc to the pool after a request, or closes it when the pool is
// full or uc has served its time or its requests.
func (p *pool) put(uc *upConn, now time.Time) {
	if (p.maxReq > 0 && uc.requests >= p.maxReq) || (p.maxTime > 0 && now.Sub(uc.created) >= p.maxTime) {
		uc.nc.Close()
		return
	}
	uc.idle = now
	p.mu.Lock()
	if p.closed || p.n >= p.max {
		p.mu.Unlock()
		uc.nc.Close()
		return
	}
	p.idle[uc.key] = append(p.idle[uc.key], uc)
	p.n++
	p.mu.Unlock()
}

// close closes every idle connection; later puts close theirs.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = map[poolKey][]*upConn{}
	p.n = 0
	p.mu.Unlock()
	for _, list := range idle {
		for _, uc := range list {
			uc.nc.Close()
		}
	}
}

// noDelay sets TCP_NODELAY on a lazy socket of dialSock, which leaves it
// unset for a request written whole, before writes that may follow one
// another.
func (uc *upConn) noDelay() {
	if s, ok := uc.sock.(*upSock); ok {
		s.setNoDelay()
	}
}
