package admin

import (
	"strconv"
	"strings"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// upstreams answers /http/upstreams/... and /stream/upstreams/...; rest
// is the path after "upstreams".
func (a *API) upstreams(req *Request, method int, check func(int) *apiError, stream bool, rest []string, fields map[string]bool, hasFields bool) (int, any, *apiError) {
	if len(rest) == 0 {
		if e := check(mGet); e != nil {
			return 0, nil, e
		}
		all := object{}
		for _, name := range a.upstreamNames(stream) {
			g, zone := a.group(stream, name)
			u := object{}
			if !hasFields || len(fields) > 0 {
				u = upstreamObject(g, zone, stream).only(fields)
			}
			all = append(all, member{name, u})
		}
		return 200, all, nil
	}
	if len(rest) > 3 || len(rest) >= 2 && rest[1] != "servers" {
		return 0, nil, errPathNotFound
	}
	allowed := mGet // /{name}: DELETE (reset) is not supported
	switch len(rest) {
	case 2:
		allowed = mGet | mPost
	case 3:
		allowed = mGet | mPatch | mDelete
	}
	if e := check(allowed); e != nil {
		return 0, nil, e
	}
	g, zone := a.group(stream, rest[0])
	if g == nil {
		return 0, nil, errNoUpstream
	}
	switch len(rest) {
	case 1:
		return 200, upstreamObject(g, zone, stream).only(fields), nil
	case 2:
		if method == mPost {
			return a.addServer(g, stream, req.Body)
		}
		return 200, serverList(g, stream), nil
	}
	id, err := strconv.Atoi(rest[2])
	if err != nil || id < 0 || rest[2][0] == '+' {
		return 0, nil, errBadID
	}
	p := peerByID(g, id)
	if p == nil {
		return 0, nil, notFound(id)
	}
	switch method {
	case mPatch:
		return a.patchServer(g, stream, id, req.Body)
	case mDelete:
		return a.deleteServer(g, stream, id)
	}
	return 200, serverObject(p, stream), nil
}

func notFound(id int) *apiError {
	return errorf(404, "UpstreamServerNotFound", "server with ID \"%d\" does not exist", id)
}

// upstreamNames returns the names of the http or stream upstreams.
func (a *API) upstreamNames(stream bool) []string {
	if a.Upstreams == nil {
		return nil
	}
	var names []string
	for _, n := range a.Upstreams.Names() {
		name, isHTTP := strings.CutPrefix(n, HTTPPrefix)
		if isHTTP != stream {
			names = append(names, name)
		}
	}
	return names
}

// group returns the group of the http or stream upstream name, or nil.
func (a *API) group(stream bool, name string) (*balance.Group, string) {
	if a.Upstreams == nil {
		return nil, ""
	}
	if !stream {
		return a.Upstreams.Group(HTTPPrefix + name)
	}
	if strings.HasPrefix(name, HTTPPrefix) {
		return nil, ""
	}
	return a.Upstreams.Group(name)
}

func peerByID(g *balance.Group, id int) *balance.Peer {
	for _, p := range g.Peers() {
		if p.ID() == id {
			return p
		}
	}
	return nil
}

// apiState maps a balance state to the states NGINX Plus reports (it has
// no slow start state: a server ramping up is "up").
func apiState(s balance.State) string {
	if s == balance.StateSlowStart {
		return string(balance.StateUp)
	}
	return string(s)
}

// upstreamObject is an upstream's status: its servers with their
// counters. Fields Sluice does not keep are left out (see docs/api.md).
func upstreamObject(g *balance.Group, zone string, stream bool) object {
	peers := []object{}
	for _, p := range g.Peers() {
		st := p.Stats()
		o := object{
			{"id", st.ID},
			{"server", st.Addr},
			{"name", st.Name},
			{"backup", st.Backup},
			{"weight", st.Weight},
			{"state", apiState(st.State)},
			{"active", st.Active},
		}
		if st.MaxConns > 0 {
			o = append(o, member{"max_conns", st.MaxConns})
		}
		if stream {
			o = append(o, member{"connections", st.Requests})
		} else {
			o = append(o, member{"requests", st.Requests})
		}
		o = append(o, member{"fails", st.Fails}, member{"unavail", st.Unavail})
		hc := object{{"checks", st.Health.Checks}, {"fails", st.Health.Fails}, {"unhealthy", st.Health.Unhealthy}}
		if st.Health.Checked {
			hc = append(hc, member{"last_passed", st.Health.LastPassed})
		}
		o = append(o, member{"health_checks", hc})
		peers = append(peers, o)
	}
	u := object{{"peers", peers}}
	if !stream {
		u = append(u, member{"keepalive", 0})
	}
	u = append(u, member{"zombies", 0})
	if zone != "" {
		u = append(u, member{"zone", zone})
	}
	return u
}

// serverObject is a server's dynamically configurable parameters.
func serverObject(p *balance.Peer, stream bool) object {
	s := p.Server()
	o := object{
		{"id", p.ID()},
		{"server", s.Addr},
		{"weight", s.Weight},
		{"max_conns", s.MaxConns},
		{"max_fails", s.MaxFails},
		{"fail_timeout", formatTime(s.FailTimeout)},
		{"slow_start", formatTime(s.SlowStart)},
	}
	if !stream {
		o = append(o, member{"route", s.Route})
	}
	o = append(o, member{"backup", s.Backup}, member{"down", s.Down})
	if p.Draining() {
		o = append(o, member{"drain", true})
	}
	return o
}

func serverList(g *balance.Group, stream bool) []object {
	list := []object{}
	for _, p := range g.Peers() {
		list = append(list, serverObject(p, stream))
	}
	return list
}

// formatTime writes a time parameter as nginx does: seconds, or
// milliseconds when it has a fraction of a second.
func formatTime(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
}
