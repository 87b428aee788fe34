package balance

import (
	"math"
	"math/bits"
	"runtime"
	"sync/atomic"
	_ "unsafe" // go:linkname
)

// Lanes: picks under concurrent load.
//
// Picks that overlap in time (see tieBegin) have no order, and a pick that
// reads the state every other core writes pays for it: the cores take the
// cache lines of the servers' counters and of the round-robin position from
// each other on every pick, which costs more than the pick itself. While
// picks overlap, round robin, least_conn and least_time therefore work from
// a lane, a view of the tier kept per processor (GOMAXPROCS), the way each
// nginx worker process keeps its own view of a group:
//
//   - round robin walks the tier's precomputed schedule from the lane's own
//     position (the lanes start spread over the schedule), so each
//     processor's picks follow smooth weighted round robin and every server
//     still gets its share;
//   - least_conn and least_time read the servers' active counts and latency
//     estimates from a copy the lane refreshes every coarse clock tick
//     (about a millisecond), plus the lane's own picks and ends since the
//     copy, so a pick sees its processor's attempts at once and the others'
//     within a tick. A change of a server's state (a failure, health, drain,
//     slow start) refreshes every lane at once; while any server of the tier
//     is not plain and quiet, picks leave the lanes for the shared state.
//
// Ties are broken at random in proportion to weight, as for every
// overlapping pick. The servers' own counters (active, requests, failures,
// estimates) are still kept exactly: a pick and its end write the chosen
// server's state as always. Picks that do not overlap never use a lane and
// follow nginx's sequences exactly.

// procPin pins the goroutine to its processor and returns the processor's
// id; procUnpin undoes it. A pick only reads the id: which lane it uses is
// a matter of speed, not of correctness, so a goroutine that moves to
// another processor at once is harmless.
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// maxLanes bounds the lanes of a tier; processors beyond share them.
const maxLanes = 256

// lane is one processor's view of a small tier (at most exactLimit
// servers). It fills a 128-byte size class, so lanes do not share cache
// lines; ent is a separate allocation whose size is a multiple of 64 bytes,
// so it is line-aligned too.
type lane struct {
	tick atomic.Int64  // registry time (coarse clock) of the copy, 0 before the first
	gen  atomic.Uint64 // the tier's generation at the copy
	pos  atomic.Uint64 // round-robin position in the tier's schedule
	ent  []laneEnt
	_    [128 - 48]byte
}

// laneEnt is a lane's view of one server.
type laneEnt struct {
	mine atomic.Int32  // attempts picked through this lane, minus their ends
	off  atomic.Int32  // the server's active count at the copy, minus mine then
	est  atomic.Uint64 // least_time: estimate / weight at the copy (float64 bits)
	last atomic.Int64  // least_time: coarse time of the lane's last pick of it
	_    [8]byte
}

// active returns the lane's estimate of the server's attempts in progress:
// the count at the copy plus what the lane's own picks and ends changed
// since.
func (e *laneEnt) active() int64 {
	return max(int64(e.off.Load()+e.mine.Load()), 0)
}

// lane returns the calling processor's lane of t, creating t's lanes on
// first use.
func (t *tier) lane() *lane {
	ls := t.lanes.Load()
	if ls == nil {
		ls = t.makeLanes()
	}
	id := procPin()
	procUnpin()
	return (*ls)[id%len(*ls)]
}

func (t *tier) makeLanes() *[]*lane {
	nl := min(runtime.GOMAXPROCS(0), maxLanes)
	n := len(t.peers)
	ls := make([]*lane, nl)
	for k := range ls {
		ln := &lane{ent: make([]laneEnt, (n+1)&^1)[:n]}
		if len(t.sched) > 0 {
			ln.pos.Store(uint64(k * len(t.sched) / nl))
		}
		ls[k] = ln
	}
	if t.lanes.CompareAndSwap(nil, &ls) {
		return &ls
	}
	return t.lanes.Load()
}

// view makes sure ln's copy is current and reports whether picks can use
// it: every server of the tier is plain and quiet (tier.trusted), which a
// refresh checks as it copies.
func (ln *lane) view(c *pickCtx, t *tier, byTime bool) bool {
	now := c.coarseTime()
	gen := t.gen.Load()
	if ln.tick.Load() == now && ln.gen.Load() == gen {
		return t.quietGen.Load() == gen
	}
	var v ltView
	if byTime {
		v = c.s.ltView(now)
	}
	quiet := true
	for i := range t.hot {
		h := &t.hot[i]
		st := h.st
		if !h.plain || !st.quiet() {
			quiet = false
		}
		e := &ln.ent[i]
		e.off.Store(st.conns() - e.mine.Load())
		if byTime {
			e.est.Store(math.Float64bits(v.estimate(st) * h.inv))
		}
	}
	if quiet && t.quietGen.Load() != gen {
		t.verified(gen)
	}
	ln.gen.Store(gen)
	ln.tick.Store(now)
	return quiet
}

