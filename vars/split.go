package vars

// SplitSpec describes a split_clients block:
// split_clients Source Variable { percent value; ... * value; }.
type SplitSpec struct {
	Source   string // the string hashed, a complex value such as "${remote_addr}AAA"
	Variable string // the variable created, with its '$'
	Lines    []Line
	Pos      string
}

type splitPart struct {
	limit uint32 // the value applies to hashes below limit; 0 is "*"
	val   string
}

type splitVar[T Context] struct {
	src   *Template[T]
	parts []splitPart
}

// AddSplitClients builds a split_clients block and defines its variable. The
// source string is hashed with MurmurHash2 and the hash picks the value whose
// cumulative share of the 32-bit range contains it, with nginx's integer
// arithmetic, so that every key lands in the same bucket as under nginx.
// Percentages have at most two decimals and must total at most 100%; "*"
// takes the rest. A hash beyond every share yields the empty string.
func (t *Table[T]) AddSplitClients(spec SplitSpec) error {
	name, err := varName(spec.Variable, spec.Pos)
	if err != nil {
		return err
	}
	src, err := t.Compile(spec.Source, spec.Pos)
	if err != nil {
		return err
	}
	sv := &splitVar[T]{src: src}
	var pct []uint32
	for _, ln := range spec.Lines {
		a := ln.Args
		if len(a) != 2 {
			return errorf(ln.Pos, "invalid number of the split_clients parameters")
		}
		var p uint32
		if a[0] != "*" {
			n, ok := parsePercent(a[0])
			if !ok || n == 0 {
				return errorf(ln.Pos, "invalid percent value \"%s\"", a[0])
			}
			p = n
		}
		pct = append(pct, p)
		sv.parts = append(sv.parts, splitPart{val: a[1]})
	}
	var sum uint32
	var last uint32
	for i, p := range pct {
		if p == 0 {
			sum = 10000
		} else {
			sum += p
		}
		if sum > 10000 {
			return errorf(spec.Pos, "percent total is greater than 100%%")
		}
		if p != 0 {
			last += uint32(uint64(p) * 0xffffffff / 10000)
			sv.parts[i].limit = last
		}
	}
	return t.defineComputed(name, spec.Pos, func(dst []byte, ctx T) ([]byte, bool) {
		return sv.eval(dst, ctx), true
	}, true)
}

func (sv *splitVar[T]) eval(dst []byte, ctx T) []byte {
	start := len(dst)
	dst = sv.src.Append(dst, ctx)
	h := MurmurHash2(dst[start:])
	dst = dst[:start]
	for _, p := range sv.parts {
		if h < p.limit || p.limit == 0 {
			return append(dst, p.val...)
		}
	}
	return dst
}

// parsePercent parses "NN[.DD]%" into hundredths of a percent, as nginx's
// ngx_atofp(value, 2) does.
func parsePercent(s string) (uint32, bool) {
	if len(s) < 2 || s[len(s)-1] != '%' {
		return 0, false
	}
	s = s[:len(s)-1]
	var v uint64
	dot, frac := false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if dot {
				return 0, false
			}
			dot = true
			continue
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		if dot {
			frac++
			if frac > 2 {
				return 0, false
			}
		}
		v = v*10 + uint64(c-'0')
		if v > 1<<32 {
			return 0, false
		}
	}
	for ; frac < 2; frac++ {
		v *= 10
	}
	if v > 1<<31 {
		return 0, false
	}
	return uint32(v), true
}

// MurmurHash2 is the 32-bit MurmurHash2 with seed 0 that nginx uses
// (ngx_murmur_hash2), for split_clients and elsewhere.
func MurmurHash2(data []byte) uint32 {
	const m = 0x5bd1e995
	h := uint32(len(data))
	for len(data) >= 4 {
		k := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
		k *= m
		k ^= k >> 24
		k *= m
		h *= m
		h ^= k
		data = data[4:]
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
