package balance

import (
	"testing"
	"time"
	"unsafe"
)

// pickHeld picks with the overlap flag of g's primary tier held up, so the
// pick goes through a lane, and returns the selection without ending it.
func pickHeld(t *testing.T, g *Group) Selection {
	t.Helper()
	g.snap.Load().primary.overlapped.Store(true)
	sel, err := g.Pick(&Request{})
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func TestLaneLayout(t *testing.T) {
	if n := unsafe.Sizeof(lane{}); n != 128 {
		t.Errorf("lane is %d bytes, want 128 (a size class of its own line pair)", n)
	}
	if n := unsafe.Sizeof(laneEnt{}); 64%n != 0 {
		t.Errorf("laneEnt is %d bytes, which does not divide a cache line", n)
	}
}

// TestLaneRoundRobinShares holds the overlap flag up: round robin then
// walks the schedule from the lane's own position, and the shares stay
// exactly the weights'.
func TestLaneRoundRobinShares(t *testing.T) {
	g := mustBuild(t, NewRegistry(newFakeClock()), servers(5, 1, 1), Config{})
	count := map[string]int{}
	for range 7 * 300 {
		sel := pickHeld(t, g)
		count[sel.Peer.Addr()]++
		sel.Done(Outcome{})
	}
	if g.snap.Load().primary.lanes.Load() == nil {
		t.Fatal("picks with the flag up did not use the lanes")
	}
	// One goroutine may move between processors, and so between lanes,
	// each of which keeps its own place in the schedule.
	for addr, want := range map[string]int{"a:80": 1500, "b:80": 300, "c:80": 300} {
		if got := count[addr]; got < want-5*len(*g.snap.Load().primary.lanes.Load()) || got > want+5*len(*g.snap.Load().primary.lanes.Load()) {
			t.Errorf("%s got %d of 2100 picks, want %d", addr, got, want)
		}
	}
}

// TestLaneLeastConnCounts checks what a lane sees: attempts held before the
// lane was used (through the shared state), and its own picks at once.
func TestLaneLeastConnCounts(t *testing.T) {
	g := mustBuild(t, NewRegistry(newFakeClock()), servers(1, 1, 1, 1), Config{Method: LeastConn, Rand: newRand(3)})
	held, err := g.Pick(&Request{}) // sequential: nginx's pick, server a
	if err != nil {
		t.Fatal(err)
	}
	var sels []Selection
	seen := map[string]bool{held.Peer.Addr(): true}
	for range 3 {
		sel := pickHeld(t, g)
		if sel.le == nil {
			t.Fatal("pick with the flag up did not go through a lane")
		}
		if seen[sel.Peer.Addr()] {
			t.Fatalf("lane picked busy server %s again; picks so far %v", sel.Peer.Addr(), seen)
		}
		seen[sel.Peer.Addr()] = true
		sels = append(sels, sel)
	}
	// Every server holds one attempt: ends of the lane's picks are seen
	// at once, so the next picks go to the servers they freed.
	sels[0].Done(Outcome{})
	for range 20 {
		sel := pickHeld(t, g)
		if sel.Peer != sels[0].Peer {
			t.Fatalf("picked %s, not the only idle server %s", sel.Peer.Addr(), sels[0].Peer.Addr())
		}
		sel.Done(Outcome{})
	}
	held.Done(Outcome{})
	for _, s := range sels[1:] {
		s.Done(Outcome{})
	}
	for _, p := range g.Peers() {
		if p.Active() != 0 {
			t.Errorf("%s has %d active after every Done", p.Addr(), p.Active())
		}
	}
}

// TestLaneFailureLeavesLanes fails a server while picks go through lanes:
// the failure refreshes the lanes at once and picks go back to the shared
// state, which skips the failed server until fail_timeout.
func TestLaneFailureLeavesLanes(t *testing.T) {
	srv := servers(1, 1, 1)
	for i := range srv {
		srv[i].MaxFails = 1
		srv[i].FailTimeout = 10 * time.Second
	}
	clk := newFakeClock()
	g := mustBuild(t, NewRegistry(clk), srv, Config{Method: LeastConn, Rand: newRand(5)})
	var bad *Peer
	for range 10 {
		sel := pickHeld(t, g)
		if bad == nil {
			bad = sel.Peer
			sel.Done(Outcome{Failed: true})
			continue
		}
		if sel.Peer == bad {
			t.Fatalf("failed server %s picked again within fail_timeout", bad.Addr())
		}
		if sel.le != nil {
			t.Fatal("a lane served a pick while a server was failed")
		}
		sel.Done(Outcome{})
	}
}

// TestLaneLeastTimeIdentical is least_time's starvation check through the
// lanes: five identical servers each get 15-25% of 1500 picks.
func TestLaneLeastTimeIdentical(t *testing.T) {
	g := mustBuild(t, NewRegistry(nil), servers(1, 1, 1, 1, 1), Config{Method: LeastTime})
	count := map[string]int{}
	for range 1500 {
		sel := pickHeld(t, g)
		count[sel.Peer.Addr()]++
		sel.Done(Outcome{Latency: time.Millisecond})
	}
	for _, p := range g.Peers() {
		if n := count[p.Addr()]; n < 1500*15/100 || n > 1500*25/100 {
			t.Errorf("%s got %d of 1500 picks: %v", p.Addr(), n, count)
		}
	}
}

// TestLaneLeastTimeAvoidsSlow gives one of three servers ten times the
// latency of the others: lane picks send it little more than probes.
func TestLaneLeastTimeAvoidsSlow(t *testing.T) {
	clk := newFakeClock()
	g := mustBuild(t, NewRegistry(clk), servers(1, 1, 1), Config{Method: LeastTime})
	slow := g.Peers()[0]
	count := 0
	for i := range 3000 {
		if i%10 == 0 {
			clk.Advance(time.Millisecond) // lanes refresh their copy every tick
		}
		sel := pickHeld(t, g)
		lat := time.Millisecond
		if sel.Peer == slow {
			lat = 10 * time.Millisecond
			if i >= 1000 {
				count++
			}
		}
		sel.Done(Outcome{Latency: lat})
	}
	if count > 2000/8 {
		t.Errorf("the slow server got %d of the last 2000 picks", count)
	}
}

// TestLaneConcurrent runs round robin, least_conn and least_time picks
// from many goroutines (the lanes serve most of them) under -race: no
// server starves, and every count, shared and per lane, returns to zero.
func TestLaneConcurrent(t *testing.T) {
	for _, cfg := range []Config{{}, {Method: LeastConn}, {Method: LeastTime}} {
		w := servers(2, 1, 1, 1)
		if cfg.Method == LeastTime {
			// With equal latencies and attempts that end at once, the
			// heavier server's score (estimate / weight) is always lower.
			w = servers(1, 1, 1, 1)
		}
		g := mustBuild(t, NewRegistry(nil), w, cfg)
		count := pickConcurrently(t, g, 8, 2000)
		for _, p := range g.Peers() {
			if n := count[p.Addr()]; n < 16000/5/4 {
				t.Errorf("%v: %s got %d of 16000 picks: %v", cfg.Method, p.Addr(), n, count)
			}
			if a := p.Active(); a != 0 {
				t.Errorf("%v: %s has %d active after every Done", cfg.Method, p.Addr(), a)
			}
		}
		if ls := g.snap.Load().primary.lanes.Load(); ls != nil {
			for k, ln := range *ls {
				for i := range ln.ent {
					if m := ln.ent[i].mine.Load(); m != 0 {
						t.Errorf("%v: lane %d counts %d attempts on server %d after every Done", cfg.Method, k, m, i)
					}
				}
			}
		}
	}
}

// TestQuietChangesReachScans checks that the scans that skip the per-server
// checks (a tier whose servers were all plain and quiet at the last full
// scan) see every change: a failure, health, drain, and a failure reported
// through a group a reload has replaced.
func TestQuietChangesReachScans(t *testing.T) {
	srv := servers(1, 1, 1)
	for i := range srv {
		srv[i].MaxFails = 1
		srv[i].FailTimeout = 10 * time.Second
	}
	for _, m := range []Method{LeastConn, LeastTime} {
		reg := NewRegistry(newFakeClock())
		old := mustBuild(t, reg, srv, Config{Method: m})
		g := old
		avoid := func(what string, bad *Peer) {
			t.Helper()
			for range 30 {
				sel, err := g.Pick(&Request{})
				if err != nil {
					t.Fatal(err)
				}
				if sel.Peer.Addr() == bad.Addr() {
					t.Fatalf("%v: %s: picked %s", m, what, bad.Addr())
				}
				sel.Done(Outcome{Latency: time.Millisecond})
			}
		}
		seq(t, g, 5) // a full scan marks the tier trusted
		if ok, _ := g.snap.Load().primary.trusted(); !ok {
			t.Fatalf("%v: tier not trusted after scans of quiet servers", m)
		}
		sel, _ := g.Pick(&Request{})
		sel.Done(Outcome{Failed: true})
		avoid("after a failure", sel.Peer)

		g = mustBuild(t, reg, srv, Config{Method: m}) // a reload, same servers
		seq(t, g, 5)
		peers := g.Peers()
		peers[1].SetHealthy(false)
		avoid("unhealthy", peers[1])
		peers[1].SetHealthy(true)
		peers[2].SetDrain(true)
		avoid("draining", peers[2])
		peers[2].SetDrain(false)

		// An attempt picked before the reload fails after it.
		var pre Selection
		for {
			s, _ := old.Pick(&Request{})
			if s.Peer.Addr() != sel.Peer.Addr() {
				pre = s
				break
			}
			s.Done(Outcome{})
		}
		seq(t, g, 5)
		pre.Done(Outcome{Failed: true})
		avoid("failed through the old group", g.Lookup(pre.Peer.Addr()))
	}
}
