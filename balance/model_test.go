package balance

// A straightforward single-threaded transcription of nginx's upstream
// balancers (round robin with backups, least_conn, ip_hash, hash, hash
// consistent, random, random two), used as the reference the package must
// reproduce pick for pick.

import (
	"fmt"
	"hash/crc32"
	"net/netip"
	"sort"
	"strconv"
	"testing"
	"time"
)

type mPeer struct {
	name              string
	server            string
	w, ew, cw         int64
	fails, maxFails   int
	checked, accessed int64
	failTO            int64
	down              bool
	conns, maxConns   int
}

type mTier struct {
	peers  []*mPeer
	single bool
	total  int64
}

type model struct {
	prim, back *mTier
	now        int64
	rand       Rand
	points     []mPoint
}

type mPoint struct {
	hash   uint32
	server string
}

type mReq struct {
	tried         map[*mPeer]bool
	tries, rehash int
	hash          uint32
	hashInit      bool
	key           []byte
	client        netip.Addr
	inBackup      bool
}

func newModel(srv []Server, rnd Rand) *model {
	m := &model{rand: rnd}
	var prim, back []*mPeer
	for _, s := range srv {
		d := s.withDefaults()
		p := &mPeer{name: d.Addr, server: d.Name, w: int64(d.Weight), ew: int64(d.Weight),
			maxFails: d.MaxFails, failTO: int64(d.FailTimeout), down: d.Down, maxConns: d.MaxConns}
		if d.Backup {
			back = append(back, p)
		} else {
			prim = append(prim, p)
		}
	}
	mk := func(ps []*mPeer) *mTier {
		t := &mTier{peers: ps}
		for _, p := range ps {
			t.total += p.w
		}
		return t
	}
	m.prim = mk(prim)
	m.prim.single = len(prim) == 1 && len(back) == 0
	if len(back) > 0 {
		m.back = mk(back)
	}
	for _, p := range prim {
		host, port := chashHostPort(p.server)
		base := crc32.ChecksumIEEE(append(append([]byte(host), 0), port...))
		var prev [4]byte
		for range p.w * 160 {
			h := crc32.Update(base, crc32.IEEETable, prev[:])
			m.points = append(m.points, mPoint{h, p.server})
			prev = [4]byte{byte(h), byte(h >> 8), byte(h >> 16), byte(h >> 24)}
		}
	}
	sort.SliceStable(m.points, func(i, j int) bool { return m.points[i].hash < m.points[j].hash })
	out := m.points[:0]
	for _, pt := range m.points {
		if len(out) == 0 || out[len(out)-1].hash != pt.hash {
			out = append(out, pt)
		}
	}
	m.points = out
	return m
}

func (m *model) avail(p *mPeer, r *mReq) bool {
	if r.tried[p] || p.down {
		return false
	}
	if p.maxFails > 0 && p.fails >= p.maxFails && m.now-p.checked <= p.failTO {
		return false
	}
	if p.maxConns > 0 && p.conns >= p.maxConns {
		return false
	}
	return true
}

func (m *model) took(p *mPeer, r *mReq) *mPeer {
	p.conns++
	if m.now-p.checked > p.failTO {
		p.checked = m.now
	}
	r.tried[p] = true
	return p
}

// ngx_http_upstream_get_peer
func (m *model) getPeer(t *mTier, r *mReq) *mPeer {
	var best *mPeer
	var total int64
	for _, p := range t.peers {
		if !m.avail(p, r) {
			continue
		}
		p.cw += p.ew
		total += p.ew
		if p.ew < p.w {
			p.ew++
		}
		if best == nil || p.cw > best.cw {
			best = p
		}
	}
	if best == nil {
		return nil
	}
	best.cw -= total
	return best
}

// ngx_http_upstream_get_round_robin_peer (with the per-tier function get).
func (m *model) tiers(r *mReq, get func(*mTier, *mReq) *mPeer) *mPeer {
	t := m.prim
	if t.single {
		p := t.peers[0]
		if !p.down && !r.tried[p] && (p.maxConns == 0 || p.conns < p.maxConns) {
			return m.took(p, r)
		}
	} else if p := get(t, r); p != nil {
		return m.took(p, r)
	}
	if m.back != nil {
		if p := get(m.back, r); p != nil {
			return m.took(p, r)
		}
	}
	return nil // nginx 1.22 keeps the failures (no "mark them as live")
}

func (m *model) rr(r *mReq) *mPeer { return m.tiers(r, m.getPeer) }

// ngx_http_upstream_get_least_conn_peer
func (m *model) leastConn(t *mTier, r *mReq) *mPeer {
	var best *mPeer
	many := false
	bi := 0
	for i, p := range t.peers {
		if !m.avail(p, r) {
			continue
		}
		if best == nil || int64(p.conns)*best.w < int64(best.conns)*p.w {
			best, many, bi = p, false, i
		} else if int64(p.conns)*best.w == int64(best.conns)*p.w {
			many = true
		}
	}
	if best == nil {
		return nil
	}
	if many {
		var total int64
		for _, p := range t.peers[bi:] {
			if !m.avail(p, r) || int64(p.conns)*best.w != int64(best.conns)*p.w {
				continue
			}
			p.cw += p.ew
			total += p.ew
			if p.ew < p.w {
				p.ew++
			}
			if p.cw > best.cw {
				best = p
			}
		}
		best.cw -= total
	}
	return best
}

