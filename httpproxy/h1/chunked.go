package h1

import (
	"io"
	"net"
)

// Chunked body errors. Status is 400 (nginx: "client sent invalid chunked
// body"); an upstream response with one of them is cut off instead, as
// nginx does once the response has started.
var (
	errChunkSize     = &Error{400, "invalid chunked body: bad chunk size"}
	errChunkOverflow = &Error{400, "invalid chunked body: chunk size too large"}
	errChunkExt      = &Error{400, "invalid chunked body: chunk extension too long"}
	errChunkCRLF     = &Error{400, "invalid chunked body: no CRLF after chunk data"}
	errChunkLine     = &Error{400, "invalid chunked body: bad line ending"}
	errTrailer       = &Error{400, "invalid chunked body: bad trailer field"}
	errTrailerSize   = &Error{400, "invalid chunked body: trailer section too large"}
)

// Decoder states.
const (
	dSizeStart    = iota // first hex digit of a chunk size
	dSize                // more hex digits
	dExt                 // after the size: whitespace and extensions up to the line end
	dSizeLF              // CR seen after the size line, LF expected
	dData                // chunk data
	dDataEnd             // CR or LF expected after data
	dDataLF              // LF expected after data and CR
	dTrailerStart        // start of a trailer line, or of the final empty line
	dTrailerName         // in a trailer field name
	dTrailerValue        // in a trailer field value
	dTrailerLF           // CR seen at a trailer line's end
	dEndLF               // CR of the final empty line seen
	dDone                // the body ended
)

// ChunkedDecoder removes the chunked framing from a body as it streams by,
// with strict validation: hex sizes without sign or space before them and
// without overflow, a CRLF (or bare LF, as nginx accepts) after every line
// and after chunk data, chunk extensions and trailer section of bounded
// size, trailer lines with header syntax.
//
// The zero value is ready to decode one body with the default limits. It
// must not be used by two goroutines at once.
type ChunkedDecoder struct {
	// MaxExtension bounds the bytes between a chunk size and its line end;
	// 0 means 4096.
	MaxExtension int
	// MaxTrailer bounds the trailer section; 0 means 8192.
	MaxTrailer int
	// KeepTrailer makes the decoder append the trailer fields to Trailer,
	// each as the received line ending in CRLF.
	KeepTrailer bool
	Trailer     []byte

	state int8
	size  int64 // chunk size being read, or data bytes left in the chunk
	n     int   // bytes of extension or of trailer seen
	col   int   // bytes of the current trailer line
}

// Reset prepares d for a new body, keeping its options and the Trailer
// buffer's memory.
func (d *ChunkedDecoder) Reset() {
	d.Trailer = d.Trailer[:0]
	d.state, d.size, d.n, d.col = 0, 0, 0, 0
}

// Done reports whether the whole body, trailer included, has been decoded.
func (d *ChunkedDecoder) Done() bool { return d.state == dDone }

// Remaining returns how many bytes of chunk data come next before any more
// framing: 0 unless the decoder is inside a chunk's data. A proxy can copy
// that many bytes straight through.
func (d *ChunkedDecoder) Remaining() int64 {
	if d.state == dData {
		return d.size
	}
	return 0
}

