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
func (c *pickCtx) least(t *tier, byTime bool) *Peer {
	if t.single {
		if p := t.peers[0]; c.usable(p) {
			return p
		}
		return nil
	}
	if !byTime {
		return c.leastConn(t)
	}
	var (
		cand  [exactLimit]int32
		score [exactLimit]float64
		m     int
	)
	n, k, off := len(t.peers), len(t.peers), 0
	if n > exactLimit {
		k, off = scanWindow, int(c.s.rand.Uint64()%uint64(n))
	}
	var now int64
	var seed float64
	band := 0.0
	probe := false
	if byTime {
		now, seed, band = c.time(), c.s.lt.seedValue(), TieBand
		probe = c.s.rand.Uint64()%ProbeEvery == 0
	}
	inflight := c.s.g.cfg.Inflight
	stale, staleAt := -1, int64(0)
	noTried := c.req.Tried.n == 0
	for j := range k {
		i := j + off
		if i >= n {
			i -= n
		}
		p := t.peers[i]
		// usable, with its common case inlined by hand
		if !(p.plain && noTried && p.st.quiet()) && !c.usableSlow(p) {
			continue
		}
		cand[m] = int32(i)
		a := float64(p.st.active.Load())
		if byTime {
			if at := p.st.lastPick.Load(); stale < 0 || at < staleAt {
				stale, staleAt = i, at
			}
			score[m] = p.estimate(now, seed, inflight) * (a + 1)
		} else {
			score[m] = a
		}
		m++
	}
	if m == 0 {
		return nil
	}
	if probe {
		return t.peers[stale]
	}
	b := 0
	bw := float64(t.peers[cand[0]].weight)
	for j := 1; j < m; j++ {
		w := float64(t.peers[cand[j]].weight)
		if score[j]*bw < score[b]*w {
			b, bw = j, w
		}
	}
	limit := score[b] * (1 + band)
	tied := 0
	for j := range m {
		if score[j]*bw <= limit*float64(t.peers[cand[j]].weight) {
			tied++
		}
	}
	if tied == 1 {
		return t.peers[cand[b]]
	}
	if tied == m && n <= exactLimit {
		if p := c.rr(t); p != nil {
			return p
		}
	}
	t.dirty() // the tier's current weights leave the schedule
	best := -1
	var bestCW, total int64
	for j := range m {
		i := int(cand[j])
		p := t.peers[i]
		if score[j]*bw > limit*float64(p.weight) {
			continue
		}
		ew := p.st.ew.Load()
		cw := t.cw[i].Add(ew)
		total += ew
		if ew < p.weight {
			p.st.ew.CompareAndSwap(ew, ew+1)
		}
		if best < 0 || cw > bestCW {
			best, bestCW = i, cw
		}
	}
	t.cw[best].Add(-total)
	return t.peers[best]
}

// leastConn is least with the connection count as the score. Scores are
// integers and ties exact, so one pass finds the best server and counts
// its ties without keeping a candidate list; only when some but not all
// usable servers tie does a second pass, like nginx's, share the picks
// among the tied by smooth weighted round robin.
func (c *pickCtx) leastConn(t *tier) *Peer {
	n, k, off := len(t.peers), len(t.peers), 0
	if n > exactLimit {
		k, off = scanWindow, int(c.s.rand.Uint64()%uint64(n))
	}
	best, m, tied := -1, 0, 0
	var ba, bw int64
	noTried := c.req.Tried.n == 0
	for j := range k {
		i := j + off
		if i >= n {
			i -= n
		}
		p := t.peers[i]
		// usable, with its common case inlined by hand
		if !(p.plain && noTried && p.st.quiet()) && !c.usableSlow(p) {
			continue
		}
		m++
		a, w := int64(p.st.active.Load()), p.weight
		switch {
		case best < 0 || a*bw < ba*w:
			best, ba, bw, tied = i, a, w, 1
		case a*bw == ba*w:
			tied++
		}
	}
	if m == 0 {
		return nil
	}
	if tied == 1 {
		return t.peers[best]
	}
	if tied == m && n <= exactLimit {
		if p := c.rr(t); p != nil {
			return p
		}
	}
	t.dirty() // the tier's current weights leave the schedule
	pick := -1
	var pickCW, total int64
	for j := range k {
		i := j + off
		if i >= n {
			i -= n
		}
		p := t.peers[i]
		if int64(p.st.active.Load())*bw != ba*p.weight || !c.usable(p) {
			continue
		}
		ew := p.st.ew.Load()
		cw := t.cw[i].Add(ew)
		total += ew
		if ew < p.weight {
			p.st.ew.CompareAndSwap(ew, ew+1)
		}
		if pick < 0 || cw > pickCW {
			pick, pickCW = i, cw
		}
	}
	if pick < 0 {
		// Counts moved under concurrent picks: keep the first best.
		return t.peers[best]
	}
	t.cw[pick].Add(-total)
	return t.peers[pick]
}

// Least time.
//
// Each server keeps a peak-sensitive exponentially weighted moving average of
// its latency samples (after Finagle's PeakEwma): a sample above the estimate
// replaces it at once; a sample below pulls it down with weight
// max(1-exp(-Δ/τ), 1/8), Δ being the time since the previous sample. Between
// samples the estimate decays toward the group's neutral seed with the same
// time constant τ = DecayTime, so a server that was slow once is tried again
// later rather than starved. A server without samples is valued at the seed:
// a running average of all the group's samples (weight 1/16 each), or the
// same 1ns for every server before the first sample. The score is
// estimate × (active+1) / weight; the lowest wins. Scores within TieBand of
// the lowest count as ties, which take turns by smooth weighted round robin:
// differences that small are measurement noise, and without the band
// identical servers would serve in long streaks. One pick in ProbeEvery goes
// instead to the usable server picked least recently, so an idle or
// penalised server keeps being measured.
const (
	// DecayTime is τ, the time constant of least_time's moving average.
	DecayTime = 2 * time.Second
	// TieBand is the relative score difference least_time treats as a tie.
	TieBand = 1.0 / 8
	// ProbeEvery is how often (one pick in ProbeEvery) least_time probes
	// the server that has waited longest.
	ProbeEvery = 20

	sampleWeight = 1.0 / 8  // least weight of a sample below the estimate
	seedWeight   = 1.0 / 16 // weight of a sample in the group's seed
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

// estimate returns the server's current latency estimate in nanoseconds.
func (p *Peer) estimate(now int64, seed float64, inflight bool) float64 {
	st := p.st
	est := seed
	if est <= 0 {
		est = 1
	}
	if b := st.ewma.Load(); b != 0 {
		raw := math.Float64frombits(b)
		if seed > 0 {
			est = seed + (raw-seed)*decay(now-st.ewmaStamp.Load())
		} else {
			est = raw
		}
	}
	if inflight {
		if a := int64(st.active.Load()); a > 0 {
			if age := float64(now - st.startSum.Load()/a); age > est {
				est = age
			}
		}
	}
	return est
}

// sample feeds one latency measurement into p's estimate and the seed.
func (p *Peer) sample(s *snapshot, now int64, lat time.Duration) {
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
			st.ewmaStamp.Store(now)
			break
		}
	}
	// The seed is shared by the group: update it from one sample in four
	// per server, and without a retry loop (a lost update is harmless).
	if old := s.lt.seed.Load(); old == 0 || st.requests.Load()%4 == 0 {
		nv := v
		if old != 0 {
			o := math.Float64frombits(old)
			nv = o + (v-o)*seedWeight
		}
		s.lt.seed.Store(math.Float64bits(nv))
	}
}
