package httpproxy

import (
	"net"
	"sync"
)

// idleConns is the set of a build's client connections that wait for
// their next request (keep-alive), so that they can be closed when the
// build stops serving: after a reload nginx's old workers close their
// idle keep-alive connections at once, and so does a graceful stop. The
// clients then reconnect to the new configuration instead of sending one
// more request to the old one, and the old configuration is not kept
// for up to keepalive_timeout.
//
// It is a doubly linked list through the connections themselves: joining
// and leaving cost a lock and no allocation, once per request.
type idleConns struct {
	mu     sync.Mutex
	head   *conn
	closed bool // the build no longer serves: new idle connections close
}

// join adds c, which is about to wait for its next request; it reports
// false when the build no longer serves, and c is to close instead.
func (s *idleConns) join(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	c.idlePrev, c.idleNext = nil, s.head
	if s.head != nil {
		s.head.idlePrev = c
	}
	s.head = c
	c.idleIn = true
	return true
}

// leave removes c, whose wait has ended.
func (s *idleConns) leave(c *conn) {
	s.mu.Lock()
	if c.idleIn {
		if c.idlePrev != nil {
			c.idlePrev.idleNext = c.idleNext
		} else {
			s.head = c.idleNext
		}
		if c.idleNext != nil {
			c.idleNext.idlePrev = c.idlePrev
		}
		c.idlePrev, c.idleNext, c.idleIn = nil, nil, false
	}
	s.mu.Unlock()
}

// closeAll closes the connections waiting now and makes later ones
// close instead of waiting. A connection whose next request is arriving
// at that moment is closed too, as nginx does: clients retry a request
// sent on a keep-alive connection that the server closed.
func (s *idleConns) closeAll() {
	var ncs []net.Conn
	s.mu.Lock()
	s.closed = true
	for c := s.head; c != nil; c = c.idleNext {
		ncs = append(ncs, c.nc)
	}
	s.mu.Unlock()
	// Closed outside the lock: a TLS connection's close writes its
	// close_notify. A connection that left the set meanwhile is closed
	// all the same (its goroutine then ends as on a client close), and a
	// second close of one that has ended does nothing.
	for _, nc := range ncs {
		nc.Close()
	}
}
