package httpproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/proxyproto"
)

// PROXY protocol on http listeners (listen ... proxy_protocol). The header
// is read before anything else, TLS included, within
// client_header_timeout, and nothing past it is consumed: the bytes after
// it are the client's, for TLS or HTTP. The header's addresses are the
// $proxy_protocol_* variables, and $remote_addr with real_ip_header
// proxy_protocol from a trusted address. A connection whose header is
// missing or broken is closed without an answer, as nginx closes it.
//
// nginx needs the whole header in the first read and calls a header split
// over two reads broken; sluice waits for the rest.

// readProxyHeader reads the connection's PROXY protocol header into c.pp
// (nil for a LOCAL or UNKNOWN header, which carry no addresses). It
// reports false, having logged why, when the connection must close.
func (c *conn) readProxyHeader() bool {
	c.nc.SetReadDeadline(time.Now().Add(c.h.def.cfg.ClientHeaderTimeout))
	defer c.nc.SetReadDeadline(time.Time{})
	var hdr proxyproto.Header
	var seen []byte
	var err error
	if rc := rawConn(c.nc); rc != nil {
		hdr, seen, err = peekProxyHeader(rc)
	} else {
		br := bufio.NewReaderSize(c.nc, 256)
		hdr, err = proxyproto.Read(br)
		if n := br.Buffered(); n > 0 {
			pre, _ := br.Peek(n)
			c.nc = &prefixConn{Conn: c.nc, pre: append([]byte(nil), pre...)}
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.connLogf(errlog.LevelInfo, "client timed out (110: Connection timed out) while reading PROXY protocol")
		return false
	case errors.Is(err, io.EOF) && len(seen) == 0:
		c.connLogf(errlog.LevelInfo, "client closed connection while reading PROXY protocol")
		return false
	case errors.Is(err, proxyproto.ErrNoHeader) || errors.Is(err, proxyproto.ErrInvalid) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		c.connLogf(errlog.LevelError, "broken header: \""+string(seen)+"\" while reading PROXY protocol")
		return false
	default:
		c.connLogf(errlog.LevelInfo, "recv() failed "+errText(err)+" while reading PROXY protocol")
		return false
	}
	if hdr.Source.IsValid() {
		c.pp = &hdr
	}
	return true
}

// peekProxyHeader reads a PROXY protocol header from the socket of rc
// without consuming a byte past it: it peeks at what has arrived until a
// whole header is there, then reads just that. seen is what was peeked,
// for the log of a broken header.
func peekProxyHeader(rc syscall.RawConn) (hdr proxyproto.Header, seen []byte, err error) {
	buf := make([]byte, proxyproto.DefaultMaxV2Length)
	var n, hl int
	var perr error
	rerr := rc.Read(func(fd uintptr) bool {
		m, _, e := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK)
		switch {
		case e == syscall.EAGAIN || e == syscall.EINTR:
			return false
		case e != nil:
			perr = e
			return true
		case m == 0:
			perr = io.EOF
			return true
		}
		n = m
		hdr, hl, perr = proxyproto.Parse(buf[:n])
		if errors.Is(perr, proxyproto.ErrIncomplete) && n < len(buf) {
			return false // wait for the rest
		}
		if perr == nil {
			// consume the header: it has arrived, so the read is whole
			_, perr = syscall.Read(int(fd), buf[:hl])
		} else {
			// consume what a broken header sent, so that the close
			// that follows is not a reset
			syscall.Read(int(fd), buf[:n])
		}
		return true
	})
	seen = buf[:n]
	if rerr != nil {
		return hdr, seen, rerr
	}
	if errors.Is(perr, proxyproto.ErrIncomplete) {
		perr = proxyproto.ErrInvalid // longer than any header
	}
	return hdr, seen, perr
}

// connLogf writes an error log message about the connection before any
// request: the client and the listen address, as nginx gives them.
func (c *conn) connLogf(level slog.Level, msg string) {
	log := c.h.p.opts.Log
	if !log.Enabled(context.Background(), level) {
		return
	}
	client := "unix:"
	if !c.unix {
		client = c.remote.Addr().Unmap().String()
	}
	log.Log(context.Background(), level, msg+", client: "+client+", server: "+c.h.listen.Address, "cid", c.id)
}

// ppAddr and ppPort append an address and a port of the connection's
// PROXY protocol header ($proxy_protocol_addr and the others): the
// client's, or with server the one it connected to; they are not found
// without a header.
func (c *conn) ppAddr(dst []byte, server bool) ([]byte, bool) {
	ap, ok := c.ppSide(server)
	if !ok {
		return dst, false
	}
	return addrText(dst, ap.Addr()), true
}

func (c *conn) ppPort(dst []byte, server bool) ([]byte, bool) {
	ap, ok := c.ppSide(server)
	if !ok {
		return dst, false
	}
	return strconv.AppendUint(dst, uint64(ap.Port()), 10), true
}

// ppSide is the source of the PROXY protocol header, or with server its
// destination.
func (c *conn) ppSide(server bool) (netip.AddrPort, bool) {
	switch {
	case c.pp == nil:
		return netip.AddrPort{}, false
	case server:
		return c.pp.Destination, true
	}
	return c.pp.Source, true
}
