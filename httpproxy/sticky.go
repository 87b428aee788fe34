package httpproxy

import (
	"crypto/md5"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/vars"
)

// Session persistence: NGINX Plus's sticky directive of an http upstream.
//
// Each server has an identifier: its route= if it has one, else the
// hexadecimal MD5 of its address ("ip:port", or the path of a unix
// socket), so the identifier stays the same across reloads and across
// instances. A request carrying an identifier (the cookie of "sticky
// cookie", the first non-empty variable of "sticky route") goes to that
// server when it can take it (balance.Group.PickPeer: not down, failed,
// unhealthy or at max_conns; a draining server still takes it); otherwise,
// and on every retry of proxy_next_upstream, the balancing method picks.
// "sticky cookie" then sends the identifier of the server that answered in
// a Set-Cookie header, on every response, as NGINX Plus does.

// sticky is the compiled sticky directive of an upstream.
type sticky struct {
	lookup []*vars.Template[*request] // $cookie_NAME, or the route variables
	cookie bool                       // sticky cookie: send Set-Cookie
	name   string                     // "NAME="

	expires    int64 // seconds; -1 without expires=
	expiresMax bool
	domain     *vars.Template[*request] // nil without domain=
	httpOnly   bool
	secure     bool
	sameSite   string                   // a constant samesite= as written
	sameVar    *vars.Template[*request] // samesite= with variables
	path       string                   // "; path=P", or ""

	// sticky learn: the variables that create a session, the sessions,
	// and whether they are learnt from the response head (header)
	// rather than at the end of a successful response.
	create   []*vars.Template[*request]
	sessions *stickySessions
	header   bool

	ids atomic.Pointer[stickyIDs]
}

// stickySessions are the sessions of sticky learn: session key → server
// identifier, each forgotten after timeout without use.
type stickySessions struct {
	mu      sync.Mutex
	m       map[string]stickySession
	max     int
	timeout time.Duration
}

// stickyZones keeps the sessions of each sticky learn zone across
// reloads, as NGINX Plus keeps its shared memory zones: by the balance
// registry the generations share, the zone name and the upstream.
var stickyZones sync.Map // stickyZoneKey → *stickySessions

type stickyZoneKey struct {
	reg            *balance.Registry
	zone, upstream string
}

// stickyZone returns the sessions of zone in upstream, those of the
// previous generation if there was one, with the given limits.
func stickyZone(reg *balance.Registry, zone, upstream string, maxN int, timeout time.Duration) *stickySessions {
	v, _ := stickyZones.LoadOrStore(stickyZoneKey{reg, zone, upstream}, &stickySessions{m: map[string]stickySession{}})
	s := v.(*stickySessions)
	s.mu.Lock()
	s.max, s.timeout = maxN, timeout
	s.mu.Unlock()
	return s
}

type stickySession struct {
	sid  string
	last time.Time
}

// get returns the server identifier of session key.
func (s *stickySessions) get(key []byte, now time.Time) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[string(key)]
	if !ok {
		return "", false
	}
	if now.Sub(e.last) > s.timeout {
		delete(s.m, string(key))
		return "", false
	}
	return e.sid, true
}

// learn records that session key is on server sid: an existing session
// is renewed (and moved to sid), a new one is made only when create says
// the response created it. When the zone is full, expired sessions go,
// and then the least recently used one.
func (s *stickySessions) learn(key, sid string, create bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok && now.Sub(e.last) <= s.timeout {
		s.m[key] = stickySession{sid: sid, last: now}
		return
	}
	if !create {
		return
	}
	if len(s.m) >= s.max {
		var oldest string
		var at time.Time
		for k, e := range s.m {
			if now.Sub(e.last) > s.timeout {
				delete(s.m, k)
			} else if oldest == "" || e.last.Before(at) {
				oldest, at = k, e.last
			}
		}
		if len(s.m) >= s.max {
			delete(s.m, oldest)
		}
	}
	s.m[key] = stickySession{sid: sid, last: now}
}

// stickyIDs are the identifiers of one server list of the group.
type stickyIDs struct {
	peers  []*balance.Peer // the list they were made for (identity)
	byID   map[string]*balance.Peer
	ofPeer map[*balance.Peer]string
}

