package tlsconf

import (
	"net"
	"syscall"
)

// AckFinished makes the kernel acknowledge at once what the client sent
// last on raw, the socket under a server's TLS connection whose
// handshake just completed. OpenSSL servers send their TLS 1.3 session
// tickets after the client's Finished, and that data carries the
// acknowledgement; Go sends its tickets earlier, so without this a client
// that has Nagle's algorithm on (ab, many libraries) holds its first
// request until the delayed acknowledgement, about 40 ms later. It does
// nothing on connections that are not sockets.
func AckFinished(raw net.Conn) {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
