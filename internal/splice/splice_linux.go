//go:build linux

package splice

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

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

// moved counts the bytes moved, for Total.
var moved atomic.Int64

// Total returns the number of bytes Move has moved in this process, for
// tests.
func Total() int64 { return moved.Load() }

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

// Move moves up to max bytes from the socket src to the socket dst, and
// returns the number written to dst. When src has nothing to read, Move
// waits for it (under src's read deadline) if wait is set, and otherwise
// returns, without an error, what it has moved. It returns early, without
// an error, at the end of src's stream. srcErr and dstErr say which side
// failed. ok is false, and nothing was moved, when no pipe could be made.
func Move(dst, src syscall.RawConn, max int64, wait bool) (n int64, srcErr, dstErr error, ok bool) {
	sp := getSplicePipe()
	if sp == nil {
		return 0, nil, nil, false
	}
	// The callbacks are made once per call, not once per round.
	var want, got, left int
	var rerr, werr syscall.Errno
	fill := func(fd uintptr) bool {
		got, rerr = rawSplice(fd, uintptr(sp.w), want)
		return rerr != syscall.EAGAIN
	}
	fillNow := func(fd uintptr) { fill(fd) }
	drain := func(fd uintptr) bool {
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
	}
	for n < max {
		want = int(min(max-n, int64(sp.size)))
		var cerr error
		if wait {
			cerr = src.Read(fill)
		} else {
			cerr = src.Control(fillNow)
		}
		if cerr != nil {
			splicePipes.Put(sp)
			return n, cerr, nil, true
		}
		if rerr == syscall.EAGAIN || rerr == 0 && got == 0 {
			break
		}
		if rerr != 0 {
			splicePipes.Put(sp)
			return n, rerr, nil, true
		}
		left = got
		cerr = dst.Write(drain)
		n += int64(got - left)
		moved.Add(int64(got - left))
		if cerr != nil || werr != 0 {
			sp.close()
			if cerr != nil {
				return n, nil, cerr, true
			}
			return n, nil, werr, true
		}
	}
	splicePipes.Put(sp)
	return n, nil, nil, true
}
