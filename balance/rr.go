package balance

import "sync/atomic"

// Smooth weighted round robin.
//
// nginx's algorithm adds every live server's effective weight to its current
// weight, picks the largest current weight and subtracts the total from it.
// While every server is nominal (full effective weight, nothing failed,
// excluded or ramping) the sequence is periodic with period equal to the
// total weight, so a tier precomputes one period (the schedule) and a pick is
// one atomic increment. When a server leaves the nominal state the tier
// reconstructs nginx's current weights at the schedule position and runs
// nginx's algorithm itself (on atomic current weights) until the weights
// again equal those of some schedule position, then returns to the schedule.
// Sequential picks therefore produce nginx's exact sequence, failures
// included. Tiers of more than exactLimit servers never run the O(n)
// algorithm: they follow the schedule and skip servers that cannot be used.

const (
	exactLimit  = 64      // largest tier that runs nginx's algorithm exactly
	maxSchedule = 1 << 20 // longest precomputed schedule
	maxSimWork  = 1 << 26 // schedule length × servers simulated at build
)

const (
	modeSched int32 = iota
	modeSync
	modeExact
)

// tier is the primary or the backup servers of a snapshot.
type tier struct {
	peers  []*Peer
	backup bool
	single bool  // nginx peers->single: one server and no backups
	total  int64 // sum of weights including down servers (nginx total_weight)
	start  []int64
	unit   []uint32 // server owning each weight unit, when total ≤ maxUnits

	sched  []uint32          // one period of the nominal sequence
	W      int64             // sum of the weights of servers not down
	fp     map[uint64]uint32 // fingerprint of current weights → position
	fpBits []uint64          // filter of fp's keys: bit f>>fpShift set for each
	rnd    []uint64          // fingerprint multipliers
	small  bool              // exact algorithm allowed
	always bool              // exact algorithm always (max_conns, or no exact schedule)

	hot []hotPeer      // what scans read of each server, in peers order
	cw  []atomic.Int64 // nginx's current weights, in exact mode

	// Read by every pick, rarely written: a line of their own.
	_          [64]byte
	mode       atomic.Int32
	overlapped atomic.Bool             // picks overlap: see tieBegin
	lanes      atomic.Pointer[[]*lane] // see lane.go; nil until picks overlap
	gen        atomic.Uint64           // bumped when a server leaves the nominal state
	quietGen   atomic.Uint64           // gen when a scan last found every server plain and quiet
	_          [32]byte

	// Written by picks: another line.
	ticket atomic.Uint32 // see tieBegin
	pos    atomic.Uint64
	streak atomic.Int64
	_      [40]byte
}

// Overlapping picks.
//
// Picks that overlap in time have no order, so least_conn and least_time
// break the ties of overlapping picks by weighted random choice instead of
// the shared round-robin state, which would have the cores take its cache
// lines from each other on every pick. Picks that never overlap, such as
// the connections of a client that opens one after another, follow nginx's
// sequence exactly. A pick that breaks a tie with the shared state takes a
// ticket before it scans and checks afterwards that no other such pick
// ended in between; when one did, the tier raises a flag that later picks
// only read, and a pick in overlapMemory clears it to check again.

// overlapMemory is how many picks on average the overlap flag lasts.
const overlapMemory = 1024

// tieBegin is called before a least_conn pick scans t: it reports whether
// the pick breaks ties at random, and otherwise the ticket for tieEnd.
// (least_time's ties move the schedule position with a compare-and-swap,
// whose failure reveals the overlap without a ticket: see tie.)
func (t *tier) tieBegin(c *pickCtx) (random bool, ticket uint32) {
	if t.overlapping(c) {
		return true, 0
	}
	return false, t.ticket.Load()
}

// overlapping reports whether the flag is up, and clears it one time in
// overlapMemory.
func (t *tier) overlapping(c *pickCtx) bool {
	if t.overlapped.Load() {
		if c.s.rnd()%overlapMemory != 0 {
			return true
		}
		t.overlapped.Store(false)
	}
	return false
}

// tieEnd is called after a pick broke a tie with the shared state.
func (t *tier) tieEnd(ticket uint32) {
	if !t.ticket.CompareAndSwap(ticket, ticket+1) {
		t.overlapped.Store(true)
	}
}

// hotPeer is what a scan reads of one server, stored contiguously per tier
// so that a scan does not visit the Peer.
type hotPeer struct {
	st     *peerState
	weight int64
	inv    float64 // 1/weight
	plain  bool    // Peer.plain
}

