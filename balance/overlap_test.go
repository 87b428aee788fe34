package balance

import "testing"

// TestOverlapRandomTies checks least_conn's handling of overlapping picks:
// once two picks overlap, ties are broken at random in proportion to weight
// without touching the shared current weights, and after the overlap ends
// picks return to nginx's round robin.
func TestOverlapRandomTies(t *testing.T) {
	g := mustBuild(t, NewRegistry(newFakeClock()), servers(3, 1, 1, 1), Config{Method: LeastConn, Rand: newRand(7)})
	tr := g.snap.Load().primary
	c := pickCtx{s: g.snap.Load(), req: &Request{}}

	// Two picks that overlap: the second to end sees the first's ticket
	// used and raises the flag.
	_, t1 := tr.tieBegin(&c)
	_, t2 := tr.tieBegin(&c)
	tr.tieEnd(t1)
	if tr.overlapped.Load() {
		t.Fatal("flag raised by a pick that overlapped nothing that ended")
	}
	tr.tieEnd(t2)
	if !tr.overlapped.Load() {
		t.Fatal("overlapping picks did not raise the flag")
	}

	// Hold one connection on the heavy server: the three light servers
	// tie, a partial tie. While the flag is up, picks share them at
	// random and leave the current weights alone.
	held, err := g.Pick(&Request{})
	if err != nil {
		t.Fatal(err)
	}
	tr.overlapped.Store(true)
	before := make([]int64, len(tr.cw))
	for i := range tr.cw {
		before[i] = tr.cw[i].Load()
	}
	count := map[string]int{}
	random := 0
	for range 3000 {
		if !tr.overlapped.Load() {
			break
		}
		random++
		sel, err := g.Pick(&Request{})
		if err != nil {
			t.Fatal(err)
		}
		count[sel.Peer.Addr()]++
		sel.Done(Outcome{})
		if tr.overlapped.Load() {
			for i := range tr.cw {
				if tr.cw[i].Load() != before[i] {
					t.Fatalf("random tie changed current weight %d", i)
				}
			}
		}
	}
	if random < 5 || random == 3000 {
		t.Fatalf("the flag lasted %d picks; want about %d", random, overlapMemory)
	}
	// The flag clears: picks are exact again, nginx's round robin among
	// the three tied servers of weight 1 is a plain rotation.
	var seq []string
	for range 6 {
		sel, err := g.Pick(&Request{})
		if err != nil {
			t.Fatal(err)
		}
		seq = append(seq, sel.Peer.Addr())
		sel.Done(Outcome{})
	}
	for i := 3; i < 6; i++ {
		if seq[i] != seq[i-3] || seq[i] == seq[i-1] {
			t.Fatalf("after the overlap, picks %v are not a rotation", seq)
		}
	}
	if tr.overlapped.Load() {
		t.Fatal("sequential picks raised the flag")
	}
	held.Done(Outcome{})
	if count[held.Peer.Addr()] != 0 {
		t.Fatalf("random ties picked the busier server: %v", count)
	}
}

// TestOverlapRandomShares keeps the overlap flag up and checks that random
// ties follow the weights: with nothing held every server ties, and weights
// 3, 1, 1, 1 get 1/2, 1/6, 1/6, 1/6 of the picks.
func TestOverlapRandomShares(t *testing.T) {
	g := mustBuild(t, NewRegistry(newFakeClock()), servers(3, 1, 1, 1), Config{Method: LeastConn, Rand: newRand(11)})
	tr := g.snap.Load().primary
	count := map[string]int{}
	const n = 6000
	for range n {
		tr.overlapped.Store(true)
		sel, err := g.Pick(&Request{})
		if err != nil {
			t.Fatal(err)
		}
		count[sel.Peer.Addr()]++
		sel.Done(Outcome{})
	}
	for i, p := range g.Peers() {
		want := n / 6
		if i == 0 {
			want = n / 2
		}
		if got := count[p.Addr()]; got < want*85/100 || got > want*115/100 {
			t.Errorf("%s (weight %d) got %d of %d picks, want about %d", p.Addr(), p.Server().Weight, got, n, want)
		}
	}
}

// TestOverlapConcurrent runs least_conn picks from many goroutines at once,
// each ending its attempt at once: no server is starved (a goroutine
// descheduled between its pick and its end keeps a server busier for a
// while, so shares vary with scheduling), and every count returns to zero.
func TestOverlapConcurrent(t *testing.T) {
	g := mustBuild(t, NewRegistry(nil), servers(1, 1, 1, 1), Config{Method: LeastConn})
	count := pickConcurrently(t, g, 8, 2000)
	for _, p := range g.Peers() {
		if n := count[p.Addr()]; n < 16000/4/4 {
			t.Errorf("%s got %d of 16000 picks: %v", p.Addr(), n, count)
		}
		if a := p.Active(); a != 0 {
			t.Errorf("%s has %d active after every Done", p.Addr(), a)
		}
	}
}
