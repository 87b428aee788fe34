package balance

import (
	"math"
	"sync/atomic"
	"time"
)

// scanWindow is how many servers least_conn and least_time examine per pick
// in a tier of more than exactLimit servers, starting at a random offset.
const scanWindow = 32

// least implements least_conn (byTime false) and least_time (byTime true):
// nginx's ngx_http_upstream_get_least_conn_peer with a score in place of the
// connection count. The usable server with the lowest score relative to
// weight wins; ties go to smooth weighted round robin among the tied
// servers, which when every usable server is tied is the group's round
// robin itself.
//
// Both scans have a fast loop for the common case, a request that has tried
// nothing and servers that are plain and quiet: it makes no calls, so its
// state stays in registers. The first server outside the common case sends
// the pick to the general loop.
func (c *pickCtx) least(t *tier, byTime bool) *Peer {
	if t.single {
		if p := t.peers[0]; c.usable(p) {
			return p
		}
		return nil
	}
	if byTime {
		return c.leastTime(t)
	}
	return c.leastConn(t)
}

// window returns how many servers of t a pick examines and the first one.
func (c *pickCtx) window(t *tier) (k, off int) {
	n := len(t.hot)
	if n > exactLimit {
		return scanWindow, int(c.s.rnd() % uint64(n))
	}
	return n, 0
}

// connScan is the result of least_conn's scan: the first best server, its
// active count and weight, how many usable servers tie with it and how many
// usable servers there are.
type connScan struct {
	best, tied, m int
	ba, bw        int64
	tw            int64 // sum of the weights of the tied servers

	// For a pick that breaks ties at random, rs is the state of a
	// xorshift generator, nonzero, and the scan keeps in pick a server
	// drawn among the tied in proportion to weight (weighted reservoir
	// sampling), so no second pass is needed.
	rs   uint64
	pick int
}

// draw reports, for a pick breaking ties at random, whether the tied
// server of weight w just added to the tied weight tw replaces the one
// drawn so far; that keeps every tied server's chance proportional to its
// weight.
func draw(rs *uint64, w, tw int64) bool {
	x := *rs
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*rs = x
	return (x>>32)*uint64(tw)>>32 < uint64(w)
}

func (r *connScan) add(i int, a, w int64) {
	r.m++
	switch {
	case r.best < 0 || a*r.bw < r.ba*w:
		r.best, r.ba, r.bw, r.tied, r.tw, r.pick = i, a, w, 1, w, i
	case a*r.bw == r.ba*w:
		r.tied++
		r.tw += w
		if r.rs != 0 && draw(&r.rs, w, r.tw) {
			r.pick = i
		}
	}
}

// scanQuiet is the fast loop over the servers seg[0:], numbered from base;
// it reports false when one is not plain and quiet, which it does not check
// when trusted (see tier.trusted). It is add written out with the state in
// locals.
func (r *connScan) scanQuiet(seg []hotPeer, base int, trusted bool) bool {
	best, tied, tw := r.best, r.tied, r.tw
	ba, bw := r.ba, r.bw
	rs, pick := r.rs, r.pick
	for x := range seg {
		h := &seg[x]
		st := h.st
		if !trusted && !(h.plain && st.quiet()) {
			return false
		}
		a, w := int64(st.conns()), h.weight
		if u, v := a*bw, ba*w; u < v {
			best, ba, bw, tied, tw = base+x, a, w, 1, w
			pick = best
		} else if u == v {
			tied++
			tw += w
			if rs != 0 && draw(&rs, w, tw) {
				pick = base + x
			}
		}
	}
	r.best, r.tied, r.tw, r.ba, r.bw = best, tied, tw, ba, bw
	r.rs, r.pick = rs, pick
	r.m += len(seg)
	return true
}

// scan is the general loop.
func (r *connScan) scan(c *pickCtx, t *tier, off, k int) {
	n := len(t.peers)
	for j := range k {
		i := j + off
		if i >= n {
			i -= n
		}
		if p := t.peers[i]; c.usable(p) {
			r.add(i, int64(p.st.conns()), p.weight)
		}
	}
}

