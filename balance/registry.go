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

	mu     sync.Mutex
	peers  map[peerKey]*peerState
	groups map[string]bool
	nextID uint32
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
	} else {
		r.nowFn = func() int64 { return int64(r.clock.Now().Sub(r.epoch)) }
	}
	return r
}

// now returns the registry time in nanoseconds (monotonic when the clock is).
func (r *Registry) now() int64 { return r.nowFn() }

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
type peerState struct {
	id uint32

	active   atomic.Int32
	requests atomic.Uint64
	failsAll atomic.Uint64 // failed attempts ever, for statistics
	unavail  atomic.Uint64 // times the server became unavailable

	fails    atomic.Int32 // nginx peer->fails
	accessed atomic.Int64 // nginx peer->accessed: time of the last failure
	checked  atomic.Int64 // nginx peer->checked
	ew       atomic.Int64 // nginx peer->effective_weight
	weight   atomic.Int64 // configured weight the ew recovers to

	unhealthy atomic.Bool
	drain     atomic.Bool
	slowSince atomic.Int64 // start of slow start, 0 when not ramping

	// least_time
	ewma      atomic.Uint64 // float64 bits, nanoseconds; 0 = no sample
	ewmaStamp atomic.Int64
	startSum  atomic.Int64 // sum of pick times of in-flight attempts
	lastPick  atomic.Int64

	owner atomic.Pointer[Group] // the group most recently built on this state
}

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