func newTier(peers []*Peer, backup, single bool) *tier {
	t := &tier{peers: peers, backup: backup, single: single}
	t.quietGen.Store(^uint64(0)) // no scan yet
	t.start = make([]int64, len(peers))
	t.cw = make([]atomic.Int64, len(peers))
	t.hot = make([]hotPeer, len(peers))
	t.small = len(peers) <= exactLimit
	var gcd int64
	for i, p := range peers {
		p.tier, p.idx = t, i
		t.hot[i] = hotPeer{st: p.st, weight: p.weight, inv: 1 / float64(p.weight), plain: p.plain}
		t.start[i] = t.total
		t.total += p.weight
		if p.srv.Down {
			continue
		}
		t.W += p.weight
		gcd = gcdInt(gcd, p.weight)
		if p.maxConns > 0 {
			t.always = true
		}
	}
	if t.total <= maxUnits {
		t.unit = make([]uint32, t.total)
		for i, p := range peers {
			for w := range p.weight {
				t.unit[t.start[i]+w] = uint32(i)
			}
		}
	}
	if t.W == 0 {
		t.always = true
		t.mode.Store(modeExact)
		return t
	}
	// Reduce the weights by their gcd: the sequence is the same.
	w := make([]int64, len(peers))
	var sum int64
	for i, p := range peers {
		if !p.srv.Down {
			w[i] = p.weight / gcd
			sum += w[i]
		}
	}
	exact := sum <= maxSchedule && sum*int64(len(peers)) <= maxSimWork
	if !exact {
		// Too long to simulate: scale the weights down. The schedule keeps
		// the proportions approximately; the exact algorithm is used for
		// small tiers.
		limit := min(int64(maxSchedule), maxSimWork/int64(len(peers)))
		sum = 0
		for i := range w {
			if w[i] > 0 {
				w[i] = max(1, w[i]*limit/(t.W/gcd))
				sum += w[i]
			}
		}
		t.always = true
	}
	t.sched = make([]uint32, sum)
	if t.small && exact {
		t.rnd = make([]uint64, len(peers))
		x := uint64(0x9e3779b97f4a7c15)
		for i := range t.rnd {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			t.rnd[i] = x | 1
		}
		t.fp = make(map[uint64]uint32, sum)
		t.fp[0] = 0
	}
	cw := make([]int64, len(peers))
	for n := int64(0); n < sum; n++ {
		best := -1
		for i := range peers {
			if w[i] == 0 {
				continue
			}
			cw[i] += w[i]
			if best < 0 || cw[i] > cw[best] {
				best = i
			}
		}
		cw[best] -= sum
		t.sched[n] = uint32(best)
		if t.fp != nil && n+1 < sum {
			var f uint64
			for i, v := range cw {
				f += uint64(v*gcd) * t.rnd[i]
			}
			if _, dup := t.fp[f]; !dup {
				t.fp[f] = uint32(n + 1)
			}
		}
	}
	if t.fp != nil {
		t.fpBits = make([]uint64, 1<<(64-fpShift)/64)
		for f := range t.fp {
			b := f >> fpShift
			t.fpBits[b/64] |= 1 << (b % 64)
		}
	}
	for _, p := range peers {
		if !p.srv.Down && !p.nominal() {
			t.mode.Store(modeExact)
		}
	}
	if t.always || !t.small {
		t.mode.Store(modeExact)
	}
	return t
}

// fpShift selects the bits of a fingerprint that index fpBits: the top 13.
const fpShift = 64 - 13

// mayHaveFP reports whether fingerprint f may be a key of fp; false is
// certain.
func (t *tier) mayHaveFP(f uint64) bool {
	b := f >> fpShift
	return t.fpBits[b/64]&(1<<(b%64)) != 0
}

