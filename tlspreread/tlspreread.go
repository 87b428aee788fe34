// Package tlspreread reads the server name, the ALPN protocols and the
// highest protocol version a TLS client offers from its ClientHello, without
// decrypting anything and without answering, as nginx's `ssl_preread on`
// does in a `stream {}` server.
//
// This is what lets one port route TLS connections by host name
// (`map $ssl_preread_server_name $backend { ... }`) while the TLS session
// itself runs end to end between the client and the chosen backend: the
// proxy reads the first bytes the client sends, gives them to a Parser, and
// then forwards every byte it read, unchanged, to the backend.
//
// The Parser gives the values of nginx's variables:
//
//   - $ssl_preread_server_name: ServerName, the first host name of the
//     server_name extension (SNI), as sent;
//   - $ssl_preread_alpn_protocols: ALPNProtocols, the ALPN protocols joined
//     with commas, for example "h2,http/1.1";
//   - $ssl_preread_protocol: Protocol, "TLSv1.3" when the client sends the
//     supported_versions extension, otherwise the ClientHello's version
//     ("TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3"), "SSLv2" style version bytes
//     from an SSLv2-compatible hello, or "".
//
// As in nginx 1.22 (with its ClientHello extension validation), a
// ClientHello may span several TLS records, each record is parsed only when
// it is complete, and the bytes read are bounded by a buffer size
// (preread_buffer_size, 16k by default). Anything that is not a TLS
// handshake makes the parser give up with every value empty, and so does a
// malformed ClientHello: a field longer than the message, an extensions
// block that does not fill the rest of the message exactly, a second
// server_name or ALPN extension, a server name whose type is not host_name,
// an empty ALPN protocol, or a supported_versions list shorter than one
// version.
package tlspreread

import (
	"errors"
	"io"
)

// DefaultBufferSize is nginx's default preread_buffer_size.
const DefaultBufferSize = 16 * 1024

// Status is the state of a Parser after Parse.
type Status int

const (
	// NeedMore means the bytes so far are the beginning of a TLS
	// handshake; read more and call Parse again.
	NeedMore Status = iota
	// Done means the ClientHello has been parsed; the values are final.
	Done
	// NotTLS means the bytes are not a TLS ClientHello, or a malformed one.
	// The values are empty; nginx proceeds with the connection anyway.
	NotTLS
	// BufferFull means the buffer limit was reached before the ClientHello
	// was complete. nginx ends such a session with status 400 ("preread
	// buffer full"). The values are whatever was parsed so far.
	BufferFull
)

// String returns the name of the status.
func (s Status) String() string {
	switch s {
	case NeedMore:
		return "NeedMore"
	case Done:
		return "Done"
	case NotTLS:
		return "NotTLS"
	case BufferFull:
		return "BufferFull"
	}
	return "Status(?)"
}

// parse states, in ClientHello order.
type state uint8

const (
	stStart        state = iota
	stHeader             // handshake type and length
	stVersion            // legacy client_version
	stRandom             // random
	stSIDLen             // session_id length
	stSID                // session_id
	stCSLen              // cipher_suites length
	stCS                 // cipher_suites
	stCMLen              // compression_methods length
	stCM                 // compression_methods
	stExtLen             // extensions length
	stExt                // between extensions
	stExtHeader          // extension type and length
	stSNILen             // server_name_list length
	stSNIHead            // name_type and host_name length
	stSNIHost            // host_name
	stALPNLen            // protocol_name_list length
	stALPNProtoLen       // protocol_name length
	stALPNProto          // protocol_name
	stSupVerLen          // supported_versions length
)

// sink is where the bytes of the current field go.
type sink uint8

const (
	toNothing sink = iota
	toTmp
	toVersion
	toHost
	toALPN
)

// Parser parses one ClientHello incrementally. The zero value is ready to
// use with a DefaultBufferSize limit. A Parser is used by one goroutine; it
// is not safe for concurrent use. Reset makes it reusable.
type Parser struct {
	// BufferSize bounds the bytes Parse looks at before giving up with
	// BufferFull, like preread_buffer_size. Zero means DefaultBufferSize.
	BufferSize int

	cur    state
	result Status
	pos    int // offset in the caller's buffer of the next record header

	size, left, ext int // bytes of the current field, of the message, of the extension
	dst             sink
	tmp             [4]byte
	tmpN            int

	version  [2]byte
	versionN int
	host     []byte
	hostSeen bool // the first server_name extension was seen
	hostDone bool
	alpn     []byte // protocols read so far, with commas
	alpnLen  int    // bytes of alpn that are complete
	alpnSeen bool
}

