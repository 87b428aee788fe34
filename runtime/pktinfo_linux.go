//go:build linux

package runtime

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// enablePktinfo asks the kernel to report the destination address of each
// datagram of pc (IP_PKTINFO on an AF_INET socket, IPV6_RECVPKTINFO on an
// AF_INET6 one, which also reports IPv4 destinations, mapped). It reports
// whether it could, and whether the socket is AF_INET6.
func enablePktinfo(pc *net.UDPConn) (ok, v6 bool) {
	rc, err := pc.SyscallConn()
	if err != nil {
		return false, false
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		var sa syscall.Sockaddr
		if sa, serr = syscall.Getsockname(int(fd)); serr != nil {
			return
		}
		if _, v6 = sa.(*syscall.SockaddrInet6); v6 {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_RECVPKTINFO, 1)
		} else {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_PKTINFO, 1)
		}
	})
	return err == nil && serr == nil, v6
}

// pktinfoDst returns the destination address in the control messages of a
// received datagram, unmapped, or the zero Addr.
func pktinfoDst(oob []byte) netip.Addr {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == syscall.IPPROTO_IP && m.Header.Type == syscall.IP_PKTINFO && len(m.Data) >= syscall.SizeofInet4Pktinfo:
			pi := (*syscall.Inet4Pktinfo)(unsafe.Pointer(&m.Data[0]))
			return netip.AddrFrom4(pi.Addr)
		case m.Header.Level == syscall.IPPROTO_IPV6 && m.Header.Type == syscall.IPV6_PKTINFO && len(m.Data) >= syscall.SizeofInet6Pktinfo:
			pi := (*syscall.Inet6Pktinfo)(unsafe.Pointer(&m.Data[0]))
			return netip.AddrFrom16(pi.Addr).Unmap()
		}
	}
	return netip.Addr{}
}

// pktinfoSrc returns the control message that makes a datagram leave from
// src: IP_PKTINFO on an AF_INET socket, IPV6_PKTINFO (with src mapped
// when it is IPv4) on an AF_INET6 one.
func pktinfoSrc(src netip.Addr, v6 bool) []byte {
	if !v6 {
		b := make([]byte, syscall.CmsgSpace(syscall.SizeofInet4Pktinfo))
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = syscall.IPPROTO_IP, syscall.IP_PKTINFO
		h.SetLen(syscall.CmsgLen(syscall.SizeofInet4Pktinfo))
		pi := (*syscall.Inet4Pktinfo)(unsafe.Pointer(&b[syscall.CmsgLen(0)]))
		pi.Spec_dst = src.As4()
		return b
	}
	b := make([]byte, syscall.CmsgSpace(syscall.SizeofInet6Pktinfo))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = syscall.IPPROTO_IPV6, syscall.IPV6_PKTINFO
	h.SetLen(syscall.CmsgLen(syscall.SizeofInet6Pktinfo))
	pi := (*syscall.Inet6Pktinfo)(unsafe.Pointer(&b[syscall.CmsgLen(0)]))
	pi.Addr = src.As16()
	return b
}