// leastConn is least with the connection count as the score. Scores are
// integers and ties exact, so one pass finds the best server and counts
// its ties without keeping a candidate list; only when some but not all
// usable servers tie does a second pass, like nginx's, share the picks
// among the tied by smooth weighted round robin.
func (c *pickCtx) leastConn(t *tier) *Peer {
	random, ticket := t.tieBegin(c)
	if random && t.small && c.req.Tried.n == 0 {
		if p := c.leastConnLane(t); p != nil {
			return p
		}
	}
	k, off := c.window(t)
	n := len(t.peers)
	// ba/bw = 1/0 is above every score: the first server becomes best.
	r := connScan{best: -1, ba: 1}
	if random {
		r.rs = c.s.rnd() | 1
	}
	fast := c.req.Tried.n == 0
	trusted := false
	if fast {
		var gen uint64
		trusted, gen = t.trusted()
		end := min(off+k, n)
		fast = r.scanQuiet(t.hot[off:end], off, trusted) && r.scanQuiet(t.hot[:k-(end-off)], 0, trusted)
		if fast && !trusted && k == n {
			t.verified(gen)
		}
	}
	if !fast {
		r = connScan{best: -1, rs: r.rs}
		r.scan(c, t, off, k)
	}
	if r.m == 0 {
		return nil
	}
	if r.tied == 1 {
		return t.peers[r.best]
	}
	if random {
		return t.peers[r.pick]
	}
	p := c.connTie(t, &r, off, k, fast)
	t.tieEnd(ticket)
	return p
}

// connTie breaks a least_conn tie as nginx does: smooth weighted round
// robin among the tied servers, which when every usable server is tied is
// the tier's round robin itself.
func (c *pickCtx) connTie(t *tier, r *connScan, off, k int, fast bool) *Peer {
	n := len(t.peers)
	if r.tied == r.m && n <= exactLimit {
		if p := c.rr(t); p != nil {
			return p
		}
	}
	t.dirty() // the tier's current weights leave the schedule
	w := wrr{pick: -1}
	if fast {
		end := min(off+k, n)
		w.tiesQuiet(t, r.ba, r.bw, off, end)
		w.tiesQuiet(t, r.ba, r.bw, 0, k-(end-off))
	} else {
		for j := range k {
			i := j + off
			if i >= n {
				i -= n
			}
			h := &t.hot[i]
			if int64(h.st.conns())*r.bw == r.ba*h.weight && c.usable(t.peers[i]) {
				w.add(t, i)
			}
		}
	}
	if w.pick < 0 {
		// Counts moved under concurrent picks: keep the first best.
		return t.peers[r.best]
	}
	t.cw[w.pick].Add(-w.total)
	return t.peers[w.pick]
}

// wrr is nginx's smooth weighted round robin among some servers of a tier:
// add each one's effective weight to its current weight, take the first
// with the largest, and (done by the caller) subtract the total from it.
type wrr struct {
	pick   int
	pickCW int64
	total  int64
}

func (w *wrr) add(t *tier, i int) {
	st := t.hot[i].st
	ew := st.ew.Load()
	cw := t.cw[i].Add(ew)
	w.total += ew
	if ew < t.hot[i].weight {
		st.ew.CompareAndSwap(ew, ew+1)
	}
	if w.pick < 0 || cw > w.pickCW {
		w.pick, w.pickCW = i, cw
	}
}

// tiesQuiet is the second pass of leastConn after the fast loop, over the
// servers [from, to) of t: add for each whose count ba/bw ties with the best
// and that is still plain and quiet. It makes no calls.
func (w *wrr) tiesQuiet(t *tier, ba, bw int64, from, to int) {
	pick, pickCW, total := w.pick, w.pickCW, w.total
	cws := t.cw[:len(t.hot)]
	for i := from; i < to; i++ {
		h := &t.hot[i]
		st := h.st
		if int64(st.conns())*bw != ba*h.weight || !h.plain {
			continue
		}
		if uint32(st.fails.Load())|st.excl.Load() != 0 || st.slowSince.Load() != 0 {
			continue
		}
		ew := st.ew.Load()
		cw := cws[i].Add(ew)
		total += ew
		if ew < h.weight {
			st.ew.CompareAndSwap(ew, ew+1)
		}
		if pick < 0 || cw > pickCW {
			pick, pickCW = i, cw
		}
	}
	w.pick, w.pickCW, w.total = pick, pickCW, total
}

// ltView is what a latency estimate depends on besides the server: the
// time, the group's seed and whether inflight requests count.
type ltView struct {
	now      int64
	seed     float64 // group seed, 0 before the first sample
	est0     float64 // estimate of a server without samples
	inflight bool
}

func (s *snapshot) ltView(now int64) ltView {
	v := ltView{now: now, seed: s.lt.seedValue(), inflight: s.inflight}
	v.est0 = v.seed
	if v.est0 <= 0 {
		v.est0 = 1
	}
	return v
}

