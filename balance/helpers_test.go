package balance

import (
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// fakeClock is a manually advanced clock.
type fakeClock = testutil.FakeClock

func newFakeClock() *fakeClock { return testutil.NewFakeClock(time.Unix(1_700_000_000, 0)) }

// splitmix is a deterministic random source safe for concurrent use.
type splitmix struct {
	mu sync.Mutex
	x  uint64
}

func newRand(seed uint64) *splitmix { return &splitmix{x: seed} }

func (s *splitmix) Uint64() uint64 {
	s.mu.Lock()
	s.x += 0x9e3779b97f4a7c15
	z := s.x
	s.mu.Unlock()
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// servers builds Servers named a, b, c... with the given weights.
func servers(weights ...int) []Server {
	out := make([]Server, len(weights))
	for i, w := range weights {
		out[i] = Server{Addr: string(rune('a'+i)) + ":80", Weight: w}
	}
	return out
}

func mustBuild(t testing.TB, reg *Registry, srv []Server, cfg Config) *Group {
	t.Helper()
	g, err := reg.Build("up", srv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// seq picks n times, ending each attempt successfully at once, and returns
// the first letters of the picked addresses.
func seq(t testing.TB, g *Group, n int) string {
	t.Helper()
	b := make([]byte, 0, n)
	for range n {
		var req Request
		sel, err := g.Pick(&req)
		if err != nil {
			b = append(b, '-')
			continue
		}
		b = append(b, sel.Peer.Addr()[0])
		sel.Done(Outcome{})
	}
	return string(b)
}

// pickConcurrently makes picks from goroutines at once, each ending its
// attempt at once with a 1ms latency, and returns the picks per address.
func pickConcurrently(t *testing.T, g *Group, goroutines, picks int) map[string]int {
	t.Helper()
	var mu sync.Mutex
	count := map[string]int{}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			local := map[string]int{}
			for range picks {
				sel, err := g.Pick(&Request{})
				if err != nil {
					t.Error(err)
					return
				}
				local[sel.Peer.Addr()]++
				sel.Done(Outcome{Latency: time.Millisecond})
			}
			mu.Lock()
			for k, v := range local {
				count[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return count
}
