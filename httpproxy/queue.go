package httpproxy

import (
	"net"
	"sync"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/errlog"
)

// queueRecheck bounds how long a queued request waits without asking the
// balancer again: a server may become free with no attempt of this
// upstream ending (its fail_timeout runs out, a health check passes, a
// reload hands the servers to a new generation).
const queueRecheck = 200 * time.Millisecond

// upQueue is the NGINX Plus queue of an upstream: requests that found no
// server free wait in it, in arrival order, for an attempt on the
// upstream to end. It is safe for concurrent use; requests of upstreams
// without a queue never touch it.
type upQueue struct {
	max     int           // queue number: the most requests waiting
	timeout time.Duration // timeout=: the longest wait

	mu      sync.Mutex
	n       int            // requests in the queue
	waiters []*queueWaiter // those to wake, first come first
}

// queueWaiter is one queued request.
type queueWaiter struct {
	wake chan struct{} // buffered: a release never blocks
}

// release wakes the first queued request, if any: an attempt on the
// upstream ended, so a server may have room.
func (q *upQueue) release() {
	q.mu.Lock()
	q.wakeLocked()
	q.mu.Unlock()
}

func (q *upQueue) wakeLocked() {
	if len(q.waiters) == 0 {
		return
	}
	w := q.waiters[0]
	copy(q.waiters, q.waiters[1:])
	q.waiters[len(q.waiters)-1] = nil
	q.waiters = q.waiters[:len(q.waiters)-1]
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// enter takes a place in the queue for w, or reports false when it is
// full.
func (q *upQueue) enter(w *queueWaiter) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n >= q.max {
		return false
	}
	q.n++
	q.waiters = append(q.waiters, w)
	return true
}

// rewait puts w back at the head of the queue after a wake-up that found
// no server free (another request took it).
func (q *upQueue) rewait(w *queueWaiter) {
	q.mu.Lock()
	q.waiters = append(q.waiters, nil)
	copy(q.waiters[1:], q.waiters)
	q.waiters[0] = w
	q.mu.Unlock()
}

// leave gives up w's place. A wake-up w received and will not use passes
// to the next waiter.
func (q *upQueue) leave(w *queueWaiter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.n--
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			return
		}
	}
	select {
	case <-w.wake: // woken, unused
		q.wakeLocked()
	default:
	}
}

// queuedPick is pick for a first try that found no server free in an
// upstream with a queue: the request waits in the queue for one.
func (c *conn) queuedPick(r *request, up *upstream) (balance.Selection, bool) {
	sel, err := c.queuePick(r, up, func() (balance.Selection, error) {
		r.bal.Client = r.remote.Addr()
		if up.sticky == nil {
			return up.group.Pick(&r.bal)
		}
		return c.pickSticky(r, up) // sticky.go
	})
	return sel, err == nil
}

// queueAborted ends a request whose client went away while it was
// queued: nothing is answered, 499 is logged, as for a client gone while
// the response head was awaited.
func (c *conn) queueAborted(r *request) bool {
	r.status = 499
	r.keepAlive = false
	return false
}

// queuePick waits in up's queue for a server after the balancer found
// none: it returns the selection, or an error after it answered nothing
// (queue full, timeout: the caller answers 502; the client gone: r.queueGone).
// The time spent is $upstream_queue_time.
func (c *conn) queuePick(r *request, up *upstream, pick func() (balance.Selection, error)) (balance.Selection, error) {
	q := up.queue
	w := &queueWaiter{wake: make(chan struct{}, 1)}
	if !q.enter(w) {
		c.logf(r.srv, errlog.LevelError, "upstream queue is full while connecting to upstream")
		return balance.Selection{}, balance.ErrNoPeer
	}
	start := c.h.p.now()
	defer func() { r.queueTime = c.h.p.now().Sub(start) }()
	// a release between the failed pick and enter is not lost: the
	// balancer is asked again now that w is in the list
	if sel, err := pick(); err == nil {
		q.leave(w)
		return sel, nil
	}
	// the client going away ends the wait (the watch closes gc)
	var watch clientWatch
	gc := &goneConn{gone: make(chan struct{})}
	watch.start(c, &upConn{nc: gc})
	defer watch.stop(c)
	deadline := start.Add(q.timeout)
	t := time.NewTimer(min(q.timeout, queueRecheck))
	defer t.Stop()
	for {
		select {
		case <-w.wake:
			if sel, err := pick(); err == nil {
				q.leave(w)
				return sel, nil
			}
			q.rewait(w)
			continue
		case <-gc.gone:
			q.leave(w)
			c.logf(r.srv, errlog.LevelInfo, "client prematurely closed connection while waiting in upstream queue")
			r.queueGone = true
			return balance.Selection{}, balance.ErrNoPeer
		case <-t.C:
		}
		if sel, err := pick(); err == nil {
			q.leave(w)
			return sel, nil
		}
		left := deadline.Sub(c.h.p.now())
		if left <= 0 {
			q.leave(w)
			c.logf(r.srv, errlog.LevelError, "upstream queue timed out while connecting to upstream")
			return balance.Selection{}, balance.ErrNoPeer
		}
		t.Reset(min(left, queueRecheck))
	}
}

// goneConn stands for the upstream connection of a queued request in a
// clientWatch: the watch closes it when the client goes away.
type goneConn struct {
	net.Conn // never used
	once     sync.Once
	gone     chan struct{}
}

func (g *goneConn) Close() error {
	g.once.Do(func() { close(g.gone) })
	return nil
}
