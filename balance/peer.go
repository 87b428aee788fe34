package balance

import (
	"math"
	"time"
)

// Peer is one server of a group as the balancer sees it: its configuration
// and a handle on its shared state. Peers are created by Registry.Build and
// are immutable except through their methods; all methods are safe for
// concurrent use.
type Peer struct {
	srv              Server // with defaults applied
	network, address string

	backup   bool
	idx      int // index in its tier
	tier     *tier
	st       *peerState
	weight   int64
	maxFails int32
	maxConns int32
	failTO   int64 // ns
	slowTO   int64 // ns
	group    *Group

	slowPending bool // set while building: start slow_start
	plain       bool // neither down nor limited by max_conns

	id  int // number in the group (see ID)
	dup int // n-th server with the same address in the group
}

// ID returns the server's number in its group, as the NGINX Plus API
// names it: the servers a group is built with are numbered from 0 in the
// order given, and a server that Update adds takes the next number never
// used in the group. A server keeps its number through Updates that keep
// its address.
func (p *Peer) ID() int { return p.id }

// Addr returns the configured address ("host:port" or "unix:/path").
func (p *Peer) Addr() string { return p.srv.Addr }

// Name returns the configured server name (Server.Name, or Addr).
func (p *Peer) Name() string { return p.srv.Name }

// Network returns the network for net.Dial: "tcp" or "unix".
func (p *Peer) Network() string { return p.network }

// DialAddr returns the address for net.Dial (the path for unix sockets).
func (p *Peer) DialAddr() string { return p.address }

// Server returns the server's configuration with defaults applied.
func (p *Peer) Server() Server { return p.srv }

// Draining reports whether p is draining, by configuration or SetDrain.
func (p *Peer) Draining() bool { return p.st.draining() }

// Backup reports whether p is a backup server.
func (p *Peer) Backup() bool { return p.backup }

// Active returns the number of attempts in progress on p.
func (p *Peer) Active() int { return int(p.st.conns()) }

// SetHealthy records the verdict of an active health check. An unhealthy
// server receives no requests; when it becomes healthy again its share
// ramps up over slow_start, if set.
func (p *Peer) SetHealthy(healthy bool) {
	p.st.setExcl(exclChecking, false)
	was := !p.st.setExcl(exclUnhealthy, !healthy)
	if was == healthy {
		return
	}
	if healthy {
		p.startSlow(p.group.reg.now())
	} else {
		p.dirtyGroups(nil)
	}
}

// SetChecking puts p in the "checking" state of a mandatory health
// check: it receives nothing until a check says it is healthy
// (SetHealthy).
func (p *Peer) SetChecking() {
	p.SetHealthy(false)
	p.st.setExcl(exclChecking, true)
}

// dirtyGroups tells the groups that may pick p that it left its plain and
// quiet state: its own, g (the group of the snapshot an attempt was picked
// from, if not nil) and the group most recently built on its state, which
// a reload may have made a different one.
func (p *Peer) dirtyGroups(g *Group) {
	p.group.dirty()
	if g != nil && g != p.group {
		g.dirty()
	}
	if o := p.st.owner.Load(); o != nil && o != p.group && o != g {
		o.dirty()
	}
}

// SetDrain turns draining on or off at run time (the NGINX Plus API's
// "drain"): a draining server gets no new sessions.
func (p *Peer) SetDrain(on bool) {
	if p.st.setExcl(exclDrain, on) != on {
		p.dirtyGroups(nil)
	}
}

func (p *Peer) startSlow(now int64) {
	if p.slowTO > 0 && !p.tier.single {
		p.st.slowSince.Store(now)
	}
	p.dirtyGroups(nil)
}

// State is the state of a server as reported by Peer.Stats, in NGINX Plus
// API terms.
type State string

// States a server can be in.
const (
	StateUp        State = "up"
	StateDown      State = "down"
	StateUnavail   State = "unavail"
	StateUnhealthy State = "unhealthy"
	StateChecking  State = "checking" // a mandatory health check has not run yet
	StateDraining  State = "draining"
	StateSlowStart State = "slow_start"
)

