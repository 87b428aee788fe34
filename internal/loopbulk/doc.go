// Package loopbulk tunes the sockets of a bulk transfer between two
// processes of this host, which the kernel would otherwise treat as if
// they went to another host.
//
// # Pacing (UnpaceLoopback, Unpace)
//
// bbr paces what a socket sends. Without the fq queueing discipline,
// which the loopback interface never has (its qdisc is noqueue), the
// kernel paces from a timer of the socket's own (TCP internal pacing).
// On loopback there is no link to pace for: a host whose default is bbr
// then spends timers on every proxied transfer and holds it below what
// the processes can move. Through the stream proxy, with the backend and
// the client on this host and reads of 128 KB, bench/stream.sh (a)
// measured 1.65 GB/s with the proxy's socket to the client on bbr and
// 2.19-2.48 GB/s after the switch, and the proxy's CPU time per GB fell
// from 0.29 s to 0.18-0.20 s.
//
// Unpace switches such a connection to cubic (reno where cubic is not
// allowed), the connection being one whose peer is on this host and whose
// congestion control is bbr. The proxies call it on the socket they are
// about to splice a bulk transfer into, once per connection.
//
// A switch in the middle of a connection does not stop the pacing: bbr
// marked the socket as one the kernel paces, and the kernel goes on
// pacing it at the rate cubic's window gives. Its sends then leave from
// the pacing timer, on whichever CPU the timer fires, besides the
// proxy's own: on loopback, the client received segments out of order
// and the proxy's socket made 450-780 spurious fast retransmissions per
// 2 GB, against 3-16 for nginx; without the pacing, 0-20. UnpaceLoopback
// gives a socket cubic before it carries anything, so that bbr never
// marks it: the runtime
// calls it on every listening socket bound to a loopback address, whose
// connections inherit it, and the stream proxy on every connection it
// opens to an upstream on a loopback address. Through the stream proxy,
// bench/stream.sh (a) then measured, in one run of 7 interleaved rounds,
// 2.22 GB/s with reads of 8 KB (2.22x nginx; 1.23x the direct transfer,
// whose own socket bbr paces), 3.61 GB/s with reads of 32 KB (1.04x the
// direct transfer) and 3.92 GB/s with reads of 128 KB (0.99x), against
// 1.58-1.70x nginx, 0.74-0.86x and 0.88-1.08x the direct transfer in
// four runs before. Unpace still serves the connections of the other
// listening sockets whose peers are on this host.
//
// # Receive buffer (CapReceive)
//
// The kernel grows a socket's receive buffer while the reader keeps up
// with it, up to net.ipv4.tcp_rmem's maximum (6 MB by default, often
// 16 or 32 MB). A proxy that splices keeps up with any sender; when its
// client reads more slowly than the backend writes, the backlog then
// gathers in the proxy's socket to the backend, up to that maximum. With
// tens of megabytes in flight, each byte has left the processor's caches
// by the time the client reads it: the sender writes into memory that is
// not cached, and the reader copies from it. Between processes of one
// host the round trip is a few microseconds, so a window of one
// megabyte already keeps the sender going at memory speed.
//
// CapReceive sets such a socket's receive buffer to ReceiveCap (the
// kernel doubles it for its own bookkeeping, as for every SO_RCVBUF),
// which also stops the kernel from growing it. Through the stream proxy,
// in 6 interleaved hand runs with reads of 32 KB, a transfer moved
// 2.5-2.9 GB/s before and 3.0-4.7 GB/s after (the direct transfer:
// 4.0-4.6 GB/s), and the proxy's CPU time per GB fell by a fifth; with
// reads of 128 KB, 2.7-3.3 GB/s before, 3.0-4.8 after. Buffers of 4 MB
// (asked 2 MB) measured 2.7-4.7 GB/s with reads of 128 KB, between the
// two. It does nothing where net.core.rmem_max is below ReceiveCap: a
// smaller buffer than that holds a fast sender back.
//
// Neither touches a connection to another host, nor one that carries
// small messages: the proxies call them when a bulk transfer starts.
// Both proxies call Unpace; only the stream proxy calls CapReceive.
// Through the HTTP proxy, 128 MB response bodies from a backend on this
// host, fetched with curl(1), moved 0.52-2.07 GB/s (median 1.83) with
// the cap and 1.55-2.07 GB/s (median 1.70) without it, in 6 interleaved
// runs each: no difference beyond the noise, so it is left out there.
package loopbulk
