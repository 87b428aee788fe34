// Package stream is Sluice's TCP proxy: what nginx's stream {} block
// configures.
//
// Each server {} of the stream block listens on its addresses and, for
// every client connection, runs nginx's phases in order: the PROXY protocol
// header when the listen has proxy_protocol, set, limit_conn (503 when a
// zone is full), allow/deny (403 on a deny), then either return (a fixed
// answer) or proxy_pass. Proxying picks a server of the upstream with the
// upstream's balancing method (round robin with weights, hash KEY
// [consistent], least_conn, random [two], least_time), connects within
// proxy_connect_timeout, and on a failed connect tries the next server as
// proxy_next_upstream, _tries and _timeout allow, marking the failure
// against max_fails. Once connected it optionally sends a PROXY protocol v1
// header, then copies bytes both ways until the session ends, and writes
// one access log line with nginx's stream variables ($status is 200, 400,
// 403, 500, 502 or 503 as in nginx).
//
// The copy loop holds no buffer while a connection is idle: an idle
// connection costs its two sockets and the goroutine that serves it, whose
// stack stays small because the phases before the copy run on a
// short-lived goroutine of their own. A few
// pollers (one per CPU, each with its own epoll set, which the Go
// runtime's network poller watches) move the bytes when data arrives, a read into a pooled buffer and a write for small
// messages; during a bulk transfer a goroutine takes over and moves the
// data with splice(2) between the two sockets. proxy_timeout is the
// time without data in either direction after which the session is closed.
// With proxy_half_close on, the end of one direction is passed on with a
// half-close (shutdown of the write side) and the session lasts until both
// directions end; with the default (off) the session ends when either side
// closes, as in nginx.
//
// A "listen ... udp" session sends each datagram of the client to the
// upstream server and each answer back, until proxy_responses answers per
// datagram have come, proxy_requests datagrams were received, or
// proxy_timeout passes without a datagram. A server that refuses the
// session (ICMP port unreachable) before answering is a failed server,
// and the session goes on with the next one as proxy_next_upstream
// allows, sending it the first datagram again. With proxy_protocol on, the
// PROXY protocol header travels in front of the first datagram sent to
// each server, in the same datagram, as nginx sends it.
//
// A Handler is built from one generation's configuration and is immutable;
// peer state (active connections, failures) lives in a balance.Registry that
// outlives reloads.
package stream