// PeerStats is a point-in-time view of a server for a status API.
type PeerStats struct {
	ID       int // see Peer.ID
	Addr     string
	Name     string
	Backup   bool
	Weight   int
	MaxConns int
	State    State
	Active   int
	Requests uint64        // attempts started on the server
	Fails    uint64        // attempts that failed
	Unavail  uint64        // times max_fails made the server unavailable
	Latency  time.Duration // least_time estimate; 0 before the first sample
	Health   HealthStats   // active health checks
}

// Stats returns the server's counters and state.
func (p *Peer) Stats() PeerStats {
	st := p.st
	now := p.group.reg.now()
	s := PeerStats{
		ID:       p.id,
		Addr:     p.srv.Addr,
		Name:     p.srv.Name,
		Backup:   p.backup,
		Weight:   p.srv.Weight,
		MaxConns: p.srv.MaxConns,
		State:    StateUp,
		Active:   int(st.conns()),
		Requests: st.requests(),
		Fails:    st.failsAll.Load(),
		Unavail:  st.unavail.Load(),
		Health:   p.Health(),
	}
	if b := st.ewma.Load(); b != 0 {
		s.Latency = time.Duration(math.Float64frombits(b))
	}
	switch {
	case p.srv.Down:
		s.State = StateDown
	case st.checking():
		s.State = StateChecking
	case st.unhealthy():
		s.State = StateUnhealthy
	case st.draining():
		s.State = StateDraining
	case p.failed(now):
		s.State = StateUnavail
	case st.slowSince.Load() != 0 && now-st.slowSince.Load() < p.slowTO:
		s.State = StateSlowStart
	}
	return s
}

// failed reports nginx's "max_fails reached within fail_timeout".
func (p *Peer) failed(now int64) bool {
	return p.maxFails > 0 && p.st.fails.Load() >= p.maxFails && now-p.st.checked.Load() <= p.failTO
}

// nominal reports whether p takes part in picks exactly as configured: no
// failures on record, full effective weight, not ramping, not excluded. A
// group whose peers are all nominal follows the precomputed schedule.
func (p *Peer) nominal() bool {
	st := p.st
	return st.fails.Load() == 0 && st.ew.Load() == p.weight && st.slowSince.Load() == 0 &&
		st.excl.Load() == 0 &&
		(p.maxConns == 0 || st.conns() < p.maxConns)
}

// pickCtx carries what one pick needs lazily: the time and random numbers.
type pickCtx struct {
	s    *snapshot
	req  *Request
	now  int64    // registry time, 0 until read
	cnow int64    // coarse registry time, 0 until read
	le   *laneEnt // the lane entry that counted the pick
}

// time returns the registry time, for failure accounting and slow start.
func (c *pickCtx) time() int64 {
	if c.now == 0 {
		c.now = c.s.g.reg.now()
	}
	return c.now
}

// coarseTime returns the registry time from the coarse clock, for least_time
// (see clock.go).
func (c *pickCtx) coarseTime() int64 {
	if c.cnow == 0 {
		c.cnow = c.s.g.reg.pickNow()
	}
	return c.cnow
}

// usable reports whether p may be picked for this request (nginx's checks
// plus health, drain and slow start).
func (c *pickCtx) usable(p *Peer) bool {
	return (p.plain && c.req.Tried.n == 0 && p.st.quiet()) || c.usableSlow(p)
}

// quiet reports a server with no failures, no slow start, and neither
// unhealthy nor draining.
func (st *peerState) quiet() bool {
	return uint32(st.fails.Load())|st.excl.Load() == 0 && st.slowSince.Load() == 0
}

// usableSlow is usable for a peer with failures, a connection limit or
// slow start, or a request with a tried set.
func (c *pickCtx) usableSlow(p *Peer) bool {
	st := p.st
	if p.srv.Down || st.excl.Load() != 0 {
		return false
	}
	if c.req.Tried.n != 0 && c.req.Tried.has(st.id) {
		return false
	}
	if p.maxFails > 0 && st.fails.Load() >= p.maxFails && c.time()-st.checked.Load() <= p.failTO {
		return false
	}
	if p.maxConns > 0 && st.conns() >= p.maxConns {
		return false
	}
	if since := st.slowSince.Load(); since != 0 {
		el := c.time() - since
		if el >= p.slowTO {
			st.slowSince.CompareAndSwap(since, 0)
		} else if el <= 0 || int64(c.s.rnd()%uint64(p.slowTO)) >= el {
			return false
		}
	}
	return true
}

