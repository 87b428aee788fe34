package httpproxy

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sluicelb/sluice/internal/testutil"
)

// startNginx runs nginx on an http block body where LISTEN is replaced by
// a free loopback address, which it returns once nginx listens.
func startNginx(t *testing.T, body string) string {
	t.Helper()
	testutil.NeedNginx(t)
	addr := testutil.FreeAddr(t)
	dir := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	tmp := filepath.Join(dir, "tmp")
	text := fmt.Sprintf(`daemon off; master_process off; pid %s/nginx.pid; error_log %s/logs/error.log;
events {}
http { access_log off;
	client_body_temp_path %s/body; proxy_temp_path %s/proxy; fastcgi_temp_path %s/fcgi;
	uwsgi_temp_path %s/uwsgi; scgi_temp_path %s/scgi;
%s}
`, dir, dir, tmp, tmp, tmp, tmp, tmp, strings.ReplaceAll(body, "LISTEN", addr))
	conf := filepath.Join(dir, "nginx.conf")
	os.WriteFile(conf, []byte(text), 0o644)
	testutil.Daemon{Path: testutil.NginxPath, Args: []string{"-p", dir + "/", "-c", conf, "-e", filepath.Join(dir, "logs/stderr.log")},
		Ready: []string{addr}}.Start(t)
	return addr
}

var serverToken = regexp.MustCompile(`(nginx|sluice)/[0-9.]+`)

// TestGRPCNginxDifferential makes the same gRPC calls through nginx and
// sluice, on the same configuration, and compares what the client sees:
// status code and message, custom trailers, and the answer when no server
// is up.
func TestGRPCNginxDifferential(t *testing.T) {
	be := startHealthBackend(t, "n0")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	body := `server { listen LISTEN http2;
		location /grpc.health.v1.Health/ { grpc_pass grpc://` + be.addr + `; }
		location /grpc.testing.TestService/ { grpc_pass ` + dead + `; }
	}`
	nginxAddr := startNginx(t, body)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(body, "LISTEN", "127.0.0.1:18223")+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18223"]

	call := func(addr, what string) string {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		var hdr, tr metadata.MD
		switch what {
		case "ok", "fail":
			svc := ""
			if what == "fail" {
				svc = "fail"
			}
			_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: svc}, grpc.Header(&hdr), grpc.Trailer(&tr))
		case "dead":
			_, err = testgrpc.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.Header(&hdr), grpc.Trailer(&tr))
		}
		st, _ := status.FromError(err)
		// the error page footers name the server
		msg := serverToken.ReplaceAllString(st.Message(), "SERVER")
		return fmt.Sprintf("code=%v msg=%q ctype=%v x-backend=%v x-reason=%v", st.Code(), msg,
			hdr.Get("content-type"), tr.Get("x-backend"), tr.Get("x-reason"))
	}
	for _, what := range []string{"ok", "fail", "dead"} {
		want := call(nginxAddr, what)
		got := call(sluiceAddr, what)
		if got != want {
			t.Errorf("%s:\nsluice %s\nnginx  %s", what, got, want)
		}
	}
}
