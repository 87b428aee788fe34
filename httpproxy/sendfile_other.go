//go:build !linux

package httpproxy

import (
	"os"
	"syscall"
)

// sendfile is not used on this system: ok false makes the caller copy
// the file through a buffer.
func sendfile(rc syscall.RawConn, f *os.File, off, n int64, renew func()) (sent int64, err error, ok bool) {
	return 0, nil, false
}
