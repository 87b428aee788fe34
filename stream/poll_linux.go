//go:build linux

package stream

import (
	"context"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/sluicelb/sluice/internal/loopbulk"
	"github.com/sluicelb/sluice/internal/splice"
	"github.com/sluicelb/sluice/internal/uring"
)

// The polled copy loop. Idle sessions are parked in a few epoll sets of
// the package's own (shards), each watched by one poller goroutine, so an
// idle session costs the goroutine that serves it and its two sockets, no
// buffer and no second goroutine. When a socket becomes readable its
// shard's poller moves the bytes itself, as an nginx worker does: one
// recv(2) into the poller's buffer and one send(2), then the flow is parked
// again. A poller makes these calls on the sockets' descriptors directly,
// without taking a reference on them through RawConn.Control for each
// call: instead the session's close leaves the descriptors open until the
// pollers serving it at that moment are done (pipe.enter and pipe.exit).
// Work that would block (the destination is full, or a read fills
// the whole buffer, which means bulk transfer) is handed to a goroutine
// that copies with blocking calls and splice(2) until the flow is small
// again. When one wake-up finds several flows readable, their reads are
// made in one io_uring_enter(2) and their writes in another (pumpBatch).
//
// The epoll sets are edge-triggered, and there is one per processor
// (GOMAXPROCS). A poller that finds nothing ready parks: its epoll set is
// itself registered with the Go runtime's network poller, which wakes the
// poller when the set has events. A shard exists while it has
// sessions: the first registration creates its epoll set and poller; when
// the last one leaves, an eventfd in the set wakes the poller, which
// closes the set and returns. proxy_timeout stays with each session's
// timer, and a context's end closes its polled sessions through one watch
// per context.

// epollET is EPOLLET as the uint32 of an epoll event mask.
const epollET = syscall.EPOLLET & 0xffffffff

const (
	flowOwned   = 1 << iota // a poller or a goroutine is moving the flow's bytes
	flowPending             // the source became readable while the flow was owned
	flowDone                // the flow has ended, or the session is ending
	flowHup                 // the source has reached its end or failed: read until EOF or an error
)

// pumpBurst bounds how many times in a row a poller serves one flow
// before it hands the flow to a goroutine of its own.
const pumpBurst = 8

// spliceMin is the number of queued bytes from which a blocking copy
// moves them with splice(2) rather than through a buffer.
const spliceMin = 32 << 10

// flow is one direction of a session: from p.conns[d] to p.conns[1-d].
type flow struct {
	state atomic.Uint32
	d     uint8 // 0 client to upstream, 1 upstream to client
	first bool  // bytes have been seen; owned by the flow's owner
	bulk  bool  // a bulk transfer was seen (package loopbulk); owned by the flow's owner
	op    uint8 // what do does
	p     *pipe
	n     int64 // bytes moved; owned by the flow's owner
	err   error // why the flow ended, nil at the end of the stream; owned by the flow's owner

	// Arguments and results of do, which is bound once so that calling it
	// through RawConn.Control does not allocate.
	buf   []byte
	r     int32
	fd    int32 // the source's descriptor, for a poller between enter and exit
	errno syscall.Errno
	do    func(fd uintptr)
}

// The operations of flow.do.
const (
	opRead  = iota // read into buf
	opWrite        // write buf
	opInq          // the number of bytes ready to read
	opAdd          // add fd to the epoll set r with the event data in buf
)

