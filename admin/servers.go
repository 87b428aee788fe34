package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// serverConf is a parsed server object of a POST or PATCH: the parameters
// given, each with a flag saying it was.
type serverConf struct {
	id                         *int
	server                     *string
	weight, maxConns, maxFails *int
	failTimeout, slowStart     *time.Duration
	backup, down, drain        *bool
	route                      *string // http only
}

// parseServer parses a server object. A body that is not JSON is a
// JsonError; one that is, but not a flat object of known parameters with
// values of the right types, an UpstreamConfFormatError.
func parseServer(body []byte, stream bool) (*serverConf, *apiError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errJSON
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errJSON
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(400, "UpstreamConfFormatError", "nested object or list")
	}
	var sc serverConf
	invalid := func(k string) *apiError {
		return errorf(400, "UpstreamConfFormatError", "invalid %q value", k)
	}
	for k, val := range m {
		switch val.(type) {
		case map[string]any, []any:
			return nil, errorf(400, "UpstreamConfFormatError", "nested object or list")
		}
		switch k {
		case "id", "weight", "max_conns", "max_fails":
			n, ok := val.(json.Number)
			if !ok {
				return nil, invalid(k)
			}
			i, err := strconv.Atoi(n.String())
			if err != nil {
				return nil, invalid(k)
			}
			switch k {
			case "id":
				sc.id = &i
			case "weight":
				sc.weight = &i
			case "max_conns":
				sc.maxConns = &i
			case "max_fails":
				sc.maxFails = &i
			}
		case "fail_timeout", "slow_start":
			d, ok := parseTime(val)
			if !ok {
				return nil, invalid(k)
			}
			if k == "fail_timeout" {
				sc.failTimeout = &d
			} else {
				sc.slowStart = &d
			}
		case "server", "route":
			s, ok := val.(string)
			if !ok {
				return nil, invalid(k)
			}
			if k == "route" {
				// the route= of sticky, in http only
				if stream {
					return nil, invalid(k)
				}
				sc.route = &s
				continue
			}
			sc.server = &s
		case "backup", "down", "drain":
			b, ok := val.(bool)
			if !ok {
				return nil, invalid(k)
			}
			switch k {
			case "backup":
				sc.backup = &b
			case "down":
				sc.down = &b
			case "drain":
				sc.drain = &b
			}
		default:
			return nil, errorf(400, "UpstreamConfFormatError", "unknown parameter %q", k)
		}
	}
	return &sc, nil
}

// parseTime parses a time parameter: a string in nginx's units ("10s",
// "1m30s", "500ms"; no unit means seconds) or a number of seconds.
func parseTime(v any) (time.Duration, bool) {
	switch v := v.(type) {
	case json.Number:
		n, err := strconv.Atoi(v.String())
		return time.Duration(n) * time.Second, err == nil && n >= 0
	case string:
		return nginxTime(v)
	}
	return 0, false
}

// nginxTime parses nginx's time syntax (ngx_parse_time).
func nginxTime(s string) (time.Duration, bool) {
	units := []struct {
		suffix string
		d      time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"M", 30 * 24 * time.Hour}, {"y", 365 * 24 * time.Hour}}
	if s == "" {
		return 0, false
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, false
		}
		n, _ := strconv.Atoi(s[:i])
		s = s[i:]
		unit := time.Second
		if s != "" && s[0] != ' ' {
			found := false
			for _, u := range units {
				if strings.HasPrefix(s, u.suffix) {
					unit, s, found = u.d, s[len(u.suffix):], true
					break
				}
			}
			if !found {
				return 0, false
			}
		}
		s = strings.TrimLeft(s, " ")
		total += time.Duration(n) * unit
	}
	return total, true
}

// parseAddr checks the address of a new server: an IP address with a
// port (http defaults to 80) or "unix:/path". Host names would need a
// resolver, which Sluice does not run for the API.
func parseAddr(s string, stream bool) (string, *apiError) {
	bad := errorf(400, "UpstreamBadAddress", "invalid \"server\" argument")
	if strings.HasPrefix(s, "unix:") {
		if len(s) == len("unix:") {
			return "", bad
		}
		return s, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return "", bad
		}
		return ap.String(), nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() == "" {
		if stream {
			return "", errorf(400, "UpstreamBadAddress", "no port in server \"%s\"", s)
		}
		return netip.AddrPortFrom(a, 80).String(), nil
	}
	if s == "" || strings.ContainsAny(s, "/ ") {
		return "", bad
	}
	return "", errorf(400, "UpstreamConfNoResolver", "no resolver defined to resolve %s", s)
}

