package proxyproto

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
)

// FromAddrs returns a Proxy header of the given version (1 or 2) describing a
// connection from src to dst, typically the client connection's RemoteAddr
// and LocalAddr. The transport follows the address types: *net.TCPAddr
// gives TCP4 or TCP6, *net.UDPAddr UDP4 or UDP6, *net.UnixAddr UnixStream or
// UnixDgram, and anything else (or nil) Unknown. When one side is IPv4 and
// the other IPv6, the IPv4 address is written in its IPv4-mapped IPv6 form.
// IPv4-mapped IPv6 addresses (a dual-stack listener's view of an IPv4
// client) stay IPv6, as nginx writes them. IPv6 zones are dropped.
func FromAddrs(version int, src, dst net.Addr) Header {
	h := Header{Version: version, Command: Proxy, Transport: Unknown}
	var sap, dap netip.AddrPort
	var dgram bool
	switch s := src.(type) {
	case *net.TCPAddr:
		d, ok := dst.(*net.TCPAddr)
		if !ok || s == nil || d == nil {
			return h
		}
		sap, dap = s.AddrPort(), d.AddrPort()
	case *net.UDPAddr:
		d, ok := dst.(*net.UDPAddr)
		if !ok || s == nil || d == nil {
			return h
		}
		sap, dap, dgram = s.AddrPort(), d.AddrPort(), true
	case *net.UnixAddr:
		d, ok := dst.(*net.UnixAddr)
		if !ok || s == nil || d == nil {
			return h
		}
		h.Transport = UnixStream
		if s.Net == "unixgram" {
			h.Transport = UnixDgram
		}
		h.SourcePath, h.DestinationPath = s.Name, d.Name
		return h
	default:
		return h
	}
	sa, da := sap.Addr().WithZone(""), dap.Addr().WithZone("")
	if !sa.IsValid() || !da.IsValid() {
		return h
	}
	if sa.Is4() != da.Is4() {
		sa, da = as16(sa), as16(da)
	}
	h.Transport = TCP6
	if sa.Is4() {
		h.Transport = TCP4
	}
	if dgram {
		h.Transport = h.Transport&0xf0 | protoDgram
	}
	h.Source = netip.AddrPortFrom(sa, sap.Port())
	h.Destination = netip.AddrPortFrom(da, dap.Port())
	return h
}

func as16(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }

// Append appends the encoding of h to b, in the format of h.Version.
//
// Version 1 follows nginx: TCP4 and TCP6 lines with addresses in nginx's
// text form (IPv6 compressed, lower case, IPv4-mapped as ::ffff:a.b.c.d),
// UDP written as TCP4 or TCP6 because version 1 has no UDP, and
// "PROXY UNKNOWN\r\n" for unix sockets, Unknown and the Local command.
//
// Version 2 writes the command, the transport, the addresses (none for Local
// and Unknown) and h.TLVs in order. A TLV of TypeCRC32C gets the header's
// checksum as its value.
//
// Append fails when an address does not match the transport (for example an
// IPv6 address with TCP4), when a unix path exceeds 108 bytes, or when the
// version 2 header would exceed 65535 bytes after its fixed part.
func (h *Header) Append(b []byte) ([]byte, error) {
	switch h.Version {
	case 1:
		return h.appendV1(b)
	case 2:
		return h.appendV2(b)
	}
	return b, errors.New("proxyproto: encoding header: version " + strconv.Itoa(h.Version) + " is not 1 or 2")
}

// Bytes returns the encoding of h; see Append.
func (h *Header) Bytes() ([]byte, error) { return h.Append(nil) }

// WriteTo writes the encoding of h to w in one Write call, as the
// specification asks, and implements io.WriterTo.
func (h *Header) WriteTo(w io.Writer) (int64, error) {
	var buf [232]byte
	b, err := h.Append(buf[:0])
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

func encodeError(reason string) error {
	return errors.New("proxyproto: encoding header: " + reason)
}

// ipFor returns the addresses of h in the family of t, or an error.
func (h *Header) ipFor(v6 bool) (src, dst netip.Addr, err error) {
	src, dst = h.Source.Addr().WithZone(""), h.Destination.Addr().WithZone("")
	if !src.IsValid() || !dst.IsValid() {
		return src, dst, encodeError(h.Transport.String() + " needs a source and a destination address")
	}
	if v6 {
		return as16(src), as16(dst), nil
	}
	src, dst = src.Unmap(), dst.Unmap()
	if !src.Is4() || !dst.Is4() {
		return src, dst, encodeError(h.Transport.String() + " needs IPv4 addresses, not " +
			src.String() + " and " + dst.String())
	}
	return src, dst, nil
}

func (h *Header) appendV1(b []byte) ([]byte, error) {
	if h.Command == Local || !h.Transport.IsIP() {
		return append(b, "PROXY UNKNOWN\r\n"...), nil
	}
	v6 := h.Transport.family() == famInet6
	src, dst, err := h.ipFor(v6)
	if err != nil {
		return b, err
	}
	if v6 {
		b = append(b, "PROXY TCP6 "...)
		b = appendIPv6(b, src.As16())
		b = append(b, ' ')
		b = appendIPv6(b, dst.As16())
	} else {
		b = append(b, "PROXY TCP4 "...)
		b = appendIPv4(b, src.As4())
		b = append(b, ' ')
		b = appendIPv4(b, dst.As4())
	}
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(h.Source.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(h.Destination.Port()), 10)
	return append(b, '\r', '\n'), nil
}

func appendIPv4(b []byte, p [4]byte) []byte {
	for i, x := range p {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(x), 10)
	}
	return b
}