// rrLane is round robin from the lane's position, for a nominal tier
// following its schedule; nil sends the pick to the shared state.
func (c *pickCtx) rrLane(t *tier) *Peer {
	ln := t.lane()
	// Two goroutines on one lane may take the same turn: harmless.
	n := uint64(len(t.sched))
	j := reduce(ln.pos.Load(), n)
	ln.pos.Store(next(j, n))
	if p := t.peers[t.sched[j]]; p.nominal() {
		return p
	}
	return nil
}

// leastConnLane is least_conn over the lane's view, ties at random in
// proportion to weight; nil sends the pick to the shared state.
func (c *pickCtx) leastConnLane(t *tier) *Peer {
	ln := t.lane()
	if !ln.view(c, t, false) {
		return nil
	}
	// One pass finds the lowest count relative to weight and lists the
	// servers tied with it; one draw chooses among them.
	var tied [exactLimit]uint8
	var tw int64
	nt := 0
	ba, bw := int64(1), int64(0) // 1/0: above every count
	ent, hot := ln.ent, t.hot[:len(ln.ent)]
	for i := range ent {
		a, w := ent[i].active(), hot[i].weight
		if u, v := a*bw, ba*w; u < v {
			ba, bw, tw, nt = a, w, 0, 0
		} else if u > v {
			continue
		}
		tied[nt] = uint8(i)
		nt++
		tw += w
	}
	return c.laneTake(t, ln, c.drawTied(t, tied[:nt], tw))
}

// leastTimeLane is least_time over the lane's view: the lowest
// estimate × (active+1) / weight, servers within TieBand of it chosen at
// random in proportion to weight; nil sends the pick to the shared state.
//
// probe asks for least_time's probe instead: the server this lane picked
// least recently, searched from server start.
func (c *pickCtx) leastTimeLane(t *tier, probe bool, start int) *Peer {
	ln := t.lane()
	if !ln.view(c, t, true) {
		return nil
	}
	if probe {
		n := len(ln.ent)
		stale, staleAt := start, ln.ent[start].last.Load()
		for j := 1; j < n; j++ {
			i := j + start
			if i >= n {
				i -= n
			}
			if at := ln.ent[i].last.Load(); at < staleAt {
				stale, staleAt = i, at
			}
		}
		return c.laneTake(t, ln, stale)
	}
	ent := ln.ent
	var score [exactLimit]float64
	lo := math.Inf(1)
	for i := range ent {
		e := &ent[i]
		s := math.Float64frombits(e.est.Load()) * float64(e.active()+1)
		score[i] = s
		if s < lo {
			lo = s
		}
	}
	lim := lo * (1 + TieBand)
	var tied [exactLimit]uint8
	var tw int64
	nt := 0
	for i, s := range score[:len(ent)] {
		if s <= lim {
			tied[nt] = uint8(i)
			nt++
			tw += t.hot[i].weight
		}
	}
	return c.laneTake(t, ln, c.drawTied(t, tied[:nt], tw))
}

// random2Lane is random two over the lane's view: two different servers
// drawn in proportion to weight, the less loaded of them (fewer active
// attempts, or the lower least_time score, relative to weight) wins; nil
// sends the pick to the shared state.
func (c *pickCtx) random2Lane(t *tier) *Peer {
	if !t.small {
		return nil
	}
	byTime := c.s.g.cfg.TwoLeastTime
	ln := t.lane()
	if !ln.view(c, t, byTime) {
		return nil
	}
	a := t.at(int64(c.s.rnd() % uint64(t.total)))
	for range 20 {
		b := t.at(int64(c.s.rnd() % uint64(t.total)))
		if b == a {
			continue
		}
		ea, eb := &ln.ent[a], &ln.ent[b]
		var worse bool
		if byTime {
			worse = math.Float64frombits(ea.est.Load())*float64(ea.active()+1) > math.Float64frombits(eb.est.Load())*float64(eb.active()+1)
		} else {
			worse = ea.active()*t.hot[b].weight > eb.active()*t.hot[a].weight
		}
		if worse {
			a = b
		}
		return c.laneTake(t, ln, a)
	}
	return nil
}

// drawTied chooses one of the tied servers at random in proportion to
// weight; tw is the sum of their weights.
func (c *pickCtx) drawTied(t *tier, tied []uint8, tw int64) int {
	if len(tied) == 1 {
		return int(tied[0])
	}
	// The high word of rnd × tw is uniform in [0, tw): no division.
	hi, _ := bits.Mul64(c.s.rnd(), uint64(tw))
	x := int64(hi)
	if len(tied) == len(t.hot) && tw == t.total {
		// Every server tied: the weight unit's owner, from the table.
		return t.at(x)
	}
	for _, i := range tied {
		if x -= t.hot[i].weight; x < 0 {
			return int(i)
		}
	}
	return int(tied[len(tied)-1])
}

// laneTake counts a pick of server i in ln.
func (c *pickCtx) laneTake(t *tier, ln *lane, i int) *Peer {
	e := &ln.ent[i]
	e.mine.Add(1)
	if c.s.timed {
		if now := ln.tick.Load(); e.last.Load() != now {
			e.last.Store(now)
		}
	}
	c.le = e
	return t.peers[i]
}