// apply sets the parameters of sc on s, checking their ranges and what the
// group's balancing method allows.
func apply(g *balance.Group, s *balance.Server, sc *serverConf) *apiError {
	if sc.weight != nil {
		if *sc.weight < 1 || *sc.weight > balance.MaxWeight {
			return errorf(400, "UpstreamBadWeight", "invalid \"weight\"")
		}
		s.Weight = *sc.weight
	}
	if sc.maxConns != nil {
		if *sc.maxConns < 0 {
			return errorf(400, "UpstreamBadMaxConns", "invalid \"max_conns\"")
		}
		s.MaxConns = *sc.maxConns
	}
	if sc.maxFails != nil {
		if *sc.maxFails < 0 {
			return errorf(400, "UpstreamBadMaxFails", "invalid \"max_fails\"")
		}
		s.MaxFails = *sc.maxFails
		if s.MaxFails == 0 {
			s.MaxFails = balance.MaxFailsOff
		}
	}
	if sc.failTimeout != nil {
		if *sc.failTimeout <= 0 {
			return errorf(400, "UpstreamBadFailTimeout", "invalid \"fail_timeout\"")
		}
		s.FailTimeout = *sc.failTimeout
	}
	m := g.Config().Method
	noBackup := m == balance.Hash || m == balance.IPHash || m == balance.Random
	if sc.slowStart != nil {
		if *sc.slowStart != 0 && noBackup {
			return errorf(400, "UpstreamBadSlowStart", "invalid \"slow_start\"")
		}
		s.SlowStart = *sc.slowStart
	}
	if sc.route != nil {
		if len(*sc.route) > 32 { // NGINX Plus's NGX_HTTP_UPSTREAM_SID_LEN
			return errorf(400, "UpstreamBadRoute", "invalid \"route\"")
		}
		s.Route = *sc.route
	}
	if sc.down != nil {
		s.Down = *sc.down
	}
	if sc.drain != nil {
		s.Drain = *sc.drain
	}
	if s.Backup && noBackup {
		return errorf(400, "UpstreamNoBackup", "upstream \"%s\" has no backup", upstreamName(g))
	}
	return nil
}

func upstreamName(g *balance.Group) string { return strings.TrimPrefix(g.Name(), HTTPPrefix) }

// current returns the group's servers as Update takes them, with their
// run-time drain state.
func current(g *balance.Group) ([]balance.Server, []*balance.Peer) {
	peers := g.Peers()
	list := make([]balance.Server, 0, len(peers)+1)
	for _, p := range peers {
		s := p.Server()
		if s.MaxFails == 0 {
			s.MaxFails = balance.MaxFailsOff // Server() has the default applied
		}
		s.Drain = p.Draining()
		list = append(list, s)
	}
	return list, peers
}

func updateFailed(err error) *apiError {
	return errorf(400, "UpstreamConfFormatError", "%s", strings.TrimPrefix(err.Error(), "balance: "))
}

func (a *API) addServer(g *balance.Group, stream bool, body []byte) (int, any, *apiError) {
	sc, e := parseServer(body, stream)
	if e != nil {
		return 0, nil, e
	}
	if sc.server == nil {
		return 0, nil, errorf(400, "UpstreamConfFormatError", "missing \"server\" argument")
	}
	addr, e := parseAddr(*sc.server, stream)
	if e != nil {
		return 0, nil, e
	}
	s := balance.Server{Addr: addr, Name: *sc.server}
	if sc.backup != nil {
		s.Backup = *sc.backup
	}
	if e := apply(g, &s, sc); e != nil {
		return 0, nil, e
	}
	writeMu.Lock()
	defer writeMu.Unlock()
	list, _ := current(g)
	for _, o := range list {
		if o.Addr == addr {
			return 0, nil, errorf(409, "EntryExists", "entry exists")
		}
	}
	list = append(list, s)
	if err := g.Update(list); err != nil {
		return 0, nil, updateFailed(err)
	}
	p := g.Lookup(addr)
	if p == nil {
		return 0, nil, errorf(500, "InternalError", "server not added")
	}
	return 201, serverObject(p, stream), nil
}

func (a *API) patchServer(g *balance.Group, stream bool, id int, body []byte) (int, any, *apiError) {
	sc, e := parseServer(body, stream)
	if e != nil {
		return 0, nil, e
	}
	writeMu.Lock()
	defer writeMu.Unlock()
	list, peers := current(g)
	i := -1
	for j, p := range peers {
		if p.ID() == id {
			i = j
		}
	}
	if i < 0 {
		return 0, nil, notFound(id)
	}
	s := list[i]
	switch {
	case sc.id != nil && *sc.id != id:
		return 0, nil, errorf(400, "UpstreamConfFormatError", "invalid \"id\" value")
	case sc.server != nil && *sc.server != s.Addr && *sc.server != s.Name:
		return 0, nil, errorf(400, "UpstreamServerImmutable", "server \"%d\" address is immutable", id)
	case sc.backup != nil && *sc.backup != s.Backup:
		return 0, nil, errorf(400, "UpstreamConfFormatError", "invalid \"backup\" value")
	}
	if e := apply(g, &s, sc); e != nil {
		return 0, nil, e
	}
	list[i] = s
	if err := g.Update(list); err != nil {
		return 0, nil, updateFailed(err)
	}
	p := peerByID(g, id)
	if p == nil {
		return 0, nil, notFound(id)
	}
	return 200, serverObject(p, stream), nil
}

func (a *API) deleteServer(g *balance.Group, stream bool, id int) (int, any, *apiError) {
	writeMu.Lock()
	defer writeMu.Unlock()
	list, peers := current(g)
	i, primaries := -1, 0
	for j, p := range peers {
		if p.ID() == id {
			i = j
		}
		if !p.Backup() {
			primaries++
		}
	}
	if i < 0 {
		return 0, nil, notFound(id)
	}
	if !peers[i].Backup() && primaries == 1 {
		// a group keeps at least one primary server
		return 0, nil, errorf(400, "UpstreamServerImmutable", "server \"%d\" not removable", id)
	}
	list = append(list[:i], list[i+1:]...)
	if err := g.Update(list); err != nil {
		return 0, nil, updateFailed(err)
	}
	return 200, serverList(g, stream), nil
}