func (m *model) walk(w int64) *mPeer {
	for _, p := range m.prim.peers {
		if w < p.w {
			return p
		}
		w -= p.w
	}
	panic("walk")
}

func (m *model) ipHash(r *mReq) *mPeer {
	if !r.hashInit {
		r.hash, r.hashInit = 89, true
	}
	if r.tries > 20 || m.prim.single {
		return m.rr(r)
	}
	addr := []byte{0, 0, 0}
	if a := r.client.Unmap(); a.Is4() {
		b := a.As4()
		addr = b[:3]
	} else if a.Is6() {
		b := a.As16()
		addr = b[:]
	}
	h := r.hash
	for {
		for _, b := range addr {
			h = (h*113 + uint32(b)) % 6271
		}
		p := m.walk(int64(h) % m.prim.total)
		if m.avail(p, r) {
			r.hash = h
			return m.took(p, r)
		}
		r.tries++
		if r.tries > 20 {
			return m.rr(r)
		}
	}
}

func (m *model) hash(r *mReq) *mPeer {
	if r.tries > 20 || m.prim.single || len(r.key) == 0 {
		return m.rr(r)
	}
	for {
		var in []byte
		if r.rehash > 0 {
			in = strconv.AppendInt(in, int64(r.rehash), 10)
		}
		in = append(in, r.key...)
		r.hash += (crc32.ChecksumIEEE(in) >> 16) & 0x7fff
		r.rehash++
		p := m.walk(int64(uint64(r.hash) % uint64(m.prim.total)))
		if m.avail(p, r) {
			return m.took(p, r)
		}
		r.tries++
		if r.tries > 20 {
			return m.rr(r)
		}
	}
}

func (m *model) chash(r *mReq) *mPeer {
	if r.tries > 20 || m.prim.single || len(r.key) == 0 {
		return m.rr(r)
	}
	if !r.hashInit {
		h := crc32.ChecksumIEEE(r.key)
		r.hash = uint32(sort.Search(len(m.points), func(i int) bool { return m.points[i].hash >= h }))
		r.hashInit = true
	}
	for {
		server := m.points[r.hash%uint32(len(m.points))].server
		var best *mPeer
		var total int64
		for _, p := range m.prim.peers {
			if !m.avail(p, r) || p.server != server {
				continue
			}
			p.cw += p.ew
			total += p.ew
			if p.ew < p.w {
				p.ew++
			}
			if best == nil || p.cw > best.cw {
				best = p
			}
		}
		if best != nil {
			best.cw -= total
			return m.took(best, r)
		}
		r.hash++
		r.tries++
		if r.tries > 20 {
			return m.rr(r)
		}
	}
}

func (m *model) peek() *mPeer {
	return m.walk(int64(m.rand.Uint64() % uint64(m.prim.total)))
}

func (m *model) random(r *mReq) *mPeer {
	if r.tries > 20 || len(m.prim.peers) < 2 {
		return m.rr(r)
	}
	for {
		p := m.peek()
		if m.avail(p, r) {
			return m.took(p, r)
		}
		r.tries++
		if r.tries > 20 {
			return m.rr(r)
		}
	}
}

func (m *model) random2(r *mReq) *mPeer {
	if r.tries > 20 || len(m.prim.peers) < 2 {
		return m.rr(r)
	}
	var prev *mPeer
	for {
		p := m.peek()
		if p != prev && m.avail(p, r) {
			if prev != nil {
				if int64(p.conns)*prev.w > int64(prev.conns)*p.w {
					p = prev
				}
				return m.took(p, r)
			}
			prev = p
		}
		r.tries++
		if r.tries > 20 {
			return m.rr(r)
		}
	}
}

// ngx_http_upstream_free_round_robin_peer
func (m *model) free(p *mPeer, failed bool) {
	if m.prim.single {
		p.conns--
		return
	}
	if failed {
		p.fails++
		p.accessed, p.checked = m.now, m.now
		if p.maxFails > 0 {
			p.ew -= p.w / int64(p.maxFails)
		}
		if p.ew < 0 {
			p.ew = 0
		}
	} else if p.accessed < p.checked {
		p.fails = 0
	}
	p.conns--
}

func (m *model) pick(cfg Config, r *mReq) *mPeer {
	switch cfg.Method {
	case LeastConn:
		return m.tiers(r, m.leastConn)
	case IPHash:
		return m.ipHash(r)
	case Hash:
		if cfg.Consistent {
			return m.chash(r)
		}
		return m.hash(r)
	case Random:
		if cfg.Two {
			return m.random2(r)
		}
		return m.random(r)
	}
	return m.rr(r)
}

