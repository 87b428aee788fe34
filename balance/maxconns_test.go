package balance

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestMaxConnsExactUnderConcurrentPicks: picks racing on every core never
// hold more attempts on a server than its max_conns, whatever the method.
func TestMaxConnsExactUnderConcurrentPicks(t *testing.T) {
	for _, m := range []Method{RoundRobin, LeastConn, LeastTime, Random, Hash, IPHash} {
		for _, n := range []int{1, 2} {
			t.Run(fmt.Sprintf("%v/%d", m, n), func(t *testing.T) {
				reg := NewRegistry(nil)
				srv := []Server{{Addr: "a:1", MaxConns: n}, {Addr: "b:1", MaxConns: n}}
				g := mustBuild(t, reg, srv, Config{Method: m})
				var held [2]atomic.Int32
				var over atomic.Int32
				var wg sync.WaitGroup
				for range 4 * runtime.GOMAXPROCS(0) {
					wg.Go(func() {
						for range 2000 {
							sel, err := g.Pick(&Request{Key: []byte("k")})
							if err != nil {
								runtime.Gosched()
								continue
							}
							i := sel.Peer.Addr()[0] - 'a'
							if held[i].Add(1) > int32(n) {
								over.Add(1)
							}
							runtime.Gosched()
							held[i].Add(-1)
							sel.Done(Outcome{})
						}
					})
				}
				wg.Wait()
				if o := over.Load(); o != 0 {
					t.Errorf("%d attempts over max_conns=%d", o, n)
				}
			})
		}
	}
}
