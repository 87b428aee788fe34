package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
)

// The bounds on how long an answer is kept, whatever its TTL.
const (
	minRefresh = time.Second
	maxRefresh = time.Hour
)

// retryRefresh is how soon a failed lookup, or a name found not to
// exist, is tried again (valid= sets it for the latter).
var retryRefresh = 10 * time.Second

// Resolving keeps the servers with the resolve parameter of one
// configuration's groups up to date: each name is looked up again when
// its answer expires (its TTL, or the resolver's valid=), and the group's
// servers are replaced when the addresses change, keeping what was learnt
// about the addresses that stay. The addresses found last are kept across
// reloads, so that a new configuration starts with them.
//
// Build is called while building; Start when the configuration begins
// serving, Stop when it stops.
type Resolving struct {
	// Log, when set, is told of changes and failures.
	Log func(warn bool, msg string)

	groups []*resolvingGroup
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// resolvingGroup is one group with servers to resolve.
type resolvingGroup struct {
	g    *balance.Group
	key  string // the group's registry name
	list []config.UpstreamServer
	res  *Resolver
	pos  string
}

// lastResolved holds, for each group and name, the addresses found last.
var lastResolved struct {
	sync.Mutex
	m map[string][]netip.Addr
}

func resolvedKey(group string, s config.UpstreamServer) string {
	return group + "\x00" + s.Host + ":" + strconv.Itoa(s.Port)
}

func remembered(key string) ([]netip.Addr, bool) {
	lastResolved.Lock()
	defer lastResolved.Unlock()
	a, ok := lastResolved.m[key]
	return a, ok
}

func remember(key string, addrs []netip.Addr) {
	lastResolved.Lock()
	defer lastResolved.Unlock()
	if lastResolved.m == nil {
		lastResolved.m = map[string][]netip.Addr{}
	}
	lastResolved.m[key] = addrs
}

// Build is the package's Build for a group that may have servers with
// the resolve parameter. Their names are resolved with resolver (the
// arguments of the resolver directive in effect) within timeout: a name
// resolved by an earlier configuration starts with the addresses found
// then, and is looked up again once the checks start; another is looked
// up now, and starts without addresses if that fails (the group answers
// as one whose servers are all down until it resolves).
func (rs *Resolving) Build(reg *balance.Registry, group string, m Method, list []config.UpstreamServer, pos string, resolver []string, timeout time.Duration) (*balance.Group, error) {
	if !slices.ContainsFunc(list, func(s config.UpstreamServer) bool { return s.Resolve }) {
		return Build(reg, group, m, list, pos)
	}
	if len(resolver) == 0 {
		for _, s := range list {
			if s.Resolve {
				return nil, fmt.Errorf("no resolver defined to resolve %q in upstream %q in %s", s.Host, displayName(group), pos)
			}
		}
	}
	res, err := ParseResolver(resolver, timeout)
	if err != nil {
		return nil, fmt.Errorf("%v in %s", err, pos)
	}
	rg := &resolvingGroup{key: group, list: list, res: res, pos: pos}
	addrs := map[int][]netip.Addr{}
	for i, s := range list {
		if !s.Resolve {
			continue
		}
		a, ok := remembered(resolvedKey(group, s))
		if !ok {
			ctx, cancel := context.WithTimeout(context.Background(), res.Timeout)
			found, _, err := res.Lookup(ctx, s.Host)
			cancel()
			if err != nil {
				rs.log(true, fmt.Sprintf("%s could not be resolved at start (%v), upstream %q in %s", s.Host, err, displayName(group), pos))
			}
			a = found
			remember(resolvedKey(group, s), a)
		}
		addrs[i] = a
	}
	cfg, err := m.Config()
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %v in %s", group, err, pos)
	}
	g, err := reg.Build(group, rg.servers(addrs), cfg)
	if err != nil {
		return nil, fmt.Errorf("%v in %s", err, pos)
	}
	rg.g = g
	rs.groups = append(rs.groups, rg)
	return g, nil
}

// displayName is the upstream's name as written (without the registry's
// http: prefix).
func displayName(group string) string {
	if len(group) > 5 && group[:5] == "http:" {
		return group[5:]
	}
	return group
}

