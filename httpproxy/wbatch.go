package httpproxy

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/sluicelb/sluice/internal/uring"
)

// Deferred writes. A goroutine that ends a small response to a client, or
// sends a whole small request to an upstream and then waits for its
// response, has nothing to do between the write and its next wait. It
// can hand the write to the process's batch instead of making it: the
// bytes are copied, the batch's goroutine (flush) runs once the goroutines
// made runnable by the same poller wake-up have run, and it makes all the
// writes they handed over in one io_uring_enter(2) instead of one send(2)
// each. Where a system call is dear (about a microsecond under a
// hypervisor that traps each one), a batch of ten saves most of the cost
// of ten writes.
//
// Each connection has one slot (wslot) and defers at most one write at a
// time. The slot goes idle -> queued (handed over) -> busy (taken by
// flush) -> done, and back to idle when its owner settles it. A write the
// socket did not take whole (a full buffer) is finished by a goroutine of
// its own (finish), which waits for the socket as a blocking write does,
// under the write deadline already set; the slot is finishing meanwhile.
// When that write fails, it shuts the socket down, so that the owner,
// waiting to read, wakes and settles.
//
// The owner settles its slot (settle) before anything else it does with
// the socket once its wait ends: a write, a close, a read that follows
// the deferred write in the protocol (exchange). A slot still queued is
// then taken back, and its bytes are the owner's to write. The socket's
// descriptor is held open (rtpoll.FD.Hold) from the hand-over to the end
// of the write, so a close meanwhile cannot give its number to another
// socket.
//
// Where io_uring is not available, nothing is deferred.

// wbMax is the largest write that is deferred: bigger ones are made at
// once, as the copy would cost more than the call it saves.
const wbMax = 8 << 10

// heldFD is a raw connection whose descriptor can be held open past a
// call (an rtpoll.FD).
type heldFD interface {
	syscall.RawConn
	Hold() (int, error)
	Release()
	Control(func(fd uintptr)) error
}

// The states of a wslot.
const (
	slotIdle int32 = iota
	slotQueued
	slotBusy
	slotFinishing
	slotDone
)

// wslot is a connection's deferred write.
type wslot struct {
	state atomic.Int32
	rc    heldFD
	fd    int32
	buf   []byte        // the bytes to write (the batch's copy)
	n     int           // how many went out
	err   error         // why the rest did not
	done  chan struct{} // closed when finish ends
}

// pending says whether the slot has a write its owner has not settled.
func (s *wslot) pending() bool { return s.state.Load() != slotIdle }

// settle waits for the deferred write to end, or takes it back while it
// is still queued. It returns the bytes that did not go out (all of them
// when it took the write back, none once the write ended), which the
// owner gives back with recycle once it wrote them, and the error that
// ended the write, if any. sent is how many went out.
func (s *wslot) settle() (rest []byte, sent int, err error) {
	for {
		switch s.state.Load() {
		case slotIdle:
			return nil, 0, nil
		case slotQueued:
			if s.state.CompareAndSwap(slotQueued, slotIdle) {
				s.rc.Release()
				s.rc = nil
				return s.buf, 0, nil
			}
		case slotBusy:
			runtime.Gosched() // flush is making the write: it takes no time
		case slotFinishing:
			<-s.done
		case slotDone:
			sent, err = s.n, s.err
			s.done, s.err, s.rc = nil, nil, nil
			s.recycle()
			s.state.Store(slotIdle)
			return nil, sent, err
		}
	}
}

// recycle gives the slot's buffer back to the batch.
func (s *wslot) recycle() {
	if s.buf != nil {
		wb.putBuf(s.buf)
		s.buf = nil
	}
}

// wbatch is the process's batch of deferred writes.
type wbatch struct {
	once sync.Once
	ring *uring.Ring // nil: nothing is deferred

	mu    sync.Mutex
	q     []*wslot
	spare []*wslot
	free  [][]byte
	wake  chan struct{}
	off   atomic.Bool // the ring failed
}

var wb wbatch

// wbDisabled turns deferral off (tests).
var wbDisabled atomic.Bool

