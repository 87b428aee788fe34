package balance

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		srv  []Server
		cfg  Config
		want string
	}{
		{"no servers", nil, Config{}, "no servers"},
		{"only backup", []Server{{Addr: "a:1", Backup: true}}, Config{}, "no servers"},
		{"empty addr", []Server{{}}, Config{}, "empty address"},
		{"negative weight", []Server{{Addr: "a:1", Weight: -1}}, Config{}, "weight"},
		{"huge weight", []Server{{Addr: "a:1", Weight: MaxWeight + 1}}, Config{}, "weight"},
		{"max_fails", []Server{{Addr: "a:1", MaxFails: -2}}, Config{}, "max_fails"},
		{"backup with hash", []Server{{Addr: "a:1"}, {Addr: "b:1", Backup: true}}, Config{Method: Hash}, "backup cannot be used with hash"},
		{"backup with ip_hash", []Server{{Addr: "a:1"}, {Addr: "b:1", Backup: true}}, Config{Method: IPHash}, "backup cannot be used with ip_hash"},
		{"backup with random", []Server{{Addr: "a:1"}, {Addr: "b:1", Backup: true}}, Config{Method: Random}, "backup cannot be used with random"},
		{"slow_start with hash", []Server{{Addr: "a:1", SlowStart: time.Second}}, Config{Method: Hash, Consistent: true}, "slow_start cannot be used"},
		{"bad method", []Server{{Addr: "a:1"}}, Config{Method: 99}, "unknown balancing method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRegistry(nil).Build("up", tc.srv, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "balance: ") {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Accepted combinations.
	for _, m := range []Method{RoundRobin, LeastConn, LeastTime} {
		if _, err := NewRegistry(nil).Build("up", []Server{{Addr: "a:1"}, {Addr: "b:1", Backup: true, SlowStart: time.Second}}, Config{Method: m}); err != nil {
			t.Errorf("%v with backup: %v", m, err)
		}
	}
}

func pick(t *testing.T, g *Group, req *Request) Selection {
	t.Helper()
	sel, err := g.Pick(req)
	if err != nil {
		t.Fatalf("pick: %v", err)
	}
	return sel
}

func TestMaxFailsFailTimeout(t *testing.T) {
	clock := newFakeClock()
	srv := servers(1, 1)
	srv[0].MaxFails = 2
	srv[0].FailTimeout = 30 * time.Second
	g := mustBuild(t, NewRegistry(clock), srv, Config{})
	a := g.Lookup("a:80")
	fail := func() {
		var req Request
		for {
			sel := pick(t, g, &req)
			if sel.Peer == a {
				sel.Done(Outcome{Failed: true})
				return
			}
			sel.Done(Outcome{})
		}
	}
	fail()
	if got := seq(t, g, 4); !strings.Contains(got, "a") {
		t.Fatalf("after 1 of 2 failures a must still serve: %q", got)
	}
	clock.Advance(time.Second)
	fail()
	if st := a.Stats().State; st != StateUnavail {
		t.Fatalf("state %s, want unavail", st)
	}
	if got := seq(t, g, 6); got != "bbbbbb" {
		t.Fatalf("unavailable a picked: %q", got)
	}
	clock.Advance(29 * time.Second) // still within fail_timeout of the last failure
	if got := seq(t, g, 4); got != "bbbb" {
		t.Fatalf("a picked within fail_timeout: %q", got)
	}
	clock.Advance(2 * time.Second)
	// One trial: a is picked once, then not again until the trial ends.
	var held []Selection
	trial := 0
	for range 6 {
		var req Request
		sel := pick(t, g, &req)
		if sel.Peer == a {
			trial++
		}
		held = append(held, sel)
	}
	if trial != 1 {
		t.Fatalf("a picked %d times after fail_timeout, want one trial", trial)
	}
	for _, sel := range held {
		if sel.Peer == a {
			sel.Done(Outcome{Failed: true}) // the trial fails: unavailable again
		} else {
			sel.Done(Outcome{})
		}
	}
	if got := seq(t, g, 4); got != "bbbb" {
		t.Fatalf("a picked after failed trial: %q", got)
	}
	clock.Advance(31 * time.Second)
	for _, sel := range []Selection{pick(t, g, &Request{}), pick(t, g, &Request{})} {
		sel.Done(Outcome{}) // the trial succeeds: a is live again
	}
	if st := a.Stats(); st.State != StateUp || st.Fails != 3 || st.Unavail != 1 {
		t.Fatalf("stats %+v, want up with 3 fails and 1 unavailability", st)
	}
	if got := seq(t, g, 20); strings.Count(got, "a") < 8 {
		t.Fatalf("recovered a gets too little: %q", got)
	}
}

func TestSingleServerNeverMarkedDown(t *testing.T) {
	g := mustBuild(t, NewRegistry(newFakeClock()), servers(1), Config{})
	for range 10 {
		pick(t, g, &Request{}).Done(Outcome{Failed: true})
	}
	if got := seq(t, g, 3); got != "aaa" {
		t.Fatalf("single server not picked after failures: %q", got)
	}
	// With a backup it is no longer single, as in nginx.
	srv := append(servers(1), Server{Addr: "z:1", Backup: true})
	g = mustBuild(t, NewRegistry(newFakeClock()), srv, Config{})
	pick(t, g, &Request{}).Done(Outcome{Failed: true})
	if got := seq(t, g, 3); got != "zzz" {
		t.Fatalf("failed primary with backup: %q, want backup", got)
	}
}

func TestBackupDownMaxConnsDrain(t *testing.T) {
	clock := newFakeClock()
	srv := []Server{{Addr: "a:1", MaxConns: 1}, {Addr: "b:1", Down: true}, {Addr: "c:1", Drain: true}, {Addr: "z:1", Backup: true}}
	g := mustBuild(t, NewRegistry(clock), srv, Config{})
	s1 := pick(t, g, &Request{})
	if s1.Peer.Addr() != "a:1" {
		t.Fatalf("first pick %s", s1.Peer.Addr())
	}
	// a is at max_conns, b down, c draining: the backup serves.
	s2 := pick(t, g, &Request{})
	if s2.Peer.Addr() != "z:1" {
		t.Fatalf("second pick %s, want backup", s2.Peer.Addr())
	}
	s1.Done(Outcome{})
	s2.Done(Outcome{})
	g.Lookup("c:1").SetDrain(false)
	if got := seq(t, g, 4); got != "acac" {
		t.Fatalf("after drain off: %q", got)
	}
	if st := g.Lookup("b:1").Stats().State; st != StateDown {
		t.Fatalf("b state %s", st)
	}
	g.Lookup("a:1").SetDrain(true)
	g.Lookup("c:1").SetHealthy(false)
	if got := seq(t, g, 2); got != "zz" {
		t.Fatalf("all primaries out: %q", got)
	}
	g.Lookup("z:1").SetHealthy(false)
	if _, err := g.Pick(&Request{}); !errors.Is(err, ErrNoPeer) {
		t.Fatalf("err %v, want ErrNoPeer", err)
	}
	var stats []PeerStats
	stats = g.Stats(stats)
	if len(stats) != 4 || stats[0].State != StateDraining || stats[2].State != StateUnhealthy {
		t.Fatalf("stats %+v", stats)
	}
}

func TestTriedSet(t *testing.T) {
	for _, cfg := range []Config{{}, {Method: LeastConn}, {Method: IPHash}, {Method: Hash}, {Method: Hash, Consistent: true}, {Method: Random}, {Method: Random, Two: true}, {Method: LeastTime}} {
		t.Run(fmt.Sprint(cfg.Method, cfg.Consistent, cfg.Two), func(t *testing.T) {
			cfg.Rand = newRand(1)
			clock := newFakeClock()
			g := mustBuild(t, NewRegistry(clock), servers(1, 2, 1, 3), cfg)
			req := Request{Client: netip.MustParseAddr("192.0.2.7"), Key: []byte("k")}
			seen := map[string]bool{}
			for range 4 {
				sel := pick(t, g, &req)
				if seen[sel.Peer.Addr()] {
					t.Fatalf("%s picked twice", sel.Peer.Addr())
				}
				seen[sel.Peer.Addr()] = true
				if !req.Tried.Has(sel.Peer) {
					t.Fatal("pick not recorded in the tried set")
				}
				sel.Done(Outcome{Failed: true})
			}
			if _, err := g.Pick(&req); !errors.Is(err, ErrNoPeer) {
				t.Fatalf("fifth attempt: %v, want ErrNoPeer", err)
			}
			// nginx 1.22 keeps the failures: no server until fail_timeout passes.
			req.Reset()
			if _, err := g.Pick(&req); !errors.Is(err, ErrNoPeer) {
				t.Fatalf("new request within fail_timeout: %v, want ErrNoPeer", err)
			}
			clock.Advance(DefaultFailTimeout + time.Second)
			if _, err := g.Pick(&req); err != nil {
				t.Fatalf("after fail_timeout: %v", err)
			}
		})
	}
}

func TestSlowStart(t *testing.T) {
	clock := newFakeClock()
	srv := servers(1, 1)
	srv[0].SlowStart = 10 * time.Second
	reg := NewRegistry(clock)
	cfg := Config{Rand: newRand(3)}
	g := mustBuild(t, reg, srv, cfg)
	a := g.Lookup("a:80")
	a.SetHealthy(false)
	a.SetHealthy(true) // recovers: ramps over 10s
	share := func() float64 {
		s := seq(t, g, 400)
		return float64(strings.Count(s, "a")) / 400
	}
	var shares []float64
	for range 6 {
		shares = append(shares, share())
		clock.Advance(2 * time.Second)
	}
	if shares[0] > 0.1 || shares[2] < 0.15 || shares[2] > 0.45 || shares[5] < 0.45 {
		t.Fatalf("shares over the ramp %.2f, want rising from ~0 to 0.5", shares)
	}
	if a.Stats().State != StateUp {
		t.Fatalf("state %s after ramp", a.Stats().State)
	}
	// A server added to a running group ramps too.
	g2 := mustBuild(t, reg, append(srv, Server{Addr: "n:1", SlowStart: 10 * time.Second}), cfg)
	if st := g2.Lookup("n:1").Stats().State; st != StateSlowStart {
		t.Fatalf("new server state %s, want slow_start", st)
	}
	if s := seq(t, g2, 60); strings.Count(s, "n") > 3 {
		t.Fatalf("new server got %d of 60 at once", strings.Count(s, "n"))
	}
}

func TestLeastConn(t *testing.T) {
	g := mustBuild(t, NewRegistry(newFakeClock()), servers(1, 1, 2), Config{Method: LeastConn})
	// Ties broken by weighted round robin: c (weight 2) first.
	var held []Selection
	for range 8 {
		held = append(held, pick(t, g, &Request{}))
	}
	n := map[string]int{}
	for _, s := range held {
		n[s.Peer.Addr()]++
	}
	if n["a:80"] != 2 || n["b:80"] != 2 || n["c:80"] != 4 {
		t.Fatalf("active spread %v, want 2/2/4 (relative to weight)", n)
	}
	for _, s := range held[:4] {
		s.Done(Outcome{})
	}
	for _, p := range g.Peers() {
		_ = p.Active()
	}
	sel := pick(t, g, &Request{})
	best := sel.Peer
	for _, p := range g.Peers() {
		if int64(p.Active()-b2i(p == best))*best.weight < int64(best.Active()-1)*p.weight {
			t.Fatalf("picked %s with %d active over %s with %d", best.Addr(), best.Active(), p.Addr(), p.Active())
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRegistrySurvivesRebuild(t *testing.T) {
	clock := newFakeClock()
	reg := NewRegistry(clock)
	g1 := mustBuild(t, reg, servers(1, 1, 1), Config{})
	held := pick(t, g1, &Request{})
	pick(t, g1, &Request{}).Done(Outcome{Failed: true}) // b fails
	g2 := mustBuild(t, reg, servers(1, 1), Config{})    // c removed
	if g2.Lookup("a:80").Active() != 1 {
		t.Fatal("active count lost on rebuild")
	}
	if g2.Lookup("b:80").Stats().State != StateUnavail {
		t.Fatal("failure state lost on rebuild")
	}
	if got := seq(t, g2, 3); got != "aaa" {
		t.Fatalf("rebuilt group picks %q", got)
	}
	held.Done(Outcome{}) // ends on the old group, visible in the new one
	if g2.Lookup("a:80").Active() != 0 {
		t.Fatal("done on old group not seen by new group")
	}
	g3 := mustBuild(t, reg, servers(1, 1, 1), Config{})
	if g3.Lookup("c:80").Stats().Requests != 0 {
		t.Fatal("removed server kept its state")
	}
	reg.Forget("up")
	g4 := mustBuild(t, reg, servers(1, 1), Config{})
	if g4.Lookup("b:80").Stats().State != StateUp {
		t.Fatal("Forget kept state")
	}
}

func TestConcurrentPicks(t *testing.T) {
	for _, cfg := range []Config{{}, {Method: LeastConn}, {Method: LeastTime}, {Method: Hash, Consistent: true}, {Method: Random, Two: true}, {Method: IPHash}} {
		g := mustBuild(t, NewRegistry(nil), servers(3, 1, 2, 1), cfg)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var req Request
				for i := range 2000 {
					req.Reset()
					req.Key = []byte{byte(i), byte(w)}
					req.Client = netip.AddrFrom4([4]byte{10, byte(w), byte(i), 1})
					sel, err := g.Pick(&req)
					if err != nil {
						continue
					}
					sel.Done(Outcome{Failed: i%97 == 0, Latency: time.Millisecond})
					if i%500 == 0 {
						g.Lookup("b:80").SetHealthy(i%1000 != 0)
					}
				}
			}()
		}
		wg.Wait()
		for _, p := range g.Peers() {
			if p.Active() != 0 {
				t.Fatalf("%v: %s active %d after all done", cfg.Method, p.Addr(), p.Active())
			}
		}
	}
}

func TestNoAllocs(t *testing.T) {
	for _, cfg := range []Config{{}, {Method: LeastConn}, {Method: LeastTime, Inflight: true}, {Method: IPHash}, {Method: Hash}, {Method: Hash, Consistent: true}, {Method: Random}, {Method: Random, Two: true, TwoLeastTime: true}} {
		g := mustBuild(t, NewRegistry(nil), servers(2, 1, 1, 3), cfg)
		key := []byte("/index.html")
		client := netip.MustParseAddr("198.51.100.9")
		var req Request
		allocs := testing.AllocsPerRun(1000, func() {
			req.Reset()
			req.Key, req.Client = key, client
			sel, err := g.Pick(&req)
			if err != nil {
				t.Fatal(err)
			}
			sel.Done(Outcome{Latency: time.Millisecond})
		})
		if allocs != 0 {
			t.Errorf("%v consistent=%v two=%v: %.1f allocs per pick", cfg.Method, cfg.Consistent, cfg.Two, allocs)
		}
	}
}
