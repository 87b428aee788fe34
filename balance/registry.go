package balance

import (
	"sync"
	"sync/atomic"
	"time"
)

// Registry keeps per-server state (active connections, failures, latency
// estimates, health) keyed by group name and server address, so that it
// survives configuration reloads and is shared by every Group built for the
// same upstream. The zero value is not usable; call NewRegistry. A Registry
// is safe for concurrent use.
type Registry struct {
	clock Clock
	epoch time.Time
	nowFn func() int64
	// coarseOff converts the coarse clock to registry time; coarseOK
	// reports a system clock, the only one the coarse clock follows.
	coarseOff int64
	coarseOK  bool

	mu     sync.Mutex
	peers  map[peerKey]*peerState
	groups map[string]bool
	nextID uint32

	hmu    sync.Mutex
	health map[*peerState]*HealthStats // active health checks' counts
}

type peerKey struct {
	group string
	addr  string
	dup   int // n-th server with the same address in the group
}

// NewRegistry returns an empty registry that reads time from clock (nil
// means the system clock).
func NewRegistry(clock Clock) *Registry {
	if clock == nil {
		clock = systemClock{}
	}
	r := &Registry{
		clock: clock,
		// Start an hour back so that every timestamp is positive and zero
		// can mean "never".
		epoch:  clock.Now().Add(-time.Hour),
		peers:  make(map[peerKey]*peerState),
		groups: make(map[string]bool),
	}
	if _, ok := clock.(systemClock); ok {
		// time.Since reads only the monotonic clock: half the cost of Now.
		r.nowFn = func() int64 { return int64(time.Since(r.epoch)) }
		r.coarseOK, r.coarseOff = true, int64(coarseEpoch.Sub(r.epoch))
	} else {
		r.nowFn = func() int64 { return int64(r.clock.Now().Sub(r.epoch)) }
	}
	return r
}

// now returns the registry time in nanoseconds (monotonic when the clock is).
func (r *Registry) now() int64 { return r.nowFn() }

// pickNow returns the registry time as picks read it: from the coarse clock
// when the registry runs on the system clock.
func (r *Registry) pickNow() int64 {
	if r.coarseOK {
		return coarseNow() + r.coarseOff
	}
	return r.nowFn()
}

// Forget drops the state of every server of the named group, for a group
// removed from the configuration. Groups still in use keep working on the
// state they hold.
func (r *Registry) Forget(group string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.peers {
		if k.group == group {
			delete(r.peers, k)
		}
	}
	delete(r.groups, group)
}

// peerState is the mutable state of one server. Every field is atomic.
//
// The fields a pick reads for every server it considers come first and fill
// the first 64 bytes; the struct is 128 bytes, an allocation size class the
// runtime aligns to 128, so those fields share one cache line and no two
// servers share a line.
type peerState struct {
	// read by every scan
	id        uint32
	ended     atomic.Uint32 // times use's ended count wrapped
	fails     atomic.Int32  // nginx peer->fails
	excl      atomic.Uint32 // exclUnhealthy | exclDrain
	startN    atomic.Int32  // attempts in progress picked with inflight accounting
	slowSince atomic.Int64  // start of slow start, 0 when not ramping

	// least_time
	ewma      atomic.Uint64 // float64 bits, nanoseconds; 0 = no sample
	ewmaStamp atomic.Int64
	lastPick  atomic.Int64

	// Attempts in progress (low 32 bits) and attempts ended, mod 2^32
	// (high 32 bits): a pick adds 1, its end adds 1<<32 - 1, one atomic
	// operation each.
	use atomic.Uint64

	startSum atomic.Int64  // sum of pick times of the attempts in startN
	ew       atomic.Int64  // nginx peer->effective_weight
	failsAll atomic.Uint64 // failed attempts ever, for statistics
	unavail  atomic.Uint64 // times the server became unavailable
	accessed atomic.Int64  // nginx peer->accessed: time of the last failure
	checked  atomic.Int64  // nginx peer->checked
	weight   atomic.Int64  // configured weight the ew recovers to

	owner atomic.Pointer[Group] // the group most recently built on this state
}

// conns returns the number of attempts in progress.
func (st *peerState) conns() int32 { return int32(uint32(st.use.Load())) }

// requests returns the number of attempts started.
func (st *peerState) requests() uint64 {
	v := st.use.Load()
	return uint64(st.ended.Load())<<32 + v>>32 + uint64(uint32(v))
}

// end records the end of an attempt and returns the count of attempts ended,
// mod 2^32.
func (st *peerState) end() uint32 {
	v := st.use.Add(1<<32 - 1)
	n := uint32(v >> 32)
	if n == 0 {
		st.ended.Add(1)
	}
	return n
}

// Bits of peerState.excl: reasons a server takes no new attempts.
const (
	exclUnhealthy = 1 << iota // failed an active health check
	exclDrain                 // draining
	exclChecking              // with exclUnhealthy: not checked yet (mandatory)
)

// setExcl sets or clears bit in excl and reports whether it was set.
func (st *peerState) setExcl(bit uint32, on bool) (was bool) {
	var old uint32
	if on {
		old = st.excl.Or(bit)
	} else {
		old = st.excl.And(^bit)
	}
	return old&bit != 0
}

func (st *peerState) unhealthy() bool { return st.excl.Load()&exclUnhealthy != 0 }
func (st *peerState) checking() bool  { return st.excl.Load()&exclChecking != 0 }
func (st *peerState) draining() bool  { return st.excl.Load()&exclDrain != 0 }

// acquire returns the state for key, creating it when absent. created
// reports whether it was created.
func (r *Registry) acquire(k peerKey) (st *peerState, created bool) {
	if st = r.peers[k]; st != nil {
		return st, false
	}
	r.nextID++
	st = &peerState{id: r.nextID}
	r.peers[k] = st
	return st, true
}
