//go:build !linux

package runtime

import (
	"net"
	"net/netip"
)

func enablePktinfo(*net.UDPConn) (ok, v6 bool) { return false, false }
func pktinfoDst([]byte) netip.Addr             { return netip.Addr{} }
func pktinfoSrc(netip.Addr, bool) []byte       { return nil }
