// Package loopcc takes a loopback TCP connection that starts a bulk
// transfer off a pacing congestion control.
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
// Bulk switches such a connection to cubic (reno where cubic is not
// allowed), the connection being one whose peer is on this host and whose
// congestion control is bbr. The proxies call it on the socket they are
// about to splice a bulk transfer into, once per connection: a connection
// that carries small messages costs nothing, and no connection to
// another host is ever changed.
package loopcc
