package proxyproto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"strconv"
)

// Errors returned by Read and Parse. Match them with errors.Is.
var (
	// ErrNoHeader means the data does not start with a PROXY protocol
	// header. Read and Parse decide it from the first bytes that differ
	// from both signatures ("PROXY " and the version 2 block) and consume
	// nothing.
	ErrNoHeader = errors.New("proxyproto: no PROXY protocol header")
	// ErrIncomplete means the bytes given to Parse are a valid beginning of
	// a header; more are needed.
	ErrIncomplete = errors.New("proxyproto: incomplete header")
	// ErrInvalid is wrapped by every *FormatError.
	ErrInvalid = errors.New("proxyproto: invalid header")
)

// FormatError describes why a header that started with a PROXY protocol
// signature was rejected. It wraps ErrInvalid.
type FormatError struct {
	Version int    // 1 or 2
	Reason  string // what was wrong, for example `port "080" has a leading zero`
}

// Error returns "proxyproto: invalid v<N> header: <reason>".
func (e *FormatError) Error() string {
	return "proxyproto: invalid v" + strconv.Itoa(e.Version) + " header: " + e.Reason
}

// Unwrap returns ErrInvalid.
func (e *FormatError) Unwrap() error { return ErrInvalid }

func invalid(version int, format string, args ...any) error {
	return &FormatError{Version: version, Reason: fmt.Sprintf(format, args...)}
}

const (
	// MaxV1Length is the longest version 1 line, CRLF included
	// ("PROXY UNKNOWN" with two full IPv6 addresses and ports).
	MaxV1Length = 107
	// DefaultMaxV2Length is the default bound on a whole version 2 header,
	// the 16 fixed bytes included. It is nginx's limit.
	DefaultMaxV2Length = 4096
	// v2FixedLength is the signature, version/command, family and length.
	v2FixedLength = 16
	// MaxV2Length is the largest version 2 header the format can express.
	MaxV2Length = v2FixedLength + 0xffff
)

