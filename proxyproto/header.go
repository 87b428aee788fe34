package proxyproto

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
)

// Command is the command of a PROXY header: LOCAL or PROXY.
type Command uint8

const (
	// Local means the connection was opened by the proxy itself (a health
	// check, for example); the receiver uses the real connection endpoints.
	// Only version 2 can express it.
	Local Command = 0x0
	// Proxy means the connection is relayed on behalf of the client whose
	// addresses the header carries. Every version 1 header has this command.
	Proxy Command = 0x1
)

// String returns "LOCAL" or "PROXY".
func (c Command) String() string {
	switch c {
	case Local:
		return "LOCAL"
	case Proxy:
		return "PROXY"
	}
	return "Command(" + strconv.Itoa(int(c)) + ")"
}

// Transport is the address family and transport protocol of a PROXY header.
// Its value is the byte version 2 puts on the wire: the family in the high
// nibble and the protocol in the low nibble.
type Transport uint8

const (
	// Unknown is an unspecified, unsupported or unknown protocol: "UNKNOWN" in
	// version 1, family and protocol 0 in version 2. The addresses are absent.
	Unknown Transport = 0x00
	// TCP4 is TCP over IPv4.
	TCP4 Transport = 0x11
	// UDP4 is UDP over IPv4 (version 2 only).
	UDP4 Transport = 0x12
	// TCP6 is TCP over IPv6.
	TCP6 Transport = 0x21
	// UDP6 is UDP over IPv6 (version 2 only).
	UDP6 Transport = 0x22
	// UnixStream is a SOCK_STREAM unix socket (version 2 only).
	UnixStream Transport = 0x31
	// UnixDgram is a SOCK_DGRAM unix socket (version 2 only).
	UnixDgram Transport = 0x32
)

// String returns the name of the transport: "TCP4", "TCP6", "UDP4", "UDP6",
// "UNIX", "UNIXGRAM" or "UNKNOWN".
func (t Transport) String() string {
	switch t {
	case Unknown:
		return "UNKNOWN"
	case TCP4:
		return "TCP4"
	case UDP4:
		return "UDP4"
	case TCP6:
		return "TCP6"
	case UDP6:
		return "UDP6"
	case UnixStream:
		return "UNIX"
	case UnixDgram:
		return "UNIXGRAM"
	}
	return "Transport(0x" + strconv.FormatUint(uint64(t), 16) + ")"
}

// IsIP reports whether t carries IP addresses and ports (TCP or UDP over IPv4
// or IPv6).
func (t Transport) IsIP() bool { return t.family() == famInet || t.family() == famInet6 }

// IsUnix reports whether t carries unix socket paths.
func (t Transport) IsUnix() bool { return t.family() == famUnix }

// IsStream reports whether t is a stream transport (TCP or unix stream).
func (t Transport) IsStream() bool { return t&0x0f == protoStream }

// IsDatagram reports whether t is a datagram transport (UDP or unix datagram).
func (t Transport) IsDatagram() bool { return t&0x0f == protoDgram }

func (t Transport) family() uint8 { return uint8(t) >> 4 }

const (
	famUnspec = 0x0
	famInet   = 0x1
	famInet6  = 0x2
	famUnix   = 0x3

	protoUnspec = 0x0
	protoStream = 0x1
	protoDgram  = 0x2
)

// TLV types registered by the specification.
const (
	TypeALPN          = 0x01 // PP2_TYPE_ALPN: the negotiated application protocol
	TypeAuthority     = 0x02 // PP2_TYPE_AUTHORITY: the host name the client asked for (TLS SNI)
	TypeCRC32C        = 0x03 // PP2_TYPE_CRC32C: checksum of the whole header
	TypeNOOP          = 0x04 // PP2_TYPE_NOOP: padding, ignored
	TypeUniqueID      = 0x05 // PP2_TYPE_UNIQUE_ID: opaque connection ID, at most 128 bytes
	TypeSSL           = 0x20 // PP2_TYPE_SSL: TLS details, with sub-TLVs
	SubtypeSSLVersion = 0x21 // PP2_SUBTYPE_SSL_VERSION: TLS version, "TLSv1.3"
	SubtypeSSLCN      = 0x22 // PP2_SUBTYPE_SSL_CN: client certificate common name
	SubtypeSSLCipher  = 0x23 // PP2_SUBTYPE_SSL_CIPHER: cipher name
	SubtypeSSLSigAlg  = 0x24 // PP2_SUBTYPE_SSL_SIG_ALG: certificate signature algorithm
	SubtypeSSLKeyAlg  = 0x25 // PP2_SUBTYPE_SSL_KEY_ALG: certificate key algorithm
	TypeNetNS         = 0x30 // PP2_TYPE_NETNS: network namespace name
)