// estimate returns the server's current latency estimate in nanoseconds.
func (v *ltView) estimate(st *peerState) float64 {
	est := v.est0
	if b := st.ewma.Load(); b != 0 {
		est = math.Float64frombits(b)
		if v.seed > 0 {
			if at := st.ewmaStamp.Load(); at < v.now {
				est = v.seed + (est-v.seed)*decay(v.now-at)
			}
		}
	}
	if v.inflight {
		if n := int64(st.startN.Load()); n > 0 {
			if age := float64(v.now - st.startSum.Load()/n); age > est {
				est = age
			}
		}
	}
	return est
}

// maxCand is how many candidates for a tie least_time keeps; a scan that
// finds more collects the ties in a second pass.
const maxCand = 16

// timeScan is the state of least_time's scan. Scores are normalised by
// weight: estimate × (active+1) / weight. Only servers within the tie band
// of the lowest score seen so far are kept as candidates, a superset of the
// final ties, since the lowest score only falls.
type timeScan struct {
	ltView
	m, best int     // usable servers; first with the lowest score
	min     float64 // lowest score
	lim     float64 // min × (1+TieBand)
	nc      int     // candidates
	over    bool    // candidates were lost: collect the ties again
	pos0    uint64  // the tier's schedule position when the pick began
	cscore  [maxCand]float64
	cidx    [maxCand]int32
}

func (r *timeScan) reset() {
	r.m, r.best, r.nc, r.over = 0, -1, 0, false
	r.min, r.lim = math.Inf(1), math.Inf(1)
}

// add records usable server i with score s.
func (r *timeScan) add(i int, s float64) {
	r.m++
	if s < r.min {
		r.best, r.min, r.lim = i, s, s*(1+TieBand)
	}
	if s <= r.lim {
		r.keep(i, s)
	}
}

// keep adds candidate i with score s.
func (r *timeScan) keep(i int, s float64) {
	if r.nc == maxCand {
		// Drop the candidates the lowest score has left behind.
		n := 0
		for j, cs := range r.cscore[:r.nc] {
			if cs <= r.lim {
				r.cscore[n], r.cidx[n] = cs, r.cidx[j]
				n++
			}
		}
		r.nc = n
		if n == maxCand {
			r.over = true
			return
		}
	}
	r.cscore[r.nc], r.cidx[r.nc] = s, int32(i)
	r.nc++
}

// scanQuiet is the fast loop over the servers seg[0:], numbered from base;
// it reports false when one is not plain and quiet, which it does not check
// when trusted (see tier.trusted). It is add and estimate written out with
// the state in locals.
func (r *timeScan) scanQuiet(seg []hotPeer, base int, trusted bool) bool {
	now, seed, est0 := r.now, r.seed, r.est0
	best, m := r.best, r.m
	lo, lim := r.min, r.lim
	for x := range seg {
		h := &seg[x]
		st := h.st
		if !trusted && !(h.plain && st.quiet()) {
			return false
		}
		a1 := float64(st.conns() + 1)
		est := est0
		if b := st.ewma.Load(); b != 0 {
			est = math.Float64frombits(b)
			if seed > 0 {
				// The estimate lies between the sample average and the
				// seed: skip the decay when even the lower of the two
				// scores above the tie band.
				lb := est
				if seed < lb {
					lb = seed
				}
				if lb*a1*h.inv > lim {
					continue
				}
				if at := st.ewmaStamp.Load(); at < now {
					est = seed + (est-seed)*decay(now-at)
				}
			}
		}
		if r.inflight {
			if n := int64(st.startN.Load()); n > 0 {
				if age := float64(now - st.startSum.Load()/n); age > est {
					est = age
				}
			}
		}
		s := est * a1 * h.inv
		if s < lo {
			best, lo, lim = base+x, s, s*(1+TieBand)
		}
		if s <= lim {
			if r.nc < maxCand {
				r.cscore[r.nc], r.cidx[r.nc] = s, int32(base+x)
				r.nc++
			} else {
				r.lim = lim
				r.keep(base+x, s)
			}
		}
	}
	r.m = m + len(seg)
	r.best, r.min, r.lim = best, lo, lim
	return true
}

// scan is the general loop.
func (r *timeScan) scan(c *pickCtx, t *tier, off, k int) {
	n := len(t.peers)
	for j := range k {
		i := j + off
		if i >= n {
			i -= n
		}
		if p := t.peers[i]; c.usable(p) {
			h := &t.hot[i]
			r.add(i, r.estimate(h.st)*float64(h.st.conns()+1)*h.inv)
		}
	}
}

