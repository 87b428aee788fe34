package httpproxy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

// TestRewriteGRPC checks that grpc_pass sends the rewritten URI: a call
// to a renamed service reaches the backend's health service.
func TestRewriteGRPC(t *testing.T) {
	be := startHealthBackend(t, "g0")
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18221 http2;
			location /old.Health/ { rewrite ^/old\.Health/(.*)$ /grpc.health.v1.Health/$1 break; grpc_pass grpc://`+be.addr+`; }
			location /grpc.health.v1.Health/ { if ($http_x_alt) { grpc_pass grpc://`+be.addr+`; } }
		} }`, Options{})
	cc, err := grpc.NewClient("passthrough:///"+h.addr["127.0.0.1:18221"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var resp healthpb.HealthCheckResponse
	var tr metadata.MD
	if err := cc.Invoke(ctx, "/old.Health/Check", &healthpb.HealthCheckRequest{}, &resp, grpc.Trailer(&tr)); err != nil {
		t.Fatal(err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING || len(tr["x-backend"]) == 0 {
		t.Errorf("status %v, trailer %v", resp.Status, tr)
	}
	// grpc_pass inside if: only requests with x-alt are passed
	cl := healthpb.NewHealthClient(cc)
	if _, err := cl.Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Errorf("a call without x-alt was passed")
	}
	actx := metadata.AppendToOutgoingContext(ctx, "x-alt", "1")
	if r, err := cl.Check(actx, &healthpb.HealthCheckRequest{}); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("with x-alt: %v %v", r, err)
	}
}

// TestRewriteIfAccessLog checks that an if block inside a location brings
// its own access_log: requests entering it are logged its way.
func TestRewriteIfAccessLog(t *testing.T) {
	h := startProxy(t, `events {} http { log_format short '$uri $status';
		access_log {{DIR}}/logs/access.log short;
		server { listen 127.0.0.1:18080;
			location /l/ { if ($arg_quiet) { access_log off; } if ($arg_other) { access_log {{DIR}}/logs/other.log short; } return 200 "ok"; }
		} }`, Options{})
	addr := h.addr["127.0.0.1:18080"]
	for _, p := range []string{"/l/a", "/l/b?quiet=1", "/l/c?other=1"} {
		got := rawRequest(t, addr, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 200") {
			t.Fatalf("%s: %q", p, firstLine(got))
		}
	}
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(h.dir, "logs", name))
		return string(b)
	}
	if got := read("access.log"); got != "/l/a 200\n" {
		t.Errorf("access.log %q, want only /l/a", got)
	}
	if got := read("other.log"); got != "/l/c 200\n" {
		t.Errorf("other.log %q, want only /l/c", got)
	}
}