// doOp runs f.op on fd. The calls never block: they are made with
// RawSyscall, without telling the scheduler, which would otherwise hand
// the processor to another thread whenever a send on loopback runs the
// receiver's TCP input and takes a few tens of microseconds.
func (f *flow) doOp(fd uintptr) {
	f.errno = 0
	switch f.op {
	case opRead:
		f.r = 0
		for {
			// recvfrom(2) rather than read(2): the socket call skips the
			// file layer (no position lock, no iterator set-up).
			n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&f.buf[0])), uintptr(len(f.buf)), 0, 0, 0)
			if e != syscall.EINTR {
				f.r, f.errno = int32(n), e
				if e != 0 {
					f.r = 0
				}
				return
			}
		}
	case opWrite:
		f.r = 0
		for int(f.r) < len(f.buf) {
			b := f.buf[f.r:]
			n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_NOSIGNAL, 0, 0)
			if e == syscall.EINTR {
				continue
			}
			if e != 0 {
				f.errno = e
				return
			}
			f.r += int32(n)
		}
	case opInq:
		var n int32
		_, _, f.errno = syscall.RawSyscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
		f.r = n
	case opAdd:
		ev := (*syscall.EpollEvent)(unsafe.Pointer(&f.buf[0]))
		_, _, f.errno = syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(f.r), syscall.EPOLL_CTL_ADD, fd, uintptr(unsafe.Pointer(ev)), 0, 0)
	}
}

// call runs op on the socket of rc.
func (f *flow) call(rc syscall.RawConn, op uint8, buf []byte) (int, error) {
	f.op, f.buf = op, buf
	err := rc.Control(f.do)
	f.buf = nil
	if err != nil {
		return 0, err
	}
	return f.result()
}

// callFd runs op on the descriptor fd, which the caller keeps open (a
// poller between pipe.enter and pipe.exit).
func (f *flow) callFd(fd int32, op uint8, buf []byte) (int, error) {
	f.op, f.buf = op, buf
	f.doOp(uintptr(fd))
	f.buf = nil
	return f.result()
}

func (f *flow) result() (int, error) {
	if f.errno != 0 {
		return int(f.r), f.errno
	}
	return int(f.r), nil
}

// read reads once from the source without blocking. direct says that
// the caller is a poller between pipe.enter and pipe.exit, which uses the
// descriptors without taking a reference on them.
func (f *flow) read(buf []byte, direct bool) (int, error) {
	if direct {
		return f.callFd(f.fd, opRead, buf)
	}
	return f.call(f.p.rcs[f.d], opRead, buf)
}

// write writes buf to the destination without blocking; it returns
// syscall.EAGAIN with the count written when the destination is full.
func (f *flow) write(buf []byte, direct bool) (int, error) {
	if direct {
		return f.callFd(f.p.flows[1-f.d].fd, opWrite, buf)
	}
	return f.call(f.p.rcs[1-f.d], opWrite, buf)
}

// queued returns the number of bytes ready to read from the source.
func (f *flow) queued() int64 {
	n, err := f.call(f.p.rcs[f.d], opInq, nil)
	if err != nil {
		return 0
	}
	return int64(n)
}

// acquire makes the caller the flow's owner; when the flow is owned
// already it records that the source became readable, for the owner.
func (f *flow) acquire() bool {
	for {
		o := f.state.Load()
		switch {
		case o&flowDone != 0:
			return false
		case o&flowOwned != 0:
			if o&flowPending != 0 || f.state.CompareAndSwap(o, o|flowPending) {
				return false
			}
		default:
			if f.state.CompareAndSwap(o, o|flowOwned) {
				return true
			}
		}
	}
}

// release gives up ownership once src has been drained, which parks the
// flow until its shard sees src readable again. It reports false when src
// became readable meanwhile: the owner keeps the flow and reads again.
// When the session is ending it tells the session the flow has stopped.
func (p *pipe) release(f *flow) bool {
	for {
		o := f.state.Load()
		switch {
		case o&flowDone != 0:
			f.err = net.ErrClosed
			p.ev <- f.d
			return true
		case o&flowPending != 0:
			if f.state.CompareAndSwap(o, o&^flowPending) {
				return false
			}
		default:
			if f.state.CompareAndSwap(o, o&^flowOwned) {
				return true
			}
		}
	}
}

// end is called by the owner when the flow has ended: err is nil at the
// end of the stream.
func (p *pipe) end(f *flow, err error) {
	f.err = err
	for {
		o := f.state.Load()
		if o&flowDone != 0 || f.state.CompareAndSwap(o, o|flowDone) {
			break
		}
	}
	p.ev <- f.d
}