// servers is the group's server list with the addresses given for the
// servers to resolve (by their index in list). When that leaves no
// primary server, each name to resolve stands in as a server that is
// down, so that the group exists and answers as one whose servers are all
// down.
func (rg *resolvingGroup) servers(addrs map[int][]netip.Addr) []balance.Server {
	var out []balance.Server
	for i, s := range rg.list {
		if !s.Resolve {
			out = append(out, Servers([]config.UpstreamServer{s})...)
			continue
		}
		for _, a := range addrs[i] {
			c := s
			c.Addr = netip.AddrPortFrom(a, uint16(s.Port)).String()
			out = append(out, Servers([]config.UpstreamServer{c})...)
		}
	}
	if !slices.ContainsFunc(out, func(s balance.Server) bool { return !s.Backup }) {
		for _, s := range rg.list {
			if s.Resolve {
				c := s
				c.Addr, c.Down, c.Backup = s.Host+":"+strconv.Itoa(s.Port), true, false
				out = append(out, Servers([]config.UpstreamServer{c})...)
			}
		}
	}
	return out
}

func (rs *Resolving) log(warn bool, msg string) {
	if rs.Log != nil {
		rs.Log(warn, msg)
	}
}

// Start starts looking the names up again as their answers expire.
func (rs *Resolving) Start() {
	if len(rs.groups) == 0 || rs.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs.cancel = cancel
	for _, rg := range rs.groups {
		rs.wg.Add(1)
		go func() {
			defer rs.wg.Done()
			rs.run(ctx, rg)
		}()
	}
}

// Stop stops the lookups and waits for them.
func (rs *Resolving) Stop() {
	if rs.cancel != nil {
		rs.cancel()
	}
	rs.wg.Wait()
}

// run keeps rg's names resolved until ctx ends. The first lookups are
// made at once (a reload may have kept answers that are old).
func (rs *Resolving) run(ctx context.Context, rg *resolvingGroup) {
	addrs := map[int][]netip.Addr{}
	next := map[int]time.Time{}
	for i, s := range rg.list {
		if s.Resolve {
			addrs[i], _ = remembered(resolvedKey(rg.key, s))
			next[i] = time.Now()
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		changed := false
		for i, when := range next {
			if when.After(now) {
				continue
			}
			s := rg.list[i]
			lctx, cancel := context.WithTimeout(ctx, rg.res.Timeout)
			found, ttl, err := rg.res.Lookup(lctx, s.Host)
			cancel()
			if ctx.Err() != nil {
				return
			}
			switch {
			case err == nil:
				ttl = min(max(ttl, minRefresh), maxRefresh)
			case errors.Is(err, ErrNotFound):
				// the name is gone: so are its servers
				found, ttl = nil, retryRefresh
				if rg.res.Valid > 0 {
					ttl = rg.res.Valid
				}
			default:
				// the resolver failed: keep what was found before
				rs.log(true, fmt.Sprintf("%s could not be resolved (%v) in upstream %q, keeping its addresses", s.Host, err, displayName(rg.key)))
				found, ttl = addrs[i], retryRefresh
			}
			next[i] = now.Add(ttl)
			if !sameAddrs(found, addrs[i]) {
				rs.log(false, fmt.Sprintf("upstream %q: %s:%d now resolves to %s", displayName(rg.key), s.Host, s.Port, addrList(found)))
				addrs[i] = found
				remember(resolvedKey(rg.key, s), found)
				changed = true
			}
		}
		if changed {
			if err := rg.g.Update(rg.servers(addrs)); err != nil {
				rs.log(true, fmt.Sprintf("upstream %q: %v", displayName(rg.key), err))
			}
		}
		soonest := time.Time{}
		for _, when := range next {
			if soonest.IsZero() || when.Before(soonest) {
				soonest = when
			}
		}
		timer.Reset(time.Until(soonest))
	}
}

// sameAddrs reports whether a and b hold the same addresses, in any order.
func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	x := slices.Clone(a)
	y := slices.Clone(b)
	slices.SortFunc(x, netip.Addr.Compare)
	slices.SortFunc(y, netip.Addr.Compare)
	return slices.Equal(x, y)
}

func addrList(a []netip.Addr) string {
	if len(a) == 0 {
		return "no address"
	}
	s := ""
	for i, x := range a {
		if i > 0 {
			s += ", "
		}
		s += x.String()
	}
	return s
}
