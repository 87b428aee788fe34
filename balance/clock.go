package balance

import (
	"sync/atomic"
	"time"
)

// The coarse clock.
//
// least_time reads the time on every pick (to age the latency estimates and
// to stamp the attempt), and reading the system clock costs a quarter of
// such a pick. Like nginx, which reads the clock once per event-loop
// iteration, picks read a cached time instead: a goroutine refreshes it
// every coarseTick while picks use it, and stops after coarseIdle without
// a reader, so an idle process does not wake up for it. Every least_time
// quantity is in milliseconds or more, so the resolution costs nothing.

const (
	coarseTick = time.Millisecond
	coarseIdle = time.Second
)

// coarse is the process's cached clock, in nanoseconds since coarseEpoch.
var coarse struct {
	_       [64]byte // written every tick: keep it on a line of its own
	now     atomic.Int64
	running atomic.Bool
	used    atomic.Bool
	_       [48]byte
}

var coarseEpoch = time.Now()

// coarseNow returns the cached time in nanoseconds since coarseEpoch,
// starting the refresher when it is not running; it is at most about
// coarseTick behind the monotonic clock while the process is not starved.
func coarseNow() int64 {
	if coarse.running.Load() {
		if !coarse.used.Load() {
			coarse.used.Store(true)
		}
		return coarse.now.Load()
	}
	now := int64(time.Since(coarseEpoch))
	if coarse.running.CompareAndSwap(false, true) {
		coarse.now.Store(now)
		coarse.used.Store(true)
		go refreshCoarse()
	}
	return now
}

// refreshCoarse keeps coarse.now current until no pick has read it for
// coarseIdle.
func refreshCoarse() {
	t := time.NewTicker(coarseTick)
	defer t.Stop()
	idle := 0
	for range t.C {
		coarse.now.Store(int64(time.Since(coarseEpoch)))
		if coarse.used.Swap(false) {
			idle = 0
		} else if idle++; idle >= int(coarseIdle/coarseTick) {
			coarse.running.Store(false)
			return
		}
	}
}
