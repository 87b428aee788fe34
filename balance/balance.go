package balance

import (
	"errors"
	"net/netip"
	"time"
	_ "unsafe" // go:linkname
)

// ErrNoPeer is returned by Group.Pick when no server can take the request:
// every server is down, unavailable after failures, unhealthy, draining, at
// its max_conns, or already tried for this request. Proxies answer it with
// 502.
var ErrNoPeer = errors.New("balance: no live upstreams")

// Method is a balancing method: the directive in an nginx upstream block.
type Method int

const (
	// RoundRobin is nginx's default smooth weighted round robin.
	RoundRobin Method = iota
	// LeastConn is "least_conn".
	LeastConn
	// IPHash is "ip_hash".
	IPHash
	// Hash is "hash KEY" ("hash KEY consistent" with Config.Consistent).
	Hash
	// Random is "random" ("random two ..." with Config.Two).
	Random
	// LeastTime is NGINX Plus "least_time".
	LeastTime
)

var methodNames = [...]string{"round_robin", "least_conn", "ip_hash", "hash", "random", "least_time"}

// String returns the nginx directive name of m.
func (m Method) String() string {
	if m >= 0 && int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "unknown"
}

// Metric says which latency least_time compares; the proxy measures it and
// reports it in Outcome.Latency.
type Metric int

const (
	// MetricHeader is the time to receive the response header (http).
	MetricHeader Metric = iota
	// MetricLastByte is the time to receive the whole response.
	MetricLastByte
	// MetricConnect is the time to connect to the server (stream).
	MetricConnect
	// MetricFirstByte is the time to receive the first byte (stream).
	MetricFirstByte
)

var metricNames = [...]string{"header", "last_byte", "connect", "first_byte"}

// String returns the nginx parameter name of m.
func (m Metric) String() string {
	if m >= 0 && int(m) < len(metricNames) {
		return metricNames[m]
	}
	return "unknown"
}

// Config selects and parameterises the balancing method of a group. The zero
// value is round robin.
type Config struct {
	// Method is the balancing method.
	Method Method

	// Consistent selects ketama consistent hashing for Method Hash.
	Consistent bool

	// Two selects "random two": of two randomly drawn servers the less
	// loaded wins (Method Random).
	Two bool

	// TwoLeastTime compares the two drawn servers by least_time score
	// instead of active connections ("random two least_time=...").
	TwoLeastTime bool

	// Metric is what least_time compares (Method LeastTime or
	// TwoLeastTime). The group only reports it back through Group.Metric.
	Metric Metric

	// Inflight makes least_time count requests still in progress: their age
	// so far raises the server's latency estimate ("least_time ... inflight").
	Inflight bool

	// Rand is the random source for random, random two, least_time probes
	// and slow_start. Nil means math/rand/v2. It must be safe for concurrent
	// use if picks are concurrent.
	Rand Rand
}

// Clock tells the time. Tests inject a fake one.
type Clock interface {
	Now() time.Time
}

// Rand is a source of uniformly distributed random numbers.
type Rand interface {
	Uint64() uint64
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// globalRand is the default source: the runtime's per-thread wyrand
// generator (runtime.cheaprand), which costs a nanosecond where
// math/rand/v2's ChaCha8 costs several. Picks need uniform numbers, not
// unpredictable ones.
type globalRand struct{}

func (globalRand) Uint64() uint64 { return cheapRand64() }

//go:linkname cheaprand runtime.cheaprand
func cheaprand() uint32

func cheapRand64() uint64 { return uint64(cheaprand())<<32 | uint64(cheaprand()) }

// rnd returns a random number from the group's source; the default source
// is called directly rather than through the interface.
func (s *snapshot) rnd() uint64 {
	if s.sysRand {
		return cheapRand64()
	}
	return s.rand.Uint64()
}

// Request describes what a pick may depend on. Reuse one Request for all
// attempts of a client request (proxy_next_upstream): it records the servers
// already tried and the hash state nginx carries between attempts. The zero
// value is a request with no client address and no key. A Request must not be
// used by two goroutines at once.
type Request struct {
	// Client is the client address (ip_hash).
	Client netip.Addr
	// Key is the evaluated hash key (hash KEY).
	Key []byte

	// Tried holds the servers already picked for this request; Pick adds to
	// it and never picks a server in it.
	Tried Tried

	hashTries uint32 // nginx's hp->tries / iphp->tries / rp->tries
	rehash    uint32 // nginx's hp->rehash
	hash      uint32 // nginx's hp->hash / iphp->hash
	hashInit  bool
}

// Reset clears r for reuse by another client request.
func (r *Request) Reset() {
	more := r.Tried.more[:0]
	*r = Request{}
	r.Tried.more = more
}

// Tried is the set of servers already tried by one request. The zero value is
// empty. It stores up to eight servers without allocating.
type Tried struct {
	n    int
	ids  [8]uint32
	more []uint32
}

// Len returns the number of servers tried.
func (t *Tried) Len() int { return t.n }

// Has reports whether p was tried.
func (t *Tried) Has(p *Peer) bool { return p != nil && t.has(p.st.id) }

func (t *Tried) has(id uint32) bool {
	if t.n == 0 {
		return false
	}
	k := min(t.n, len(t.ids))
	for _, v := range t.ids[:k] {
		if v == id {
			return true
		}
	}
	for _, v := range t.more {
		if v == id {
			return true
		}
	}
	return false
}

func (t *Tried) add(id uint32) {
	if t.has(id) {
		return
	}
	if t.n < len(t.ids) {
		t.ids[t.n] = id
	} else {
		t.more = append(t.more, id)
	}
	t.n++
}

// Outcome is what the caller reports when an attempt on a picked server ends.
type Outcome struct {
	// Failed marks the attempt unsuccessful in the sense of
	// proxy_next_upstream: it counts against max_fails.
	Failed bool
	// Latency is the time measured as Group.Metric says; zero means no
	// sample. Only successful attempts' latencies feed least_time.
	Latency time.Duration
}

// Selection is a successful pick: the server to use and the handle that ends
// the attempt. Call Done exactly once when the attempt ends (connection
// closed or response finished), failed or not.
type Selection struct {
	// Peer is the chosen server.
	Peer *Peer

	snap  *snapshot
	start int64    // registry time of the pick, for inflight accounting
	le    *laneEnt // the lane that counted the pick, if any
}

// Done ends the attempt: it releases the connection counted against the
// server and feeds the outcome into failure accounting and latency estimates.
// It is safe for concurrent use with picks.
func (s Selection) Done(o Outcome) {
	if s.Peer != nil {
		if s.le != nil {
			s.le.mine.Add(-1)
		}
		s.Peer.done(s.snap, s.start, o)
	}
}
