package tlsconf

import (
	"container/list"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"sync"
	"time"
)

// Sessions says how a TLS server resumes sessions: ssl_session_tickets,
// ssl_session_cache and ssl_session_timeout. The zero value resumes
// nothing.
type Sessions struct {
	// Tickets is ssl_session_tickets: the session travels to the client
	// in a ticket encrypted with the server's keys.
	Tickets bool
	// Cache is ssl_session_cache: without tickets, sessions are kept in
	// it and the client gets only their key. Nil keeps none.
	Cache *SessionCache
	// Timeout is ssl_session_timeout: how long a session can be resumed
	// after its full handshake.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Apply sets cfg to resume sessions as s says. cfg must not be copied
// before it serves (its clones share its ticket keys, which is fine).
func (s Sessions) Apply(cfg *tls.Config) {
	now := s.Now
	if now == nil {
		now = time.Now
	}
	switch {
	case s.Timeout <= 0 || !s.Tickets && s.Cache == nil:
		cfg.SessionTicketsDisabled = true
	case s.Tickets:
		// the session's creation time rides inside the encrypted ticket
		lifetime := s.Timeout
		cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(now().UnixNano()))
			ss.Extra = append(ss.Extra, b[:])
			return cfg.EncryptTicket(cs, ss)
		}
		cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
			ss, err := cfg.DecryptTicket(identity, cs)
			if err != nil || ss == nil || len(ss.Extra) == 0 {
				return nil, err
			}
			last := ss.Extra[len(ss.Extra)-1]
			if len(last) != 8 {
				return nil, nil
			}
			created := time.Unix(0, int64(binary.BigEndian.Uint64(last)))
			if now().Sub(created) >= lifetime {
				return nil, nil
			}
			ss.Extra = ss.Extra[:len(ss.Extra)-1]
			return ss, nil
		}
	default:
		c, lifetime := s.Cache, s.Timeout
		cfg.WrapSession = func(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			b, err := ss.Bytes()
			if err != nil {
				return nil, err
			}
			return c.put(b, now().Add(lifetime)), nil
		}
		cfg.UnwrapSession = func(identity []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
			b := c.get(identity, now())
			if b == nil {
				return nil, nil
			}
			return tls.ParseSessionState(b)
		}
	}
}

// SessionCache is a server-side store of TLS sessions (ssl_session_cache):
// at most Max sessions, the oldest dropped first, each until it expires.
// It is safe for concurrent use and may outlive the configurations that
// use it, as nginx's shared cache outlives a reload.
type SessionCache struct {
	max int

	mu    sync.Mutex
	m     map[string]*list.Element
	order list.List // of *cacheEntry, oldest first
}

type cacheEntry struct {
	id      string
	state   []byte
	expires time.Time
}

// NewSessionCache returns a cache holding at most max sessions (at least 1).
func NewSessionCache(max int) *SessionCache {
	if max < 1 {
		max = 1
	}
	return &SessionCache{max: max, m: map[string]*list.Element{}}
}

// Len returns the number of sessions held, expired ones included.
func (c *SessionCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *SessionCache) put(state []byte, expires time.Time) []byte {
	id := make([]byte, 32)
	rand.Read(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.m) >= c.max {
		e := c.order.Front()
		c.order.Remove(e)
		delete(c.m, e.Value.(*cacheEntry).id)
	}
	c.m[string(id)] = c.order.PushBack(&cacheEntry{id: string(id), state: state, expires: expires})
	return id
}

func (c *SessionCache) get(id []byte, now time.Time) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[string(id)]
	if !ok {
		return nil
	}
	ce := e.Value.(*cacheEntry)
	if !now.Before(ce.expires) {
		c.order.Remove(e)
		delete(c.m, ce.id)
		return nil
	}
	return ce.state
}
