package balance

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"
	"unsafe"
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
				b.ResetTimer() // building a group of 1000 takes milliseconds
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

// TestPeerStateLayout checks what the scans' speed relies on: a peerState
// fills one 128-byte size class, so it is 128-aligned, and the fields every
// scan reads share its first cache line.
func TestPeerStateLayout(t *testing.T) {
	var st peerState
	if n := unsafe.Sizeof(st); n != 128 {
		t.Errorf("peerState is %d bytes, want 128", n)
	}
	for _, f := range []struct {
		name     string
		off, len uintptr
	}{
		{"use", unsafe.Offsetof(st.use), unsafe.Sizeof(st.use)},
		{"fails", unsafe.Offsetof(st.fails), unsafe.Sizeof(st.fails)},
		{"excl", unsafe.Offsetof(st.excl), unsafe.Sizeof(st.excl)},
		{"slowSince", unsafe.Offsetof(st.slowSince), unsafe.Sizeof(st.slowSince)},
		{"ewma", unsafe.Offsetof(st.ewma), unsafe.Sizeof(st.ewma)},
		{"ewmaStamp", unsafe.Offsetof(st.ewmaStamp), unsafe.Sizeof(st.ewmaStamp)},
		{"lastPick", unsafe.Offsetof(st.lastPick), unsafe.Sizeof(st.lastPick)},
		{"startN", unsafe.Offsetof(st.startN), unsafe.Sizeof(st.startN)},
	} {
		if f.off+f.len > 64 {
			t.Errorf("peerState.%s at offset %d is outside the first cache line", f.name, f.off)
		}
	}
	reg := NewRegistry(nil)
	g := mustBuild(t, reg, servers(1, 1, 1), Config{})
	for _, p := range g.Peers() {
		if a := uintptr(unsafe.Pointer(p.st)); a%64 != 0 {
			t.Errorf("peerState of %s at %#x is not cache-line aligned", p.Addr(), a)
		}
	}
}
