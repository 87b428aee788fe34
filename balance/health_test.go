package balance_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// probeSet is a probe whose result per server the test sets.
type probeSet struct {
	mu    sync.Mutex
	fail  map[string]bool
	calls atomic.Int64
}

func (ps *probeSet) set(addr string, fail bool) {
	ps.mu.Lock()
	if ps.fail == nil {
		ps.fail = map[string]bool{}
	}
	ps.fail[addr] = fail
	ps.mu.Unlock()
}

func (ps *probeSet) probe(ctx context.Context, p *balance.Peer) error {
	ps.calls.Add(1)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.fail[p.Addr()] {
		return errors.New("down")
	}
	return nil
}

func buildGroup(t *testing.T, reg *balance.Registry, name string, addrs ...string) *balance.Group {
	t.Helper()
	var servers []balance.Server
	for _, a := range addrs {
		servers = append(servers, balance.Server{Addr: a})
	}
	g, err := reg.Build(name, servers, balance.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func healthy(g *balance.Group, addr string) bool { return g.Lookup(addr).Healthy() }

func TestHealthCheckFailsAndPasses(t *testing.T) {
	reg := balance.NewRegistry(nil)
	g := buildGroup(t, reg, "u", "a:1", "b:1")
	ps := &probeSet{}
	ps.set("b:1", true)
	var changes atomic.Int64
	var c balance.Checks
	c.Add(g, balance.HealthCheck{Interval: 5 * time.Millisecond, Fails: 3, Passes: 2, Probe: ps.probe,
		Report: func(*balance.Peer, bool, error) { changes.Add(1) }})
	c.Start()
	defer c.Stop()
	eventually(t, "b unhealthy", func() bool { return !healthy(g, "b:1") })
	if !healthy(g, "a:1") {
		t.Fatal("a unhealthy")
	}
	// picks avoid b now
	for range 10 {
		sel, err := g.Pick(&balance.Request{})
		if err != nil {
			t.Fatal(err)
		}
		if sel.Peer.Addr() != "a:1" {
			t.Fatalf("picked %s, an unhealthy server", sel.Peer.Addr())
		}
		sel.Done(balance.Outcome{})
	}
	ps.set("b:1", false)
	eventually(t, "b healthy", func() bool { return healthy(g, "b:1") })
	if n := changes.Load(); n != 2 {
		t.Errorf("%d state changes reported, want 2", n)
	}
	c.Stop()
	hb, ha := g.Lookup("b:1").Stats().Health, g.Lookup("a:1").Stats().Health
	if hb.Unhealthy != 1 || hb.Fails < 3 || hb.Checks < hb.Fails+2 || !hb.LastPassed || !hb.Checked {
		t.Errorf("b's health counts %+v: want unhealthy once, at least 3 fails, 2 passes after", hb)
	}
	if ha.Fails != 0 || ha.Checks == 0 || ha.Unhealthy != 0 || !ha.LastPassed {
		t.Errorf("a's health counts %+v", ha)
	}
}

func TestHealthCheckThresholds(t *testing.T) {
	// fails=3: two failures in a row leave the server healthy
	reg := balance.NewRegistry(nil)
	g := buildGroup(t, reg, "u", "a:1")
	var n atomic.Int64
	probe := func(ctx context.Context, p *balance.Peer) error {
		if n.Add(1)%3 != 0 { // fail, fail, pass, ...
			return errors.New("down")
		}
		return nil
	}
	var c balance.Checks
	c.Add(g, balance.HealthCheck{Interval: time.Millisecond, Fails: 3, Probe: probe})
	c.Start()
	for n.Load() < 30 {
		if !healthy(g, "a:1") {
			c.Stop()
			t.Fatal("two failures in a row made the server unhealthy with fails=3")
		}
		time.Sleep(time.Millisecond)
	}
	c.Stop()
}

func TestHealthCheckMandatory(t *testing.T) {
	reg := balance.NewRegistry(nil)
	g := buildGroup(t, reg, "u", "a:1", "b:1")
	block := make(chan struct{})
	probe := func(ctx context.Context, p *balance.Peer) error {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
		if p.Addr() == "b:1" {
			return errors.New("down")
		}
		return nil
	}
	var c balance.Checks
	// persistent keeps only what a check found: a new server is checking too
	c.Add(g, balance.HealthCheck{Interval: time.Hour, Passes: 5, Mandatory: true, Persistent: true, Probe: probe})
	c.Start()
	defer c.Stop()
	// before the first check: both in the "checking" state
	if healthy(g, "a:1") || healthy(g, "b:1") {
		t.Fatal("a server under a mandatory check is healthy before its first check")
	}
	if _, err := g.Pick(&balance.Request{}); err == nil {
		t.Fatal("a pick succeeded with every server checking")
	}
	if st := g.Lookup("a:1").Stats().State; st != balance.StateChecking {
		t.Fatalf("state %s before the first check, want checking", st)
	}
	close(block)
	// the first check decides, whatever passes= says
	eventually(t, "a healthy", func() bool { return healthy(g, "a:1") })
	if healthy(g, "b:1") {
		t.Fatal("b healthy after a failed first check")
	}
	if st := g.Lookup("b:1").Stats().State; st != balance.StateUnhealthy {
		t.Fatalf("b's state %s after a failed first check, want unhealthy", st)
	}
}

func TestHealthCheckReload(t *testing.T) {
	reg := balance.NewRegistry(nil)
	g := buildGroup(t, reg, "u", "a:1")
	ps := &probeSet{}
	ps.set("a:1", true)
	var c1 balance.Checks
	c1.Add(g, balance.HealthCheck{Interval: time.Millisecond, Probe: ps.probe})
	c1.Start()
	eventually(t, "a unhealthy", func() bool { return !healthy(g, "a:1") })
	c1.Stop()

	// the next configuration checks too: the state is kept until a check passes
	g2 := buildGroup(t, reg, "u", "a:1")
	slow := &probeSet{}
	slow.set("a:1", true)
	var c2 balance.Checks
	c2.Add(g2, balance.HealthCheck{Interval: time.Hour, Probe: slow.probe})
	c2.Start()
	eventually(t, "first check", func() bool { return slow.calls.Load() > 0 })
	if healthy(g2, "a:1") {
		t.Fatal("a reload made an unhealthy server healthy")
	}
	c2.Stop()

	// mandatory persistent keeps a healthy server healthy
	ps.set("a:1", false)
	var c3 balance.Checks
	c3.Add(g2, balance.HealthCheck{Interval: time.Millisecond, Probe: ps.probe})
	c3.Start()
	eventually(t, "a healthy", func() bool { return healthy(g2, "a:1") })
	c3.Stop()
	g3 := buildGroup(t, reg, "u", "a:1")
	var c4 balance.Checks
	c4.Add(g3, balance.HealthCheck{Interval: time.Hour, Mandatory: true, Persistent: true,
		Probe: func(ctx context.Context, p *balance.Peer) error { <-ctx.Done(); return ctx.Err() }})
	c4.Start()
	if !healthy(g3, "a:1") {
		t.Fatal("mandatory persistent: a healthy server went to checking on reload")
	}
	c4.Stop()

	// a configuration without checks makes every server healthy
	ps.set("a:1", true)
	var c5 balance.Checks
	c5.Add(g3, balance.HealthCheck{Interval: time.Millisecond, Probe: ps.probe})
	c5.Start()
	eventually(t, "a unhealthy", func() bool { return !healthy(g3, "a:1") })
	c5.Stop()
	g4 := buildGroup(t, reg, "u", "a:1")
	var c6 balance.Checks
	c6.Track(g4)
	c6.Start()
	defer c6.Stop()
	if !healthy(g4, "a:1") {
		t.Fatal("a server stays unhealthy after its check was removed")
	}
}

func TestHealthChecksCombine(t *testing.T) {
	// a server is healthy only when every check of its group passes it
	reg := balance.NewRegistry(nil)
	g := buildGroup(t, reg, "u", "a:1")
	ok, bad := &probeSet{}, &probeSet{}
	bad.set("a:1", true)
	var c balance.Checks
	c.Add(g, balance.HealthCheck{Interval: time.Millisecond, Probe: ok.probe})
	c.Add(g, balance.HealthCheck{Interval: time.Millisecond, Probe: bad.probe})
	c.Start()
	defer c.Stop()
	eventually(t, "both checks ran", func() bool { return ok.calls.Load() > 20 && bad.calls.Load() > 20 })
	if healthy(g, "a:1") {
		t.Fatal("healthy while one of two checks fails it")
	}
	bad.set("a:1", false)
	eventually(t, "a healthy", func() bool { return healthy(g, "a:1") })
}

func TestHealthCheckFollowsServers(t *testing.T) {
	// a server added at run time is checked; a removed one is not any more
	reg := balance.NewRegistry(nil)
	g := buildGroup(t, reg, "u", "a:1")
	var mu sync.Mutex
	seen := map[string]int{}
	probe := func(ctx context.Context, p *balance.Peer) error {
		mu.Lock()
		seen[p.Addr()]++
		mu.Unlock()
		return nil
	}
	var c balance.Checks
	c.Add(g, balance.HealthCheck{Interval: 2 * time.Millisecond, Probe: probe})
	c.Start()
	defer c.Stop()
	if err := g.Update([]balance.Server{{Addr: "b:1"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b checked", func() bool { mu.Lock(); defer mu.Unlock(); return seen["b:1"] > 0 })
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	a := seen["a:1"]
	mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if seen["a:1"] != a {
		t.Errorf("a removed server is still checked (%d then %d)", a, seen["a:1"])
	}
}
