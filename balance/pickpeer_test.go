package balance

import (
	"errors"
	"testing"
)

func TestPickPeer(t *testing.T) {
	reg := NewRegistry(nil)
	srv := servers(1, 1, 1)
	srv[1].MaxConns = 1
	srv[2].Down = true
	g := mustBuild(t, reg, srv, Config{})
	a, b, c := g.Lookup("a:80"), g.Lookup("b:80"), g.Lookup("c:80")

	// a bound request goes to its server and is counted there; the
	// round-robin position does not move
	var req Request
	sel, err := g.PickPeer(a, &req)
	if err != nil || sel.Peer != a || a.Active() != 1 || !req.Tried.Has(a) {
		t.Fatalf("PickPeer(a) = %v, %v; active %d", sel.Peer, err, a.Active())
	}
	if _, err := g.PickPeer(a, &req); !errors.Is(err, ErrNoPeer) {
		t.Errorf("PickPeer of a server already tried: %v, want ErrNoPeer", err)
	}
	sel.Done(Outcome{})
	if a.Active() != 0 {
		t.Errorf("active after Done = %d", a.Active())
	}
	if got := seq(t, g, 4); got != "abab" {
		t.Errorf("round robin after PickPeer = %q, want abab", got)
	}

	// down, max_conns, failed, unhealthy: refused; draining: taken
	if _, err := g.PickPeer(c, new(Request)); !errors.Is(err, ErrNoPeer) {
		t.Errorf("PickPeer(down) = %v", err)
	}
	hold, err := g.PickPeer(b, new(Request))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.PickPeer(b, new(Request)); !errors.Is(err, ErrNoPeer) {
		t.Errorf("PickPeer beyond max_conns = %v", err)
	}
	hold.Done(Outcome{Failed: true})
	if _, err := g.PickPeer(b, new(Request)); !errors.Is(err, ErrNoPeer) {
		t.Errorf("PickPeer(failed) = %v", err)
	}
	a.SetHealthy(false)
	if _, err := g.PickPeer(a, new(Request)); !errors.Is(err, ErrNoPeer) {
		t.Errorf("PickPeer(unhealthy) = %v", err)
	}
	a.SetHealthy(true)
	a.SetDrain(true)
	if sel, err := g.PickPeer(a, new(Request)); err != nil || sel.Peer != a {
		t.Errorf("PickPeer(draining) = %v, %v; want a", sel.Peer, err)
	} else {
		sel.Done(Outcome{})
	}
	if _, err := g.Pick(new(Request)); !errors.Is(err, ErrNoPeer) {
		t.Errorf("Pick with a draining and the others unusable: %v, want ErrNoPeer", err)
	}

	// a server of another group, or of a previous server list
	other := mustBuild(t, NewRegistry(nil), servers(1), Config{})
	if _, err := g.PickPeer(other.Peers()[0], new(Request)); !errors.Is(err, ErrNoPeer) {
		t.Errorf("PickPeer of another group's server = %v", err)
	}
	if err := g.Update(servers(1, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := g.PickPeer(a, new(Request)); !errors.Is(err, ErrNoPeer) {
		t.Errorf("PickPeer of a replaced server = %v", err)
	}
	if _, err := g.PickPeer(nil, new(Request)); !errors.Is(err, ErrNoPeer) {
		t.Errorf("PickPeer(nil) = %v", err)
	}
}

func TestPickPeerAllocs(t *testing.T) {
	g := mustBuild(t, NewRegistry(nil), servers(1, 1), Config{})
	p := g.Peers()[1]
	var req Request
	n := testing.AllocsPerRun(100, func() {
		req.Reset()
		sel, err := g.PickPeer(p, &req)
		if err != nil {
			t.Fatal(err)
		}
		sel.Done(Outcome{})
	})
	if n != 0 {
		t.Errorf("PickPeer allocates %v times", n)
	}
}