// Reset clears p for a new connection, keeping BufferSize and the memory it
// allocated.
func (p *Parser) Reset() {
	*p = Parser{BufferSize: p.BufferSize, host: p.host[:0], alpn: p.alpn[:0]}
}

func (p *Parser) limit() int {
	if p.BufferSize > 0 {
		return p.BufferSize
	}
	return DefaultBufferSize
}

// Parse examines buf, all the bytes the client has sent so far: each call
// must pass the same bytes as the previous one with more appended (or the
// same bytes again). Complete TLS records not yet seen are parsed; an
// incomplete last record waits for more bytes. Bytes beyond the buffer size
// are ignored. Once Parse has returned
// Done, NotTLS or BufferFull it returns the same status again.
func (p *Parser) Parse(buf []byte) Status {
	if p.result != NeedMore {
		return p.result
	}
	if limit := p.limit(); len(buf) > limit {
		buf = buf[:limit] // nginx never holds more
	}
	pos := p.pos
	for len(buf)-pos >= 5 {
		r := buf[pos:]
		if r[0]&0x80 != 0 && r[2] == 1 && (r[3] == 0 || r[3] == 3) {
			// An SSLv2-compatible ClientHello: only the version is known.
			p.version = [2]byte{r[3], r[4]}
			p.versionN = 2
			p.result = Done
			return Done
		}
		if r[0] != 0x16 || r[1] != 3 {
			return p.decline()
		}
		n := int(r[3])<<8 | int(r[4])
		if len(r) < 5+n {
			break
		}
		switch p.record(r[5 : 5+n]) {
		case Done:
			p.result = Done
			return Done
		case NotTLS:
			return p.decline()
		}
		pos += 5 + n
	}
	p.pos = pos
	if len(buf) >= p.limit() {
		p.result = BufferFull
	}
	return p.result
}

func (p *Parser) decline() Status {
	p.Reset()
	p.result = NotTLS
	return NotTLS
}

// record feeds the payload of one handshake record to the ClientHello state
// machine and returns NeedMore, Done or NotTLS.
func (p *Parser) record(b []byte) Status {
	for {
		n := min(len(b), p.size)
		switch p.dst {
		case toTmp:
			p.tmpN += copy(p.tmp[p.tmpN:], b[:n])
		case toVersion:
			p.versionN += copy(p.version[p.versionN:], b[:n])
		case toHost:
			p.host = append(p.host, b[:n]...)
		case toALPN:
			p.alpn = append(p.alpn, b[:n]...)
		}
		b = b[n:]
		p.size -= n
		p.left -= n
		if p.size != 0 {
			return NeedMore
		}
		t := p.tmp
		p.tmpN = 0
		switch p.cur {
		case stStart:
			p.next(stHeader, toTmp, 4)
			p.left = 4
		case stHeader:
			if t[0] != 1 { // not a ClientHello
				return NotTLS
			}
			p.next(stVersion, toVersion, 2)
			p.left = int(t[1])<<16 | int(t[2])<<8 | int(t[3])
		case stVersion:
			p.next(stRandom, toNothing, 32)
		case stRandom:
			p.next(stSIDLen, toTmp, 1)
		case stSIDLen:
			p.next(stSID, toNothing, int(t[0]))
		case stSID:
			p.next(stCSLen, toTmp, 2)
		case stCSLen:
			p.next(stCS, toNothing, int(t[0])<<8|int(t[1]))
		case stCS:
			p.next(stCMLen, toTmp, 1)
		case stCMLen:
			p.next(stCM, toNothing, int(t[0]))
		case stCM:
			if p.left == 0 { // no extensions
				return Done
			}
			p.next(stExtLen, toTmp, 2)
		case stExtLen:
			// The extensions must fill the rest of the message exactly.
			if int(t[0])<<8|int(t[1]) != p.left {
				return NotTLS
			}
			p.next(stExt, toNothing, 0)
		case stExt:
			if p.left == 0 {
				return Done
			}
			p.next(stExtHeader, toTmp, 4)
		case stExtHeader:
			typ := int(t[0])<<8 | int(t[1])
			switch {
			case (typ == 0 && p.hostSeen) || (typ == 16 && p.alpnSeen):
				return NotTLS // a duplicate extension
			case typ == 0: // server_name
				p.next(stSNILen, toTmp, 2)
			case typ == 16: // application_layer_protocol_negotiation
				p.next(stALPNLen, toTmp, 2)
			case typ == 43: // supported_versions
				p.next(stSupVerLen, toTmp, 1)
			default:
				p.next(stExt, toNothing, int(t[2])<<8|int(t[3]))
			}
		case stSNILen:
			p.ext = int(t[0])<<8 | int(t[1])
			p.next(stSNIHead, toTmp, 3)
		case stSNIHead:
			if t[0] != 0 { // name_type is not host_name
				return NotTLS
			}
			size := int(t[1])<<8 | int(t[2])
			if p.ext < 3+size {
				return NotTLS
			}
			p.ext -= 3 + size
			p.hostSeen = true
			p.next(stSNIHost, toHost, size)
		case stSNIHost:
			p.hostDone = true
			p.next(stExt, toNothing, p.ext) // the rest of server_name_list
		case stALPNLen:
			p.ext = int(t[0])<<8 | int(t[1])
			p.alpnSeen = true
			p.next(stALPNProtoLen, toTmp, 1)
		case stALPNProtoLen:
			size := int(t[0])
			if size == 0 || p.ext < 1+size {
				return NotTLS
			}
			p.ext -= 1 + size
			p.next(stALPNProto, toALPN, size)
		case stALPNProto:
			p.alpnLen = len(p.alpn)
			if p.ext > 0 {
				p.alpn = append(p.alpn, ',')
				p.alpnLen = len(p.alpn)
				p.next(stALPNProtoLen, toTmp, 1)
			} else {
				p.next(stExt, toNothing, 0)
			}
		case stSupVerLen:
			if t[0] < 2 { // not even one version
				return NotTLS
			}
			// Sending supported_versions at all means TLS 1.3, as in nginx.
			p.version = [2]byte{3, 4}
			p.versionN = 2
			p.next(stExt, toNothing, int(t[0]))
		}
		if p.left < p.size {
			return NotTLS
		}
	}
}

