// Package splice moves bytes from socket to socket with splice(2),
// through a pipe of the mover's own, with calls made outside the
// scheduler's system-call state.
//
// net.TCPConn.ReadFrom splices too, but each of its splice(2) calls
// enters that state, and a splice that moves a few hundred kilobytes over
// loopback runs the receiver's TCP input inside the call and outlasts the
// runtime's 20 µs check: the runtime's monitor thread then takes the
// processor away and the call's return has to find one again, which
// costs thread wake-ups and context switches, and keeps the monitor
// waking every 20 µs for as long as the transfer runs (about a quarter of
// a proxy's CPU time in a 1 GB/s transfer). The calls here never wait in
// the kernel (SPLICE_F_NONBLOCK on non-blocking sockets and pipes), so
// they keep the processor; waiting for a socket goes through the
// runtime's poller, under the connections' deadlines.
//
// Move exists on Linux only; elsewhere it reports that it cannot move
// anything, and callers copy as they otherwise would.
package splice
