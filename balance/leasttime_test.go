package balance

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// peekRand returns the value the next call of r.Uint64 will return.
func peekRand(r *splitmix) uint64 {
	r.mu.Lock()
	c := splitmix{x: r.x}
	r.mu.Unlock()
	return c.Uint64()
}

// refEstimate is least_time's latency estimate computed directly from the
// description in the package documentation.
func refEstimate(st *peerState, now int64, seed float64, inflight bool) float64 {
	est := seed
	if est <= 0 {
		est = 1
	}
	if b := st.ewma.Load(); b != 0 {
		raw := math.Float64frombits(b)
		est = raw
		if seed > 0 {
			est = seed + (raw-seed)*decay(now-st.ewmaStamp.Load())
		}
	}
	if n := int64(st.startN.Load()); inflight && n > 0 {
		est = max(est, float64(now-st.startSum.Load()/n))
	}
	return est
}

// TestLeastTimeMatchesReference drives least_time through random scenarios
// — latencies, held connections, failures, draining, connection limits,
// tried sets, groups larger than the scan window, many equal servers — and
// checks every pick against a direct computation: a probe takes the usable
// server of the window picked least recently; any other pick takes a usable
// server whose estimate × (active+1) / weight is within TieBand of the
// lowest, and the lowest itself when no other server is within the band;
// in groups of up to 64 servers, ties go to the next tied server of the
// schedule.
func TestLeastTimeMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n        int
		equal    bool // every server weight 1, same latency
		inflight bool
		limits   bool // some servers with max_conns and max_fails
	}{
		{"5", 5, false, false, true},
		{"16", 16, false, false, false},
		{"16/inflight", 16, false, true, true},
		{"40/equal", 40, true, false, false},
		{"64", 64, false, false, true},
		{"200", 200, false, true, false},
		{"200/limits", 200, false, false, true},
		{"200/equal", 200, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			rnd := newRand(uint64(tc.n))
			srv := make([]Server, tc.n)
			for i := range srv {
				srv[i] = Server{Addr: fmt.Sprintf("10.0.%d.%d:80", i/250, i%250), Weight: 1}
				if !tc.equal {
					srv[i].Weight = 1 + i%4
				}
				if tc.limits && i%7 == 3 {
					srv[i].MaxConns = 2
				}
				if tc.limits && i%11 == 5 {
					srv[i].MaxFails = 2
				}
			}
			g := mustBuild(t, NewRegistry(clock), srv, Config{Method: LeastTime, Inflight: tc.inflight, Rand: rnd})
			script := newRand(uint64(tc.n) + 1000)
			var held []Selection
			probes, ties, partial := 0, 0, 0
			for step := range 4000 {
				// Change the state at random.
				switch x := script.Uint64() % 100; {
				case x < 30 && len(held) > 0:
					k := int(script.Uint64() % uint64(len(held)))
					// Latencies 10% apart: scores fall inside and outside
					// the tie band.
					lat := time.Duration(10+script.Uint64()%4) * time.Millisecond
					if tc.equal {
						lat = 5 * time.Millisecond
					}
					held[k].Done(Outcome{Latency: lat, Failed: script.Uint64()%100 == 0})
					held = append(held[:k], held[k+1:]...)
				case x < 35:
					clock.Advance(time.Duration(script.Uint64()%3000) * time.Millisecond)
				case x < 37:
					g.Peers()[script.Uint64()%uint64(tc.n)].SetDrain(script.Uint64()%2 == 0)
				}
				var req Request
				if script.Uint64()%10 == 0 {
					req.Tried.add(g.Peers()[script.Uint64()%uint64(tc.n)].st.id)
				}

				// What the pick must do, computed before it.
				s := g.snap.Load()
				tr := s.primary
				c := pickCtx{s: s, req: &req}
				now := g.reg.now()
				seed := s.lt.seedValue()
				x := peekRand(rnd)
				k, off := tc.n, 0
				if tc.n > exactLimit {
					k, off = scanWindow, int(x/ProbeEvery%uint64(tc.n))
				}
				type cand struct {
					p     *Peer
					score float64 // estimate × (active+1)
				}
				var cands []cand
				var stale *Peer
				for j := range k {
					p := tr.peers[(int(x/ProbeEvery%uint64(tc.n))+j)%tc.n]
					if c.usable(p) && (stale == nil || p.st.lastPick.Load() < stale.st.lastPick.Load()) {
						stale = p
					}
				}
				for j := range k {
					p := tr.peers[(off+j)%tc.n]
					if !c.usable(p) {
						continue
					}
					cands = append(cands, cand{p, refEstimate(p.st, now, seed, tc.inflight) * float64(p.st.conns()+1)})
				}
				best := -1
				for j, cd := range cands {
					if best < 0 || cd.score*float64(cands[best].p.weight) < cands[best].score*float64(cd.p.weight) {
						best = j
					}
				}
				// within reports whether cd is within the band, with a
				// margin for rounding when must is false.
				within := func(cd cand, must bool) bool {
					b := cands[best]
					lhs, rhs := cd.score*float64(b.p.weight), b.score*(1+TieBand)*float64(cd.p.weight)
					if must {
						return lhs <= rhs*(1-1e-9)
					}
					return lhs <= rhs*(1+1e-9)
				}

				// Ties in a tier of up to 64 servers take turns: the next
				// tied server in the tier's schedule from its position.
				inBand, unsure := 0, false
				for _, cd := range cands {
					if within(cd, true) {
						inBand++
					}
					unsure = unsure || within(cd, true) != within(cd, false)
				}
				var want *Peer
				if x%ProbeEvery != 0 && !unsure && inBand > 1 && tc.n <= 64 {
					p0, n := tr.pos.Load(), uint64(len(tr.sched))
					for step := uint64(0); step < tieWalk && want == nil; step++ {
						p := tr.peers[tr.sched[(p0+step)%n]]
						for _, cd := range cands {
							if cd.p == p && within(cd, true) {
								want = p
							}
						}
					}
				}

				sel, err := g.Pick(&req)
				if len(cands) == 0 {
					if err == nil {
						t.Fatalf("step %d: picked %s with no usable server in the window", step, sel.Peer.Addr())
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v with %d usable servers", step, err, len(cands))
				}
				held = append(held, sel)
				got := sel.Peer
				if x%ProbeEvery == 0 {
					probes++
					if got != stale {
						t.Fatalf("step %d: probe picked %s, want %s, picked least recently", step, got.Addr(), stale.Addr())
					}
					continue
				}
				var gc *cand
				for j := range cands {
					if cands[j].p == got {
						gc = &cands[j]
					}
				}
				if gc == nil {
					t.Fatalf("step %d: picked %s, not a usable server of the window", step, got.Addr())
				}
				if !within(*gc, false) {
					t.Fatalf("step %d: picked %s with score %.6g/%d; lowest is %s with %.6g/%d",
						step, got.Addr(), gc.score, got.weight, cands[best].p.Addr(), cands[best].score, cands[best].p.weight)
				}
				if want != nil && got != want {
					t.Fatalf("step %d: picked %s among %d tied servers; the schedule gives %s", step, got.Addr(), inBand, want.Addr())
				}
				if want != nil {
					partial++
				}
				if inBand > 1 {
					ties++
				} else if got != cands[best].p && within(*gc, true) {
					t.Fatalf("step %d: picked %s; %s alone has the lowest score", step, got.Addr(), cands[best].p.Addr())
				}
				if len(held) > 3*tc.n {
					held[0].Done(Outcome{Latency: time.Millisecond})
					held = held[1:]
				}
			}
			if probes == 0 || ties == 0 || (partial == 0 && tc.n <= 64) {
				t.Fatalf("scenario too narrow: %d probes, %d picks among ties, %d by the schedule", probes, ties, partial)
			}
			for _, sel := range held {
				sel.Done(Outcome{})
			}
		})
	}
}