// Bits of SSLInfo.Client.
const (
	ClientSSL      = 0x01 // PP2_CLIENT_SSL: the client connected over TLS
	ClientCertConn = 0x02 // PP2_CLIENT_CERT_CONN: a certificate was presented on this connection
	ClientCertSess = 0x04 // PP2_CLIENT_CERT_SESS: a certificate was presented in this TLS session
)

// MaxUniqueIDLength is the longest PP2_TYPE_UNIQUE_ID value the
// specification allows.
const MaxUniqueIDLength = 128

// TLV is one type-length-value field of a version 2 header. The zero value
// is an empty field of the unassigned type 0.
type TLV struct {
	Type  uint8
	Value []byte
}

// Header is a decoded PROXY protocol header, or the description of one to
// write. The zero value is a version 0 header, which Append rejects; set
// Version to 1 or 2. A Header is a plain value: copy it freely, but do not
// modify TLV values shared with another goroutine.
type Header struct {
	// Version is 1 (text) or 2 (binary).
	Version int
	// Command is Proxy or Local. Version 1 headers are always Proxy.
	Command Command
	// Transport is the family and protocol of the relayed connection.
	// It is Unknown for "PROXY UNKNOWN" and for version 2 headers whose
	// family or protocol is unspecified.
	Transport Transport
	// Source and Destination are the client's address and the address it
	// connected to, for IP transports with the Proxy command. They are the
	// zero AddrPort otherwise.
	Source, Destination netip.AddrPort
	// SourcePath and DestinationPath are the unix socket paths for unix
	// transports with the Proxy command, with the NUL padding removed.
	SourcePath, DestinationPath string
	// TLVs are the version 2 type-length-value fields, in wire order.
	// When decoding, a CRC32C field has already been verified. When
	// encoding, a TLV of TypeCRC32C makes Append compute the checksum into
	// it, whatever its value.
	TLVs []TLV
}

// IsLocal reports whether the receiver should use the real connection
// endpoints instead of the header's: a LOCAL command or an Unknown transport.
func (h *Header) IsLocal() bool {
	return h.Command == Local || h.Transport == Unknown
}

// SourceAddr returns the client address as a net.Addr of the right kind
// (*net.TCPAddr, *net.UDPAddr or *net.UnixAddr), or nil when the header
// carries no address.
func (h *Header) SourceAddr() net.Addr { return h.netAddr(h.Source, h.SourcePath) }

// DestinationAddr returns the address the client connected to, like
// SourceAddr.
func (h *Header) DestinationAddr() net.Addr { return h.netAddr(h.Destination, h.DestinationPath) }

func (h *Header) netAddr(ap netip.AddrPort, path string) net.Addr {
	if h.Command != Proxy {
		return nil
	}
	switch h.Transport {
	case TCP4, TCP6:
		return net.TCPAddrFromAddrPort(ap)
	case UDP4, UDP6:
		return net.UDPAddrFromAddrPort(ap)
	case UnixStream:
		return &net.UnixAddr{Name: path, Net: "unix"}
	case UnixDgram:
		return &net.UnixAddr{Name: path, Net: "unixgram"}
	}
	return nil
}

// TLV returns the value of the first TLV of type t, and whether there is one.
func (h *Header) TLV(t uint8) ([]byte, bool) {
	return findTLV(h.TLVs, t)
}

func findTLV(tlvs []TLV, t uint8) ([]byte, bool) {
	for i := range tlvs {
		if tlvs[i].Type == t {
			return tlvs[i].Value, true
		}
	}
	return nil, false
}

// ALPN returns the PP2_TYPE_ALPN value (for example "h2"), or "".
func (h *Header) ALPN() string { v, _ := h.TLV(TypeALPN); return string(v) }

// Authority returns the PP2_TYPE_AUTHORITY value, the host name the client
// asked for, or "".
func (h *Header) Authority() string { v, _ := h.TLV(TypeAuthority); return string(v) }