// kill stops a flow when the session ends. It reports true when the flow
// was parked, so that no owner will report its end; otherwise its owner
// stops and reports soon (the connections are closed by then).
func (f *flow) kill() bool {
	for {
		o := f.state.Load()
		switch {
		case o&flowDone != 0:
			return false
		case o&flowOwned != 0:
			if f.state.CompareAndSwap(o, o|flowDone) {
				return false
			}
		default:
			if f.state.CompareAndSwap(o, o|flowOwned|flowDone) {
				return true
			}
		}
	}
}

// moved records that bytes were read from src at now (monoNow): for the
// idle timer and, for the upstream's first bytes,
// $upstream_first_byte_time.
func (p *pipe) moved(f *flow, now int64) {
	p.last.Store(now)
	if !f.first {
		f.first = true
		if f.d == 1 {
			p.firstByte.Store(int64(p.s.h.s.p.now().Sub(p.tryStart)))
		}
	}
}

// pump moves the bytes of flow f; the caller owns f. pbuf is the
// poller's own buffer when a poller calls it, which must not wait: pump
// then hands the flow to a new goroutine when a write would block or the
// source holds more than a buffer. In such a goroutine (pbuf nil) it
// splices while much is queued and returns, parking the flow, once the
// source is drained.
//
// now is monoNow, read once per batch of events by a poller.
func (p *pipe) pump(f *flow, pbuf []byte, now int64) {
	blocking := pbuf == nil
	for i := 0; ; i++ {
		if !blocking && i >= pumpBurst {
			go p.pump(f, nil, now)
			return
		}
		if blocking {
			now = monoNow()
		}
		if rf, ok := p.conns[1-f.d].(*net.TCPConn); ok && blocking {
			if q := f.queued(); q >= spliceMin {
				p.moved(f, now)
				if !f.bulk {
					f.bulk = true
					loopbulk.Unpace(rf)
					// A client socket keeps the buffer its listen
					// directive gave it (rcvbuf=).
					if f.d == 1 || !p.s.h.s.listenRcvBuf() {
						loopbulk.CapReceive(p.conns[f.d])
					}
				}
				n, rerr, werr, ok := splice.Move(p.rcs[1-f.d], p.rcs[f.d], q, false)
				err := rerr
				if werr != nil {
					err = werr
				}
				if !ok {
					n, err = rf.ReadFrom(&io.LimitedReader{R: p.conns[f.d], N: q})
				}
				f.n += n
				if err != nil {
					p.end(f, err)
					return
				}
				p.touch()
				continue
			}
		}
		// A poller reads into its own buffer, a goroutine into a pooled
		// one: the pool costs a poller more than a system call's worth
		// of bookkeeping per message.
		var bp *[]byte
		buf := pbuf
		if blocking {
			bp = bufPool.Get().(*[]byte)
			buf = *bp
		}
		n, err := f.read(buf, !blocking)
		if err == syscall.EAGAIN {
			putBuf(bp)
			if p.release(f) {
				return
			}
			continue
		}
		if err != nil || n == 0 {
			putBuf(bp)
			p.end(f, err)
			return
		}
		p.moved(f, now)
		w, err := f.write(buf[:n], !blocking)
		if err == syscall.EAGAIN {
			f.n += int64(w)
			if !blocking {
				// The rest moves to a pooled buffer: the poller's is
				// reused at once.
				bp = bufPool.Get().(*[]byte)
				rest := (*bp)[:copy(*bp, buf[w:n])]
				go p.finishWrite(f, bp, rest, n == len(buf))
				return
			}
			w, err = p.conns[1-f.d].Write(buf[w:n])
			p.touch()
		}
		putBuf(bp)
		f.n += int64(w)
		if err != nil {
			p.end(f, err)
			return
		}
		if n == len(buf) {
			// More is likely queued: a bulk transfer.
			if !blocking {
				go p.pump(f, nil, now)
				return
			}
			continue
		}
		// A short read drained the socket: any later data raises a new
		// edge, so the flow can be parked without another read, unless
		// the end of the stream was reported, which raises no new edge.
		if f.state.Load()&flowHup == 0 && p.release(f) {
			return
		}
	}
}

