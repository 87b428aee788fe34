package balance

import (
	"fmt"
	"sync/atomic"
)

// Group is the set of servers of one upstream and the method that picks
// among them. Its server list is an immutable snapshot replaced atomically by
// Update; per-server state lives in the Registry. Pick is lock-free and does
// not allocate. A Group is safe for concurrent use.
type Group struct {
	name string
	reg  *Registry
	cfg  Config
	snap atomic.Pointer[snapshot]
	// nextID is the number the next new server takes (Peer.ID); guarded
	// by reg.mu.
	nextID int
}

// snapshot is one immutable server list with its precomputed tables.
type snapshot struct {
	g        *Group
	rand     Rand
	sysRand  bool    // rand is globalRand
	peers    []*Peer // primaries then backups, in configuration order
	primary  *tier
	backup   *tier // nil without backup servers
	byAddr   map[string]*Peer
	ring     *ring       // hash consistent
	timed    bool        // least_time bookkeeping needed
	inflight bool        // timed, with least_time's inflight accounting
	seeded   atomic.Bool // lt.seed has been set

	// lt is written by Done from every core: keep it off the line holding
	// the fields every pick reads.
	_  [64]byte
	lt ltState
	_  [56]byte
}

// Build creates a group named name (the upstream's name) over servers.
// Per-server state is taken from the registry when a server with the same
// address was part of a group of this name before, so a rebuilt group keeps
// active counts, failures, health and latency estimates; servers no longer
// listed are dropped from the registry. Servers new to an existing group
// start with slow_start, if they have one.
//
// Build returns an error for a configuration nginx refuses: no primary
// server, a parameter out of range, or backup (or slow_start) with hash,
// ip_hash or random.
func (r *Registry) Build(name string, servers []Server, cfg Config) (*Group, error) {
	g := &Group{name: name, reg: r, cfg: cfg}
	if err := g.Update(servers); err != nil {
		return nil, err
	}
	return g, nil
}

// Update replaces the group's server list (for example after DNS
// re-resolution). Picks in progress finish on the old list; the smooth round
// robin position restarts, as after an nginx reload.
func (g *Group) Update(servers []Server) error {
	cfg := g.cfg
	if cfg.Method < RoundRobin || cfg.Method > LeastTime {
		return fmt.Errorf("balance: upstream %q: unknown balancing method %d", g.name, cfg.Method)
	}
	noBackup := cfg.Method == Hash || cfg.Method == IPHash || cfg.Method == Random
	nprim := 0
	for _, s := range servers {
		if err := s.validate(g.name); err != nil {
			return err
		}
		if noBackup && s.Backup {
			return fmt.Errorf("balance: upstream %q: server %q: backup cannot be used with %s", g.name, s.Addr, cfg.Method)
		}
		if noBackup && s.SlowStart > 0 {
			return fmt.Errorf("balance: upstream %q: server %q: slow_start cannot be used with %s", g.name, s.Addr, cfg.Method)
		}
		if !s.Backup {
			nprim++
		}
	}
	if nprim == 0 {
		return fmt.Errorf("balance: upstream %q: no servers", g.name)
	}

	s := &snapshot{g: g, rand: cfg.Rand, byAddr: make(map[string]*Peer, len(servers))}
	if s.rand == nil {
		s.rand, s.sysRand = globalRand{}, true
	}
	s.timed = cfg.Method == LeastTime || (cfg.Method == Random && cfg.Two && cfg.TwoLeastTime)
	s.inflight = s.timed && cfg.Inflight

	// Servers that stay keep their numbers (Peer.ID).
	ids := map[peerKey]int{}
	if old := g.snap.Load(); old != nil {
		for _, p := range old.peers {
			ids[peerKey{group: g.name, addr: p.srv.Addr, dup: p.dup}] = p.id
		}
	}

	r := g.reg
	r.mu.Lock()
	existed := r.groups[g.name]
	r.groups[g.name] = true
	now := r.now()
	keep := make(map[peerKey]bool, len(servers))
	dups := make(map[string]int, len(servers))
	var prim, back []*Peer
	for _, srv := range servers {
		d := srv.withDefaults()
		k := peerKey{group: g.name, addr: d.Addr, dup: dups[d.Addr]}
		dups[d.Addr]++
		keep[k] = true
		st, created := r.acquire(k)
		p := &Peer{
			srv: d, backup: d.Backup, st: st, group: g, plain: !d.Down && d.MaxConns == 0,
			weight:   int64(d.Weight),
			maxFails: int32(d.MaxFails),
			maxConns: int32(d.MaxConns),
			failTO:   int64(d.FailTimeout),
			slowTO:   int64(d.SlowStart),
			dup:      k.dup,
		}
		if id, ok := ids[k]; ok {
			p.id = id
		} else {
			p.id = g.nextID
			g.nextID++
		}
		p.network, p.address = network(d.Addr)
		if st.weight.Swap(p.weight) != p.weight || created {
			st.ew.Store(p.weight)
		}
		if !d.Drain && !created {
			// Drain comes from the configuration on every build; run-time
			// changes last until the next one.
			st.setExcl(exclDrain, false)
		} else if d.Drain {
			st.setExcl(exclDrain, true)
		}
		if created && existed {
			p.slowPending = true
		}
		st.owner.Store(g)
		if d.Backup {
			back = append(back, p)
		} else {
			prim = append(prim, p)
		}
		if _, ok := s.byAddr[d.Addr]; !ok {
			s.byAddr[d.Addr] = p
		}
	}
	for k := range r.peers {
		if k.group == g.name && !keep[k] {
			delete(r.peers, k)
		}
	}
	r.mu.Unlock()

	single := len(prim) == 1 && len(back) == 0
	s.peers = append(prim, back...)
	for _, p := range s.peers {
		if p.slowPending && p.slowTO > 0 && !single {
			p.st.slowSince.Store(now)
		}
		p.slowPending = false
	}
	s.primary = newTier(prim, false, single)
	if len(back) > 0 {
		s.backup = newTier(back, true, false)
	}
	if cfg.Method == Hash && cfg.Consistent {
		s.ring = newRing(s.primary)
	}
	g.snap.Store(s)
	return nil
}

