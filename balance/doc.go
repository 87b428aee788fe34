// Package balance chooses the upstream server for each connection or request,
// with the methods and server parameters of nginx's "upstream" block and the
// additions of NGINX Plus.
//
// # Groups, picks and outcomes
//
// A Group holds the servers of one upstream, built from a []Server and a
// Config by Registry.Build. For every attempt the proxy calls Group.Pick with
// a Request (client address, hash key); Pick returns a Selection naming the
// server. When the attempt ends the proxy calls Selection.Done with an
// Outcome: whether it failed (in the sense of proxy_next_upstream) and the
// latency it measured. To retry on another server (proxy_next_upstream), pick
// again with the same Request: the servers already tried are remembered in
// Request.Tried and never chosen twice. When nothing can serve, Pick returns
// ErrNoPeer; proxies answer 502.
//
// The per-server state — active connections, failures, latency estimates,
// health — lives in the Registry, keyed by upstream name and server address.
// A group rebuilt from a reloaded configuration with the same registry keeps
// it, and every listener using the upstream shares it. Picks take no lock
// and allocate nothing.
//
// # Server parameters
//
// Each Server carries the parameters of an nginx "server" line:
//
//   - Weight (weight=, default 1): the server's relative share.
//   - MaxConns (max_conns=, default 0 = unlimited): a server with that many
//     active connections is skipped.
//   - MaxFails (max_fails=, default 1) and FailTimeout (fail_timeout=, default
//     10s): after MaxFails failed attempts within FailTimeout the server is
//     unavailable for FailTimeout; then it gets a single trial request, and a
//     success makes it available again. A failure also lowers the server's
//     effective weight by Weight/MaxFails, which grows back by one each time
//     the server is considered, so a flaky server's share recovers gradually.
//     MaxFailsOff disables the accounting (nginx's max_fails=0). A group with
//     a single server and no backup never marks that server failed.
//   - Backup: used only when no primary server can serve. Not allowed with
//     hash, ip_hash and random, as in nginx.
//   - Down: never used.
//   - Drain (NGINX Plus): no new sessions; existing ones finish.
//   - SlowStart (NGINX Plus slow_start=, default off): when a server comes
//     back (healthy again, or available again after max_fails) or is added to
//     a running group, its share ramps from zero to full over this time: a
//     fraction t/SlowStart of the picks that would consider it do. Not allowed
//     with hash, ip_hash and random.
//
// Active health checks report through Peer.SetHealthy (or Group.SetHealthy);
// an unhealthy server gets nothing. Peer.Stats and Group.Stats give counters
// and state for a status API.
//
// # Methods
//
// Round robin (the default) is nginx's smooth weighted round robin: weights
// 5, 1, 1 give a a b a c a a, spreading each server's turns evenly. The
// sequence is exactly nginx's, also after failures; tiers of more than 64
// servers follow the same schedule but, while some server is failing, skip
// it rather than recompute nginx's weights (same shares, different order).
//
// least_conn sends to the server with the fewest active connections
// relative to its weight; ties go round robin, exactly as in nginx. Picks
// that overlap in time (under concurrent load) break ties at random in
// proportion to weight instead, since their order is not defined anyway and
// the shared round-robin state would make the cores contend for it. Groups
// of more than 64 servers compare 32 servers per pick, starting at a random
// one.
//
// Under concurrent load, round robin, least_conn and least_time work from a
// lane, a view of the group kept per processor, as each nginx worker keeps
// its own without zone: round robin walks the schedule from the lane's own
// place, and the counts and estimates least_conn and least_time compare are
// at most a millisecond old plus the processor's own picks since. A server
// leaving its plain state (a failure, health, drain, slow start) refreshes
// every lane at once. Picks that never overlap in time never use a lane and
// follow nginx's sequences exactly.
//
// ip_hash keys on the client address: the first three octets of an IPv4
// address (so one /24 network shares a server) or the whole IPv6 address. If
// the server is unavailable the key is rehashed, up to 20 times, then round
// robin decides. The choice is nginx's for the same server list.
//
// hash KEY keys on any string the proxy evaluates (Request.Key): nginx's
// CRC32-based hash modulo the total weight, with nginx's rehash on an
// unavailable server. An empty key falls back to round robin. With
// Config.Consistent it is ketama consistent hashing: each server puts 160
// points per weight unit on a ring, placed from its configured name exactly
// as nginx places them, so the same key reaches the same server as in nginx
// and adding or removing one of N servers moves only about 1/N of the keys.
//
// random picks a server at random with probability proportional to weight.
// random two (Config.Two) draws two different servers and takes the one with
// fewer active connections relative to weight, or with Config.TwoLeastTime
// the lower least_time score.
//
// least_time (NGINX Plus) sends to the server with the lowest
// estimate × (active+1) / weight, where the estimate is a peak-sensitive
// moving average of the latency the proxy reports, of the kind Config.Metric
// names (header, last_byte, connect, first_byte). With Config.Inflight the
// age of requests still running counts too. The estimate reacts at once to
// a slower sample and relaxes over DecayTime (2s); between samples it decays
// toward the group's typical latency, so a server that was slow once is not
// shunned forever. A server without samples is valued at that typical
// latency. Scores within TieBand (1/8) of the best count as equal and take
// turns in the order of the group's weighted round-robin schedule (at
// random in proportion to weight while picks overlap, as for least_conn),
// and one pick in ProbeEvery (20) goes to the server that waited longest,
// so identical servers share the load evenly and an idle server is
// measured again. least_time reads a cached clock, refreshed every
// millisecond while picks use it, as nginx reads the clock once per event
// loop iteration.
//
// # Time and randomness
//
// NewRegistry takes a Clock and Config takes a Rand, so tests can run
// deterministically.
package balance
