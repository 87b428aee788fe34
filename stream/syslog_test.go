package stream

import (
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/testutil"
)

// TestSyslogAccessLog: stream access logs to a unix datagram socket and a
// UDP one (shared by two servers that name the same target), one datagram
// per session, with the if= condition.
func TestSyslogAccessLog(t *testing.T) {
	be := startBackend(t, seedHandler("a"))
	unix, udp := testutil.UnixDatagrams(t), testutil.UDPDatagrams(t)
	h := startProxy(t, `events {} stream {
		log_format s '$remote_addr $protocol $status $bytes_received "$upstream_addr"';
		map $protocol $loud { TCP 1; default 0; }
		access_log syslog:server=`+udp.Addr+`,tag=l4,nohostname s;
		server { listen 127.0.0.1:9001; proxy_pass `+be.addr()+`;
			access_log syslog:server=`+unix.Addr+`,facility=daemon,severity=warn,nohostname s if=$loud; }
		server { listen 127.0.0.1:9002; proxy_pass `+be.addr()+`; }
	}`, nil)
	if got := h.request("127.0.0.1:9002", "hi\n"); got != "[Server a] Received: hi" {
		t.Fatalf("answer %q", got)
	}
	h.request("127.0.0.1:9001", "hello\n")
	h.waitSessions(2)
	if got, want := udp.Next(t, waitLimit), `<190>`; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ` l4: 127.0.0.1 TCP 200 3 "`+be.addr()+`"`) {
		t.Errorf("udp datagram %q", got)
	}
	if got, want := unix.Next(t, waitLimit), `<28>`; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ` nginx: 127.0.0.1 TCP 200 6 "`+be.addr()+`"`) {
		t.Errorf("unix datagram %q", got)
	}
	if got := udp.Pending(); len(got) != 0 {
		t.Errorf("server 9001 has its own access_log, yet the stream one logged %q", got)
	}
}
