package httpproxy

import (
	"os"
	"runtime"
	"syscall"
)

// sendfile sends n bytes of f from off to the socket of rc with
// sendfile(2). renew is called before each wait for the socket, so that
// the write deadline (send_timeout) applies between two successive
// writes, as in nginx, not to the whole file. It returns how much went
// out and the error that stopped it; ok is false when sendfile cannot be
// used for this pair (nothing was sent then), and the caller copies
// through a buffer.
func sendfile(rc syscall.RawConn, f *os.File, off, n int64, renew func()) (sent int64, err error, ok bool) {
	fc, ferr := f.SyscallConn()
	if ferr != nil {
		return 0, nil, false
	}
	var infd int
	if fc.Control(func(fd uintptr) { infd = int(fd) }) != nil {
		return 0, nil, false
	}
	defer runtime.KeepAlive(f) // its descriptor stays open until sendfile is done
	var serr error
	unsupported := false
	for n > 0 && serr == nil {
		renew()
		progress := false
		werr := rc.Write(func(outfd uintptr) bool {
			for n > 0 {
				o := off
				m, e := syscall.Sendfile(int(outfd), infd, &o, int(min(n, 1<<30)))
				if m > 0 {
					sent += int64(m)
					off += int64(m)
					n -= int64(m)
					progress = true
				}
				switch {
				case e == syscall.EINTR:
					continue
				case e == syscall.EAGAIN:
					// after some progress, return to renew the deadline
					return progress
				case e == syscall.EINVAL || e == syscall.ENOSYS:
					unsupported = sent == 0
					serr = e
					return true
				case e != nil:
					serr = os.NewSyscallError("sendfile", e)
					return true
				case m == 0:
					serr = errTruncated
					return true
				}
			}
			return true
		})
		if unsupported {
			return 0, nil, false
		}
		if werr != nil {
			return sent, werr, true
		}
	}
	return sent, serr, true
}
