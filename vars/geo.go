package vars

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
)

// GeoSpec describes a geo block: geo [Source] Variable { Lines }.
type GeoSpec struct {
	// Source is the variable holding the address, with its '$' (for example
	// "$arg_ip"), or empty for the client address ($remote_addr).
	Source   string
	Variable string // the variable created, with its '$'
	Lines    []Line
	Pos      string
	// HTTP enables the "proxy" and "proxy_recursive" parameters, which only
	// ngx_http_geo_module has. They take the address from X-Forwarded-For
	// (variable $http_x_forwarded_for) when the address is a trusted proxy.
	HTTP bool
}

type geoRange struct {
	start, end uint16
	val        string
}

type v6key struct {
	hi, lo uint64
	bits   uint8
}

type geoVar[T Context] struct {
	tab       *Table[T]
	src       Var
	xff       Var
	proxies   []netip.Prefix
	recursive bool

	ranges bool
	// CIDR mode: one map per address family, keyed by masked network.
	v4     map[uint64]string // bits<<32 | addr
	v4lens []uint8           // prefix lengths present, longest first
	v6     map[v6key]string
	v6lens []uint8
	// ranges mode, as nginx: per /16 block, sorted non-overlapping pieces.
	chunks map[uint16][]geoRange
	def    string
	hasDef bool
}

// AddGeo builds a geo block and defines its variable. In the default (CIDR)
// mode an address takes the value of the longest matching network, IPv4 and
// IPv6 alike (an IPv4-mapped IPv6 address is looked up as IPv4); "default"
// is the value of 0.0.0.0/0 and ::/0 (empty if not given). With "ranges"
// (first line of the block) entries are IPv4 ranges "a.b.c.d-e.f.g.h",
// inserted with nginx's rules (a range inside an existing one splits it; a
// partial overlap is an error). "delete" removes a network or range. An
// address that cannot be parsed is looked up as 255.255.255.255, as nginx
// does. Values are plain strings.
func (t *Table[T]) AddGeo(spec GeoSpec) error {
	name, err := varName(spec.Variable, spec.Pos)
	if err != nil {
		return err
	}
	g := &geoVar[T]{tab: t}
	src := "remote_addr"
	if spec.Source != "" {
		if src, err = varName(spec.Source, spec.Pos); err != nil {
			return err
		}
	}
	if g.src, err = t.Ref(src, spec.Pos); err != nil {
		return err
	}
	cidrStarted := false
	for _, ln := range spec.Lines {
		a := ln.Args
		if len(a) == 1 {
			switch {
			case a[0] == "ranges":
				if cidrStarted {
					return errorf(ln.Pos, "the \"ranges\" directive must be the first directive inside \"geo\" block")
				}
				g.ranges = true
				continue
			case a[0] == "proxy_recursive" && spec.HTTP:
				g.recursive = true
				continue
			}
		}
		if len(a) != 2 {
			return errorf(ln.Pos, "invalid number of the geo parameters")
		}
		switch {
		case a[0] == "include":
			return errorf(ln.Pos, "\"include\" in geo must be expanded by the configuration parser")
		case a[0] == "proxy" && spec.HTTP:
			p, err := t.parseNet(a[1], ln.Pos)
			if err != nil {
				return err
			}
			g.proxies = append(g.proxies, p)
			continue
		}
		if g.ranges {
			err = g.rangeLine(a, ln.Pos)
		} else {
			cidrStarted = true
			err = g.cidrLine(a, ln.Pos)
		}
		if err != nil {
			return err
		}
	}
	if !g.ranges {
		if g.v4 == nil {
			g.v4 = map[uint64]string{}
		}
		if g.v6 == nil {
			g.v6 = map[v6key]string{}
		}
		if _, ok := g.v4[0]; !ok {
			g.v4[0] = ""
		}
		if _, ok := g.v6[v6key{}]; !ok {
			g.v6[v6key{}] = ""
		}
		g.v4lens = lensOf(g.v4, func(k uint64) uint8 { return uint8(k >> 32) })
		g.v6lens = lensOf(g.v6, func(k v6key) uint8 { return k.bits })
	}
	if len(g.proxies) > 0 {
		if g.xff, err = t.Ref("http_x_forwarded_for", spec.Pos); err != nil {
			return err
		}
	}
	return t.defineComputed(name, spec.Pos, g.eval, true)
}

