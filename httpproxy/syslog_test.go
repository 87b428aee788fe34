package httpproxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// TestSyslogTargets: error_log and access_log "syslog:" targets of a
// server and of a location; a location's error_log takes the errors of the
// requests it handles, files included, and the others stay with the
// server's.
func TestSyslogTargets(t *testing.T) {
	dir := t.TempDir()
	errs, acc := testutil.UDPDatagrams(t), testutil.UnixDatagrams(t)
	locFile := filepath.Join(dir, "loc.log")
	h := startProxy(t, `events {} http { log_format f '$request_uri $status';
		server { listen 127.0.0.1:18080; root `+dir+`/none;
			error_log syslog:server=`+errs.Addr+`,tag=srv,nohostname warn;
			access_log syslog:server=`+acc.Addr+`,tag=web,severity=notice,facility=local3,nohostname f;
			location /loc/ { error_log syslog:server=`+errs.Addr+`,tag=loc,nohostname error; error_log `+locFile+`; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	for _, target := range []string{"/a", "/loc/b"} {
		resp := rawRequest(t, addr, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 404 ") {
			t.Fatalf("%s: %q", target, firstLine(resp))
		}
	}
	for _, want := range []string{"srv: ", "loc: "} {
		got := errs.Next(t, 5*time.Second)
		if !strings.HasPrefix(got, "<187>") || !strings.Contains(got, " "+want) || !strings.Contains(got, "[error]") || !strings.Contains(got, `open() "`+dir+`/none/`) {
			t.Errorf("error log datagram %q, want tag %q", got, want)
		}
	}
	for _, want := range []string{"web: /a 404", "web: /loc/b 404"} {
		if got := acc.Next(t, 5*time.Second); !strings.HasPrefix(got, "<157>") || !strings.HasSuffix(got, " "+want) {
			t.Errorf("access log datagram %q, want %q", got, want)
		}
	}
	if b, _ := os.ReadFile(locFile); !strings.Contains(string(b), `open() "`+dir+`/none/loc/b" failed`) || strings.Contains(string(b), "/none/a") {
		t.Errorf("location error log file: %q", b)
	}
}
