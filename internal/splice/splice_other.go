//go:build !linux

package splice

import "syscall"

// Total returns the number of bytes Move has moved: none here.
func Total() int64 { return 0 }

// Move moves nothing without splice(2): ok is false.
func Move(dst, src syscall.RawConn, max int64, wait bool) (n int64, srcErr, dstErr error, ok bool) {
	return 0, nil, nil, false
}
