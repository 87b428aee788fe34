package httpproxy

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sluicelb/sluice/internal/testutil"
)

// healthBackend is a grpc-go server of the health service that names
// itself in a trailer. Check("fail") fails with NotFound and a custom
// trailer; Watch sends SERVING, waits for step, then NOT_SERVING.
type healthBackend struct {
	healthpb.UnimplementedHealthServer
	name string
	step chan struct{}
	srv  *grpc.Server
	addr string
}

func (b *healthBackend) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	grpc.SetTrailer(ctx, metadata.Pairs("x-backend", b.name))
	if req.Service == "fail" {
		grpc.SetTrailer(ctx, metadata.Pairs("x-reason", "asked to fail"))
		return nil, status.Error(codes.NotFound, "no service: fail")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (b *healthBackend) Watch(req *healthpb.HealthCheckRequest, st healthpb.Health_WatchServer) error {
	st.SetTrailer(metadata.Pairs("x-backend", b.name))
	if err := st.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
		return err
	}
	select {
	case <-b.step:
	case <-st.Context().Done():
		return st.Context().Err()
	case <-time.After(waitLimit):
	}
	return st.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING})
}

func startHealthBackend(t *testing.T, name string) *healthBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &healthBackend{name: name, step: make(chan struct{}), srv: grpc.NewServer(), addr: ln.Addr().String()}
	healthpb.RegisterHealthServer(b.srv, b)
	go b.srv.Serve(ln)
	t.Cleanup(b.srv.Stop)
	return b
}

func grpcClient(t *testing.T, addr string) healthpb.HealthClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return healthpb.NewHealthClient(cc)
}

func TestGRPCPass(t *testing.T) {
	var bes []*healthBackend
	var servers []string
	for i := range 3 {
		b := startHealthBackend(t, fmt.Sprintf("g%d", i))
		bes = append(bes, b)
		servers = append(servers, "server "+b.addr+";")
	}
	h := startProxy(t, `events {} http {
		log_format g '$server_protocol $status $upstream_addr $upstream_status';
		access_log {{DIR}}/logs/access.log g;
		upstream grpcs { `+strings.Join(servers, " ")+` }
		server { listen 127.0.0.1:18220 http2;
			location / { grpc_pass grpc://grpcs; grpc_read_timeout 20s; }
		}
	}`, Options{})
	cl := grpcClient(t, h.addr["127.0.0.1:18220"])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("unary_balanced", func(t *testing.T) {
		count := map[string]int{}
		const calls = 1000
		for range calls {
			var tr metadata.MD
			resp, err := cl.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&tr))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("status %v", resp.Status)
			}
			count[strings.Join(tr.Get("x-backend"), ",")]++
		}
		for _, b := range bes {
			if n := count[b.name]; n < calls*28/100 || n > calls*38/100 {
				t.Errorf("backend %s served %d of %d calls, want 33%%±5%% (%v)", b.name, n, calls, count)
			}
		}
	})

	t.Run("status_and_trailers", func(t *testing.T) {
		var tr metadata.MD
		_, err := cl.Check(ctx, &healthpb.HealthCheckRequest{Service: "fail"}, grpc.Trailer(&tr))
		st, _ := status.FromError(err)
		if st.Code() != codes.NotFound || st.Message() != "no service: fail" {
			t.Errorf("status %v %q, want NotFound", st.Code(), st.Message())
		}
		if got := tr.Get("x-reason"); len(got) != 1 || got[0] != "asked to fail" {
			t.Errorf("custom trailer %v", tr)
		}
	})

	t.Run("server_streaming", func(t *testing.T) {
		sctx, scancel := context.WithCancel(ctx)
		defer scancel()
		var hdr metadata.MD
		st, err := cl.Watch(sctx, &healthpb.HealthCheckRequest{}, grpc.Header(&hdr))
		if err != nil {
			t.Fatal(err)
		}
		first, err := st.Recv()
		if err != nil || first.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("first message %v %v", first, err)
		}
		// the first message arrived while the stream is still open: tell
		// the backend that served it to go on
		name := st.Trailer().Get("x-backend")
		if len(name) != 0 {
			t.Fatalf("trailers before the end of the stream: %v", name)
		}
		for _, b := range bes {
			select {
			case b.step <- struct{}{}:
			default:
			}
		}
		second, err := st.Recv()
		if err != nil || second.Status != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("second message %v %v", second, err)
		}
		if _, err := st.Recv(); err == nil || status.Code(err) != codes.OK && err.Error() != "EOF" {
			t.Fatalf("end of stream: %v", err)
		}
		if got := st.Trailer().Get("x-backend"); len(got) != 1 {
			t.Errorf("stream trailers %v", st.Trailer())
		}
	})

	t.Run("backend_killed", func(t *testing.T) {
		bes[1].srv.Stop()
		count := map[string]int{}
		for range 100 {
			var tr metadata.MD
			if _, err := cl.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&tr)); err != nil {
				t.Fatalf("call after a backend died: %v", err)
			}
			count[strings.Join(tr.Get("x-backend"), ",")]++
		}
		if count["g1"] != 0 || count["g0"] < 40 || count["g2"] < 40 {
			t.Errorf("calls after g1 died: %v", count)
		}
	})

	logPath := filepath.Join(h.dir, "logs/access.log")
	testutil.WaitFor(t, "access log", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Count(string(b), "\n") >= 1100
	})
	lb, _ := os.ReadFile(logPath)
	first := strings.SplitN(string(lb), "\n", 2)[0]
	if want := "HTTP/2.0 200 " + bes[0].addr + " 200"; first != want {
		t.Errorf("first log line %q, want %q", first, want)
	}
	if !strings.Contains(string(lb), " "+bes[1].addr+", ") || !strings.Contains(string(lb), " 502, 200\n") {
		t.Errorf("no failed attempt on the killed backend logged:\n%s", lastLines(string(lb), 5))
	}
}

