// Package loopcc takes a loopback TCP connection that starts a bulk
// transfer off a pacing congestion control.
//
// bbr paces what a socket sends. Without the fq queueing discipline,
// which the loopback interface never has (its qdisc is noqueue), the
// kernel paces from a timer of the socket's own (TCP internal pacing).
// On loopback there is no link to pace for: a host whose default is bbr
// then spends timers on every proxied transfer and holds it below what
// the processes can move. Through the stream proxy, with the backend and
// the client on this host, a transfer ran at 1.7-1.9 GB/s with the
// proxy's socket to the client on bbr and 2.0-3.3 GB/s on cubic, and the
// proxy's CPU time per GB fell from 0.30 s to 0.17 s (bench/stream.sh
// (a), reads of 128 KB).
//
// Bulk switches such a connection to cubic (reno where cubic is not
// allowed), the connection being one whose peer is on this host and whose
// congestion control is bbr. The proxies call it on the socket they are
// about to splice a bulk transfer into, once per connection: a connection
// that carries small messages costs nothing, and no connection to
// another host is ever changed.
package loopcc