// putBuf returns a pooled buffer, if bp is one.
func putBuf(bp *[]byte) {
	if bp != nil {
		bufPool.Put(bp)
	}
}

// finishWrite writes what a poller could not without blocking, then goes
// on copying in this goroutine.
func (p *pipe) finishWrite(f *flow, bp *[]byte, rest []byte, full bool) {
	w, err := p.conns[1-f.d].Write(rest)
	bufPool.Put(bp)
	f.n += int64(w)
	if err != nil {
		p.end(f, err)
		return
	}
	p.touch()
	if !full && f.state.Load()&flowHup == 0 {
		if p.release(f) {
			return
		}
	}
	p.pump(f, nil, 0)
}

// shard is one epoll set and its poller.
type shard struct {
	mu    sync.Mutex
	epfd  int // -1 when the shard has no poller
	wake  int // eventfd in the epoll set, to end the poller
	slots []*pipe
	gens  []uint32
	free  []int32
	n     int // registered sessions
}

// wakeSlot is the event data of a shard's eventfd.
const wakeSlot = -1

var (
	shardsOnce sync.Once
	shards     []*shard
	shardNext  atomic.Uint32
)

// pollers counts running poller goroutines, for tests.
var pollers sync.WaitGroup

func pickShard() *shard {
	shardsOnce.Do(func() {
		shards = make([]*shard, runtime.GOMAXPROCS(0))
		for i := range shards {
			shards[i] = &shard{epfd: -1, wake: -1}
		}
	})
	return shards[int(shardNext.Add(1))%len(shards)]
}

// register parks both flows of p in a shard. It reports false when the
// connections cannot be polled; p is then untouched.
func (sh *shard) register(p *pipe) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.epfd < 0 && !sh.start() {
		return false
	}
	var slot int32
	if k := len(sh.free); k > 0 {
		slot = sh.free[k-1]
		sh.free = sh.free[:k-1]
	} else {
		slot = int32(len(sh.slots))
		sh.slots = append(sh.slots, nil)
		sh.gens = append(sh.gens, 0)
	}
	sh.slots[slot] = p
	gen := sh.gens[slot]
	for d := range p.flows {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: slot, Pad: int32(gen<<1 | uint32(d))}
		var err error
		cerr := p.rcs[d].Control(func(fd uintptr) {
			p.flows[d].fd = int32(fd)
			err = syscall.EpollCtl(sh.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		})
		if cerr != nil || err != nil {
			if d == 1 {
				// Take the first socket out again (it stays open).
				p.rcs[0].Control(func(fd uintptr) {
					syscall.EpollCtl(sh.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
				})
			}
			sh.drop(slot)
			sh.stopIfIdle()
			return false
		}
	}
	p.shard, p.slot = sh, slot
	sh.n++
	return true
}

// unregister forgets p; its sockets leave the epoll set when they are
// closed. Events still in flight for it are recognised as stale by the
// slot's generation.
func (sh *shard) unregister(p *pipe) {
	sh.mu.Lock()
	sh.drop(p.slot)
	sh.n--
	sh.stopIfIdle()
	sh.mu.Unlock()
}

// stopIfIdle ends the poller when the shard has no session; sh.mu is
// held. The poller closes the epoll set and the eventfd.
func (sh *shard) stopIfIdle() {
	if sh.n > 0 || sh.epfd < 0 {
		return
	}
	one := uint64(1)
	syscall.Write(sh.wake, (*[8]byte)(unsafe.Pointer(&one))[:])
	sh.epfd, sh.wake = -1, -1
}

func (sh *shard) drop(slot int32) {
	sh.slots[slot] = nil
	sh.gens[slot] = (sh.gens[slot] + 1) & (1<<30 - 1)
	sh.free = append(sh.free, slot)
}

// start creates the shard's epoll set and its poller; sh.mu is held.
func (sh *shard) start() bool {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return false
	}
	wake, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if e != 0 {
		syscall.Close(epfd)
		return false
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: wakeSlot}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, int(wake), &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(int(wake))
		return false
	}
	sh.epfd, sh.wake = epfd, int(wake)
	pollers.Add(1)
	go sh.poll(epfd, int(wake))
	return true
}