// leastTime is least with the latency estimate as the score.
func (c *pickCtx) leastTime(t *tier) *Peer {
	n := len(t.hot)
	k, off := n, 0
	x := c.s.rnd()
	probe := x%ProbeEvery == 0
	if n > exactLimit {
		// One draw decides the probe and the window.
		k, off = scanWindow, int(x/ProbeEvery%uint64(n))
	}
	// Probes start anywhere: servers picked within the same clock tick
	// are equally stale, and the first of them is the one probed.
	start := 0
	if probe {
		start = int(x / ProbeEvery % uint64(n))
	}
	if t.small && c.req.Tried.n == 0 && t.overlapping(c) {
		if p := c.leastTimeLane(t, probe, start); p != nil {
			return p
		}
	}
	if probe {
		return c.stalest(t, start, k)
	}
	var r timeScan
	// Overlapping picks are noticed by tie, when the schedule position
	// moved since the pick began.
	r.pos0 = t.pos.Load()
	r.ltView = c.s.ltView(c.coarseTime())
	r.reset()
	fast := c.req.Tried.n == 0
	if fast {
		trusted, gen := t.trusted()
		end := min(off+k, n)
		fast = r.scanQuiet(t.hot[off:end], off, trusted) && r.scanQuiet(t.hot[:k-(end-off)], 0, trusted)
		if fast && !trusted && k == n {
			t.verified(gen)
		}
	}
	if !fast {
		r.reset()
		r.scan(c, t, off, k)
	}
	if r.m == 0 {
		return nil
	}
	if r.over {
		return c.leastTimeTies(t, &r, off, k)
	}
	return c.tie(t, r.pos0, r.best, r.lim, r.cscore[:r.nc], r.cidx[:r.nc])
}

// stalest returns the usable server of the window picked least recently:
// least_time's probe.
func (c *pickCtx) stalest(t *tier, off, k int) *Peer {
	n := len(t.peers)
	stale, staleAt := -1, int64(0)
	for j := range k {
		i := j + off
		if i >= n {
			i -= n
		}
		if p := t.peers[i]; c.usable(p) {
			if at := p.st.lastPick.Load(); stale < 0 || at < staleAt {
				stale, staleAt = i, at
			}
		}
	}
	if stale < 0 {
		return nil
	}
	return t.peers[stale]
}

// leastTimeTies finishes a pick whose candidates overflowed: it collects
// the servers within the tie band again, all of them.
func (c *pickCtx) leastTimeTies(t *tier, r *timeScan, off, k int) *Peer {
	var (
		score [exactLimit]float64
		idx   [exactLimit]int32
		nc    int
	)
	n := len(t.peers)
	for j := range k {
		i := j + off
		if i >= n {
			i -= n
		}
		if p := t.peers[i]; c.usable(p) {
			h := &t.hot[i]
			if s := r.estimate(h.st) * float64(h.st.conns()+1) * h.inv; s <= r.lim {
				score[nc], idx[nc] = s, int32(i)
				nc++
			}
		}
	}
	if nc == 0 {
		// Scores moved under concurrent picks: keep the best.
		return t.peers[r.best]
	}
	return c.tie(t, r.pos0, r.best, r.lim, score[:nc], idx[:nc])
}

// tie finishes a least_time pick whose lowest score is server best's: the
// candidates (score, idx) with a score at most limit are tied and take turns
// in weighted round robin: the next of them in the tier's smooth weighted
// round-robin schedule, from the shared position, which moves past it. The
// schedule gives each server turns in proportion to its weight, so the tied
// do too, and a pick costs one atomic operation whatever the tier's state.
// When picks overlap (see tieBegin; here a position that moved under the
// pick raises the flag), when no tied server comes up within tieWalk turns
// (a few light servers tied in a heavy tier), and in tiers of more than 64
// servers, whose picks look at a window of them, one is chosen at random in
// proportion to weight.
//
// p0 is the schedule position when the pick began.
func (c *pickCtx) tie(t *tier, p0 uint64, best int, limit float64, score []float64, idx []int32) *Peer {
	var (
		nt    int
		tw    int64
		small = len(t.peers) <= 64
		set   uint64 // tied servers, when small
	)
	for j, s := range score {
		if s <= limit {
			nt++
			tw += t.hot[idx[j]].weight
			if small {
				set |= 1 << uint(idx[j])
			}
		}
	}
	if nt <= 1 {
		return t.peers[best]
	}
	if n := uint64(len(t.sched)); n > 0 && small && !t.overlapping(c) {
		j := reduce(p0, n)
		for range tieWalk {
			if i := t.sched[j]; set&(1<<i) != 0 {
				if !t.pos.CompareAndSwap(p0, next(j, n)) {
					t.overlapped.Store(true)
				}
				return t.peers[i]
			}
			j = next(j, n)
		}
	}
	x := int64(c.s.rnd() % uint64(tw))
	for j, s := range score {
		if s <= limit {
			if x -= t.hot[idx[j]].weight; x < 0 {
				return t.peers[idx[j]]
			}
		}
	}
	return t.peers[best]
}