func lensOf[K comparable](m map[K]string, bits func(K) uint8) []uint8 {
	var seen [129]bool
	var out []uint8
	for k := range m {
		b := bits(k)
		if !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// parseNet parses a network as nginx's geo does: an address (a host
// network) or address/bits; set bits below the mask draw a warning and are
// cleared.
func (t *Table[T]) parseNet(s, pos string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, errorf(pos, "invalid network \"%s\"", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errorf(pos, "invalid network \"%s\"", s)
	}
	if m := p.Masked(); m != p {
		t.warnf(pos, "low address bits of %s are meaningless", s)
		p = m
	}
	return p, nil
}

func (g *geoVar[T]) cidrLine(a []string, pos string) error {
	if g.v4 == nil {
		g.v4 = map[uint64]string{}
		g.v6 = map[v6key]string{}
	}
	if a[0] == "default" {
		g.addNet(netip.PrefixFrom(netip.IPv4Unspecified(), 0), a[1], "default", pos)
		g.addNet(netip.PrefixFrom(netip.IPv6Unspecified(), 0), a[1], "default", pos)
		return nil
	}
	del := a[0] == "delete"
	netStr := a[0]
	if del {
		netStr = a[1]
	}
	p, err := g.tab.parseNet(netStr, pos)
	if err != nil {
		return err
	}
	if del {
		found := false
		if p.Addr().Is4() {
			k := v4Key(p)
			_, found = g.v4[k]
			delete(g.v4, k)
		} else {
			k := v6Key(p)
			_, found = g.v6[k]
			delete(g.v6, k)
		}
		if !found {
			g.tab.warnf(pos, "no network \"%s\" to delete", netStr)
		}
		return nil
	}
	g.addNet(p, a[1], netStr, pos)
	return nil
}

func (g *geoVar[T]) addNet(p netip.Prefix, val, netStr, pos string) {
	var old string
	var dup bool
	if p.Addr().Is4() {
		k := v4Key(p)
		old, dup = g.v4[k]
		g.v4[k] = val
	} else {
		k := v6Key(p)
		old, dup = g.v6[k]
		g.v6[k] = val
	}
	if dup {
		g.tab.warnf(pos, "duplicate network \"%s\", value: \"%s\", old value: \"%s\"", netStr, val, old)
	}
}

func v4Key(p netip.Prefix) uint64 {
	b := p.Addr().As4()
	return uint64(p.Bits())<<32 | uint64(binary.BigEndian.Uint32(b[:]))
}

func v6Key(p netip.Prefix) v6key {
	b := p.Addr().As16()
	return v6key{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), uint8(p.Bits())}
}

func (g *geoVar[T]) rangeLine(a []string, pos string) error {
	if a[0] == "default" {
		if g.hasDef {
			g.tab.warnf(pos, "duplicate default geo range value: \"%s\", old value: \"%s\"", a[1], g.def)
		}
		g.def, g.hasDef = a[1], true
		return nil
	}
	if g.chunks == nil {
		g.chunks = map[uint16][]geoRange{}
	}
	del := a[0] == "delete"
	netStr := a[0]
	if del {
		netStr = a[1]
	}
	dash := strings.IndexByte(netStr, '-')
	if dash < 0 {
		return errorf(pos, "invalid range \"%s\"", netStr)
	}
	start, ok1 := parseIPv4([]byte(netStr[:dash]))
	end, ok2 := parseIPv4([]byte(netStr[dash+1:]))
	if !ok1 || !ok2 || start == 0xffffffff || end == 0xffffffff || start > end {
		return errorf(pos, "invalid range \"%s\"", netStr)
	}
	if del {
		if g.deleteRange(start, end) {
			g.tab.warnf(pos, "no address range \"%s\" to delete", netStr)
		}
		return nil
	}
	return g.addRange(start, end, a[1], netStr, pos)
}

// forChunks calls f for each /16 block the range start-end touches, with the
// block number and the part of the range inside it.
func forChunks(start, end uint32, f func(h, s, e uint16) error) error {
	for n := uint64(start); n <= uint64(end); n = (n + 0x10000) &^ 0xffff {
		s := uint16(0)
		if n == uint64(start) {
			s = uint16(n)
		}
		e := uint16(0xffff)
		if n|0xffff > uint64(end) {
			e = uint16(end)
		}
		if err := f(uint16(n>>16), s, e); err != nil {
			return err
		}
	}
	return nil
}

func (g *geoVar[T]) addRange(start, end uint32, val, netStr, pos string) error {
	return forChunks(start, end, func(h, s, e uint16) error {
		a := g.chunks[h]
		for i := len(a) - 1; i >= 0; i-- {
			r := a[i]
			switch {
			case e < r.start:
				continue
			case s > r.end:
				a = slices.Insert(a, i+1, geoRange{s, e, val})
			case s == r.start && e == r.end:
				g.tab.warnf(pos, "duplicate range \"%s\", value: \"%s\", old value: \"%s\"", netStr, val, r.val)
				a[i].val = val
			case s > r.start && e < r.end:
				a[i].end = s - 1
				a = slices.Insert(a, i+1, geoRange{s, e, val}, geoRange{e + 1, r.end, r.val})
			case s == r.start && e < r.end:
				a[i] = geoRange{s, e, val}
				a = slices.Insert(a, i+1, geoRange{e + 1, r.end, r.val})
			case s > r.start && e == r.end:
				a[i].end = s - 1
				a = slices.Insert(a, i+1, geoRange{s, e, val})
			default:
				return errorf(pos, "range \"%s\" overlaps \"%d.%d.%d.%d-%d.%d.%d.%d\"", netStr,
					h>>8, h&0xff, r.start>>8, r.start&0xff, h>>8, h&0xff, r.end>>8, r.end&0xff)
			}
			g.chunks[h] = a
			return nil
		}
		// Before every existing piece (or the first one).
		g.chunks[h] = slices.Insert(a, 0, geoRange{s, e, val})
		return nil
	})
}

// deleteRange removes the pieces of start-end; it reports whether nginx
// would warn that there is nothing to delete.
func (g *geoVar[T]) deleteRange(start, end uint32) bool {
	warn := false
	for n := uint64(start); n <= uint64(end); n += 0x10000 {
		h := uint16(n >> 16)
		s := uint16(0)
		if n == uint64(start) {
			s = uint16(n)
		}
		e := uint16(0xffff)
		if n|0xffff > uint64(end) {
			e = uint16(end)
		}
		a, ok := g.chunks[h]
		if !ok {
			warn = true
			continue
		}
		for i := 0; i < len(a); i++ {
			if s == a[i].start && e == a[i].end {
				a = slices.Delete(a, i, i+1)
				break
			}
			if s != a[i].start && e != a[i].end {
				continue
			}
			warn = true
		}
		g.chunks[h] = a
	}
	return warn
}

// parseIPv4 parses a dotted quad as nginx's ngx_inet_addr does (decimal
// octets, exactly three dots).
func parseIPv4(b []byte) (uint32, bool) {
	var addr, octet uint32
	dots := 0
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			octet = octet*10 + uint32(c-'0')
			if octet > 255 {
				return 0, false
			}
		case c == '.':
			addr = addr<<8 + octet
			octet = 0
			dots++
		default:
			return 0, false
		}
	}
	if dots != 3 {
		return 0, false
	}
	return addr<<8 + octet, true
}