// poll is the shard's poller: it waits until the epoll set has events
// and serves each flow that became readable. It takes what is ready
// without blocking, and when nothing is, parks until the runtime's
// network poller sees the set readable. Waiting in a blocking
// epoll_wait(2) instead (the fallback when the set cannot be registered)
// costs about a third more CPU per message: the runtime takes the
// processor of a thread blocked in a system call away and gives it back,
// and its monitor thread wakes every few tens of microseconds while a
// poller blocks. It returns, closing epfd and wake, when the shard has no
// session left.
func (sh *shard) poll(epfd, wake int) {
	defer pollers.Done()
	ps := &pollState{sh: sh, epfd: epfd, buf: make([]byte, 16<<10)}
	if !noRing {
		if r, err := uring.New(batchMax); err == nil {
			ps.ring = r
			ps.readDone = func(tag uint64, res int32) { ps.rres[tag] = res }
			ps.writeDone = func(tag uint64, res int32) { ps.wres[tag] = res }
		}
	}
	defer ps.closeRing()
	// The epoll set is itself watched by the runtime's poller, which
	// parks this goroutine while the set has no event: waiting costs no
	// thread and no system call of its own, and the goroutine is woken by
	// the same epoll_wait(2) that wakes the rest of the program.
	var epf *os.File
	if syscall.SetNonblock(epfd, true) == nil {
		epf = os.NewFile(uintptr(epfd), "epoll")
		if rc, err := epf.SyscallConn(); err == nil {
			// Batches are served inside Read's callback. A batch smaller
			// than evs drained the set, and an event that arrives later
			// marks the set readable for the runtime, so the callback
			// asks to wait without another epoll_wait(2): Read returns
			// at once when the set became readable meanwhile. Returning
			// from Read and calling it again instead would forget that
			// and cost an empty epoll_wait(2) after every batch.
			rc.Read(ps.drain)
		}
	}
	for !ps.stop {
		// The runtime's poller cannot watch the set: wait in
		// epoll_wait(2).
		r, _, e := syscall.Syscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&ps.evs[0])), uintptr(len(ps.evs)), ^uintptr(0), 0, 0)
		if e == 0 {
			ps.serve(int(r), false)
		}
	}
	if epf != nil {
		epf.Close()
	} else {
		syscall.Close(epfd)
	}
	syscall.Close(wake)
}

// pollState is a poller's working set.
type pollState struct {
	sh    *shard
	epfd  int
	stop  bool // the shard has ended
	evs   [128]syscall.EpollEvent
	ready [128]*flow
	buf   []byte

	// ring batches the reads and writes of the flows a batch of events
	// made ready (pumpBatch); nil where io_uring is not available. Each
	// flow of a batch reads into a slot of its own, as large as buf, made
	// when a batch first needs it.
	ring                *uring.Ring
	slots               [batchMax][]byte
	rres, wres          [batchMax]int32
	readDone, writeDone func(tag uint64, res int32) // record results in rres, wres
}

// batchMax is the most flows pumpBatch serves at once.
const batchMax = 64

// drain is the callback of the epoll set's RawConn.Read: it serves
// batches until the set is drained, then asks Read to wait (false), or
// returns true when the shard has ended.
func (ps *pollState) drain(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&ps.evs[0])), uintptr(len(ps.evs)), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 || r == 0 {
			return false
		}
		// A batch that did not fill evs drained the set: the poller
		// parks next, which lets the goroutines made ready meanwhile
		// run, so only a full batch yields first.
		ps.serve(int(r), int(r) == len(ps.evs))
		if ps.stop {
			return true
		}
		if int(r) < len(ps.evs) {
			return false
		}
	}
}