// Name returns the upstream name the group was built with.
func (g *Group) Name() string { return g.name }

// Config returns the group's balancing configuration.
func (g *Group) Config() Config { return g.cfg }

// Metric returns what least_time compares, that is, what the proxy should
// measure and report in Outcome.Latency.
func (g *Group) Metric() Metric { return g.cfg.Metric }

// Peers returns the servers, primaries first, in configuration order. The
// slice is shared and must not be modified.
func (g *Group) Peers() []*Peer { return g.snap.Load().peers }

// Lookup returns the server with the given address, or nil.
func (g *Group) Lookup(addr string) *Peer { return g.snap.Load().byAddr[addr] }

// SetHealthy marks the server with address addr healthy or unhealthy and
// reports whether such a server exists.
func (g *Group) SetHealthy(addr string, healthy bool) bool {
	p := g.Lookup(addr)
	if p != nil {
		p.SetHealthy(healthy)
	}
	return p != nil
}

// Stats appends the statistics of every server to dst and returns it.
func (g *Group) Stats(dst []PeerStats) []PeerStats {
	for _, p := range g.Peers() {
		dst = append(dst, p.Stats())
	}
	return dst
}

// dirty tells the group's tiers that some server left the nominal state.
func (g *Group) dirty() {
	s := g.snap.Load()
	if s == nil {
		return
	}
	s.primary.changed()
	if s.backup != nil {
		s.backup.changed()
	}
}

// Pick chooses a server for req with the group's method and accounts an
// attempt on it; the caller must call Done on the result. It returns
// ErrNoPeer when no server can be used. Pick is lock-free, allocation-free
// and safe for concurrent use (req itself must not be shared).
func (g *Group) Pick(req *Request) (Selection, error) {
	for range maxTakeRaces {
		if sel, ok, err := g.pick(req); ok {
			return sel, err
		}
	}
	return Selection{}, ErrNoPeer
}

// maxTakeRaces is how many times Pick chooses again when the server it
// chose reached its max_conns on another core meanwhile.
const maxTakeRaces = 8

// pick is one try of Pick: ok is false when the chosen server could not
// be taken (see take).
func (g *Group) pick(req *Request) (Selection, bool, error) {
	s := g.snap.Load()
	c := pickCtx{s: s, req: req}
	var p *Peer
	switch g.cfg.Method {
	case RoundRobin:
		p = s.pickRR(&c)
	case LeastConn:
		if p = c.least(s.primary, false); p == nil && s.backup != nil {
			p = c.least(s.backup, false)
		}
	case LeastTime:
		if p = c.least(s.primary, true); p == nil && s.backup != nil {
			p = c.least(s.backup, true)
		}
	case IPHash:
		p = c.ipHash()
	case Hash:
		if s.ring != nil {
			p = c.chash()
		} else {
			p = c.hash()
		}
	case Random:
		if g.cfg.Two {
			p = c.random2()
		} else {
			p = c.random()
		}
	}
	if p == nil {
		// nginx 1.22 keeps the failures: the group answers "no live
		// upstreams" until a fail_timeout passes.
		return Selection{}, true, ErrNoPeer
	}
	sel, ok := c.take(p)
	return sel, ok, nil
}

// PickPeer picks p, a server of g, for req, as session persistence (NGINX
// Plus sticky) does for a request bound to p: it succeeds when p may take
// the request and then accounts the attempt exactly as Pick does (the
// caller must call Done on the result). p may take it unless it is down,
// unhealthy (or not checked yet under a mandatory health check), failed
// (max_fails within fail_timeout), at max_conns, already tried by req, or
// no longer a server of g; a draining server still takes the requests bound
// to it, and slow start does not hold them back. The method's own state (the
// round-robin position) is not moved. PickPeer returns ErrNoPeer when p may
// not take the request; the caller then uses Pick. It is lock-free,
// allocation-free and safe for concurrent use.
func (g *Group) PickPeer(p *Peer, req *Request) (Selection, error) {
	if p == nil || p.group != g {
		return Selection{}, ErrNoPeer
	}
	s := g.snap.Load()
	if t := p.tier; t == nil || p.idx >= len(t.peers) || t.peers[p.idx] != p || (t != s.primary && t != s.backup) {
		return Selection{}, ErrNoPeer // from a previous server list
	}
	c := pickCtx{s: s, req: req}
	st := p.st
	switch {
	case p.srv.Down, st.excl.Load()&^exclDrain != 0, req.Tried.has(st.id),
		p.maxConns > 0 && st.conns() >= p.maxConns:
		return Selection{}, ErrNoPeer
	case p.maxFails > 0 && st.fails.Load() >= p.maxFails && c.time()-st.checked.Load() <= p.failTO:
		return Selection{}, ErrNoPeer
	}
	if sel, ok := c.take(p); ok {
		return sel, nil
	}
	return Selection{}, ErrNoPeer
}
