package stream

import (
	"errors"
	"os"
	"time"

	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/tlspreread"
)

// preread is nginx's preread phase with ssl_preread on: the bytes the
// client sends first are read (up to preread_buffer_size, within
// preread_timeout) until they hold a whole TLS ClientHello, or are found
// not to be one. The values the ClientHello gives are kept for the
// $ssl_preread_* variables and the bytes read are returned, to be sent on
// to the upstream unchanged. ok is false when the session must end: on a
// full buffer (status 400, "preread buffer full"), and when the client
// closes or preread_timeout passes first (status 200, as nginx finalizes
// such sessions). As in nginx, bytes read by a session that ends here
// do not count in $bytes_received.
func (s *session) preread(pending []byte) (buf []byte, ok bool) {
	cfg := s.h.s.cfg
	p := &tlspreread.Parser{BufferSize: int(cfg.PrereadBufferSize)}
	s.hello = p
	if cfg.PrereadTimeout > 0 {
		s.client.SetReadDeadline(time.Now().Add(cfg.PrereadTimeout))
	}
	buf, st, err := tlspreread.Preread(s.client, p, pending)
	s.client.SetReadDeadline(time.Time{})
	if st == tlspreread.NotTLS {
		// nginx drops its state: the $ssl_preread_* variables are not found.
		s.hello = nil
	}
	switch {
	case err != nil:
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.logf(errlog.LevelDebug, "preread timed out")
		}
		s.status = statusOK
		return nil, false
	case st == tlspreread.BufferFull:
		s.logf(errlog.LevelError, "preread buffer full while prereading client data")
		s.status = statusBadRequest
		return nil, false
	}
	return buf, true
}
