package httpproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// testService implements the client-streaming, bidirectional and unary
// calls of grpc-go's interop TestService.
type testService struct {
	testgrpc.UnimplementedTestServiceServer
	cancelled chan struct{} // a FullDuplexCall saw its context end
}

func (s *testService) UnaryCall(ctx context.Context, in *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: make([]byte, in.ResponseSize)}}, nil
}

func (s *testService) StreamingInputCall(st grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) error {
	sum := 0
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return st.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(sum)})
		}
		if err != nil {
			return err
		}
		sum += len(m.Payload.GetBody())
	}
}

func (s *testService) FullDuplexCall(st grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			select {
			case s.cancelled <- struct{}{}:
			default:
			}
			return err
		}
		for _, p := range m.ResponseParameters {
			if err := st.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, p.Size)}}); err != nil {
				return err
			}
		}
	}
}

// TestGRPCStreams runs client-streaming, bidirectional and large unary
// calls through grpc_pass.
func TestGRPCStreams(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := &testService{cancelled: make(chan struct{}, 1)}
	srv := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(srv, svc)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	h := startProxy(t, `events {} http { access_log off;
		server { listen 127.0.0.1:18222 http2; client_body_buffer_size 1k;
			location /grpc.testing.TestService/ { grpc_pass `+ln.Addr().String()+`; } }
	}`, Options{})
	cc, err := grpc.NewClient("passthrough:///"+h.addr["127.0.0.1:18222"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	tc := testgrpc.NewTestServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	t.Run("large_unary", func(t *testing.T) {
		resp, err := tc.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: 3 << 20, Payload: &testpb.Payload{Body: make([]byte, 1<<20)}},
			grpc.MaxCallRecvMsgSize(8<<20))
		if err != nil || len(resp.GetPayload().GetBody()) != 3<<20 {
			t.Fatalf("large unary: %v", err)
		}
	})
	t.Run("client_streaming", func(t *testing.T) {
		st, err := tc.StreamingInputCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sizes := []int{27182, 8, 1828, 45904}
		want := 0
		for _, n := range sizes {
			want += n
			if err := st.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, n)}}); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := st.CloseAndRecv()
		if err != nil || int(resp.AggregatedPayloadSize) != want {
			t.Fatalf("client streaming: %v %v, want %d", resp, err, want)
		}
	})
	t.Run("ping_pong", func(t *testing.T) {
		st, err := tc.FullDuplexCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// each answer arrives before the next request is sent
		for _, n := range []int32{31415, 9, 2653, 58979} {
			if err := st.Send(&testpb.StreamingOutputCallRequest{ResponseParameters: []*testpb.ResponseParameters{{Size: n}}}); err != nil {
				t.Fatal(err)
			}
			m, err := st.Recv()
			if err != nil || int32(len(m.GetPayload().GetBody())) != n {
				t.Fatalf("ping pong %d: %v", n, err)
			}
		}
		st.CloseSend()
		if _, err := st.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("end of stream: %v", err)
		}
	})
	t.Run("cancel_reaches_backend", func(t *testing.T) {
		cctx, ccancel := context.WithCancel(ctx)
		st, err := tc.FullDuplexCall(cctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&testpb.StreamingOutputCallRequest{ResponseParameters: []*testpb.ResponseParameters{{Size: 1}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
		ccancel()
		select {
		case <-svc.cancelled:
		case <-ctx.Done():
			t.Fatal("the backend did not see the cancelled call")
		}
	})
}