func (p *Parser) next(s state, d sink, size int) {
	p.cur, p.dst, p.size = s, d, size
}

// ServerName returns $ssl_preread_server_name: the host name of the first
// server_name extension, as sent, or "".
func (p *Parser) ServerName() string {
	if !p.hostDone {
		return ""
	}
	return string(p.host)
}

// ALPNProtocols returns $ssl_preread_alpn_protocols: the protocols of the
// ALPN extension joined with commas ("h2,http/1.1"), or "".
func (p *Parser) ALPNProtocols() string { return string(p.alpn[:p.alpnLen]) }

// Protocol returns $ssl_preread_protocol: "TLSv1.3" when the client sent
// the supported_versions extension, else the version of the ClientHello
// ("TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3", "SSLv2"), or "" when it is not
// known yet or not one of those.
func (p *Parser) Protocol() string {
	if p.versionN < 2 {
		return ""
	}
	switch p.version {
	case [2]byte{0, 2}:
		return "SSLv2"
	case [2]byte{3, 0}:
		return "SSLv3"
	case [2]byte{3, 1}:
		return "TLSv1"
	case [2]byte{3, 2}:
		return "TLSv1.1"
	case [2]byte{3, 3}:
		return "TLSv1.2"
	case [2]byte{3, 4}:
		return "TLSv1.3"
	}
	return ""
}

// Preread reads from r into buf until p leaves NeedMore, and returns buf
// with the bytes read appended, all of which must then be forwarded. It
// reads at most p's buffer size in total (counting what buf already held).
// A read error (a deadline for preread_timeout, or EOF) stops it with
// status NeedMore and the error, wrapped as "tlspreread: reading
// ClientHello: ...". It may return Done, NotTLS or BufferFull with a nil
// error.
func Preread(r io.Reader, p *Parser, buf []byte) ([]byte, Status, error) {
	limit := p.limit()
	for {
		if st := p.Parse(buf); st != NeedMore {
			return buf, st, nil
		}
		if cap(buf) == len(buf) {
			grown := make([]byte, len(buf), min(limit, max(2*cap(buf), 2048)))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if n > 0 {
				if st := p.Parse(buf); st != NeedMore {
					return buf, st, nil
				}
			}
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return buf, NeedMore, &ReadError{Err: err}
		}
	}
}

// ReadError wraps the error that stopped Preread.
type ReadError struct{ Err error }

// Error returns "tlspreread: reading ClientHello: <cause>".
func (e *ReadError) Error() string { return "tlspreread: reading ClientHello: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ReadError) Unwrap() error { return e.Err }
