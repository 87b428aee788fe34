package main

import (
	"context"
	"net"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/sluicelb/sluice/internal/listen"
)

// allowedCPUs returns the CPUs this process may run on; CPU 0 alone when
// the kernel does not say (more CPUs than the mask holds).
func allowedCPUs() []int {
	var mask [16]uint64
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
	if e != 0 {
		return []int{0}
	}
	var cpus []int
	for i := range len(mask) * 64 {
		if mask[i/64]&(1<<(i%64)) != 0 {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// onCPU runs f on a thread bound to CPU cpu: the connections it opens to a
// loopback address reach their listener on that CPU. The thread ends
// with f.
func onCPU(cpu int, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the bound thread ends with the goroutine
		var mask [16]uint64
		mask[cpu/64] = 1 << (cpu % 64)
		syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
		f()
	}()
	<-done
}

// steerable says whether the kernel takes the program that steers a
// socket group's connections by CPU.
func steerable() error {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0x0F /* SO_REUSEPORT */, 1) })
		return err
	}}
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		return err
	}
	rc.Control(func(fd uintptr) { err = listen.SteerLocal(int(fd), 2) })
	return err
}
