package balance

// random: nginx's ngx_http_upstream_get_random_peer. A server is drawn with
// probability proportional to its weight; an unusable draw is retried up to
// 20 times, then round robin decides.
func (c *pickCtx) random() *Peer {
	s, t, r := c.s, c.s.primary, c.req
	if r.hashTries > 20 || len(t.peers) < 2 {
		return s.pickRR(c)
	}
	for {
		p := t.peers[t.at(int64(s.rnd()%uint64(t.total)))]
		if c.usable(p) {
			return p
		}
		if r.hashTries++; r.hashTries > 20 {
			return s.pickRR(c)
		}
	}
}

// random two: nginx's ngx_http_upstream_get_random2_peer. Two different
// usable servers are drawn; the one with fewer active connections relative
// to weight (or the lower least_time score) wins, the second on a tie.
func (c *pickCtx) random2() *Peer {
	s, t, r := c.s, c.s.primary, c.req
	if r.hashTries > 20 || len(t.peers) < 2 {
		return s.pickRR(c)
	}
	if random, ticket := t.tieBegin(c); random {
		if p := c.random2Lane(t); p != nil {
			return p
		}
	} else {
		defer t.tieEnd(ticket)
	}
	var prev *Peer
	for {
		p := t.peers[t.at(int64(s.rnd()%uint64(t.total)))]
		if p != prev && c.usable(p) {
			if prev != nil {
				if c.worse(p, prev) {
					p = prev
				}
				return p
			}
			prev = p
		}
		if r.hashTries++; r.hashTries > 20 {
			return s.pickRR(c)
		}
	}
}

// worse reports whether a is more loaded than b.
func (c *pickCtx) worse(a, b *Peer) bool {
	if c.s.g.cfg.TwoLeastTime {
		v := c.s.ltView(c.coarseTime())
		ea := v.estimate(a.st) * float64(a.st.conns()+1)
		eb := v.estimate(b.st) * float64(b.st.conns()+1)
		return ea*float64(b.weight) > eb*float64(a.weight)
	}
	return int64(a.st.conns())*b.weight > int64(b.st.conns())*a.weight
}
