//go:build linux

package stream

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

// The bulk copy: splice(2) from socket to socket through a pipe of the
// copier's own, with calls made outside the scheduler's system-call
// state.
//
// net.TCPConn.ReadFrom splices too, but each of its splice(2) calls
// enters that state, and a splice that moves a few hundred kilobytes over
// loopback runs the receiver's TCP input inside the call and outlasts the
// runtime's 20 µs check: the runtime's monitor thread then takes the
// processor away and the call's return has to find one again, which
// costs thread wake-ups and context switches, and keeps the monitor
// waking every 20 µs for as long as the transfer runs (about a quarter of
// the proxy's CPU time in a 1 GB/s transfer). The calls here never wait
// in the kernel (SPLICE_F_NONBLOCK on non-blocking sockets and pipes), so
// they keep the processor; a full destination is waited for through the
// runtime's poller.

// fcntl commands for a pipe's capacity (not in package syscall).
const (
	fSetPipeSize = 1031 // F_SETPIPE_SZ
	fGetPipeSize = 1032 // F_GETPIPE_SZ
)

// splicePipeSize is the capacity asked for a splice pipe: the most one
// splice(2) moves. The kernel may grant less (fs.pipe-max-size, or the
// user's pipe quota); the pipe then works at the size it has.
const splicePipeSize = 1 << 20

// splicePipe is a pipe for splice(2), empty whenever it is not in use.
type splicePipe struct {
	r, w    int
	size    int
	cleanup runtime.Cleanup
}

// splicedBytes counts the bytes moved by splice, for tests.
var splicedBytes atomic.Int64

// splicePipes holds empty pipes between copies; a pipe the garbage
// collector takes from the pool is closed by its cleanup.
var splicePipes sync.Pool

func getSplicePipe() *splicePipe {
	if sp, ok := splicePipes.Get().(*splicePipe); ok {
		return sp
	}
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil
	}
	syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fds[0]), fSetPipeSize, splicePipeSize)
	size, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fds[0]), fGetPipeSize, 0)
	if e != 0 || size == 0 {
		size = 64 << 10
	}
	sp := &splicePipe{r: fds[0], w: fds[1], size: int(size)}
	sp.cleanup = runtime.AddCleanup(sp, closePipe, fds)
	return sp
}

func closePipe(fds [2]int) {
	syscall.Close(fds[0])
	syscall.Close(fds[1])
}

// close closes a pipe that may hold bytes, instead of pooling it.
func (sp *splicePipe) close() {
	sp.cleanup.Stop()
	closePipe([2]int{sp.r, sp.w})
}

// rawSplice is one non-blocking splice(2) of up to n bytes from in to
// out, retried on EINTR.
func rawSplice(in, out uintptr, n int) (int, syscall.Errno) {
	for {
		r, _, e := syscall.RawSyscall6(syscall.SYS_SPLICE, in, 0, out, 0, uintptr(n), spliceMove|spliceNonblock)
		if e != syscall.EINTR {
			return int(r), e
		}
	}
}

// splice(2) flags.
const (
	spliceMove     = 0x1 // SPLICE_F_MOVE
	spliceNonblock = 0x2 // SPLICE_F_NONBLOCK
)

// splice moves up to max bytes queued at the flow's source to its
// destination, and returns the number written. It stops early, without
// an error, when the source has nothing more right now or has reached
// its end: the caller's next read learns which. ok is false, and nothing
// was moved, when no pipe could be made.
func (f *flow) splice(max int64) (n int64, ok bool, err error) {
	sp := getSplicePipe()
	if sp == nil {
		return 0, false, nil
	}
	src, dst := f.p.rcs[f.d], f.p.rcs[1-f.d]
	for n < max {
		want := int(min(max-n, int64(sp.size)))
		var got int
		var rerr syscall.Errno
		if cerr := src.Control(func(fd uintptr) { got, rerr = rawSplice(fd, uintptr(sp.w), want) }); cerr != nil {
			splicePipes.Put(sp)
			return n, true, cerr
		}
		if rerr == syscall.EAGAIN || rerr == 0 && got == 0 {
			break
		}
		if rerr != 0 {
			splicePipes.Put(sp)
			return n, true, rerr
		}
		left := got
		var werr syscall.Errno
		cerr := dst.Write(func(fd uintptr) bool {
			for left > 0 {
				m, e := rawSplice(uintptr(sp.r), fd, left)
				switch e {
				case 0:
					left -= m
				case syscall.EAGAIN:
					return false // wait until the destination has room
				default:
					werr = e
					return true
				}
			}
			return true
		})
		n += int64(got - left)
		splicedBytes.Add(int64(got - left))
		if cerr != nil || werr != 0 {
			sp.close()
			if cerr != nil {
				return n, true, cerr
			}
			return n, true, werr
		}
	}
	splicePipes.Put(sp)
	return n, true, nil
}
