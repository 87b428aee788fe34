package balance

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// HealthCheck is one active health check of a group (NGINX Plus's
// health_check directive): how often each server is probed, how many
// results in a row change its state, and the probe itself.
type HealthCheck struct {
	Interval time.Duration // between two checks of a server; 5s when zero
	Jitter   time.Duration // each check is delayed by a random time up to this
	Fails    int           // failures in a row that make a server unhealthy; 1 when zero
	Passes   int           // passes in a row that make it healthy again; 1 when zero
	// Mandatory puts the servers in the "checking" state (no traffic)
	// until their first check passes; with Persistent, a server that was
	// healthy before a reload stays so.
	Mandatory, Persistent bool
	// Probe checks peer once, within ctx, and returns nil when the check
	// passes. It must return when ctx ends.
	Probe func(ctx context.Context, peer *Peer) error
	// Report, when set, is told of each change of a server's state made
	// by this check, with the error of the failing check.
	Report func(peer *Peer, healthy bool, err error)
}

func (hc *HealthCheck) defaults() {
	if hc.Interval <= 0 {
		hc.Interval = 5 * time.Second
	}
	if hc.Fails <= 0 {
		hc.Fails = 1
	}
	if hc.Passes <= 0 {
		hc.Passes = 1
	}
}

// Checks runs the active health checks of the groups of one
// configuration. Every group the configuration builds is tracked, with or
// without checks: when the checks start, the servers of a group without
// any are healthy (a reload that removed a check leaves no server
// excluded by it). A server is healthy when every check of its group says
// so (a failure of any check makes it unhealthy, as in NGINX Plus).
//
// Track and Add are called while building; Start when the configuration
// begins serving, Stop when it stops.
type Checks struct {
	groups map[*Group]*groupChecks
	order  []*Group

	mu      sync.Mutex
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
}

// groupChecks is the checks of one group and each server's verdicts.
type groupChecks struct {
	g      *Group
	checks []HealthCheck

	mu       sync.Mutex
	verdicts map[string][]bool // server address → unhealthy per check
}

// Track records a group built for the configuration.
func (c *Checks) Track(g *Group) { c.track(g) }

func (c *Checks) track(g *Group) *groupChecks {
	if c.groups == nil {
		c.groups = map[*Group]*groupChecks{}
	}
	gc := c.groups[g]
	if gc == nil {
		gc = &groupChecks{g: g, verdicts: map[string][]bool{}}
		c.groups[g] = gc
		c.order = append(c.order, g)
	}
	return gc
}

// Add adds a health check of group g.
func (c *Checks) Add(g *Group, hc HealthCheck) {
	hc.defaults()
	gc := c.track(g)
	gc.checks = append(gc.checks, hc)
}

// Checked reports whether g has any health check.
func (c *Checks) Checked(g *Group) bool {
	gc := c.groups[g]
	return gc != nil && len(gc.checks) > 0
}

// Start sets the initial state of every server and starts the checks.
func (c *Checks) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return
	}
	c.started = true
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for _, g := range c.order {
		gc := c.groups[g]
		gc.initial()
		for i := range gc.checks {
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				gc.run(ctx, i)
			}()
		}
	}
}

// Stop stops the checks and waits for the probes under way to return.
func (c *Checks) Stop() {
	c.mu.Lock()
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.wg.Wait()
}

// initial sets the servers' state before the first checks: healthy
// without checks; "checking" (excluded) under a mandatory check, unless
// the check is persistent and the server was checked and healthy before
// a reload; otherwise as it
// was (state kept across a reload).
func (gc *groupChecks) initial() {
	mandatory, persistent := false, true
	for _, hc := range gc.checks {
		if hc.Mandatory {
			mandatory = true
			persistent = persistent && hc.Persistent
		}
	}
	for _, p := range gc.g.Peers() {
		switch {
		case len(gc.checks) == 0:
			p.SetHealthy(true)
		case mandatory && !(persistent && p.Healthy() && p.Health().Checked):
			p.SetChecking()
			v := make([]bool, len(gc.checks))
			for i, hc := range gc.checks {
				v[i] = hc.Mandatory
			}
			gc.mu.Lock()
			gc.verdicts[p.Addr()] = v
			gc.mu.Unlock()
		default:
			if !p.Healthy() {
				// unhealthy before a reload: every check must pass it again
				v := make([]bool, len(gc.checks))
				for i := range v {
					v[i] = true
				}
				gc.mu.Lock()
				gc.verdicts[p.Addr()] = v
				gc.mu.Unlock()
			}
		}
	}
}

// run runs check i against every server of the group until ctx ends: a
// loop per server, started and stopped as the group's servers change
// (checked again at each interval).
func (gc *groupChecks) run(ctx context.Context, i int) {
	hc := gc.checks[i]
	loops := map[*Peer]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, cancel := range loops {
			cancel()
		}
		wg.Wait()
	}()
	t := time.NewTicker(hc.Interval)
	defer t.Stop()
	for {
		live := map[*Peer]bool{}
		for _, p := range gc.g.Peers() {
			live[p] = true
			if loops[p] == nil {
				pctx, cancel := context.WithCancel(ctx)
				loops[p] = cancel
				wg.Add(1)
				go func() {
					defer wg.Done()
					gc.probeLoop(pctx, i, &hc, p)
				}()
			}
		}
		for p, cancel := range loops {
			if !live[p] {
				cancel()
				delete(loops, p)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probeLoop checks p every interval (plus jitter) until ctx ends.
func (gc *groupChecks) probeLoop(ctx context.Context, i int, hc *HealthCheck, p *Peer) {
	fails, passes := 0, 0
	first := true
	for {
		pctx, cancel := context.WithCancel(ctx)
		err := hc.Probe(pctx, p)
		cancel()
		if ctx.Err() != nil {
			return
		}
		before := p.Healthy()
		switch {
		case first && gc.checking(i, p):
			// the first check of a server in the "checking" state decides
			gc.verdict(i, hc, p, err == nil, err)
		case err != nil:
			fails, passes = fails+1, 0
			if fails >= hc.Fails {
				gc.verdict(i, hc, p, false, err)
			}
		default:
			fails, passes = 0, passes+1
			if passes >= hc.Passes {
				gc.verdict(i, hc, p, true, nil)
			}
		}
		first = false
		p.RecordCheck(err == nil, before && !p.Healthy())
		d := hc.Interval
		if hc.Jitter > 0 {
			d += rand.N(hc.Jitter)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// checking reports whether p is in the "checking" state of the
// mandatory check i: excluded until the check's first result, which
// decides whatever fails= and passes= say.
func (gc *groupChecks) checking(i int, p *Peer) bool {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	v := gc.verdicts[p.Addr()]
	return v != nil && v[i] && gc.checks[i].Mandatory && !p.Healthy()
}

// verdict records check i's verdict on p and sets p's state: healthy
// when no check holds it unhealthy.
func (gc *groupChecks) verdict(i int, hc *HealthCheck, p *Peer, healthy bool, err error) {
	gc.mu.Lock()
	v := gc.verdicts[p.Addr()]
	if v == nil {
		v = make([]bool, len(gc.checks))
		gc.verdicts[p.Addr()] = v
	}
	v[i] = !healthy
	all := true
	for _, bad := range v {
		all = all && !bad
	}
	was := p.Healthy()
	p.SetHealthy(all)
	gc.mu.Unlock()
	if was != all && hc.Report != nil {
		hc.Report(p, all, err)
	}
}
