package balance

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// chiSquare returns Pearson's statistic of observed counts against expected
// shares and the critical value at p = 0.001 for len-1 degrees of freedom.
func chiSquare(obs []int, share []float64) (stat, crit float64) {
	n := 0
	for _, o := range obs {
		n += o
	}
	var tot float64
	for _, s := range share {
		tot += s
	}
	for i, o := range obs {
		e := float64(n) * share[i] / tot
		stat += (float64(o) - e) * (float64(o) - e) / e
	}
	// Wilson-Hilferty approximation of the chi-square quantile, z = 3.09.
	k := float64(len(obs) - 1)
	crit = k * math.Pow(1-2/(9*k)+3.09*math.Sqrt(2/(9*k)), 3)
	return stat, crit
}

func counts(t *testing.T, g *Group, n int, req func(i int) Request) []int {
	t.Helper()
	idx := map[*Peer]int{}
	for i, p := range g.Peers() {
		idx[p] = i
	}
	out := make([]int, len(g.Peers()))
	for i := range n {
		r := req(i)
		sel := pick(t, g, &r)
		out[idx[sel.Peer]]++
		sel.Done(Outcome{})
	}
	return out
}

func TestDistributions(t *testing.T) {
	weights := []int{1, 2, 3, 4}
	share := []float64{1, 2, 3, 4}
	rnd := newRand(42)
	tests := []struct {
		name string
		cfg  Config
		req  func(i int) Request
	}{
		{"random", Config{Method: Random, Rand: newRand(7)}, func(int) Request { return Request{} }},
		{"hash", Config{Method: Hash}, func(i int) Request { return Request{Key: fmt.Appendf(nil, "/user/%d", i)} }},
		{"ip_hash v4", Config{Method: IPHash}, func(int) Request {
			x := rnd.Uint64()
			return Request{Client: netip.AddrFrom4([4]byte{byte(x), byte(x >> 8), byte(x >> 16), byte(x >> 24)})}
		}},
		{"ip_hash v6", Config{Method: IPHash}, func(int) Request {
			var a [16]byte
			x, y := rnd.Uint64(), rnd.Uint64()
			for i := range 8 {
				a[i], a[8+i] = byte(x>>(8*i)), byte(y>>(8*i))
			}
			return Request{Client: netip.AddrFrom16(a)}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := mustBuild(t, NewRegistry(newFakeClock()), servers(weights...), tc.cfg)
			obs := counts(t, g, 20000, tc.req)
			if stat, crit := chiSquare(obs, share); stat > crit {
				t.Fatalf("counts %v: chi-square %.1f > %.1f", obs, stat, crit)
			}
		})
	}
}

func TestIPHashNetworks(t *testing.T) {
	g := mustBuild(t, NewRegistry(newFakeClock()), servers(1, 1, 1, 1, 1), Config{Method: IPHash})
	at := func(ip string) string {
		r := Request{Client: netip.MustParseAddr(ip)}
		sel := pick(t, g, &r)
		sel.Done(Outcome{})
		return sel.Peer.Addr()
	}
	differ := 0
	for i := range 50 {
		base := fmt.Sprintf("10.%d.%d.", i, i*7%256)
		if at(base+"1") != at(base+"200") || at(base+"9") != at("::ffff:"+base+"9") {
			t.Fatalf("same /24 on different servers: %s", base)
		}
		if at(fmt.Sprintf("2001:db8::%x", i)) != at(fmt.Sprintf("2001:db8::%x", i+1000)) {
			differ++
		}
	}
	if differ == 0 {
		t.Fatal("IPv6 addresses differing only in the low bits always map together; the whole address must count")
	}
}

// ringShare returns the fraction of the hash space each server owns.
func ringShare(g *Group) []float64 {
	s := g.snap.Load()
	rg := s.ring
	share := make([]float64, len(s.primary.peers))
	prev := uint32(0)
	n := len(rg.hashes)
	for i, h := range rg.hashes {
		arc := float64(h - prev)
		if i == 0 {
			arc = float64(h) + float64(math.MaxUint32-rg.hashes[n-1]) + 1
		}
		for _, j := range rg.cands[rg.names[i]] {
			share[j] += arc / float64(len(rg.cands[rg.names[i]])) / (1 << 32)
		}
		prev = h
	}
	return share
}