// serve serves the first n events of ps.evs. yield lets other
// goroutines run after the batch: the poller is watched by the runtime's
// poller and goes on with another batch rather than parking.
func (ps *pollState) serve(n int, yield bool) {
	sh := ps.sh
	k := 0
	sh.mu.Lock()
	for _, ev := range ps.evs[:n] {
		slot, gen, d := ev.Fd, uint32(ev.Pad)>>1, ev.Pad&1
		if slot == wakeSlot {
			ps.stop = sh.epfd != ps.epfd
			continue
		}
		if int(slot) < len(sh.slots) && sh.gens[slot] == gen && sh.slots[slot] != nil {
			f := &sh.slots[slot].flows[d]
			if ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				f.state.Or(flowHup)
			}
			ps.ready[k] = f
			k++
		}
	}
	sh.mu.Unlock()
	now := monoNow()
	m := 0 // flows acquired and entered, moved to the front of ready
	for i, f := range ps.ready[:k] {
		ps.ready[i] = nil
		if !f.acquire() {
			continue
		}
		if f.p.enter() {
			ps.ready[m] = f
			m++
		} else {
			f.p.end(f, net.ErrClosed)
		}
	}
	for i := 0; i < m; {
		j := i + 1
		if ps.ring != nil {
			j = min(m, i+len(ps.slots))
		}
		if j-i > 1 {
			ps.pumpBatch(ps.ready[i:j], now)
		} else {
			f := ps.ready[i]
			f.p.pump(f, ps.buf, now)
			f.p.exit()
		}
		clear(ps.ready[i:j])
		i = j
	}
	if k > 0 && yield {
		// Let the goroutines made ready meanwhile run before the next
		// batch: the runtime's poller may have queued another shard's
		// poller behind this one, which would otherwise wait until this
		// one parks or is preempted (the 99th percentile of latency
		// doubles).
		runtime.Gosched()
	}
}

// pumpBatch serves flows, which the poller owns and has entered, as
// pump would, with their reads made in one batch and their writes in
// another (uring.Ring): two system calls for the lot instead of two per
// flow. It does the first round of pump; a flow that needs more (its
// source became readable again meanwhile, its destination is full, or a
// read filled the buffer) goes on as pump would go on.
func (ps *pollState) pumpBatch(flows []*flow, now int64) {
	ringBatches.Add(1)
	r := ps.ring
	for i, f := range flows {
		if ps.slots[i] == nil {
			ps.slots[i] = make([]byte, len(ps.buf))
		}
		ps.rres[i] = notRun
		r.Recv(f.fd, ps.slots[i], uint64(i))
	}
	if ringSubmit(r, ps.readDone) != nil {
		ps.closeRing()
	}
	for i, f := range flows {
		ps.wres[i] = notRun
		if n := ps.rres[i]; n > 0 {
			f.p.moved(f, now)
			if ps.ring != nil {
				r.Send(f.p.flows[1-f.d].fd, ps.slots[i][:n], uint64(i))
			}
		}
	}
	if ps.ring != nil && ringSubmit(r, ps.writeDone) != nil {
		ps.closeRing()
	}
	for i, f := range flows {
		p, n, w := f.p, ps.rres[i], ps.wres[i]
		if n > 0 && w == notRun {
			// the ring failed before the write: make it here
			m, err := f.write(ps.slots[i][:n], true)
			w = int32(m)
			if e, ok := err.(syscall.Errno); ok && e != syscall.EAGAIN {
				w = -int32(e)
			}
		}
		switch {
		case n == notRun || n == -int32(syscall.EINTR):
			p.pump(f, ps.buf, now)
		case n == -int32(syscall.EAGAIN):
			if !p.release(f) {
				p.pump(f, ps.buf, now) // readable again meanwhile
			}
		case n < 0:
			p.end(f, syscall.Errno(-n))
		case n == 0:
			p.end(f, nil)
		case w < 0 && w != -int32(syscall.EAGAIN):
			p.end(f, syscall.Errno(-w))
		case w < n:
			// The destination is full: the rest moves to a pooled
			// buffer, as in pump.
			w = max(w, 0)
			f.n += int64(w)
			bp := bufPool.Get().(*[]byte)
			rest := (*bp)[:copy(*bp, ps.slots[i][w:n])]
			go p.finishWrite(f, bp, rest, int(n) == len(ps.slots[i]))
		default:
			f.n += int64(w)
			switch {
			case int(n) == len(ps.slots[i]):
				go p.pump(f, nil, now) // a bulk transfer
			case f.state.Load()&flowHup != 0 || !p.release(f):
				p.pump(f, ps.buf, now)
			}
		}
		p.exit()
	}
}