func gcdInt(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// changed is dirty for a server that left its plain and quiet state: it
// also tells the lanes and the scans (see trusted).
func (t *tier) changed() {
	t.gen.Add(1)
	t.dirty()
}

// dirty switches a small tier from the schedule to nginx's algorithm.
func (t *tier) dirty() {
	if t.small && t.mode.Load() == modeSched {
		t.toExact(t.pos.Load())
	}
}

// toExact reconstructs nginx's current weights at schedule position pos:
// after p picks server i has current weight p*w_i - W*(times picked).
func (t *tier) toExact(pos uint64) {
	if !t.mode.CompareAndSwap(modeSched, modeSync) {
		return
	}
	p := int64(pos % uint64(len(t.sched)))
	var cw [exactLimit]int64 // toExact serves small tiers only
	for i, peer := range t.peers {
		if !peer.srv.Down {
			cw[i] = p * peer.weight
		}
	}
	for _, i := range t.sched[:p] {
		cw[i] -= t.W
	}
	for i := range t.peers {
		t.cw[i].Store(cw[i])
	}
	t.mode.Store(modeExact)
}

func (s *snapshot) pickRR(c *pickCtx) *Peer {
	if p := c.rr(s.primary); p != nil {
		return p
	}
	if s.backup != nil {
		return c.rr(s.backup)
	}
	return nil
}

func (c *pickCtx) rr(t *tier) *Peer {
	if t.single {
		if p := t.peers[0]; c.usable(p) {
			return p
		}
		return nil
	}
	if !t.small {
		return c.rrSkip(t)
	}
	if t.mode.Load() == modeSched {
		if c.req.Tried.n != 0 {
			t.toExact(t.pos.Load())
		} else {
			if t.overlapping(c) {
				if p := c.rrLane(t); p != nil {
					return p
				}
			}
			// A position that moved during the pick reveals picks that
			// overlap.
			n := uint64(len(t.sched))
			i := t.pos.Load()
			j := reduce(i, n)
			p := t.peers[t.sched[j]]
			nominal := p.nominal()
			if !t.pos.CompareAndSwap(i, next(j, n)) {
				t.overlapped.Store(true)
				i = t.pos.Add(1) - 1
				p = t.peers[t.sched[i%n]]
				nominal = p.nominal()
			}
			if nominal {
				return p
			}
			t.toExact(i)
		}
	}
	return c.rrExact(t)
}

// rrExact is nginx's ngx_http_upstream_get_peer on atomic current weights.
func (c *pickCtx) rrExact(t *tier) *Peer {
	best := -1
	var bestCW, total int64
	nominal := c.req.Tried.n == 0 && !t.always
	for i, p := range t.peers {
		if p.srv.Down {
			continue
		}
		if !c.usable(p) {
			nominal = false
			continue
		}
		st := p.st
		ew := st.ew.Load()
		cw := t.cw[i].Add(ew)
		total += ew
		if ew < p.weight {
			st.ew.CompareAndSwap(ew, ew+1)
			if ew+1 < p.weight {
				nominal = false
			}
		}
		if nominal && (st.fails.Load() != 0 || st.slowSince.Load() != 0) {
			nominal = false
		}
		if best < 0 || cw > bestCW {
			best, bestCW = i, cw
		}
	}
	if best < 0 {
		return nil
	}
	t.cw[best].Add(-total)
	if nominal {
		t.trySync()
	} else if t.streak.Load() != 0 {
		t.streak.Store(0)
	}
	return t.peers[best]
}

// trySync returns to the schedule when the current weights equal those of a
// schedule position. If they do not for two periods, it resets them to
// position zero (nginx would follow a different but equally fair order).
func (t *tier) trySync() {
	var f uint64
	for i := range t.cw {
		f += uint64(t.cw[i].Load()) * t.rnd[i]
	}
	// Most weights match no position: the filter spares the map lookup.
	if t.mayHaveFP(f) {
		if pos, ok := t.fp[f]; ok {
			t.pos.Store(uint64(pos))
			t.streak.Store(0)
			t.mode.CompareAndSwap(modeExact, modeSched)
			return
		}
	}
	if t.streak.Add(1) > 2*int64(len(t.sched))+int64(len(t.peers)) {
		for i := range t.cw {
			t.cw[i].Store(0)
		}
		t.pos.Store(0)
		t.streak.Store(0)
		t.mode.CompareAndSwap(modeExact, modeSched)
	}
}

// rrSkip serves tiers too large for the exact algorithm: follow the schedule,
// skip servers that cannot be used, and let a server whose effective weight
// was lowered by a failure sit out one turn per missing unit.
func (c *pickCtx) rrSkip(t *tier) *Peer {
	if n := uint64(len(t.sched)); n > 0 {
		for range 64 {
			i := t.pos.Add(1) - 1
			p := t.peers[t.sched[i%n]]
			if !c.usable(p) {
				continue
			}
			if ew := p.st.ew.Load(); ew < p.weight {
				p.st.ew.CompareAndSwap(ew, ew+1)
				continue
			}
			return p
		}
	}
	n := len(t.peers)
	off := int(c.s.rnd() % uint64(n))
	for k := range n {
		if p := t.peers[(off+k)%n]; c.usable(p) {
			return p
		}
	}
	return nil
}

// maxUnits is the largest total weight for which a tier tabulates the
// server of each weight unit (4 bytes per unit).
const maxUnits = 1 << 14

// at returns the index of the server owning weight unit w in [0, total):
// nginx's walk "while (w >= peer->weight) w -= peer->weight", by table or
// by bisection.
func (t *tier) at(w int64) int {
	if uint64(w) < uint64(len(t.unit)) {
		return int(t.unit[w])
	}
	i, j := 0, len(t.start)
	for j-i > 1 {
		k := int(uint(i+j) >> 1)
		if w < t.start[k] {
			j = k
		} else {
			i = k
		}
	}
	return i
}

// trusted reports whether t's servers were all plain and quiet at the last
// full scan and none has left that state since (every such change calls
// dirty), so a scan may skip checking them; gen is for verified.
func (t *tier) trusted() (ok bool, gen uint64) {
	gen = t.gen.Load()
	return t.quietGen.Load() == gen, gen
}

// verified records that a scan of every server of t, begun at gen, found
// them all plain and quiet.
func (t *tier) verified(gen uint64) {
	t.quietGen.Store(gen)
}

// reduce returns the schedule index of position i, for a schedule of n
// turns. The position is kept below n (see next), so the division is
// rare; positions moved by Add may exceed it.
func reduce(i, n uint64) uint64 {
	if i >= n {
		i %= n
	}
	return i
}

// next returns the schedule index after j.
func next(j, n uint64) uint64 {
	if j++; j == n {
		j = 0
	}
	return j
}