// UniqueID returns the PP2_TYPE_UNIQUE_ID value, or nil.
func (h *Header) UniqueID() []byte { v, _ := h.TLV(TypeUniqueID); return v }

// NetNS returns the PP2_TYPE_NETNS value, the network namespace name, or "".
func (h *Header) NetNS() string { v, _ := h.TLV(TypeNetNS); return string(v) }

// SSLInfo is the decoded value of a PP2_TYPE_SSL TLV. The zero value means
// no TLS.
type SSLInfo struct {
	// Client is a bit set of ClientSSL, ClientCertConn and ClientCertSess.
	Client uint8
	// Verify is zero when the client presented a certificate that was
	// verified successfully, and non-zero otherwise.
	Verify uint32
	// SubTLVs are the nested fields, in wire order.
	SubTLVs []TLV
}

// SSL decodes the PP2_TYPE_SSL TLV. It reports false when there is none or
// when it is malformed (headers returned by Read and Parse never hold a
// malformed one).
func (h *Header) SSL() (SSLInfo, bool) {
	v, ok := h.TLV(TypeSSL)
	if !ok {
		return SSLInfo{}, false
	}
	info, err := parseSSL(v)
	if err != nil {
		return SSLInfo{}, false
	}
	return info, true
}

func parseSSL(v []byte) (SSLInfo, error) {
	if len(v) < 5 {
		return SSLInfo{}, errors.New("SSL TLV shorter than 5 bytes")
	}
	info := SSLInfo{Client: v[0], Verify: binary.BigEndian.Uint32(v[1:5])}
	subs, err := parseTLVs(v[5:])
	if err != nil {
		return SSLInfo{}, err
	}
	info.SubTLVs = subs
	return info, nil
}

// Sub returns the value of the first sub-TLV of type t, and whether there is
// one.
func (s SSLInfo) Sub(t uint8) ([]byte, bool) { return findTLV(s.SubTLVs, t) }

// Version returns the PP2_SUBTYPE_SSL_VERSION value ("TLSv1.3"), or "".
func (s SSLInfo) Version() string { v, _ := s.Sub(SubtypeSSLVersion); return string(v) }

// CN returns the PP2_SUBTYPE_SSL_CN value, or "".
func (s SSLInfo) CN() string { v, _ := s.Sub(SubtypeSSLCN); return string(v) }

// Cipher returns the PP2_SUBTYPE_SSL_CIPHER value, or "".
func (s SSLInfo) Cipher() string { v, _ := s.Sub(SubtypeSSLCipher); return string(v) }

// SigAlg returns the PP2_SUBTYPE_SSL_SIG_ALG value, or "".
func (s SSLInfo) SigAlg() string { v, _ := s.Sub(SubtypeSSLSigAlg); return string(v) }

// KeyAlg returns the PP2_SUBTYPE_SSL_KEY_ALG value, or "".
func (s SSLInfo) KeyAlg() string { v, _ := s.Sub(SubtypeSSLKeyAlg); return string(v) }

// TLV encodes s as a PP2_TYPE_SSL TLV, for Header.TLVs.
func (s SSLInfo) TLV() TLV {
	n := 5
	for _, t := range s.SubTLVs {
		n += 3 + len(t.Value)
	}
	v := make([]byte, 5, n)
	v[0] = s.Client
	binary.BigEndian.PutUint32(v[1:5], s.Verify)
	for _, t := range s.SubTLVs {
		v = appendTLV(v, t)
	}
	return TLV{Type: TypeSSL, Value: v}
}

func appendTLV(b []byte, t TLV) []byte {
	b = append(b, t.Type, byte(len(t.Value)>>8), byte(len(t.Value)))
	return append(b, t.Value...)
}

// parseTLVs splits b into TLVs; the values alias b.
func parseTLVs(b []byte) ([]TLV, error) {
	var out []TLV
	for len(b) > 0 {
		if len(b) < 3 {
			return nil, errors.New("truncated TLV header")
		}
		n := int(b[1])<<8 | int(b[2])
		if len(b)-3 < n {
			return nil, errors.New("TLV of type 0x" + strconv.FormatUint(uint64(b[0]), 16) +
				" longer than the header")
		}
		out = append(out, TLV{Type: b[0], Value: b[3 : 3+n : 3+n]})
		b = b[3+n:]
	}
	return out, nil
}