// buildSticky compiles the sticky directive of u, or returns nil.
func (p *proxy) buildSticky(u *config.HTTPUpstream) (*sticky, error) {
	sc := u.Sticky
	if sc == nil {
		return nil, nil
	}
	st := &sticky{expires: -1}
	compile := func(src string) (*vars.Template[*request], error) {
		t, err := p.tab.Compile(src, sc.Pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		return t, nil
	}
	switch sc.Method {
	case "cookie":
		st.cookie, st.name = true, sc.Cookie+"="
		t, err := compile("$cookie_" + sc.Cookie)
		if err != nil {
			return nil, err
		}
		st.lookup = append(st.lookup, t)
		switch {
		case sc.ExpiresMax:
			st.expiresMax = true
		case sc.ExpiresSet:
			st.expires = int64(sc.Expires / time.Second)
		}
		if sc.Domain != "" {
			if st.domain, err = compile(sc.Domain); err != nil {
				return nil, err
			}
		}
		if strings.Contains(sc.SameSite, "$") {
			if st.sameVar, err = compile(sc.SameSite); err != nil {
				return nil, err
			}
		} else {
			st.sameSite = sc.SameSite
		}
		st.httpOnly, st.secure = sc.HTTPOnly, sc.Secure
		if sc.Path != "" {
			st.path = "; path=" + sc.Path
		}
	case "learn":
		for _, v := range sc.Lookup {
			t, err := compile(v)
			if err != nil {
				return nil, err
			}
			st.lookup = append(st.lookup, t)
		}
		for _, v := range sc.Create {
			t, err := compile(v)
			if err != nil {
				return nil, err
			}
			st.create = append(st.create, t)
		}
		// NGINX Plus keeps about 4000 sessions in a megabyte
		st.sessions = stickyZone(p.opts.Registry, sc.Zone, u.Name, max(int(sc.ZoneSize/256), 1), sc.Timeout)
		st.header = sc.Header
	case "route":
		for _, v := range sc.Route {
			t, err := compile(v)
			if err != nil {
				return nil, err
			}
			st.lookup = append(st.lookup, t)
		}
	}
	return st, nil
}

// stickyID returns the identifier of server s.
func stickyID(s balance.Server) string {
	if s.Route != "" {
		return s.Route
	}
	addr := s.Addr
	if len(addr) >= 5 && strings.EqualFold(addr[:5], "unix:") {
		addr = addr[5:]
	}
	sum := md5.Sum([]byte(addr))
	return hex.EncodeToString(sum[:])
}

// table returns the identifiers of g's current server list, made again
// when the list changed (a reload keeps nothing of it; the API and resolve
// replace the list).
func (st *sticky) table(g *balance.Group) *stickyIDs {
	peers := g.Peers()
	if t := st.ids.Load(); t != nil && len(t.peers) == len(peers) && unsafe.SliceData(t.peers) == unsafe.SliceData(peers) {
		return t
	}
	t := &stickyIDs{peers: peers, byID: make(map[string]*balance.Peer, len(peers)), ofPeer: make(map[*balance.Peer]string, len(peers))}
	for _, p := range peers {
		id := stickyID(p.Server())
		if _, dup := t.byID[id]; !dup {
			t.byID[id] = p
		}
		t.ofPeer[p] = id
	}
	st.ids.Store(t)
	return t
}

// pickSticky is pick for an upstream with sticky: the server the request
// is bound to if it can take it, else the method's choice.
func (c *conn) pickSticky(r *request, up *upstream) (balance.Selection, error) {
	st := up.sticky
	t := st.table(up.group)
	if st.sessions != nil {
		r.learning, r.learnKey = st, ""
	}
	for _, v := range st.lookup {
		id := v.Append(r.scratch[:0], r)
		r.scratch = id
		if len(id) == 0 {
			continue
		}
		if st.sessions != nil {
			r.learnKey = string(id)
			sid, ok := st.sessions.get(id, c.h.p.now())
			if !ok {
				break
			}
			id = append(id[:0], sid...)
			r.scratch = id
		}
		if p := t.byID[string(id)]; p != nil && !p.Backup() {
			if sel, err := up.group.PickPeer(p, &r.bal); err == nil {
				st.bind(r, t, sel.Peer)
				return sel, nil
			}
		}
		break
	}
	sel, err := up.group.Pick(&r.bal)
	if err == nil {
		st.bind(r, t, sel.Peer)
	}
	return sel, err
}

// bind records the server a sticky cookie names in the response.
func (st *sticky) bind(r *request, t *stickyIDs, p *balance.Peer) {
	if !st.cookie {
		return
	}
	id, ok := t.ofPeer[p]
	if !ok {
		id = stickyID(p.Server())
	}
	r.sticky, r.stickyID = st, id
}

// appendStickyCookie appends the Set-Cookie header of sticky cookie, in
// NGINX Plus's form: NAME=ID[; expires=...; max-age=N][; domain=D]
// [; httponly][; secure][; samesite=V][; path=P].
func (c *conn) appendStickyCookie(dst []byte, r *request) []byte {
	dst = append(dst, "Set-Cookie: "...)
	dst = c.appendStickyValue(dst, r)
	return append(dst, '\r', '\n')
}

// appendStickyValue appends the value of the sticky cookie's Set-Cookie.
func (c *conn) appendStickyValue(dst []byte, r *request) []byte {
	st := r.sticky
	dst = append(dst, st.name...)
	dst = append(dst, r.stickyID...)
	switch {
	case st.expiresMax:
		dst = append(dst, "; expires=Thu, 31-Dec-37 23:55:55 GMT; max-age=315360000"...)
	case st.expires >= 0:
		dst = append(dst, "; expires="...)
		dst = appendCookieTime(dst, time.Unix(c.h.p.now().Unix()+st.expires, 0))
		dst = append(dst, "; max-age="...)
		dst = strconv.AppendInt(dst, st.expires, 10)
	}
	if st.domain != nil {
		n := len(dst)
		dst = append(dst, "; domain="...)
		v := len(dst)
		if dst = st.domain.Append(dst, r); len(dst) == v {
			dst = dst[:n] // empty: no domain
		}
	}
	if st.httpOnly {
		dst = append(dst, "; httponly"...)
	}
	if st.secure {
		dst = append(dst, "; secure"...)
	}
	switch {
	case st.sameVar != nil:
		n := len(dst)
		dst = append(dst, "; samesite="...)
		v := len(dst)
		dst = st.sameVar.Append(dst, r)
		switch {
		case len(dst) == v:
			dst = dst[:n] // empty: no SameSite
		case !config.SameSiteValue(bstr(dst[v:])):
			dst = append(dst[:v], "strict"...)
		}
	case st.sameSite != "":
		dst = append(dst, "; samesite="...)
		dst = append(dst, st.sameSite...)
	}
	return append(dst, st.path...)
}

// stickyHead runs when the response head of server p arrived for a
// request of an upstream with sticky learn: it finds the session the
// response creates (the first non-empty create variable) or the one the
// request named, and learns it now (header) or when the response ends
// well (stickyDone).
func (c *conn) stickyHead(r *request, up *upstream, p *balance.Peer) {
	st := r.learning
	was := r.haveResp
	r.haveResp = true // for $upstream_cookie_* and $upstream_http_*
	r.learnNew = false
	for _, v := range st.create {
		id := v.Append(r.scratch[:0], r)
		r.scratch = id
		if len(id) > 0 {
			r.learnKey, r.learnNew = string(id), true
			break
		}
	}
	r.haveResp = was
	if r.learnKey == "" {
		r.learning = nil
		return
	}
	if st.header {
		c.stickyLearn(r, up, p)
	}
}

// stickyDone ends the learning of a response: a response that ended well
// teaches its session unless the head already did.
func (c *conn) stickyDone(r *request, up *upstream, p *balance.Peer, ok bool) {
	if ok && r.learnKey != "" && !r.learning.header {
		c.stickyLearn(r, up, p)
	}
	r.learning = nil
}

func (c *conn) stickyLearn(r *request, up *upstream, p *balance.Peer) {
	t := up.sticky.table(up.group)
	sid, ok := t.ofPeer[p]
	if !ok {
		sid = stickyID(p.Server())
	}
	up.sticky.sessions.learn(r.learnKey, sid, r.learnNew, c.h.p.now())
}