func TestConsistentHashDistribution(t *testing.T) {
	srv := []Server{{Addr: "10.0.0.1:8080"}, {Addr: "10.0.0.2:8080", Weight: 2}, {Addr: "10.0.0.3:8080", Weight: 3}, {Addr: "unix:/run/app.sock"}}
	g := mustBuild(t, NewRegistry(newFakeClock()), srv, Config{Method: Hash, Consistent: true})
	share := ringShare(g)
	for i, w := range []float64{1, 2, 3, 1} {
		if want := w / 7; math.Abs(share[i]-want) > 0.2*want {
			t.Errorf("%s owns %.3f of the ring, want %.3f±20%%", srv[i].Addr, share[i], want)
		}
	}
	obs := counts(t, g, 20000, func(i int) Request { return Request{Key: fmt.Appendf(nil, "session-%d", i)} })
	if stat, crit := chiSquare(obs, share); stat > crit {
		t.Fatalf("counts %v vs ring %v: chi-square %.1f > %.1f", obs, share, stat, crit)
	}
}

func TestConsistentHashRemapping(t *testing.T) {
	const keys = 20000
	base := make([]Server, 6)
	for i := range base {
		base[i] = Server{Addr: fmt.Sprintf("192.168.1.%d:80", 10+i)}
	}
	owner := func(srv []Server) []string {
		g := mustBuild(t, NewRegistry(newFakeClock()), srv, Config{Method: Hash, Consistent: true})
		out := make([]string, keys)
		for i := range out {
			r := Request{Key: fmt.Appendf(nil, "k%d", i)}
			sel := pick(t, g, &r)
			sel.Done(Outcome{})
			out[i] = sel.Peer.Addr()
		}
		return out
	}
	five := owner(base[:5])
	six := owner(base)
	moved := 0
	for i := range five {
		if five[i] != six[i] {
			moved++
			if six[i] != base[5].Addr {
				t.Fatalf("key %d moved between old servers %s → %s", i, five[i], six[i])
			}
		}
	}
	if f := float64(moved) / keys; math.Abs(f-1.0/6) > 0.05 {
		t.Errorf("adding 1 server to 5 moved %.3f of keys, want 1/6±0.05", f)
	}
	four := owner(append(append([]Server{}, base[:2]...), base[3:5]...)) // remove .12
	moved = 0
	for i := range five {
		if five[i] != four[i] {
			moved++
			if five[i] != base[2].Addr {
				t.Fatalf("key %d on surviving server %s moved", i, five[i])
			}
		}
	}
	if f := float64(moved) / keys; math.Abs(f-1.0/5) > 0.06 {
		t.Errorf("removing 1 of 5 servers moved %.3f of keys, want 1/5±0.06", f)
	}
}

func TestRandomTwoPrefersLessLoaded(t *testing.T) {
	g := mustBuild(t, NewRegistry(newFakeClock()), servers(1, 1, 1), Config{Method: Random, Two: true, Rand: newRand(5)})
	a := g.Lookup("a:80")
	var held []Selection
	for range 3 {
		// Only a is left untried, so the pick must land on it.
		var req Request
		req.Tried.add(g.Lookup("b:80").st.id)
		req.Tried.add(g.Lookup("c:80").st.id)
		held = append(held, pick(t, g, &req))
		if held[len(held)-1].Peer != a {
			t.Fatal("tried set ignored")
		}
	}
	if got := seq(t, g, 200); strings.Contains(got, "a") {
		t.Fatalf("loaded server a picked: %q", got)
	}
	for _, s := range held {
		s.Done(Outcome{})
	}
	obs := counts(t, g, 9000, func(int) Request { return Request{} })
	if stat, crit := chiSquare(obs, []float64{1, 1, 1}); stat > crit {
		t.Fatalf("idle random two counts %v: chi-square %.1f > %.1f", obs, stat, crit)
	}
}

// latencyRun simulates n requests arriving every interval (0: each after
// the previous one ends); lat gives the latency of each attempt.
func latencyRun(t *testing.T, g *Group, clock *fakeClock, n int, interval time.Duration, lat func(p *Peer) time.Duration) map[string]int {
	type flight struct {
		sel Selection
		end time.Time
		d   time.Duration
	}
	var open []flight
	finish := func(until time.Time) {
		for {
			k := -1
			for i, f := range open {
				if !f.end.After(until) && (k < 0 || f.end.Before(open[k].end)) {
					k = i
				}
			}
			if k < 0 {
				return
			}
			f := open[k]
			open = append(open[:k], open[k+1:]...)
			if d := f.end.Sub(clock.Now()); d > 0 {
				clock.Advance(d)
			}
			f.sel.Done(Outcome{Latency: f.d})
		}
	}
	got := map[string]int{}
	for range n {
		sel := pick(t, g, &Request{})
		d := lat(sel.Peer)
		got[sel.Peer.Addr()]++
		if interval == 0 {
			clock.Advance(d)
			sel.Done(Outcome{Latency: d})
			continue
		}
		open = append(open, flight{sel, clock.Now().Add(d), d})
		next := clock.Now().Add(interval)
		finish(next)
		if d := next.Sub(clock.Now()); d > 0 {
			clock.Advance(d)
		}
	}
	finish(clock.Now().Add(time.Hour))
	return got
}