// appendIPv6 writes p as nginx's ngx_inet6_ntop does: the first longest run
// of at least two zero groups becomes "::", groups are lower-case hex
// without leading zeros, and addresses whose first 80 bits are zero and next
// 16 are ones (IPv4-mapped), whose first 96 bits are zero (IPv4-compatible),
// or whose first 112 bits are zero with a last group other than 0x0001 or
// 0x00xx end in dotted IPv4.
func appendIPv6(b []byte, p [16]byte) []byte {
	zero, longest := -1, 1
	start, run := -1, 0
	for i := 0; i < 16; i += 2 {
		if p[i] != 0 || p[i+1] != 0 {
			if longest < run {
				zero, longest = start, run
			}
			run = 0
			continue
		}
		if run == 0 {
			start = i
		}
		run++
	}
	if longest < run {
		zero, longest = start, run
	}
	end := 16
	if zero == 0 {
		if longest == 5 && p[10] == 0xff && p[11] == 0xff || longest == 6 ||
			longest == 7 && p[14] != 0 && p[15] != 1 {
			end = 12
		}
		b = append(b, ':')
	}
	for i := 0; i < end; i += 2 {
		if i == zero {
			b = append(b, ':')
			i += (longest - 1) * 2
			continue
		}
		b = strconv.AppendUint(b, uint64(p[i])<<8|uint64(p[i+1]), 16)
		if i < 14 {
			b = append(b, ':')
		}
	}
	if end == 12 {
		b = appendIPv4(b, [4]byte(p[12:16]))
	}
	return b
}

func (h *Header) appendV2(b []byte) ([]byte, error) {
	if h.Command != Local && h.Command != Proxy {
		return b, encodeError("unknown command " + h.Command.String())
	}
	start := len(b)
	b = append(b, v2Signature...)
	b = append(b, 0x20|byte(h.Command), 0, 0, 0)
	fam := byte(Unknown)
	if h.Command == Proxy {
		switch {
		case h.Transport.IsIP():
			v6 := h.Transport.family() == famInet6
			src, dst, err := h.ipFor(v6)
			if err != nil {
				return b[:start], err
			}
			if v6 {
				s, d := src.As16(), dst.As16()
				b = append(b, s[:]...)
				b = append(b, d[:]...)
			} else {
				s, d := src.As4(), dst.As4()
				b = append(b, s[:]...)
				b = append(b, d[:]...)
			}
			b = binary.BigEndian.AppendUint16(b, h.Source.Port())
			b = binary.BigEndian.AppendUint16(b, h.Destination.Port())
			fam = byte(h.Transport)
		case h.Transport == UnixStream || h.Transport == UnixDgram:
			if len(h.SourcePath) > 108 || len(h.DestinationPath) > 108 {
				return b[:start], encodeError("unix socket path longer than 108 bytes")
			}
			var s, d [108]byte
			copy(s[:], h.SourcePath)
			copy(d[:], h.DestinationPath)
			b = append(b, s[:]...)
			b = append(b, d[:]...)
			fam = byte(h.Transport)
		case h.Transport != Unknown:
			return b[:start], encodeError("unknown transport " + h.Transport.String())
		}
	}
	b[start+13] = fam
	crc := -1
	for _, t := range h.TLVs {
		if len(t.Value) > 0xffff {
			return b[:start], encodeError("TLV value longer than 65535 bytes")
		}
		if t.Type == TypeCRC32C {
			crc = len(b) + 3
			b = append(b, TypeCRC32C, 0, 4, 0, 0, 0, 0)
			continue
		}
		b = appendTLV(b, t)
	}
	n := len(b) - start - v2FixedLength
	if n > 0xffff {
		return b[:start], encodeError("version 2 header longer than 65535 bytes after its fixed part")
	}
	binary.BigEndian.PutUint16(b[start+14:], uint16(n))
	if crc >= 0 {
		binary.BigEndian.PutUint32(b[crc:], headerCRC(b[start:], crc-start))
	}
	return b, nil
}