var (
	v1Prefix    = []byte("PROXY ")
	v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// Decoder reads PROXY protocol headers with configurable limits. The zero
// value is ready to use with the defaults. A Decoder is not modified by its
// methods and is safe for concurrent use.
type Decoder struct {
	// MaxV2Length bounds the total size of a version 2 header, the 16
	// fixed bytes included. Zero means DefaultMaxV2Length; values above
	// MaxV2Length are treated as MaxV2Length. Version 1 lines are always
	// bounded by MaxV1Length.
	MaxV2Length int
}

func (d *Decoder) maxV2() int {
	switch {
	case d == nil || d.MaxV2Length <= 0:
		return DefaultMaxV2Length
	case d.MaxV2Length < v2FixedLength:
		return v2FixedLength
	case d.MaxV2Length > MaxV2Length:
		return MaxV2Length
	}
	return d.MaxV2Length
}

// Read reads one header of either version from br with the default limits.
// See Decoder.Read.
func Read(br *bufio.Reader) (Header, error) {
	var d Decoder
	return d.Read(br)
}

// Parse decodes one header of either version at the start of b with the
// default limits. See Decoder.Parse.
func Parse(b []byte) (Header, int, error) {
	var d Decoder
	return d.Parse(b)
}

// Parse decodes one header at the start of b and returns it with the number
// of bytes it occupies; the payload starts at b[n:]. It returns ErrIncomplete
// when b is a valid beginning of a header, ErrNoHeader when b does not start
// with a header, and a *FormatError when the header is malformed. TLV values
// in the returned Header alias b.
func (d *Decoder) Parse(b []byte) (h Header, n int, err error) {
	h, n, _, err = d.parse(b)
	return h, n, err
}

// parse is Parse that also reports, with ErrIncomplete, how many bytes in
// total are known to be needed (len(b)+1 when unknown).
func (d *Decoder) parse(b []byte) (h Header, n, need int, err error) {
	if len(b) == 0 {
		return Header{}, 0, 1, ErrIncomplete
	}
	switch b[0] {
	case 'P':
		if !hasPrefix(b, v1Prefix) {
			return Header{}, 0, 0, ErrNoHeader
		}
		if len(b) < len(v1Prefix) {
			return Header{}, 0, len(v1Prefix), ErrIncomplete
		}
		return parseV1(b)
	case '\r':
		if !hasPrefix(b, v2Signature) {
			return Header{}, 0, 0, ErrNoHeader
		}
		if len(b) < v2FixedLength {
			return Header{}, 0, v2FixedLength, ErrIncomplete
		}
		return d.parseV2(b)
	}
	return Header{}, 0, 0, ErrNoHeader
}

// hasPrefix reports whether b and p agree on their common length.
func hasPrefix(b, p []byte) bool {
	m := min(len(b), len(p))
	return string(b[:m]) == string(p[:m])
}

// Read reads one header of either version from br. It never consumes bytes
// past the header, so the payload that follows is still in br. When the
// stream does not start with a header it returns ErrNoHeader and consumes
// nothing, deciding from as few bytes as possible (one byte for most
// protocols). A malformed header gives a *FormatError; the connection should
// then be closed, as the bytes read so far are lost. A read error is wrapped
// ("proxyproto: reading header: ..."): io.EOF when the stream ended before its
// first byte, io.ErrUnexpectedEOF when it ended inside a header. Set a read
// deadline on the connection to bound the wait. TLV values in the returned
// Header do not alias br's buffer.
func (d *Decoder) Read(br *bufio.Reader) (Header, error) {
	// Phase 1: peek until the signature and, for version 2, the fixed part
	// are known to be valid. Nothing is consumed.
	need := 1
	var fixed []byte
	for {
		b, rerr := br.Peek(max(need, min(br.Buffered(), v2FixedLength)))
		b = b[:min(len(b), v2FixedLength)]
		_, _, nd, perr := d.parse(b)
		if perr != nil && !errors.Is(perr, ErrIncomplete) {
			return Header{}, perr // ErrNoHeader or a malformed fixed part
		}
		if len(b) >= len(v1Prefix) && b[0] == 'P' || len(b) >= v2FixedLength {
			fixed = b
			break
		}
		if rerr != nil {
			return Header{}, readError(rerr, len(b))
		}
		need = max(min(nd, v2FixedLength), len(b)+1)
	}
	if fixed[0] == 'P' {
		return readV1(br)
	}
	// Version 2: the fixed part is valid, so the total length is known and
	// within the limit.
	total := v2FixedLength + int(binary.BigEndian.Uint16(fixed[14:16]))
	buf := make([]byte, total)
	if _, err := io.ReadFull(br, buf); err != nil {
		return Header{}, readError(err, 1)
	}
	h, _, _, err := d.parseV2(buf)
	return h, err
}

func readError(err error, got int) error {
	if errors.Is(err, io.EOF) && got > 0 {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("proxyproto: reading header: %w", err)
}

// readV1 consumes a version 1 line byte by byte, up to its LF.
func readV1(br *bufio.Reader) (Header, error) {
	var line [MaxV1Length]byte
	for n := 0; n < len(line); n++ {
		c, err := br.ReadByte()
		if err != nil {
			return Header{}, readError(err, 1)
		}
		line[n] = c
		if c == '\n' {
			h, _, _, err := parseV1(line[:n+1])
			return h, err
		}
		if c != '\r' && (c < 0x20 || c > 0x7e) {
			return Header{}, invalid(1, "byte 0x%02x at offset %d is not printable ASCII", c, n)
		}
		if n > 0 && line[n-1] == '\r' {
			return Header{}, invalid(1, "CR not followed by LF")
		}
	}
	return Header{}, invalid(1, "no CRLF in the first %d bytes", MaxV1Length)
}

// parseV1 parses a version 1 line at the start of b, which starts with
// "PROXY ".
func parseV1(b []byte) (Header, int, int, error) {
	end := -1
	for i := len(v1Prefix); i < len(b) && i < MaxV1Length; i++ {
		c := b[i]
		if c == '\r' {
			if i+1 >= MaxV1Length {
				break
			}
			if i+1 == len(b) {
				return Header{}, 0, i + 2, ErrIncomplete
			}
			if b[i+1] != '\n' {
				return Header{}, 0, 0, invalid(1, "CR not followed by LF")
			}
			end = i
			break
		}
		if c == '\n' {
			return Header{}, 0, 0, invalid(1, "LF not preceded by CR")
		}
		if c < 0x20 || c > 0x7e {
			return Header{}, 0, 0, invalid(1, "byte 0x%02x at offset %d is not printable ASCII", c, i)
		}
	}
	if end < 0 {
		if len(b) >= MaxV1Length {
			return Header{}, 0, 0, invalid(1, "no CRLF in the first %d bytes", MaxV1Length)
		}
		return Header{}, 0, len(b) + 1, ErrIncomplete
	}
	h, err := parseV1Line(b[len(v1Prefix):end])
	if err != nil {
		return Header{}, 0, 0, err
	}
	return h, end + 2, 0, nil
}

// parseV1Line parses what follows "PROXY " up to the CRLF.
func parseV1Line(s []byte) (Header, error) {
	h := Header{Version: 1, Command: Proxy}
	proto, rest, more := cut(s)
	switch string(proto) {
	case "UNKNOWN":
		// The rest of the line is ignored, as the specification requires.
		h.Transport = Unknown
		return h, nil
	case "TCP4":
		h.Transport = TCP4
	case "TCP6":
		h.Transport = TCP6
	case "":
		return Header{}, invalid(1, "missing protocol")
	default:
		return Header{}, invalid(1, "unknown protocol %q", proto)
	}
	if !more {
		return Header{}, invalid(1, "no addresses after %s", proto)
	}
	var f [4][]byte
	for i := range f {
		f[i], rest, more = cut(rest)
		if len(f[i]) == 0 {
			return Header{}, invalid(1, "empty field %d (fields are separated by exactly one space)", i+2)
		}
		if more != (i < 3) {
			if more {
				return Header{}, invalid(1, "extra data after the destination port")
			}
			return Header{}, invalid(1, "%d fields instead of 5", i+2)
		}
	}
	src, err := parseV1Addr(f[0], h.Transport)
	if err != nil {
		return Header{}, err
	}
	dst, err := parseV1Addr(f[1], h.Transport)
	if err != nil {
		return Header{}, err
	}
	sport, err := parseV1Port(f[2])
	if err != nil {
		return Header{}, err
	}
	dport, err := parseV1Port(f[3])
	if err != nil {
		return Header{}, err
	}
	h.Source = netip.AddrPortFrom(src, sport)
	h.Destination = netip.AddrPortFrom(dst, dport)
	return h, nil
}

// cut splits s at its first space.
func cut(s []byte) (before, after []byte, found bool) {
	for i, c := range s {
		if c == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, nil, false
}

func parseV1Addr(s []byte, t Transport) (netip.Addr, error) {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':') {
			return netip.Addr{}, invalid(1, "address %q has a character other than hex digits, '.' and ':'", s)
		}
	}
	a, err := netip.ParseAddr(string(s))
	if err != nil {
		return netip.Addr{}, invalid(1, "address %q: %v", s, err)
	}
	if t == TCP4 && !a.Is4() {
		return netip.Addr{}, invalid(1, "address %q is not IPv4 as TCP4 requires", s)
	}
	if t == TCP6 && !a.Is6() {
		return netip.Addr{}, invalid(1, "address %q is not IPv6 as TCP6 requires", s)
	}
	return a, nil
}

func parseV1Port(s []byte) (uint16, error) {
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, invalid(1, "port %q is not a decimal number", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, invalid(1, "port %q has a leading zero", s)
	}
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	if len(s) > 5 || n > 0xffff {
		return 0, invalid(1, "port %q is out of range", s)
	}
	return uint16(n), nil
}

// addrLen returns the size of the address block of family fam.
func addrLen(fam uint8) int {
	switch fam {
	case famInet:
		return 12
	case famInet6:
		return 36
	case famUnix:
		return 216
	}
	return 0
}

// parseV2 parses a version 2 header at the start of b, which holds at least
// the 16 fixed bytes and starts with the signature.
func (d *Decoder) parseV2(b []byte) (Header, int, int, error) {
	ver, cmd := b[12]>>4, Command(b[12]&0x0f)
	if ver != 2 {
		return Header{}, 0, 0, invalid(2, "version %d instead of 2", ver)
	}
	if cmd != Local && cmd != Proxy {
		return Header{}, 0, 0, invalid(2, "unknown command 0x%x", uint8(cmd))
	}
	fam, proto := b[13]>>4, b[13]&0x0f
	if fam > famUnix {
		return Header{}, 0, 0, invalid(2, "unknown address family 0x%x", fam)
	}
	if proto > protoDgram {
		return Header{}, 0, 0, invalid(2, "unknown transport protocol 0x%x", proto)
	}
	total := v2FixedLength + int(binary.BigEndian.Uint16(b[14:16]))
	if max := d.maxV2(); total > max {
		return Header{}, 0, 0, invalid(2, "length %d exceeds the limit of %d bytes", total, max)
	}
	if len(b) < total {
		return Header{}, 0, total, ErrIncomplete
	}
	body := b[v2FixedLength:total]
	h := Header{Version: 2, Command: cmd, Transport: Unknown}
	al := addrLen(fam)
	if len(body) < al {
		if cmd == Proxy {
			return Header{}, 0, 0, invalid(2, "address block of %d bytes is shorter than the %d bytes of family 0x%x",
				len(body), al, fam)
		}
		// LOCAL: the family is ignored, and so is everything after it.
		return h, total, 0, nil
	}
	if cmd == Proxy && fam != famUnspec && proto != protoUnspec {
		h.Transport = Transport(b[13])
		a := body[:al]
		switch fam {
		case famInet:
			h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), binary.BigEndian.Uint16(a[8:10]))
			h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[10:12]))
		case famInet6:
			h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])), binary.BigEndian.Uint16(a[32:34]))
			h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])), binary.BigEndian.Uint16(a[34:36]))
		case famUnix:
			h.SourcePath = unixPath(a[0:108])
			h.DestinationPath = unixPath(a[108:216])
		}
	}
	tlvs, err := parseTLVs(body[al:])
	if err != nil {
		return Header{}, 0, 0, invalid(2, "%v", err)
	}
	off := v2FixedLength + al
	for _, t := range tlvs {
		if err := checkTLV(t, b[:total], off+3); err != nil {
			return Header{}, 0, 0, err
		}
		off += 3 + len(t.Value)
	}
	h.TLVs = tlvs
	return h, total, 0, nil
}