// deferWrite hands b, to be written to the socket rc, over to the batch
// and reports true; or false when it cannot (no io_uring, a write too big,
// a descriptor that cannot be held, a slot still pending), and the caller
// writes b itself.
func (s *wslot) deferWrite(rc syscall.RawConn, b []byte) bool {
	if len(b) > wbMax || len(b) == 0 || wbDisabled.Load() || s.state.Load() != slotIdle {
		return false
	}
	h, ok := rc.(heldFD)
	if !ok || !wb.start() {
		return false
	}
	fd, err := h.Hold()
	if err != nil {
		return false
	}
	s.rc, s.fd, s.n, s.err = h, int32(fd), 0, nil
	wb.mu.Lock()
	s.buf = append(wb.getBuf(), b...)
	s.state.Store(slotQueued)
	wb.q = append(wb.q, s)
	first := len(wb.q) == 1
	wb.mu.Unlock()
	if first {
		select {
		case wb.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// start sets the batch up the first time it is used, and reports whether
// it runs.
func (w *wbatch) start() bool {
	w.once.Do(func() {
		r, err := uring.New(64)
		if err != nil {
			return
		}
		w.ring, w.wake = r, make(chan struct{}, 1)
		go w.flush()
	})
	return w.ring != nil && !w.off.Load()
}

// getBuf returns an empty buffer for a write; w.mu is held.
func (w *wbatch) getBuf() []byte {
	if n := len(w.free); n > 0 {
		b := w.free[n-1]
		w.free = w.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, 1024)
}

// putBuf gives a buffer back, keeping a few for later writes.
func (w *wbatch) putBuf(b []byte) {
	w.mu.Lock()
	if len(w.free) < 256 && cap(b) <= wbMax {
		w.free = append(w.free, b)
	}
	w.mu.Unlock()
}

// flush makes the deferred writes. Woken by the first hand-over of a
// batch, it yields first: the goroutines the same wake-up of the poller
// made runnable run before it, and hand over their writes too.
func (w *wbatch) flush() {
	var taken []*wslot
	for range w.wake {
		runtime.Gosched()
		w.mu.Lock()
		q := w.q
		w.q, w.spare = w.spare[:0], q
		w.mu.Unlock()
		for len(q) > 0 {
			taken = taken[:0]
			for len(q) > 0 && len(taken) < w.ring.Cap() {
				s := q[0]
				q = q[1:]
				if s.state.CompareAndSwap(slotQueued, slotBusy) {
					s.n = -1 // not made yet
					taken = append(taken, s)
				} // else taken back by its owner
			}
			if !w.off.Load() {
				w.submit(taken)
			}
			for _, s := range taken {
				w.ended(s)
			}
		}
		clear(w.spare)
	}
}

// submit makes the writes of taken in one batch, and records how each
// ended. When the ring fails, nothing more is deferred.
func (w *wbatch) submit(taken []*wslot) {
	for i, s := range taken {
		w.ring.Send(s.fd, s.buf, uint64(i))
	}
	wbBatches.Add(1)
	wbWrites.Add(int64(len(taken)))
	err := wbSubmit(w.ring, func(tag uint64, res int32) {
		s := taken[tag]
		switch {
		case res >= 0:
			s.n = int(res)
		case res == -int32(syscall.EAGAIN):
			s.n = 0
		default:
			s.n, s.err = 0, os.NewSyscallError("write", syscall.Errno(-res))
		}
	})
	if err != nil {
		w.off.Store(true) // the writes the ring did not make are finished one by one
	}
}

// wbSubmit runs a batch (a variable for tests that make the ring fail).
var wbSubmit = (*uring.Ring).Submit

// wbBatches and wbWrites count the batches made and the writes in them.
var wbBatches, wbWrites atomic.Int64

// ended settles a write flush made: done when it went out whole or
// failed, otherwise handed to finish.
func (w *wbatch) ended(s *wslot) {
	switch {
	case s.err != nil:
		s.rc.Control(shutdownFD) // wake the owner
		s.end()
	case s.n == len(s.buf):
		s.end()
	default:
		if s.n < 0 {
			s.n = 0 // not made: the ring failed
		}
		s.done = make(chan struct{})
		s.state.Store(slotFinishing)
		go s.finish()
	}
}

// finish writes the rest of a deferred write, waiting for the socket to
// take it as a blocking write does, under its write deadline.
func (s *wslot) finish() {
	w := rawWrite{b: s.buf, n: s.n}
	err := s.rc.Write(w.step)
	s.n, s.err = w.n, w.err
	if err != nil {
		s.err = err
	}
	if s.err != nil {
		s.rc.Control(shutdownFD)
	}
	done := s.done
	s.end()
	close(done)
}

// end ends a write made: the buffer goes back at once (an idle connection
// whose owner settles only at its next request holds none), and the
// descriptor is released.
func (s *wslot) end() {
	s.recycle()
	s.rc.Release()
	s.state.Store(slotDone)
}

// shutdownFD shuts a socket down both ways: a goroutine waiting to read
// from it wakes.
func shutdownFD(fd uintptr) { syscall.Shutdown(int(fd), syscall.SHUT_RDWR) }
