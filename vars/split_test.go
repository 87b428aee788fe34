package vars

import (
	"fmt"
	"math"
	"testing"
)

func TestSplitClientsErrors(t *testing.T) {
	tests := []struct{ spec, msg string }{
		{"0% a;", `invalid percent value "0%"`},
		{"50.555% a;", `invalid percent value "50.555%"`},
		{"50 a;", `invalid percent value "50"`},
		{"x% a;", `invalid percent value "x%"`},
		{"60% a; 50% b;", "percent total is greater than 100%"},
		{"* a; 50% b;", "percent total is greater than 100%"},
		{"50%;", "invalid number of the split_clients parameters"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			tab := newTable(t)
			checkErr(t, tab.AddSplitClients(SplitSpec{Source: "$host", Variable: "$v", Lines: lines(tc.spec)}), tc.msg)
		})
	}
}

func TestParsePercent(t *testing.T) {
	for in, want := range map[string]uint32{"1%": 100, "0.5%": 50, ".5%": 50, "33.33%": 3333, "100%": 10000, "2.%": 200} {
		if got, ok := parsePercent(in); !ok || got != want {
			t.Errorf("parsePercent(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}

// TestSplitClientsShares checks the shares over many keys: each bucket gets
// its percentage within a few standard deviations, and a block not summing
// to 100% leaves the rest empty.
func TestSplitClientsShares(t *testing.T) {
	tab := newTable(t)
	must(t, tab.AddSplitClients(SplitSpec{Source: "${arg_k}AAA", Variable: "$v",
		Lines: lines("10% a; 25.5% b; 40% c;")}))
	tp := tab.MustCompile("$v")
	must(t, tab.Freeze())
	const n = 20000
	counts := map[string]int{}
	for i := range n {
		r := newReq()
		r.args.Set("k", fmt.Sprint(i))
		counts[string(tp.Append(nil, r))]++
	}
	for v, pct := range map[string]float64{"a": 10, "b": 25.5, "c": 40, "": 24.5} {
		p := pct / 100
		sd := math.Sqrt(n * p * (1 - p))
		if d := math.Abs(float64(counts[v]) - n*p); d > 5*sd {
			t.Errorf("bucket %q: %d of %d, want about %.0f", v, counts[v], n, n*p)
		}
	}
}

// TestMurmurHash2Properties checks the hash against an independent
// byte-at-a-time reading of the algorithm's definition for many lengths.
func TestMurmurHash2Properties(t *testing.T) {
	ref := func(b []byte) uint32 {
		const m = 0x5bd1e995
		h := uint32(len(b))
		i := 0
		for ; i+4 <= len(b); i += 4 {
			var k uint32
			for j := 3; j >= 0; j-- {
				k = k<<8 | uint32(b[i+j])
			}
			k *= m
			k ^= k >> 24
			k *= m
			h = h*m ^ k
		}
		rest := b[i:]
		for j := len(rest) - 1; j >= 0; j-- {
			h ^= uint32(rest[j]) << (8 * j)
		}
		if len(rest) > 0 {
			h *= m
		}
		h ^= h >> 13
		h *= m
		return h ^ h>>15
	}
	buf := make([]byte, 0, 64)
	for n := range 40 {
		buf = append(buf, byte(n*37+11))
		if got, want := MurmurHash2(buf), ref(buf); got != want {
			t.Fatalf("len %d: %08x, want %08x", len(buf), got, want)
		}
	}
}
