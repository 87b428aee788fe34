package listen

import (
	"syscall"
	"unsafe"
)

// Socket options and classic BPF values the syscall package lacks.
const (
	soAttachReuseportCBPF = 51 // SO_ATTACH_REUSEPORT_CBPF
	soDetachReuseportBPF  = 68 // SO_DETACH_REUSEPORT_BPF
	bpfMod                = 0x90
	skfAdIfindex          = 0xfffff000 + 8  // SKF_AD_OFF + SKF_AD_IFINDEX
	skfAdCPU              = 0xfffff000 + 36 // SKF_AD_OFF + SKF_AD_CPU
	loopbackIfindex       = 1               // the loopback device, in every network namespace
)

// SteerLocal makes the SO_REUSEPORT group of the listening socket fd
// give a connection that came in through the loopback device to its
// socket number c mod n, c being the CPU that received the connection's
// SYN (on loopback, the CPU its client connected from), and any other to
// the socket the kernel's hash picks. The numbers are the sockets' order
// of listen(2). n 0 removes the program, which leaves the hash for all.
func SteerLocal(fd, n int) error {
	if n == 0 {
		_, _, e := syscall.Syscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, soDetachReuseportBPF, 0, 0, 0)
		if e != 0 && e != syscall.ENOENT {
			return e
		}
		return nil
	}
	prog := []syscall.SockFilter{
		{Code: syscall.BPF_LD | syscall.BPF_W | syscall.BPF_ABS, K: skfAdIfindex},
		{Code: syscall.BPF_JMP | syscall.BPF_JEQ | syscall.BPF_K, K: loopbackIfindex, Jf: 3},
		{Code: syscall.BPF_LD | syscall.BPF_W | syscall.BPF_ABS, K: skfAdCPU},
		{Code: syscall.BPF_ALU | bpfMod | syscall.BPF_K, K: uint32(n)},
		{Code: syscall.BPF_RET | syscall.BPF_A},
		// a number past the group's last socket: the kernel hashes
		{Code: syscall.BPF_RET | syscall.BPF_K, K: 0xffffffff},
	}
	fp := syscall.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, e := syscall.Syscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, soAttachReuseportCBPF,
		uintptr(unsafe.Pointer(&fp)), unsafe.Sizeof(fp), 0)
	if e != 0 {
		return e
	}
	return nil
}