// Decode reads framing and data from the start of src. It returns how many
// bytes of src it consumed and the chunk data found among them, as a slice
// of src (never copied): it stops right after the first run of data, when
// src is used up, or at the end of the body (the bytes after it belong to
// the next message). Call it again with src[n:] while n < len(src) and the
// body is not done; at the end of src, read more input.
func (d *ChunkedDecoder) Decode(src []byte) (n int, data []byte, err error) {
	maxExt, maxTrailer := d.MaxExtension, d.MaxTrailer
	if maxExt <= 0 {
		maxExt = 4096
	}
	if maxTrailer <= 0 {
		maxTrailer = 8192
	}
	i := 0
	for i < len(src) {
		c := src[i]
		switch d.state {
		case dSizeStart, dSize:
			v, ok := unhex(c)
			if ok {
				if d.size > (1<<63-1)>>4 {
					return i, nil, errChunkOverflow
				}
				d.size = d.size<<4 | int64(v)
				d.state = dSize
				break
			}
			if d.state == dSizeStart {
				return i, nil, errChunkSize
			}
			switch c {
			case '\r':
				d.state = dSizeLF
			case '\n':
				d.endSizeLine()
			case ';', ' ', '\t':
				d.state, d.n = dExt, 1
			default:
				return i, nil, errChunkSize
			}
		case dExt:
			switch c {
			case '\r':
				d.state = dSizeLF
			case '\n':
				d.endSizeLine()
			case 0:
				return i, nil, errChunkSize
			default:
				d.n++
				if d.n > maxExt {
					return i, nil, errChunkExt
				}
			}
		case dSizeLF:
			if c != '\n' {
				return i, nil, errChunkLine
			}
			d.endSizeLine()
		case dData:
			k := len(src) - i
			if int64(k) > d.size {
				k = int(d.size)
			}
			d.size -= int64(k)
			if d.size == 0 {
				d.state = dDataEnd
			}
			return i + k, src[i : i+k], nil
		case dDataEnd:
			switch c {
			case '\r':
				d.state = dDataLF
			case '\n':
				d.state = dSizeStart
			default:
				return i, nil, errChunkCRLF
			}
		case dDataLF:
			if c != '\n' {
				return i, nil, errChunkCRLF
			}
			d.state = dSizeStart
		case dTrailerStart:
			switch c {
			case '\r':
				d.state = dEndLF
			case '\n':
				d.state = dDone
				return i + 1, nil, nil
			default:
				switch nameClass[c] {
				case cBad, cColon:
					return i, nil, errTrailer
				}
				d.state = dTrailerName
				if err := d.trailerByte(c, maxTrailer); err != nil {
					return i, nil, err
				}
			}
		case dTrailerName, dTrailerValue:
			switch {
			case c == '\r':
				d.state = dTrailerLF
			case c == '\n':
				d.endTrailerLine()
			case c == 0:
				return i, nil, errTrailer
			case d.state == dTrailerName && c == ':':
				d.state = dTrailerValue
			case d.state == dTrailerName && nameClass[c] == cBad:
				return i, nil, errTrailer
			}
			if c != '\r' && c != '\n' {
				if err := d.trailerByte(c, maxTrailer); err != nil {
					return i, nil, err
				}
			}
		case dTrailerLF:
			if c != '\n' {
				return i, nil, errTrailer
			}
			d.endTrailerLine()
		case dEndLF:
			if c != '\n' {
				return i, nil, errChunkLine
			}
			d.state = dDone
			return i + 1, nil, nil
		case dDone:
			return i, nil, nil
		}
		i++
	}
	return i, nil, nil
}

func (d *ChunkedDecoder) endSizeLine() {
	if d.size == 0 {
		d.state = dTrailerStart
		return
	}
	d.state = dData
}

func (d *ChunkedDecoder) trailerByte(c byte, max int) error {
	d.n++
	if d.n > max {
		return errTrailerSize
	}
	if d.KeepTrailer {
		d.Trailer = append(d.Trailer, c)
	}
	return nil
}

func (d *ChunkedDecoder) endTrailerLine() {
	d.state = dTrailerStart
	if d.KeepTrailer {
		d.Trailer = append(d.Trailer, '\r', '\n')
	}
}

// AppendChunkHeader appends the size line of a chunk of size bytes: the
// size in hex and CRLF. A size of 0 starts the last chunk.
func AppendChunkHeader(dst []byte, size int) []byte {
	const hex = "0123456789abcdef"
	var b [16]byte
	i := len(b)
	for {
		i--
		b[i] = hex[size&15]
		size >>= 4
		if size == 0 {
			break
		}
	}
	dst = append(dst, b[i:]...)
	return append(dst, '\r', '\n')
}

// AppendChunk appends data as one chunk (nothing if data is empty, since an
// empty chunk would end the body).
func AppendChunk(dst, data []byte) []byte {
	if len(data) == 0 {
		return dst
	}
	dst = AppendChunkHeader(dst, len(data))
	dst = append(dst, data...)
	return append(dst, '\r', '\n')
}

// AppendLastChunk appends the last chunk, the trailer fields (each line
// ending in CRLF, as ChunkedDecoder keeps them) and the final CRLF.
func AppendLastChunk(dst, trailer []byte) []byte {
	dst = append(dst, '0', '\r', '\n')
	dst = append(dst, trailer...)
	return append(dst, '\r', '\n')
}

// ChunkedWriter writes a body to W in chunked framing, one chunk per Write,
// without copying the data: size line, data and CRLF go out in one
// vectored write when W is a network connection.
//
// The zero value with W set is ready to use. It must not be used by two
// goroutines at once.
type ChunkedWriter struct {
	W io.Writer

	hdr  [18]byte
	bufs [3][]byte
	nb   net.Buffers
}

var crlf = []byte("\r\n")

// Write sends p as one chunk. Writing an empty p sends nothing.
func (w *ChunkedWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.bufs[0] = AppendChunkHeader(w.hdr[:0], len(p))
	w.bufs[1] = p
	w.bufs[2] = crlf
	w.nb = w.bufs[:]
	_, err := w.nb.WriteTo(w.W)
	w.bufs[1] = nil
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends the last chunk, the trailer fields (lines ending in CRLF, or
// nil) and the final CRLF. It does not close W.
func (w *ChunkedWriter) Close(trailer []byte) error {
	w.bufs[0] = append(w.hdr[:0], '0', '\r', '\n')
	w.bufs[1] = trailer
	w.bufs[2] = crlf
	w.nb = w.bufs[:]
	_, err := w.nb.WriteTo(w.W)
	w.bufs[1] = nil
	return err
}