// notRun marks the result of an operation that a failed ring never ran.
const notRun = math.MinInt32

// closeRing stops batching: at the end of the poller, or when the ring
// failed (the flows are then served one by one).
func (ps *pollState) closeRing() {
	if ps.ring != nil {
		ps.ring.Close()
		ps.ring = nil
	}
}

// noRing turns batching off, for tests of the calls made one by one;
// ringBatches counts the batches served, and ringSubmit runs a batch
// (tests make it fail).
var (
	noRing      bool
	ringBatches atomic.Int64
	ringSubmit  = (*uring.Ring).Submit
)

// pollable reports whether the session can be copied by the pollers,
// and prepares it: both connections are sockets and no rate is limited.
func (p *pipe) pollable() bool {
	cfg := p.s.h.s.cfg
	if cfg.ProxyUploadRate > 0 || cfg.ProxyDownloadRate > 0 {
		return false
	}
	for i, c := range p.conns {
		if p.rcs[i] = pollable(c); p.rcs[i] == nil {
			return false
		}
	}
	for i := range p.flows {
		f := &p.flows[i]
		f.p, f.d = p, uint8(i)
		f.do = f.doOp
	}
	return true
}

// register hands the session to the shards' pollers; p.pollable has
// said yes. It reports false, having done nothing, when the sockets
// cannot be added to an epoll set.
func (p *pipe) register(ctx context.Context) bool {
	p.ctxEnd = ctx.Done()
	if !pickShard().register(p) {
		return false
	}
	watchContext(ctx)
	if ctx.Err() != nil {
		p.close()
	}
	return true
}

// waitPolled waits until both flows of a registered session have
// stopped, and takes the session out of its shard.
func (p *pipe) waitPolled(u, d *dirResult) {
	for left := len(p.flows); left > 0; {
		i := <-p.ev
		if i != evClosed {
			left--
			p.ended(p.conns[1-i], p.flows[i].err)
			continue
		}
		for i := range p.flows {
			if f := &p.flows[i]; f.kill() {
				f.err = net.ErrClosed
				left--
			}
		}
	}
	p.close()
	p.shard.unregister(p)
	*u = dirResult{p.flows[0].n, p.flows[0].err}
	*d = dirResult{p.flows[1].n, p.flows[1].err}
}

// watched holds the Done channels of the contexts being watched.
var watched sync.Map

// watchContext makes sure the polled sessions of ctx are closed when it
// is done, with one watch per context rather than per session. A session
// registers before it calls watchContext, and then checks ctx.Err itself.
func watchContext(ctx context.Context) {
	end := ctx.Done()
	if end == nil {
		return
	}
	if _, loaded := watched.LoadOrStore(end, struct{}{}); loaded {
		return
	}
	context.AfterFunc(ctx, func() {
		watched.Delete(end)
		for _, sh := range shards {
			sh.closeContext(end)
		}
	})
}

// closeContext closes the sessions whose context ended with end.
func (sh *shard) closeContext(end <-chan struct{}) {
	var ps []*pipe
	sh.mu.Lock()
	for _, p := range sh.slots {
		if p != nil && p.ctxEnd == end {
			ps = append(ps, p)
		}
	}
	sh.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
}

// pollable returns the raw connection of a socket the pollers can serve.
func pollable(c net.Conn) syscall.RawConn {
	var rc syscall.RawConn
	var err error
	switch c := c.(type) {
	case *net.TCPConn:
		rc, err = c.SyscallConn()
	case *net.UnixConn:
		rc, err = c.SyscallConn()
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return rc
}

// inq returns the number of bytes queued for reading on the socket.
func inq(rc syscall.RawConn) int64 {
	var n int32
	rc.Control(func(fd uintptr) {
		_, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
		if e != 0 {
			n = 0
		}
	})
	return int64(n)
}
