package cache

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
)

// The file of one entry is Sluice's own format (nginx's cache files are
// not read). All integers are little endian.
//
//	offset  size  field
//	0       8     magic "SLCACHE1"
//	8       8     valid until, Unix seconds (rewritten in place when a
//	              revalidation extends it)
//	16      8     date: when the response was stored, Unix seconds
//	24      8     Last-Modified of the response, Unix seconds, or -1
//	32      4     body start: offset of the stored response
//	36      2     length of the key text
//	38      2     length of the ETag value
//	40      2     length of the Vary header names (lower case, joined by ",")
//	42      16    the variant: MD5 of the request headers Vary names
//	58      ...   key text, ETag, Vary names
//	body start    the upstream response as it came: status line, header
//	              lines, empty line, then the body in the upstream's
//	              framing (Content-Length, chunked, or up to the end of
//	              the file)
//
// A file is written under a temporary name beside its final one and
// renamed when the whole response is in it, so a reader never sees a
// partial entry.
const (
	magic      = "SLCACHE1"
	offValid   = 8
	fixedSize  = 58
	maxVarLens = 1<<16 - 1
)

// Meta is what the file header of an entry says.
type Meta struct {
	Valid   int64 // Unix seconds until which the entry is fresh
	Date    int64 // Unix seconds when it was stored
	LastMod int64 // Last-Modified, Unix seconds, or -1
	Key     string
	ETag    string
	Vary    string   // the Vary header names, lower case, joined by ","
	Variant [16]byte // MD5 of the request header values Vary names
	// BodyStart is the offset of the stored response in the file.
	BodyStart int64
}

var errFormat = errors.New("cache: not a cache file")

// appendHeader appends the file header for m.
func appendHeader(dst []byte, m *Meta) []byte {
	key, etag, vary := clip(m.Key), clip(m.ETag), clip(m.Vary)
	start := len(dst)
	dst = append(dst, magic...)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(m.Valid))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(m.Date))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(m.LastMod))
	body := fixedSize + len(key) + len(etag) + len(vary)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(body))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(key)))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(etag)))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(vary)))
	dst = append(dst, m.Variant[:]...)
	dst = append(dst, key...)
	dst = append(dst, etag...)
	dst = append(dst, vary...)
	m.BodyStart = int64(len(dst) - start)
	return dst
}

func clip(s string) string {
	if len(s) > maxVarLens {
		return s[:maxVarLens]
	}
	return s
}

// readHeader reads the header of an entry file.
func readHeader(f io.ReaderAt) (Meta, error) {
	var b [fixedSize]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return Meta{}, errFormat
	}
	if string(b[:8]) != magic {
		return Meta{}, errFormat
	}
	le := binary.LittleEndian
	m := Meta{
		Valid:     int64(le.Uint64(b[8:])),
		Date:      int64(le.Uint64(b[16:])),
		LastMod:   int64(le.Uint64(b[24:])),
		BodyStart: int64(le.Uint32(b[32:])),
	}
	kl, el, vl := int(le.Uint16(b[36:])), int(le.Uint16(b[38:])), int(le.Uint16(b[40:]))
	copy(m.Variant[:], b[42:58])
	if m.BodyStart != int64(fixedSize+kl+el+vl) {
		return Meta{}, errFormat
	}
	rest := make([]byte, kl+el+vl)
	if _, err := f.ReadAt(rest, fixedSize); err != nil {
		return Meta{}, errFormat
	}
	m.Key, m.ETag, m.Vary = string(rest[:kl]), string(rest[kl:kl+el]), string(rest[kl+el:])
	return m, nil
}

// writeValid rewrites the validity of an entry file in place.
func writeValid(path string, valid int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(valid))
	_, err = f.WriteAt(b[:], offValid)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
