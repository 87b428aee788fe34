package balance

import (
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
)

// ip_hash: nginx's ngx_http_upstream_get_ip_hash_peer. The key is the first
// three octets of an IPv4 client address or the whole IPv6 address; an
// IPv4-mapped IPv6 address counts as IPv4. A client without an IP address
// (unix socket) hashes as 0.0.0.
func (c *pickCtx) ipHash() *Peer {
	s, t, r := c.s, c.s.primary, c.req
	if !r.hashInit {
		r.hash, r.hashInit = 89, true
	}
	if r.hashTries > 20 || t.single {
		return s.pickRR(c)
	}
	var a16 [16]byte
	addr := a16[:3]
	if a := r.Client.Unmap(); a.Is4() {
		a4 := a.As4()
		copy(a16[:], a4[:3])
	} else if a.Is6() {
		a16 = a.As16()
		addr = a16[:]
	}
	h := r.hash
	for {
		for _, b := range addr {
			h = (h*113 + uint32(b)) % 6271
		}
		p := t.peers[t.at(int64(h)%t.total)]
		if c.usable(p) {
			r.hash = h
			return p
		}
		if r.hashTries++; r.hashTries > 20 {
			return s.pickRR(c)
		}
	}
}

// hash KEY: nginx's ngx_http_upstream_get_hash_peer, compatible with
// Cache::Memcached: ((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV_HASH.
func (c *pickCtx) hash() *Peer {
	s, t, r := c.s, c.s.primary, c.req
	if r.hashTries > 20 || t.single || len(r.Key) == 0 {
		return s.pickRR(c)
	}
	for {
		var h uint32
		if r.rehash > 0 {
			var buf [20]byte
			h = crc32.Update(0, crc32.IEEETable, strconv.AppendUint(buf[:0], uint64(r.rehash), 10))
		}
		h = crc32.Update(h, crc32.IEEETable, r.Key)
		r.hash += (h >> 16) & 0x7fff
		r.rehash++
		p := t.peers[t.at(int64(uint64(r.hash)%uint64(t.total)))]
		if c.usable(p) {
			return p
		}
		if r.hashTries++; r.hashTries > 20 {
			return s.pickRR(c)
		}
	}
}

// ring is the ketama continuum of "hash KEY consistent", built as nginx's
// ngx_http_upstream_init_chash builds it.
type ring struct {
	hashes []uint32 // sorted, unique
	names  []int32  // server name index of each point
	cands  [][]int  // server name index → servers (tier indices) with that name
}

type chashPoint struct {
	hash uint32
	name int32
}

func newRing(t *tier) *ring {
	rg := &ring{}
	nameIdx := make(map[string]int32)
	pts := make([]chashPoint, 0, t.total*160)
	for i, p := range t.peers {
		ni, ok := nameIdx[p.srv.Name]
		if !ok {
			ni = int32(len(rg.cands))
			nameIdx[p.srv.Name] = ni
			rg.cands = append(rg.cands, nil)
		}
		rg.cands[ni] = append(rg.cands[ni], i)
		host, port := chashHostPort(p.srv.Name)
		base := crc32.Update(0, crc32.IEEETable, []byte(host))
		base = crc32.Update(base, crc32.IEEETable, []byte{0})
		base = crc32.Update(base, crc32.IEEETable, []byte(port))
		var prev [4]byte // the previous point's hash, little-endian
		for range p.weight * 160 {
			h := crc32.Update(base, crc32.IEEETable, prev[:])
			pts = append(pts, chashPoint{h, ni})
			prev = [4]byte{byte(h), byte(h >> 8), byte(h >> 16), byte(h >> 24)}
		}
	}
	slices.SortStableFunc(pts, func(a, b chashPoint) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	pts = slices.CompactFunc(pts, func(a, b chashPoint) bool { return a.hash == b.hash })
	rg.hashes = make([]uint32, len(pts))
	rg.names = make([]int32, len(pts))
	for i, pt := range pts {
		rg.hashes[i], rg.names[i] = pt.hash, pt.name
	}
	return rg
}

// chashHostPort splits a server name as nginx does for the ring: "unix:"
// paths have no port; otherwise the port is the trailing run of digits after
// the last colon.
func chashHostPort(name string) (host, port string) {
	if len(name) >= 5 && strings.EqualFold(name[:5], "unix:") {
		return name[5:], ""
	}
	for j := 0; j < len(name); j++ {
		ch := name[len(name)-j-1]
		if ch == ':' {
			return name[:len(name)-j-1], name[len(name)-j:]
		}
		if ch < '0' || ch > '9' {
			break
		}
	}
	return name, ""
}

// find returns the index of the first point >= h (len(hashes) if none).
func (rg *ring) find(h uint32) uint32 {
	i, _ := slices.BinarySearch(rg.hashes, h)
	return uint32(i)
}

// chash: nginx's ngx_http_upstream_get_chash_peer. The key's crc32 selects a
// point; among the servers carrying the point's name the usable ones are
// chosen by smooth weighted round robin; when none is usable the next point
// is tried, up to 20 times, then round robin.
func (c *pickCtx) chash() *Peer {
	s, t, r, rg := c.s, c.s.primary, c.req, c.s.ring
	if r.hashTries > 20 || t.single || len(r.Key) == 0 {
		return s.pickRR(c)
	}
	if !r.hashInit {
		r.hash = rg.find(crc32.ChecksumIEEE(r.Key))
		r.hashInit = true
	}
	for {
		cands := rg.cands[rg.names[r.hash%uint32(len(rg.names))]]
		if len(cands) == 1 {
			if p := t.peers[cands[0]]; c.usable(p) {
				if ew := p.st.ew.Load(); ew < p.weight {
					p.st.ew.CompareAndSwap(ew, ew+1)
				}
				return p
			}
		} else if p := c.swrrAmong(t, cands); p != nil {
			return p
		}
		r.hash++
		if r.hashTries++; r.hashTries > 20 {
			return s.pickRR(c)
		}
	}
}

// swrrAmong runs nginx's smooth weighted round robin over some servers of t.
func (c *pickCtx) swrrAmong(t *tier, idx []int) *Peer {
	t.dirty() // the tier's current weights leave the schedule
	best := -1
	var bestCW, total int64
	for _, i := range idx {
		p := t.peers[i]
		if !c.usable(p) {
			continue
		}
		ew := p.st.ew.Load()
		cw := t.cw[i].Add(ew)
		total += ew
		if ew < p.weight {
			p.st.ew.CompareAndSwap(ew, ew+1)
		}
		if best < 0 || cw > bestCW {
			best, bestCW = i, cw
		}
	}
	if best < 0 {
		return nil
	}
	t.cw[best].Add(-total)
	return t.peers[best]
}
