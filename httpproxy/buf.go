package httpproxy

import (
	"net"
	"sync"
	"syscall"
	"time"
)

// deadline re-arms a read or write deadline of a connection lazily: a
// deadline within a second (or a quarter of the timeout) of the one wanted
// is kept, so that a busy connection touches its timer about once a second
// instead of on every read and write. The zero value has no deadline set.
type deadline struct{ at time.Time }

// set makes the deadline about now+d (no deadline when d <= 0).
func (dl *deadline) set(c net.Conn, read bool, d time.Duration) {
	if d <= 0 {
		if !dl.at.IsZero() {
			dl.at = time.Time{}
			dl.apply(c, read)
		}
		return
	}
	want := time.Now().Add(d)
	slack := d / 4
	if slack > time.Second {
		slack = time.Second
	}
	if !dl.at.IsZero() && dl.at.After(want.Add(-slack)) && dl.at.Before(want.Add(slack)) {
		return
	}
	dl.at = want
	dl.apply(c, read)
}

// force sets the deadline to exactly now+d.
func (dl *deadline) force(c net.Conn, read bool, d time.Duration) {
	dl.at = time.Now().Add(d)
	dl.apply(c, read)
}

func (dl *deadline) apply(c net.Conn, read bool) {
	if read {
		c.SetReadDeadline(dl.at)
	} else {
		c.SetWriteDeadline(dl.at)
	}
}

// Buffers come from pools by size class so that idle connections hold
// none and busy ones reuse memory. The pools hold *[]byte boxes; empty
// boxes are pooled too, so that taking and returning a buffer allocates
// nothing.
var bufPools = [...]struct {
	size int
	pool sync.Pool
}{{size: 4 << 10}, {size: 16 << 10}, {size: 64 << 10}}

var boxes sync.Pool

// getBuf returns a buffer of at least n bytes (length = capacity).
func getBuf(n int) []byte {
	for i := range bufPools {
		bp := &bufPools[i]
		if n <= bp.size {
			if v := bp.pool.Get(); v != nil {
				box := v.(*[]byte)
				b := (*box)[:bp.size]
				*box = nil
				boxes.Put(box)
				return b
			}
			return make([]byte, bp.size)
		}
	}
	return make([]byte, n)
}

// putBuf returns b to its pool; buffers of other sizes are dropped.
func putBuf(b []byte) {
	c := cap(b)
	for i := range bufPools {
		bp := &bufPools[i]
		if c == bp.size {
			box, _ := boxes.Get().(*[]byte)
			if box == nil {
				box = new([]byte)
			}
			*box = b[:c]
			bp.pool.Put(box)
			return
		}
	}
}

// rawConn returns the raw connection of a TCP or unix socket, or nil.
func rawConn(c net.Conn) syscall.RawConn {
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			return rc
		}
	}
	return nil
}