// unixPath trims the NUL padding of a unix socket path. An abstract socket
// name keeps its leading NUL.
func unixPath(b []byte) string {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return string(b[:n])
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkTLV validates the TLVs whose format the specification defines.
// valueOff is the offset of t.Value in hdr.
func checkTLV(t TLV, hdr []byte, valueOff int) error {
	switch t.Type {
	case TypeCRC32C:
		if len(t.Value) != 4 {
			return invalid(2, "CRC32C TLV of %d bytes instead of 4", len(t.Value))
		}
		want := binary.BigEndian.Uint32(t.Value)
		if got := headerCRC(hdr, valueOff); got != want {
			return invalid(2, "CRC32C checksum 0x%08x does not match the header's 0x%08x", want, got)
		}
	case TypeUniqueID:
		if len(t.Value) > MaxUniqueIDLength {
			return invalid(2, "unique ID TLV of %d bytes exceeds %d", len(t.Value), MaxUniqueIDLength)
		}
	case TypeSSL:
		if _, err := parseSSL(t.Value); err != nil {
			return invalid(2, "SSL TLV: %v", err)
		}
	}
	return nil
}

// headerCRC computes the CRC32c of hdr with the 4 bytes at off taken as
// zeros.
func headerCRC(hdr []byte, off int) uint32 {
	var zero [4]byte
	c := crc32.Update(0, castagnoli, hdr[:off])
	c = crc32.Update(c, castagnoli, zero[:])
	return crc32.Update(c, castagnoli, hdr[off+4:])
}
