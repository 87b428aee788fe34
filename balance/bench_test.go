package balance

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

var benchMethods = []struct {
	name string
	cfg  Config
}{
	{"round_robin", Config{}},
	{"least_conn", Config{Method: LeastConn}},
	{"least_time", Config{Method: LeastTime}},
	{"ip_hash", Config{Method: IPHash}},
	{"hash", Config{Method: Hash}},
	{"hash_consistent", Config{Method: Hash, Consistent: true}},
	{"random", Config{Method: Random}},
	{"random_two", Config{Method: Random, Two: true}},
	{"random_two_least_time", Config{Method: Random, Two: true, TwoLeastTime: true}},
}

func benchGroup(b *testing.B, n int, cfg Config) *Group {
	srv := make([]Server, n)
	for i := range srv {
		srv[i] = Server{Addr: "10.0." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250) + ":8080", Weight: 1 + i%3}
	}
	g, err := NewRegistry(nil).Build("bench", srv, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// BenchmarkPick measures one pick plus its Done, per method and group size,
// on one goroutine and on GOMAXPROCS goroutines.
func BenchmarkPick(b *testing.B) {
	keys := make([][]byte, 256)
	addrs := make([]netip.Addr, 256)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "/session/%d", i*7919)
		addrs[i] = netip.AddrFrom4([4]byte{192, byte(i), byte(i * 3), 1})
	}
	for _, m := range benchMethods {
		for _, n := range []int{2, 16, 1000} {
			b.Run(fmt.Sprintf("%s/%d/serial", m.name, n), func(b *testing.B) {
				g := benchGroup(b, n, m.cfg)
				var req Request
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					req.Reset()
					req.Key, req.Client = keys[i&255], addrs[i&255]
					i++
					sel, err := g.Pick(&req)
					if err != nil {
						b.Fatal(err)
					}
					sel.Done(Outcome{Latency: time.Millisecond})
				}
			})
			b.Run(fmt.Sprintf("%s/%d/parallel", m.name, n), func(b *testing.B) {
				g := benchGroup(b, n, m.cfg)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					var req Request
					i := 0
					for pb.Next() {
						req.Reset()
						req.Key, req.Client = keys[i&255], addrs[i&255]
						i++
						sel, err := g.Pick(&req)
						if err != nil {
							b.Error(err)
							return
						}
						sel.Done(Outcome{Latency: time.Millisecond})
					}
				})
			})
		}
	}
}
