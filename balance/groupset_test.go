package balance

import (
	"fmt"
	"testing"
)

// TestPeerIDs checks the numbering the NGINX Plus API shows: servers in
// order from 0, kept through updates, and new numbers for added servers,
// never reused in the group; a new group starts again from 0.
func TestPeerIDs(t *testing.T) {
	reg := NewRegistry(nil)
	ids := func(g *Group) string {
		s := ""
		for _, p := range g.Peers() {
			s += fmt.Sprintf("%s=%d ", p.Addr(), p.ID())
		}
		return s
	}
	g, err := reg.Build("u", []Server{{Addr: "a:1"}, {Addr: "b:1", Backup: true}, {Addr: "c:1"}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(g); got != "a:1=0 c:1=2 b:1=1 " {
		t.Errorf("built: %s", got)
	}
	steps := []struct {
		servers []Server
		want    string
	}{
		{[]Server{{Addr: "a:1", Weight: 3}, {Addr: "c:1"}, {Addr: "d:1"}}, "a:1=0 c:1=2 d:1=3 "},
		{[]Server{{Addr: "c:1"}, {Addr: "d:1"}}, "c:1=2 d:1=3 "},
		{[]Server{{Addr: "c:1"}, {Addr: "d:1"}, {Addr: "a:1"}}, "c:1=2 d:1=3 a:1=4 "},
	}
	for _, s := range steps {
		if err := g.Update(s.servers); err != nil {
			t.Fatal(err)
		}
		if got := ids(g); got != s.want {
			t.Errorf("after update: %s, want %s", got, s.want)
		}
	}
	g2, err := reg.Build("u", []Server{{Addr: "d:1"}, {Addr: "c:1"}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(g2); got != "d:1=0 c:1=1 " {
		t.Errorf("rebuilt: %s", got)
	}
	if st := g2.Peers()[1].Stats(); st.ID != 1 {
		t.Errorf("Stats().ID = %d", st.ID)
	}
}

// TestDraining checks that Draining reports both the configured drain and
// SetDrain, and that Update takes the drain it is given.
func TestDraining(t *testing.T) {
	reg := NewRegistry(nil)
	g, err := reg.Build("d", []Server{{Addr: "a:1", Drain: true}, {Addr: "b:1"}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !g.Peers()[0].Draining() || g.Peers()[1].Draining() {
		t.Fatal("configured drain not reported")
	}
	g.Peers()[1].SetDrain(true)
	if !g.Peers()[1].Draining() {
		t.Error("SetDrain not reported")
	}
	if err := g.Update([]Server{{Addr: "a:1"}, {Addr: "b:1", Drain: true}}); err != nil {
		t.Fatal(err)
	}
	if g.Peers()[0].Draining() || !g.Peers()[1].Draining() {
		t.Error("Update did not set drain as given")
	}
}

func TestGroupSet(t *testing.T) {
	var s GroupSet
	if g, _ := s.Group("x"); g != nil || len(s.Names()) != 0 {
		t.Fatal("zero set not empty")
	}
	reg := NewRegistry(nil)
	b, _ := reg.Build("b", []Server{{Addr: "a:1"}}, Config{})
	a, _ := reg.Build("a", []Server{{Addr: "a:1"}}, Config{})
	s.Add(b, "zb")
	s.Add(a, "")
	if g, z := s.Group("b"); g != b || z != "zb" {
		t.Errorf("Group(b) = %v %q", g, z)
	}
	if got := fmt.Sprint(s.Names()); got != "[a b]" {
		t.Errorf("Names = %s", got)
	}
}
