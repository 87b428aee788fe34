// Package testutil holds helpers shared by the tests of several packages:
// loopback listeners and free ports, external server programs (nginx,
// haproxy, redis-server) run for a test, and certificates made on the fly.
//
// Only _test.go files import it, and it imports nothing but the standard
// library, so that any package can use it in its tests without an import
// cycle.
package testutil

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// WaitLimit bounds every wait of these helpers: for a port to open, a
// server to start, a connection to end.
const WaitLimit = 10 * time.Second

// SyncBuffer is a bytes.Buffer safe for concurrent use, for capturing the
// output of a logger that other goroutines write to. The zero value is an
// empty buffer ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FakeClock is a clock moved by hand (it has the Now method of
// balance.Clock). Its zero value reads the zero time; it is safe for
// concurrent use.
type FakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewFakeClock returns a clock that reads t until it is advanced.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{t: t} }

// Now returns the time the clock reads.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// WaitFor polls cond until it holds, failing the test after WaitLimit. It
// is for conditions with no event to wait on, such as a line another
// process writes to a file; what names the condition in the failure.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // the condition has no event to wait on
	}
}