// take accounts a pick of p, as nginx does after choosing a peer. For a
// server with max_conns the connection is counted only while it is under
// the limit, so that picks racing on other cores cannot overshoot it (an
// nginx worker picks one request at a time); ok is false when the limit
// was reached since p was chosen.
func (c *pickCtx) take(p *Peer) (sel Selection, ok bool) {
	st := p.st
	if p.maxConns > 0 {
		for {
			v := st.use.Load()
			if int32(uint32(v)) >= p.maxConns {
				if c.le != nil {
					c.le.mine.Add(-1)
					c.le = nil
				}
				return Selection{}, false
			}
			if st.use.CompareAndSwap(v, v+1) {
				break
			}
		}
	} else {
		st.use.Add(1)
	}
	if st.fails.Load() != 0 {
		// nginx: if (now - peer->checked > peer->fail_timeout) checked = now
		now := c.time()
		if chk := st.checked.Load(); now-chk > p.failTO {
			st.checked.CompareAndSwap(chk, now)
		}
	}
	c.req.Tried.add(st.id)
	sel = Selection{Peer: p, snap: c.s, le: c.le}
	if c.s.timed {
		now := c.coarseTime()
		sel.start = now
		if c.s.inflight {
			st.startSum.Add(now)
			st.startN.Add(1)
		}
		if st.lastPick.Load() != now {
			st.lastPick.Store(now)
		}
	}
	return sel, true
}

func (p *Peer) done(s *snapshot, start int64, o Outcome) {
	st := p.st
	if s.inflight && start != 0 {
		st.startSum.Add(-start)
		st.startN.Add(-1)
	}
	if p.tier.single {
		// nginx never marks the only server of a group failed.
		n := st.end()
		if !o.Failed && o.Latency > 0 && s.timed {
			p.sample(s, start+int64(o.Latency), o.Latency, n)
		}
		return
	}
	if o.Failed {
		now := s.g.reg.now()
		st.failsAll.Add(1)
		if p.maxFails > 0 {
			st.accessed.Store(now)
			st.checked.Store(now)
			if st.fails.Add(1) == p.maxFails {
				st.unavail.Add(1)
			}
			dec := p.weight / int64(p.maxFails)
			for {
				ew := st.ew.Load()
				n := max(ew-dec, 0)
				if n == ew || st.ew.CompareAndSwap(ew, n) {
					break
				}
			}
			p.dirtyGroups(s.g)
		}
		st.end()
		return
	}
	// nginx: mark peer live if check passed.
	if f := st.fails.Load(); f != 0 && st.accessed.Load() < st.checked.Load() {
		if st.fails.CompareAndSwap(f, 0) && f >= p.maxFails {
			p.startSlow(s.g.reg.now())
		}
	}
	n := st.end()
	if o.Latency > 0 && s.timed {
		// The attempt ended at least Latency after the pick: use that as
		// its end time rather than reading the clock again.
		p.sample(s, start+int64(o.Latency), o.Latency, n)
	}
}

// Healthy reports whether no active health check excludes p.
func (p *Peer) Healthy() bool { return !p.st.unhealthy() }

// HealthStats counts the active health checks of a server (the NGINX Plus
// API's health_checks object). Like the other counters, they are kept
// across reloads.
type HealthStats struct {
	Checks     uint64 // checks made
	Fails      uint64 // checks failed
	Unhealthy  uint64 // times the server became unhealthy
	LastPassed bool   // the last check passed
	Checked    bool   // at least one check was made
}

// RecordCheck counts one active health check of p and its result, and
// whether it made p unhealthy.
func (p *Peer) RecordCheck(passed, becameUnhealthy bool) {
	r := p.group.reg
	r.hmu.Lock()
	defer r.hmu.Unlock()
	if r.health == nil {
		r.health = map[*peerState]*HealthStats{}
	}
	h := r.health[p.st]
	if h == nil {
		h = &HealthStats{}
		r.health[p.st] = h
	}
	h.Checks++
	if !passed {
		h.Fails++
	}
	if becameUnhealthy {
		h.Unhealthy++
	}
	h.LastPassed, h.Checked = passed, true
}

// Health returns p's health check counts.
func (p *Peer) Health() HealthStats {
	r := p.group.reg
	r.hmu.Lock()
	defer r.hmu.Unlock()
	if h := r.health[p.st]; h != nil {
		return *h
	}
	return HealthStats{}
}
