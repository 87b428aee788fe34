package httpproxy

import (
	"crypto/tls"
	"time"

	"github.com/sluicelb/sluice/config"
)

// lingerBufSize is the size of the reads that discard what a client sends
// during a lingering close (nginx's NGX_HTTP_LINGERING_BUFFER_SIZE).
const lingerBufSize = 4096

// linger is nginx's lingering close (lingering_close, lingering_time,
// lingering_timeout). When a response ends the connection while the
// client may still be sending (a body that was not read: 413, a request
// answered without its body), closing at once with unread bytes in the
// socket makes the kernel answer with a reset, which can destroy the
// response before the client reads it. So the connection is shut down for
// writing first (the client sees the whole response and its end), and
// what the client still sends is read and dropped until it stops for
// lingering_timeout, stops sending, or lingering_time has passed; then the
// connection is closed. With "on" (the default) this happens only when
// client bytes were left unread; with "always" after every response that
// ends the connection; never with "off" or when the client failed or
// timed out.
func (c *conn) linger() {
	if !c.ended || c.noLinger {
		return
	}
	set := c.lingerSettings()
	switch set.LingeringClose {
	case "off":
		return
	case "on":
		if !c.unread && c.r0 == c.r1 {
			return
		}
	}
	raw := c.nc
	if tc, ok := c.nc.(*tls.Conn); ok {
		// close_notify first, as nginx's SSL shutdown; then the socket
		tc.SetWriteDeadline(time.Now().Add(set.LingeringTimeout))
		if tc.CloseWrite() != nil {
			return
		}
		raw = tc.NetConn()
	}
	cw, ok := raw.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	end := time.Now().Add(set.LingeringTime)
	buf := getBuf(lingerBufSize)
	defer putBuf(buf)
	for {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		dl := now.Add(set.LingeringTimeout)
		if dl.After(end) {
			dl = end
		}
		raw.SetReadDeadline(dl)
		if _, err := raw.Read(buf); err != nil {
			return // the client's end, a reset, or a timeout
		}
	}
}

// lingerSettings are the settings of the connection's last request: its
// location's, or the default server's when it had none.
func (c *conn) lingerSettings() *config.HTTPSettings {
	if r := c.req; r != nil && r.loc != nil {
		return r.loc.set
	}
	return c.h.def.def.set
}