// tieWalk is how many schedule turns tie looks ahead.
const tieWalk = 64

// Least time.
//
// Each server keeps a peak-sensitive exponentially weighted moving average of
// its latency samples (after Finagle's PeakEwma): a sample above the estimate
// replaces it at once; a sample below pulls it down with weight
// max(1-exp(-Δ/τ), 1/8), Δ being the time since the previous sample. Between
// samples the estimate decays toward the group's neutral seed with the same
// time constant τ = DecayTime, so a server that was slow once is tried again
// later rather than starved. A server without samples is valued at the seed:
// a running average of the group's samples (one in eight per server, one in
// 64 while picks overlap; weight 1/8 each), or the same 1ns for every server
// before the first sample. The score is estimate × (active+1) / weight; the
// lowest wins. Scores within TieBand of the lowest count as ties, which take
// turns in weighted round robin (see tie): differences that small are
// measurement noise, and without the band identical servers would serve in
// long streaks. One pick in ProbeEvery goes instead to the usable server
// picked least recently, so an idle or penalised server keeps being
// measured.
const (
	// DecayTime is τ, the time constant of least_time's moving average.
	DecayTime = 2 * time.Second
	// TieBand is the relative score difference least_time treats as a tie.
	TieBand = 1.0 / 8
	// ProbeEvery is how often (one pick in ProbeEvery) least_time probes
	// the server that has waited longest.
	ProbeEvery = 20

	sampleWeight = 1.0 / 8 // least weight of a sample below the estimate
	seedWeight   = 1.0 / 8 // weight of a sample in the group's seed
	seedEvery    = 8       // one sample in seedEvery per server feeds the seed
	overlapSeed  = 8       // and one in seedEvery×overlapSeed while picks overlap
)

type ltState struct {
	seed atomic.Uint64 // float64 bits
}

func (l *ltState) seedValue() float64 { return math.Float64frombits(l.seed.Load()) }

// decay approximates exp(-Δ/τ) for Δ in nanoseconds by interpolating a table
// of 8 samples per τ over [0, 16τ).
func decay(dt int64) float64 {
	if dt <= 0 {
		return 1
	}
	x := float64(dt) * (decaySteps / float64(DecayTime))
	if x >= float64(len(decayTable)-1) {
		return 0
	}
	i := int(x)
	f := x - float64(i)
	return decayTable[i] + (decayTable[i+1]-decayTable[i])*f
}

const decaySteps = 8

var decayTable = func() (t [16*decaySteps + 1]float64) {
	for i := range t {
		t[i] = math.Exp(-float64(i) / decaySteps)
	}
	t[len(t)-1] = 0
	return
}()

// sample feeds one latency measurement into p's estimate and the seed.
func (p *Peer) sample(s *snapshot, now int64, lat time.Duration, ended uint32) {
	st := p.st
	v := float64(lat)
	for {
		old := st.ewma.Load()
		nv := v
		if old != 0 {
			o := math.Float64frombits(old)
			if v < o {
				f := min(decay(now-st.ewmaStamp.Load()), 1-sampleWeight)
				nv = o*f + v*(1-f)
			}
		}
		if st.ewma.CompareAndSwap(old, math.Float64bits(nv)) {
			// Picks read a coarse clock: at a high rate most samples end
			// in the tick of the previous one.
			if st.ewmaStamp.Load() != now {
				st.ewmaStamp.Store(now)
			}
			break
		}
	}
	// The seed is shared by the group and read by every pick: update it
	// from one sample in seedEvery per server, and without a retry loop (a
	// lost update is harmless). The seeded flag, on a line nobody writes
	// once it is set, spares the other samples a read of the seed's line.
	// While picks overlap (and samples come from several cores), one in
	// seedEvery×overlapSeed: the seed's line is then written by every core.
	if (ended%seedEvery == 0 && (ended%(seedEvery*overlapSeed) == 0 || !p.tier.overlapped.Load())) || !s.seeded.Load() {
		old := s.lt.seed.Load()
		nv := v
		if old != 0 {
			o := math.Float64frombits(old)
			nv = o + (v-o)*seedWeight
		}
		s.lt.seed.Store(math.Float64bits(nv))
		if old == 0 {
			s.seeded.Store(true)
		}
	}
}
