//go:build linux

// Package rtpoll registers a non-blocking descriptor with the Go
// runtime's network poller directly, as internal/poll does for os.File
// and net.Conn, without the file around it. A connection made this way
// costs the poller's registration (one epoll_ctl) and nothing else: no
// fcntl to learn the descriptor's mode, no finalizer, no file to
// allocate. An FD is itself a syscall.RawConn.
//
// Reads wait one at a time, and so do writes; Close may be
// called by any goroutine, at any time: it wakes the waiting ones, and
// the descriptor is closed when the last call using it has returned, so
// that its number is never reused under a call still running.
package rtpoll

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	_ "unsafe" // go:linkname
)

// The runtime's poller, as internal/poll reaches it.

//go:linkname runtimePollServerInit internal/poll.runtime_pollServerInit
func runtimePollServerInit()

//go:linkname runtimePollOpen internal/poll.runtime_pollOpen
func runtimePollOpen(fd uintptr) (uintptr, int)

//go:linkname runtimePollClose internal/poll.runtime_pollClose
func runtimePollClose(ctx uintptr)

//go:linkname runtimePollReset internal/poll.runtime_pollReset
func runtimePollReset(ctx uintptr, mode int) int

//go:linkname runtimePollWait internal/poll.runtime_pollWait
func runtimePollWait(ctx uintptr, mode int) int

//go:linkname runtimePollSetDeadline internal/poll.runtime_pollSetDeadline
func runtimePollSetDeadline(ctx uintptr, d int64, mode int)

//go:linkname runtimePollUnblock internal/poll.runtime_pollUnblock
func runtimePollUnblock(ctx uintptr)

// The runtime's error codes (runtime/netpoll.go).
const (
	pollErrClosing = 1
	pollErrTimeout = 2
)

// closedBit marks state once Close was called; the bits below count the
// calls using the descriptor.
const closedBit = 1 << 62

var initOnce sync.Once

// FD is a descriptor registered with the runtime's poller. Its zero
// value is not usable: Open it.
type FD struct {
	fd      int
	ctx     uintptr
	state   atomic.Int64
	drained atomic.Bool // MarkDrained was called, and nothing used fd since

	// One read and one write wait at a time, as internal/poll's locks
	// have it: the runtime's poller throws on a second waiter.
	rmu, wmu sync.Mutex
}

// Open registers fd, which must be non-blocking, with the poller. On an
// error fd is left open, for the caller to close.
func (f *FD) Open(fd int) error {
	initOnce.Do(runtimePollServerInit)
	ctx, errno := runtimePollOpen(uintptr(fd))
	if errno != 0 {
		return os.NewSyscallError("epoll_ctl", syscall.Errno(errno))
	}
	f.fd, f.ctx = fd, ctx
	f.state.Store(0)
	f.drained.Store(false)
	return nil
}

// incref counts a call that uses the descriptor; it fails once Close was
// called.
func (f *FD) incref() error {
	for {
		s := f.state.Load()
		if s&closedBit != 0 {
			return net.ErrClosed
		}
		if f.state.CompareAndSwap(s, s+1) {
			return nil
		}
	}
}

// decref ends a call; the last one after Close closes the descriptor.
func (f *FD) decref() {
	if f.state.Add(-1) == closedBit {
		f.destroy()
	}
}

// destroy takes the descriptor out of the poller, then closes it. The
// registration is removed first: once the number is closed it may be
// given to another descriptor, whose registration a later removal would
// take. The close is a raw call: a TCP socket's shutdown runs inside it
// (tens of microseconds on loopback), long enough for the runtime to hand
// the processor to another thread from a call made in the system-call
// state.
func (f *FD) destroy() {
	runtimePollClose(f.ctx)
	for {
		_, _, e := syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(f.fd), 0, 0)
		if e != syscall.EINTR {
			return
		}
	}
}

// Hold keeps the descriptor open, as a call using it does, until Release:
// writes made elsewhere (a batch in an io_uring) can then use its number
// after the call that handed it over has returned, and a Close meanwhile
// closes it only at the Release. They must not read: a read would leave
// ReadDrained waiting for bytes already taken. It returns the number, or
// net.ErrClosed once Close was called.
func (f *FD) Hold() (int, error) {
	if err := f.incref(); err != nil {
		return -1, err
	}
	return f.fd, nil
}

