//go:build linux

package uring

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// System calls and constants of io_uring (linux/io_uring.h).
const (
	sysSetup = 425
	sysEnter = 426

	setupCQSize    = 1 << 3 // IORING_SETUP_CQSIZE
	enterGetEvents = 1 << 0 // IORING_ENTER_GETEVENTS

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	opSend = 26 // IORING_OP_SEND
	opRecv = 27 // IORING_OP_RECV
)

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  [8]uint32 // head, tail, ring_mask, ring_entries, flags, dropped, array, resv1
	sqUserAddr                                                             uint64
	cqOff                                                                  [8]uint32 // head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1
	cqUserAddr                                                             uint64
}

// sqe is struct io_uring_sqe.
type sqe struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64
	len      uint32
	msgFlags uint32
	userData uint64
	bufIndex uint16
	pers     uint16
	spliceIn int32
	addr3    uint64
	pad      uint64
}

// cqe is struct io_uring_cqe.
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// Ring is an io_uring instance with its rings mapped.
type Ring struct {
	fd             int
	sqHead, sqTail *uint32
	sqMask         uint32
	sqArray        []uint32
	sqes           []sqe
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []cqe
	mem, sqeMem    []byte

	queued uint32 // entries written since the last Submit
	bufs   [][]byte
}

// New sets up a ring for batches of up to entries operations. It fails
// where the kernel runs a recv(2) or send(2) of a batch that cannot
// complete at once otherwise than by reporting EAGAIN (probed once per
// process).
func New(entries uint32) (*Ring, error) {
	if err := probe(); err != nil {
		return nil, err
	}
	return setup(entries)
}

var (
	probeOnce sync.Once
	probeErr  error
	probeBuf  [64]byte // the probe's buffer: never freed, whatever a kernel does with it
)

// probe checks, on a pair of sockets, that a read of an empty socket and
// a write to a full one report EAGAIN within the batch; kernels before
// those that honour MSG_DONTWAIT in io_uring (or without IORING_OP_SEND and
// IORING_OP_RECV, before Linux 5.6) would wait for the socket instead, or
// fail.
func probe() error {
	probeOnce.Do(func() { probeErr = runProbe() })
	return probeErr
}

func runProbe() error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	r, err := setup(2)
	if err != nil {
		return err
	}
	defer r.Close()
	// fds[1] writes until it can write no more, and has nothing to read
	for {
		if _, err := syscall.Write(fds[1], probeBuf[:]); err != nil {
			break
		}
	}
	r.Recv(int32(fds[1]), probeBuf[:], 0)
	r.Send(int32(fds[1]), probeBuf[:], 1)
	n, _ := r.publish()
	// submit without waiting: an operation the kernel queues instead of
	// answering EAGAIN leaves no completion
	if _, _, e := syscall.RawSyscall6(sysEnter, uintptr(r.fd), uintptr(n), 0, enterGetEvents, 0, 0); e != 0 {
		return os.NewSyscallError("io_uring_enter", e)
	}
	got := 0
	var bad error
	r.reap(func(tag uint64, res int32) {
		got++
		if res != -int32(syscall.EAGAIN) {
			bad = fmt.Errorf("uring: a non-blocking operation returned %d, not EAGAIN", res)
		}
	})
	if bad != nil {
		return bad
	}
	if got != int(n) {
		return errors.New("uring: the kernel waits for sockets in non-blocking operations")
	}
	return nil
}