// TestMatchesNginxModel drives the package and the reference with the same
// random scenario — picks that succeed or fail, retries with a tried set,
// connections held open, clock jumps past fail_timeout — and requires the
// same server at every step.
func TestMatchesNginxModel(t *testing.T) {
	type variant struct {
		name string
		cfg  Config
		srv  func(i int) []Server
	}
	mixed := func(i int) []Server {
		s := servers(5, 1, 1, 3, 2)
		s[1].MaxFails = 2
		s[3].MaxFails = 3
		s[4].FailTimeout = 3 * time.Second
		if i%3 == 1 {
			s[2].Down = true
		}
		if i%4 == 2 {
			s[0].MaxConns = 2
		}
		if i%5 == 3 {
			s[4].MaxFails = MaxFailsOff
		}
		return s
	}
	withBackup := func(i int) []Server {
		s := mixed(i)
		return append(s, Server{Addr: "x:1", Backup: true, Weight: 2}, Server{Addr: "y:1", Backup: true})
	}
	variants := []variant{
		{"round_robin", Config{}, mixed},
		{"round_robin/backup", Config{}, withBackup},
		{"round_robin/single", Config{}, func(int) []Server { return servers(2) }},
		{"least_conn", Config{Method: LeastConn}, withBackup},
		{"ip_hash", Config{Method: IPHash}, mixed},
		{"hash", Config{Method: Hash}, mixed},
		{"hash_consistent", Config{Method: Hash, Consistent: true}, func(i int) []Server {
			s := mixed(i)
			s[2].Name = s[1].Name // two addresses of one server name
			return s
		}},
		{"random", Config{Method: Random}, mixed},
		{"random_two", Config{Method: Random, Two: true}, mixed},
	}
	for _, v := range variants {
		for run := range 12 {
			t.Run(fmt.Sprintf("%s/%d", v.name, run), func(t *testing.T) {
				compareWithModel(t, v.cfg, v.srv(run), uint64(run))
			})
		}
	}
}

func compareWithModel(t *testing.T, cfg Config, srv []Server, seed uint64) {
	clock := newFakeClock()
	cfg.Rand = newRand(seed + 1000)
	reg := NewRegistry(clock)
	g := mustBuild(t, reg, srv, cfg)
	m := newModel(srv, newRand(seed+1000))
	m.now = reg.now()
	byName := map[string]*mPeer{}
	for _, tr := range []*mTier{m.prim, m.back} {
		if tr != nil {
			for _, p := range tr.peers {
				byName[p.name] = p
			}
		}
	}
	script := newRand(seed)
	type held struct {
		sel Selection
		mp  *mPeer
	}
	var open []held
	var hist string
	for step := range 400 {
		x := script.Uint64()
		switch {
		case x%23 == 0:
			clock.Advance(time.Duration(x>>8%12) * time.Second)
			hist += fmt.Sprintf("(+%ds)", x>>8%12)
			m.now = reg.now()
			continue
		case x%7 == 0 && len(open) > 0:
			h := open[0]
			open = open[1:]
			h.sel.Done(Outcome{})
			hist += "<" + h.sel.Peer.Addr()[:1]
			m.free(h.mp, false)
			continue
		}
		var req Request
		mr := &mReq{tried: map[*mPeer]bool{}}
		ip := netip.AddrFrom4([4]byte{10, byte(x >> 8), byte(x >> 16), byte(x >> 24)})
		if x%5 == 0 {
			ip = netip.AddrFrom16([16]byte{0x20, 1, 13, 184, byte(x >> 8), 7: byte(x >> 16), 15: byte(x >> 24)})
		}
		req.Client, mr.client = ip, ip
		req.Key = []byte(strconv.FormatUint(x>>40, 10))
		mr.key = req.Key
		for attempt := 0; ; attempt++ {
			sel, err := g.Pick(&req)
			mp := m.pick(cfg, mr)
			got, want := "-", "-"
			if err == nil {
				got = sel.Peer.Addr()
			}
			if mp != nil {
				want = mp.name
			}
			if got != want {
				t.Fatalf("step %d attempt %d: picked %s, nginx picks %s\nhistory: %s", step, attempt, got, want, hist)
			}
			hist += got[:1]
			if err != nil {
				break
			}
			y := script.Uint64()
			if y%9 == 0 {
				open = append(open, held{sel, mp})
				hist += ">"
				break
			}
			failed := y%4 == 0
			if failed {
				hist += "!"
			}
			sel.Done(Outcome{Failed: failed})
			m.free(mp, failed)
			if !failed || attempt >= 3 {
				break
			}
		}
	}
	for _, p := range g.Peers() {
		mp := byName[p.Addr()]
		if p.Active() != mp.conns {
			t.Errorf("%s: active %d, nginx %d", p.Addr(), p.Active(), mp.conns)
		}
	}
}
