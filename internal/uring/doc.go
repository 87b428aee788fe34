// Package uring makes batches of socket reads and writes with io_uring(7):
// one io_uring_enter(2) for a batch of recv(2) or send(2) operations
// instead of one system call each.
//
// The operations never wait: each is made with MSG_DONTWAIT on a
// non-blocking socket, so the kernel runs it while it takes the batch and
// reports EAGAIN instead of waiting for the socket, and Submit returns
// once every operation of the batch has completed. The buffers of a batch
// are therefore no longer used by the kernel when Submit returns, and the
// ring holds no state between batches. Readiness still comes from
// elsewhere (an epoll set).
//
// A Ring is used by one goroutine at a time. New reports an error where
// the kernel has no io_uring, or refuses it (kernel.io_uring_disabled, a
// seccomp filter), or would wait for a socket in such a call (it probes
// this once); callers then make the calls one by one.
package uring