// parseAddr parses a variable value as nginx's ngx_parse_addr: IPv4 first,
// then IPv6. An IPv4-mapped IPv6 address is returned as IPv4.
func parseAddr(b []byte) (netip.Addr, bool) {
	if v4, ok := parseIPv4(b); ok && v4 != 0xffffffff {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], v4)
		return netip.AddrFrom4(a), true
	}
	if len(b) == 0 || strings.IndexByte(string(b), ':') < 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(string(b))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (g *geoVar[T]) eval(dst []byte, ctx T) ([]byte, bool) {
	start := len(dst)
	var addr netip.Addr
	valid := false
	if out, ok := g.tab.get(dst, ctx, g.src); ok {
		addr, valid = parseAddr(out[start:])
		dst = out
	}
	if valid && len(g.proxies) > 0 {
		if out, ok := g.tab.get(dst[:start], ctx, g.xff); ok {
			addr = g.forwarded(addr, out[start:])
			dst = out
		}
	}
	dst = dst[:start]
	return append(dst, g.lookup(addr, valid)...), true
}

func (g *geoVar[T]) trusted(a netip.Addr) bool {
	for _, p := range g.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwarded applies X-Forwarded-For as nginx's geo proxy does: while the
// current address is trusted, take the next address from the right.
func (g *geoVar[T]) forwarded(addr netip.Addr, xff []byte) netip.Addr {
	for g.trusted(addr) {
		end := len(xff)
		for end > 0 && (xff[end-1] == ' ' || xff[end-1] == ',') {
			end--
		}
		begin := end
		for begin > 0 && xff[begin-1] != ' ' && xff[begin-1] != ',' {
			begin--
		}
		if begin == end {
			return addr
		}
		next, ok := parseAddrPort(xff[begin:end])
		if !ok {
			return addr
		}
		addr = next
		xff = xff[:begin]
		if !g.recursive {
			return addr
		}
	}
	return addr
}

func parseAddrPort(b []byte) (netip.Addr, bool) {
	if a, ok := parseAddr(b); ok {
		return a, true
	}
	ap, err := netip.ParseAddrPort(string(b))
	if err != nil {
		if i := strings.LastIndexByte(string(b), ':'); i > 0 {
			if v4, ok := parseIPv4(b[:i]); ok && v4 != 0xffffffff {
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], v4)
				return netip.AddrFrom4(a), true
			}
		}
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

func (g *geoVar[T]) lookup(addr netip.Addr, valid bool) string {
	var v4 uint32 = 0xffffffff
	if valid {
		if addr.Is4() {
			b := addr.As4()
			v4 = binary.BigEndian.Uint32(b[:])
		} else if !g.ranges {
			b := addr.As16()
			hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
			for _, bits := range g.v6lens {
				k := v6key{bits: bits}
				switch {
				case bits == 0:
				case bits <= 64:
					k.hi = hi &^ (1<<(64-bits) - 1)
				default:
					k.hi = hi
					k.lo = lo &^ (1<<(128-uint(bits)) - 1)
				}
				if bits == 128 {
					k.lo = lo
				}
				if v, ok := g.v6[k]; ok {
					return v
				}
			}
			return ""
		}
	}
	if g.ranges {
		for _, r := range g.chunks[uint16(v4>>16)] {
			if n := uint16(v4); n >= r.start && n <= r.end {
				return r.val
			}
		}
		return g.def
	}
	for _, bits := range g.v4lens {
		var masked uint32
		if bits > 0 {
			masked = v4 &^ (1<<(32-uint(bits)) - 1)
		}
		if v, ok := g.v4[uint64(bits)<<32|uint64(masked)]; ok {
			return v
		}
	}
	return ""
}