// TestLeastConnLargeMatchesReference checks least_conn in groups beyond the
// reach of TestMatchesNginxModel, where a pick scans a window of servers from
// a random offset: the pick is a usable server of the window with the fewest
// active connections relative to weight, and ties that are not every usable
// server of a small group take turns by smooth weighted round robin.
func TestLeastConnLargeMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		limits bool
	}{
		{"40", 40, false},
		{"64/limits", 64, true},
		{"200", 200, false},
		{"200/limits", 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			rnd := newRand(uint64(tc.n))
			srv := make([]Server, tc.n)
			for i := range srv {
				srv[i] = Server{Addr: fmt.Sprintf("10.0.%d.%d:80", i/250, i%250), Weight: 1 + i%3}
				if tc.limits && i%7 == 3 {
					srv[i].MaxConns = 2
				}
			}
			g := mustBuild(t, NewRegistry(clock), srv, Config{Method: LeastConn, Rand: rnd})
			script := newRand(uint64(tc.n) + 1000)
			var held []Selection
			partial := 0
			for step := range 4000 {
				if x := script.Uint64() % 100; x < 45 && len(held) > 0 {
					k := int(script.Uint64() % uint64(len(held)))
					held[k].Done(Outcome{Failed: script.Uint64()%50 == 0})
					held = append(held[:k], held[k+1:]...)
				} else if x < 48 {
					clock.Advance(time.Duration(script.Uint64()%5000) * time.Millisecond)
				}
				var req Request
				if script.Uint64()%10 == 0 {
					req.Tried.add(g.Peers()[script.Uint64()%uint64(tc.n)].st.id)
				}
				s := g.snap.Load()
				tr := s.primary
				c := pickCtx{s: s, req: &req}
				k, off := tc.n, 0
				if tc.n > exactLimit {
					k, off = scanWindow, int(peekRand(rnd)%uint64(tc.n))
				}
				var usable []*Peer
				var best *Peer
				for j := range k {
					p := tr.peers[(off+j)%tc.n]
					if !c.usable(p) {
						continue
					}
					usable = append(usable, p)
					if best == nil || int64(p.Active())*best.weight < int64(best.Active())*p.weight {
						best = p
					}
				}
				var tied []*Peer
				for _, p := range usable {
					if int64(p.Active())*best.weight == int64(best.Active())*p.weight {
						tied = append(tied, p)
					}
				}
				var want *Peer
				if len(tied) == 1 {
					want = best
				} else if len(tied) > 1 && (len(tied) < len(usable) || tc.n > exactLimit) {
					tr.dirty() // as the pick does
					var wcw int64
					for _, p := range tied {
						if cw := tr.cw[p.idx].Load() + p.st.ew.Load(); want == nil || cw > wcw {
							want, wcw = p, cw
						}
					}
					partial++
				}
				var ba, bw int64
				if best != nil {
					ba, bw = int64(best.Active()), best.weight
				}
				sel, err := g.Pick(&req)
				if len(usable) == 0 {
					if err == nil {
						t.Fatalf("step %d: picked %s with no usable server in the window", step, sel.Peer.Addr())
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v with %d usable servers", step, err, len(usable))
				}
				held = append(held, sel)
				got := sel.Peer
				if want != nil && got != want {
					t.Fatalf("step %d: picked %s (%d active, weight %d); want %s (%d tied)", step, got.Addr(), got.Active()-1, got.weight, want.Addr(), len(tied))
				}
				if want == nil && int64(got.Active()-1)*bw != ba*got.weight {
					t.Fatalf("step %d: picked %s with %d active, weight %d; %s has %d, weight %d",
						step, got.Addr(), got.Active()-1, got.weight, best.Addr(), ba, bw)
				}
			}
			if partial == 0 {
				t.Fatal("scenario too narrow: no ties among some servers")
			}
			for _, sel := range held {
				sel.Done(Outcome{})
			}
		})
	}
}