// Release ends a Hold.
func (f *FD) Release() { f.decref() }

// Close wakes any call waiting on the descriptor and closes it once the
// calls using it have returned. A second Close returns net.ErrClosed.
func (f *FD) Close() error {
	for {
		s := f.state.Load()
		if s&closedBit != 0 {
			return net.ErrClosed
		}
		// the closer holds a reference until the waiters are woken
		if f.state.CompareAndSwap(s, (s+1)|closedBit) {
			break
		}
	}
	runtimePollUnblock(f.ctx)
	f.decref()
	return nil
}

// mapErr turns a poller error code into the error internal/poll reports.
func mapErr(code int) error {
	switch code {
	case pollErrClosing:
		return net.ErrClosed
	case pollErrTimeout:
		return os.ErrDeadlineExceeded
	}
	return errNotPollable
}

var errNotPollable = errors.New("rtpoll: descriptor not pollable")

// Control calls fn with the descriptor, which stays open meanwhile.
func (f *FD) Control(fn func(fd uintptr)) error {
	if err := f.incref(); err != nil {
		return err
	}
	f.drained.Store(false) // fn may read
	fn(uintptr(f.fd))
	f.decref()
	return nil
}

// Read calls fn with the descriptor until it returns true, waiting
// between calls until the descriptor is readable (as syscall.RawConn's
// Read). The first call follows a reset of the readiness already seen.
func (f *FD) Read(fn func(fd uintptr) bool) error { return f.wait(fn, 'r') }

// Write is Read for writability.
func (f *FD) Write(fn func(fd uintptr) bool) error { return f.wait(fn, 'w') }

// ReadDrained is Read for a reader that knows the socket is empty: when
// the callback of the last Read marked it so (MarkDrained) and nothing
// used the descriptor since, it waits until the descriptor is readable
// before the first call. Bytes that arrived after that last read raised
// the readiness this wait sees (the poller is edge-triggered), so they
// are not missed; a readiness left from before that read only costs a
// call that finds nothing and a second wait. Otherwise it is Read.
func (f *FD) ReadDrained(fn func(fd uintptr) bool) error {
	if !f.drained.Load() {
		return f.wait(fn, 'r')
	}
	if err := f.incref(); err != nil {
		return err
	}
	f.rmu.Lock()
	f.drained.Store(false)
	code := runtimePollWait(f.ctx, 'r')
	for code == 0 && !fn(uintptr(f.fd)) {
		code = runtimePollWait(f.ctx, 'r')
	}
	f.rmu.Unlock()
	f.decref()
	if code != 0 {
		return mapErr(code)
	}
	return nil
}

// MarkDrained records, from a Read callback, that its read emptied the
// socket: it returned fewer bytes than it asked for.
func (f *FD) MarkDrained() { f.drained.Store(true) }

func (f *FD) wait(fn func(fd uintptr) bool, mode int) error {
	if err := f.incref(); err != nil {
		return err
	}
	mu := &f.wmu
	if mode == 'r' {
		mu = &f.rmu
	}
	mu.Lock()
	if mode == 'r' {
		f.drained.Store(false)
	}
	code := runtimePollReset(f.ctx, mode)
	for code == 0 && !fn(uintptr(f.fd)) {
		code = runtimePollWait(f.ctx, mode)
	}
	mu.Unlock()
	f.decref()
	if code != 0 {
		return mapErr(code)
	}
	return nil
}

// SetDeadline sets the read and write deadlines (none when t is zero).
func (f *FD) SetDeadline(t time.Time) error { return f.setDeadline(t, 'r'+'w') }

// SetReadDeadline sets the read deadline.
func (f *FD) SetReadDeadline(t time.Time) error { return f.setDeadline(t, 'r') }

// SetWriteDeadline sets the write deadline.
func (f *FD) SetWriteDeadline(t time.Time) error { return f.setDeadline(t, 'w') }

func (f *FD) setDeadline(t time.Time, mode int) error {
	var d int64
	if !t.IsZero() {
		if d = int64(time.Until(t)); d == 0 {
			d = -1 // now, not "no deadline"
		}
	}
	if err := f.incref(); err != nil {
		return err
	}
	runtimePollSetDeadline(f.ctx, d, mode)
	f.decref()
	return nil
}