// setup makes the ring.
func setup(entries uint32) (*Ring, error) {
	p := params{flags: setupCQSize, cqEntries: 2 * entries}
	fd, _, e := syscall.RawSyscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, os.NewSyscallError("io_uring_setup", e)
	}
	r := &Ring{fd: int(fd)}
	size := max(p.sqOff[6]+4*p.sqEntries, p.cqOff[5]+uint32(unsafe.Sizeof(cqe{}))*p.cqEntries)
	var err error
	if r.mem, err = syscall.Mmap(r.fd, offSQRing, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		syscall.Close(r.fd)
		return nil, os.NewSyscallError("mmap", err)
	}
	if r.sqeMem, err = syscall.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		syscall.Munmap(r.mem)
		syscall.Close(r.fd)
		return nil, os.NewSyscallError("mmap", err)
	}
	base := unsafe.Pointer(&r.mem[0])
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Add(base, off)) }
	r.sqHead, r.sqTail, r.sqMask = at(p.sqOff[0]), at(p.sqOff[1]), *at(p.sqOff[2])
	r.sqArray = unsafe.Slice(at(p.sqOff[6]), p.sqEntries)
	r.cqHead, r.cqTail, r.cqMask = at(p.cqOff[0]), at(p.cqOff[1]), *at(p.cqOff[2])
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(base, p.cqOff[5])), p.cqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	return r, nil
}

// Cap returns the most operations a batch can hold.
func (r *Ring) Cap() int { return len(r.sqes) }

// ErrFull is returned by Recv and Send when the batch holds Cap
// operations.
var ErrFull = errors.New("uring: batch full")

// Recv adds a recv(2) of fd into buf to the batch; its result is reported
// with tag. buf must stay untouched until Submit returns.
func (r *Ring) Recv(fd int32, buf []byte, tag uint64) error {
	return r.add(opRecv, fd, buf, syscall.MSG_DONTWAIT, tag)
}

// Send adds a send(2) of buf to fd to the batch (MSG_NOSIGNAL: a closed
// peer is reported as EPIPE); its result is reported with tag.
func (r *Ring) Send(fd int32, buf []byte, tag uint64) error {
	return r.add(opSend, fd, buf, syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, tag)
}

func (r *Ring) add(op uint8, fd int32, buf []byte, flags uint32, tag uint64) error {
	if int(r.queued) == len(r.sqes) {
		return ErrFull
	}
	tail := *r.sqTail + r.queued
	i := tail & r.sqMask
	s := &r.sqes[i]
	*s = sqe{opcode: op, fd: fd, len: uint32(len(buf)), msgFlags: flags, userData: tag}
	if len(buf) > 0 {
		s.addr = uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	r.sqArray[i] = i
	r.queued++
	r.bufs = append(r.bufs, buf) // keeps buf reachable until the batch ends
	return nil
}

// Submit runs the batch and calls fn with the tag and the result of each
// operation (a byte count, or a negated errno such as -EAGAIN) once all
// have completed. The call keeps the processor: no operation waits. On
// an error fn has been called for the operations that ran, and the others
// never will: the ring is then to be closed, which discards them.
func (r *Ring) Submit(fn func(tag uint64, res int32)) error {
	want, tail := r.publish()
	var err error
	for want > 0 {
		// the kernel advances the head past the entries it has taken
		pending := tail - atomic.LoadUint32(r.sqHead)
		_, _, e := syscall.RawSyscall6(sysEnter, uintptr(r.fd), uintptr(pending), uintptr(want), enterGetEvents, 0, 0)
		want -= r.reap(fn)
		if e != 0 && e != syscall.EINTR && want > 0 {
			err = os.NewSyscallError("io_uring_enter", e)
			break
		}
	}
	clear(r.bufs)
	r.bufs = r.bufs[:0]
	return err
}

// publish hands the entries added since the last batch to the kernel's
// view of the submission ring; it returns their number and the new tail.
func (r *Ring) publish() (n, tail uint32) {
	n, r.queued = r.queued, 0
	tail = *r.sqTail + n
	atomic.StoreUint32(r.sqTail, tail)
	return n, tail
}

// reap reports the completions in the completion ring and returns their
// number.
func (r *Ring) reap(fn func(tag uint64, res int32)) uint32 {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	for h := head; h != tail; h++ {
		c := &r.cqes[h&r.cqMask]
		fn(c.userData, c.res)
	}
	atomic.StoreUint32(r.cqHead, tail)
	return tail - head
}

// Close releases the ring.
func (r *Ring) Close() {
	syscall.Munmap(r.sqeMem)
	syscall.Munmap(r.mem)
	syscall.Close(r.fd)
}
