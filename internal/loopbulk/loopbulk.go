package loopbulk

import "net/netip"

// Local reports whether a connection from local to remote stays on this
// host: the peer is a loopback address, or the connection's own address
// (traffic between two addresses of one host goes through the loopback
// interface).
func Local(local, remote netip.Addr) bool {
	if !remote.IsValid() {
		return false
	}
	return remote.IsLoopback() || remote == local
}
