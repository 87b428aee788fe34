package balance

import (
	"strings"
	"testing"
)

func TestRoundRobinSequence(t *testing.T) {
	tests := []struct {
		name string
		srv  []Server
		n    int
		want string
	}{
		{"nginx docs 5,1,1", servers(5, 1, 1), 14, "aabacaa" + "aabacaa"},
		{"equal", servers(1, 1, 1), 6, "abcabc"},
		{"2,1", servers(2, 1), 6, "abaaba"},
		{"gcd reduced 4,2", servers(4, 2), 6, "abaaba"},
		{"down skipped", func() []Server { s := servers(1, 1, 1); s[1].Down = true; return s }(), 4, "acac"},
		{"single", servers(3), 3, "aaa"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := mustBuild(t, NewRegistry(newFakeClock()), tc.srv, Config{})
			if got := seq(t, g, tc.n); got != tc.want {
				t.Fatalf("sequence %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRoundRobinLarge(t *testing.T) {
	// 100 servers: the schedule path; every server exactly once per period.
	srv := make([]Server, 100)
	for i := range srv {
		srv[i] = Server{Addr: strings.Repeat("x", i+1) + ":1"}
	}
	g := mustBuild(t, NewRegistry(newFakeClock()), srv, Config{})
	seen := map[string]int{}
	for range 300 {
		var req Request
		sel, err := g.Pick(&req)
		if err != nil {
			t.Fatal(err)
		}
		seen[sel.Peer.Addr()]++
		sel.Done(Outcome{})
	}
	for _, s := range srv {
		if seen[s.Addr] != 3 {
			t.Fatalf("%s picked %d times, want 3", s.Addr, seen[s.Addr])
		}
	}
}

// TestWeightUnitOwner checks tier.at, by table and by bisection, against
// nginx's walk over the weights.
func TestWeightUnitOwner(t *testing.T) {
	rnd := newRand(5)
	for _, tc := range []struct {
		n         int
		maxWeight uint64
	}{{1, 1}, {3, 5}, {16, 3}, {1000, 3}, {40, 100}, {100, 5000}} {
		ws := make([]int, tc.n)
		for i := range ws {
			ws[i] = 1 + int(rnd.Uint64()%tc.maxWeight)
		}
		g := mustBuild(t, NewRegistry(newFakeClock()), servers(ws...), Config{Method: Random})
		tr := g.snap.Load().primary
		if table := tr.total <= maxUnits; table != (tr.unit != nil) {
			t.Fatalf("%d servers, total weight %d: table %v", tc.n, tr.total, tr.unit != nil)
		}
		for range 2000 {
			w := int64(rnd.Uint64() % uint64(tr.total))
			want, rest := 0, w
			for rest >= int64(ws[want]) {
				rest -= int64(ws[want])
				want++
			}
			if got := tr.at(w); got != want {
				t.Fatalf("%d servers: unit %d belongs to server %d, got %d", tc.n, w, want, got)
			}
		}
	}
}