// TestGRPCNoUpstream checks what a gRPC client gets when no server
// answers: HTTP 502, which it reads as UNAVAILABLE.
func TestGRPCNoUpstream(t *testing.T) {
	dead := refusedAddr(t)
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18221 http2; location / { grpc_pass `+dead+`; } }
	}`, Options{})
	cl := grpcClient(t, h.addr["127.0.0.1:18221"])
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err := cl.Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "502") {
		t.Errorf("got %v, want Unavailable from HTTP 502", err)
	}
	if !strings.Contains(h.errs.String(), "connect() failed (111: Connection refused) while connecting to upstream") {
		t.Errorf("error log:\n%s", h.errs.String())
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// TestGRPCS passes calls to a TLS gRPC server (grpcs://), with and without
// verification of its certificate.
func TestGRPCS(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "gRPC CA", CA: true})
	srvCert := testutil.NewCert(t, testutil.CertOptions{Dir: dir, CN: "backend", DNS: []string{"backend.example"}, Issuer: ca})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &healthBackend{name: "tls0", step: make(chan struct{}),
		srv: grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&srvCert.TLS)))}
	healthpb.RegisterHealthServer(b.srv, b)
	go b.srv.Serve(ln)
	t.Cleanup(b.srv.Stop)
	tests := []struct {
		name, loc string
		code      codes.Code
	}{
		{"no_verify", `grpc_pass grpcs://` + ln.Addr().String() + `;`, codes.OK},
		{"verify", `grpc_pass grpcs://` + ln.Addr().String() + `; grpc_ssl_verify on; grpc_ssl_name backend.example; grpc_ssl_trusted_certificate ` + ca.CertFile + `;`, codes.OK},
		{"verify_wrong_name", `grpc_pass grpcs://` + ln.Addr().String() + `; grpc_ssl_verify on; grpc_ssl_name other.example; grpc_ssl_trusted_certificate ` + ca.CertFile + `;`, codes.Unavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startProxy(t, `events {} http { access_log off;
				server { listen 127.0.0.1:18227 http2; location / { `+tc.loc+` } } }`, Options{})
			cl := grpcClient(t, h.addr["127.0.0.1:18227"])
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			var tr metadata.MD
			_, err := cl.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&tr))
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
			if tc.code == codes.OK && strings.Join(tr.Get("x-backend"), "") != "tls0" {
				t.Errorf("trailers %v", tr)
			}
		})
	}
}

// TestGRPCUnix passes calls to a gRPC server on a unix socket.
func TestGRPCUnix(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "g.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	b := &healthBackend{name: "unix0", step: make(chan struct{}), srv: grpc.NewServer()}
	healthpb.RegisterHealthServer(b.srv, b)
	go b.srv.Serve(ln)
	t.Cleanup(b.srv.Stop)
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18228 http2; location / { grpc_pass unix:`+sock+`; } } }`, Options{})
	cl := grpcClient(t, h.addr["127.0.0.1:18228"])
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for range 3 {
		var tr metadata.MD
		if _, err := cl.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&tr)); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(tr.Get("x-backend"), ""); got != "unix0" {
			t.Fatalf("trailers %v", tr)
		}
	}
}