func TestLeastTimeNoStarvation(t *testing.T) {
	// Five identical servers whose latencies vary ±20% at random must share
	// 1500 sequential requests: each 15-25%, for every random seed tried.
	for seed := range uint64(10) {
		clock := newFakeClock()
		rnd := newRand(seed)
		g := mustBuild(t, NewRegistry(clock), servers(1, 1, 1, 1, 1), Config{Method: LeastTime, Rand: newRand(seed + 100)})
		got := latencyRun(t, g, clock, 1500, 0, func(*Peer) time.Duration {
			return 8*time.Millisecond + time.Duration(rnd.Uint64()%uint64(4*time.Millisecond))
		})
		for _, p := range g.Peers() {
			if f := float64(got[p.Addr()]) / 1500; f < 0.15 || f > 0.25 {
				t.Fatalf("seed %d: identical servers got %v; each must get 15-25%%", seed, got)
			}
		}
	}
}

func TestLeastTimePrefersFaster(t *testing.T) {
	clock := newFakeClock()
	g := mustBuild(t, NewRegistry(clock), servers(1, 1, 1), Config{Method: LeastTime, Rand: newRand(2)})
	base := map[string]time.Duration{"a:80": 40 * time.Millisecond, "b:80": 10 * time.Millisecond, "c:80": 20 * time.Millisecond}
	// Sequential requests: the fastest server takes all but the probes.
	got := latencyRun(t, g, clock, 1000, 0, func(p *Peer) time.Duration { return base[p.Addr()] })
	if got["b:80"] < 850 || got["a:80"] == 0 || got["c:80"] == 0 {
		t.Fatalf("sequential shares %v: want b ≥ 85%%, a and c probed", got)
	}
	// Concurrent requests (one every 4ms): load spreads in order of speed.
	got = latencyRun(t, g, clock, 3000, 4*time.Millisecond, func(p *Peer) time.Duration { return base[p.Addr()] })
	if !(got["b:80"] > got["c:80"] && got["c:80"] > got["a:80"] && got["a:80"] > 0) {
		t.Fatalf("concurrent shares %v: want fastest b most, slowest a least but used", got)
	}
	// A server without samples is valued at the group's seed: it gets
	// traffic at once but does not take everything.
	g2 := mustBuild(t, g.reg, append(servers(1, 1, 1), Server{Addr: "n:1"}), Config{Method: LeastTime, Rand: newRand(3)})
	got = latencyRun(t, g2, clock, 200, 0, func(p *Peer) time.Duration {
		if d, ok := base[p.Addr()]; ok {
			return d
		}
		return 10 * time.Millisecond
	})
	if got["n:1"] == 0 || got["n:1"] > 190 {
		t.Fatalf("new server got %d of 200", got["n:1"])
	}
}

func TestLeastTimeInflight(t *testing.T) {
	for _, inflight := range []bool{false, true} {
		clock := newFakeClock()
		g := mustBuild(t, NewRegistry(clock), servers(1, 1), Config{Method: LeastTime, Inflight: inflight, Rand: newRand(1)})
		latencyRun(t, g, clock, 20, 0, func(*Peer) time.Duration { return 10 * time.Millisecond })
		// One request on a hangs for a long time.
		var stuck Selection
		for {
			if stuck = pick(t, g, &Request{}); stuck.Peer.Addr() == "a:80" {
				break
			}
			stuck.Done(Outcome{Latency: 10 * time.Millisecond})
		}
		clock.Advance(5 * time.Second)
		got := latencyRun(t, g, clock, 40, 0, func(*Peer) time.Duration { return 0 })
		// Without inflight, a's score is only doubled by its active request;
		// with inflight its 5s-old request dominates the estimate.
		if inflight && got["a:80"] > 4 {
			t.Fatalf("inflight: server with a 5s request got %d of 40", got["a:80"])
		}
		stuck.Done(Outcome{Latency: 5 * time.Second})
	}
}

func TestScheduleResumes(t *testing.T) {
	clock := newFakeClock()
	g := mustBuild(t, NewRegistry(clock), servers(5, 1, 1), Config{})
	tr := g.snap.Load().primary
	if tr.mode.Load() != modeSched {
		t.Fatal("a fresh group must follow the schedule")
	}
	seq(t, g, 3)
	pick(t, g, &Request{}).Done(Outcome{Failed: true})
	if tr.mode.Load() == modeSched {
		t.Fatal("a failure must leave the schedule")
	}
	clock.Advance(11 * time.Second)
	seq(t, g, 100)
	if tr.mode.Load() != modeSched {
		t.Fatal("the group did not return to the schedule after recovery")
	}
}
