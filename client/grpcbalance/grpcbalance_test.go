package grpcbalance_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/client/grpcbalance"
)

// backend is a gRPC server on loopback that answers the standard health
// service. When hold is set, its calls wait for release (or their end).
type backend struct {
	addr    string
	srv     *grpc.Server
	hold    atomic.Bool
	fail    atomic.Bool  // answer every call with codes.Unavailable
	calls   atomic.Int32 // calls received
	held    chan struct{}
	release chan struct{}
}

func startBackends(t *testing.T, n int) []*backend {
	t.Helper()
	bs := make([]*backend, n)
	for i := range bs {
		b := &backend{held: make(chan struct{}, 100), release: make(chan struct{})}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		b.addr = ln.Addr().String()
		b.srv = grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			b.calls.Add(1)
			if b.fail.Load() {
				return nil, status.Error(codes.Unavailable, "overloaded")
			}
			if b.hold.Load() {
				b.held <- struct{}{}
				select {
				case <-b.release:
				case <-ctx.Done():
				}
			}
			return h(ctx, req)
		}))
		healthpb.RegisterHealthServer(b.srv, health.NewServer())
		go b.srv.Serve(ln)
		t.Cleanup(b.srv.Stop)
		bs[i] = b
	}
	return bs
}

var policies atomic.Int32

// dial registers a policy with cfg and opts under a name of its own and
// returns a ClientConn that uses it over the backends' addresses.
func dial(t *testing.T, bs []*backend, cfg balance.Config, server func(i int) balance.Server, opts ...grpcbalance.Option) *grpc.ClientConn {
	t.Helper()
	name := fmt.Sprintf("sluice_test_%d", policies.Add(1))
	if err := grpcbalance.Register(name, cfg, opts...); err != nil {
		t.Fatal(err)
	}
	scheme := fmt.Sprintf("sluicetest%d", policies.Load())
	r := manual.NewBuilderWithScheme(scheme)
	var addrs []resolver.Address
	for i, b := range bs {
		a := resolver.Address{Addr: b.addr}
		if server != nil {
			a = grpcbalance.WithServer(a, server(i))
		}
		addrs = append(addrs, a)
	}
	r.InitialState(resolver.State{Addresses: addrs})
	cc, err := grpc.NewClient(scheme+":///backends", grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(fmt.Sprintf(`{"loadBalancingConfig":[{%q:{}}]}`, name)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// call makes one unary call and returns the address of the server that
// answered it.
func call(ctx context.Context, cc *grpc.ClientConn) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var p peer.Peer
	_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
	if err != nil {
		return "", err
	}
	return p.Addr.String(), nil
}

// warmUp calls until every backend has answered, so that every SubConn
// is READY and the picker is final.
func warmUp(t *testing.T, cc *grpc.ClientConn, bs []*backend) {
	t.Helper()
	seen := map[string]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for len(seen) < len(bs) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d servers answered within 5s", len(seen), len(bs))
		}
		a, err := call(context.Background(), cc)
		if err != nil {
			t.Fatal(err)
		}
		seen[a] = true
	}
}

// reference is a group over the backends as the policy builds it
// (servers in address order), to compute nginx's choices.
func reference(t *testing.T, bs []*backend, cfg balance.Config, server func(i int) balance.Server) *balance.Group {
	t.Helper()
	var ss []balance.Server
	for i, b := range bs {
		s := balance.Server{}
		if server != nil {
			s = server(i)
		}
		s.Addr = b.addr
		ss = append(ss, s)
	}
	slices.SortFunc(ss, func(a, b balance.Server) int {
		if a.Addr < b.Addr {
			return -1
		}
		return 1
	})
	g, err := balance.NewRegistry(nil).Build("ref", ss, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestRoundRobinPerCall sends 300 calls over one ClientConn and checks
// that they follow nginx's smooth weighted round robin over the three
// servers (weights 5, 1, 1), not one server per connection.
func TestRoundRobinPerCall(t *testing.T) {
	bs := startBackends(t, 3)
	weights := []int{5, 1, 1}
	server := func(i int) balance.Server { return balance.Server{Weight: weights[i]} }
	cc := dial(t, bs, balance.Config{}, server)
	warmUp(t, cc, bs)

	ref := reference(t, bs, balance.Config{}, server)
	var cycle []string
	for range 7 {
		sel, err := ref.Pick(&balance.Request{})
		if err != nil {
			t.Fatal(err)
		}
		cycle = append(cycle, sel.Peer.Addr())
		sel.Done(balance.Outcome{})
	}

	var got []string
	count := map[string]int{}
	for range 300 {
		a, err := call(context.Background(), cc)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
		count[a]++
	}
	// The warm-up calls moved the position: find it.
	off := -1
	for o := range cycle {
		ok := true
		for i, a := range got {
			if cycle[(i+o)%len(cycle)] != a {
				ok = false
				break
			}
		}
		if ok {
			off = o
			break
		}
	}
	if off < 0 {
		t.Errorf("calls do not follow nginx's sequence %v: first got %v", cycle, got[:14])
	}
	for i, b := range bs {
		want := 300 * weights[i] / 7
		if c := count[b.addr]; c < want-1 || c > want+1 {
			t.Errorf("server %d (weight %d) got %d calls, want about %d", i, weights[i], c, want)
		}
	}
}

// TestLeastConnPerCall holds a call open on one server and checks that
// the next calls of the same ClientConn go to the other two, and that
// the server takes calls again once its call ends.
func TestLeastConnPerCall(t *testing.T) {
	bs := startBackends(t, 3)
	cc := dial(t, bs, balance.Config{Method: balance.LeastConn}, nil)
	warmUp(t, cc, bs)

	busy := bs[0]
	busy.hold.Store(true)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	errs := make(chan error, 3)
	arrived := false
	// least_conn with every server idle takes each in turn: one of three
	// calls reaches the busy server and stays there.
	for i := 0; i < 3 && !arrived; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := call(context.Background(), cc)
			errs <- err
		}()
		select {
		case <-busy.held:
			arrived = true
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a call did not end within 5s")
		}
	}
	if !arrived {
		t.Fatal("no call was held on the busy server")
	}
	busy.hold.Store(false)

	count := map[string]int{}
	for range 30 {
		a, err := call(context.Background(), cc)
		if err != nil {
			t.Fatal(err)
		}
		count[a]++
	}
	if count[busy.addr] != 0 {
		t.Errorf("the server with a call in progress got %d of 30 calls, want 0: %v", count[busy.addr], count)
	}
	for _, b := range bs[1:] {
		if count[b.addr] < 10 {
			t.Errorf("idle server %s got %d of 30 calls: %v", b.addr, count[b.addr], count)
		}
	}

	close(busy.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("held call: %v", err)
		}
	}
	clear(count)
	for range 30 {
		a, err := call(context.Background(), cc)
		if err != nil {
			t.Fatal(err)
		}
		count[a]++
	}
	if count[busy.addr] < 5 {
		t.Errorf("once its call ended the server got %d of 30 calls: %v", count[busy.addr], count)
	}
}

// TestServerStopped stops one of three servers mid-test: calls keep
// succeeding, shared by the two others. A graceful stop (GOAWAY) fails
// no call; an abrupt one may fail a call already sent on the closing
// connection (gRPC's retry policy is for that), and none after it.
func TestServerStopped(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stop     func(*grpc.Server)
		maxFails int
	}{
		{"graceful", (*grpc.Server).GracefulStop, 0},
		{"abrupt", (*grpc.Server).Stop, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bs := startBackends(t, 3)
			cc := dial(t, bs, balance.Config{}, nil)
			warmUp(t, cc, bs)
			for range 30 {
				if _, err := call(context.Background(), cc); err != nil {
					t.Fatal(err)
				}
			}
			tc.stop(bs[2].srv)
			count := map[string]int{}
			fails := 0
			for i := range 60 {
				a, err := call(context.Background(), cc)
				if err != nil {
					if fails++; fails > tc.maxFails || i >= 20 {
						t.Fatalf("call %d after the server stopped: %v", i, err)
					}
					continue
				}
				if i >= 20 {
					count[a]++
				}
			}
			if count[bs[2].addr] != 0 {
				t.Errorf("the stopped server answered %d calls", count[bs[2].addr])
			}
			for _, b := range bs[:2] {
				if c := count[b.addr]; c < 15 || c > 25 {
					t.Errorf("server %s got %d of the last 40 calls, want about 20: %v", b.addr, c, count)
				}
			}
		})
	}
}

// TestConsistentHashKey sends each user's calls, keyed by a metadata
// entry, to one server: the one nginx's "hash $user consistent" picks.
func TestConsistentHashKey(t *testing.T) {
	bs := startBackends(t, 3)
	cfg := balance.Config{Method: balance.Hash, Consistent: true}
	cc := dial(t, bs, cfg, nil, grpcbalance.WithKey(grpcbalance.MetadataKey("x-user")))
	warmUp(t, cc, bs)
	ref := reference(t, bs, cfg, nil)

	used := map[string]bool{}
	for u := range 20 {
		user := fmt.Sprintf("user-%d", u)
		sel, err := ref.Pick(&balance.Request{Key: []byte(user)})
		if err != nil {
			t.Fatal(err)
		}
		want := sel.Peer.Addr()
		sel.Done(balance.Outcome{})
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-user", user)
		for range 5 {
			a, err := call(ctx, cc)
			if err != nil {
				t.Fatal(err)
			}
			if a != want {
				t.Errorf("%s: call went to %s, want %s", user, a, want)
			}
			used[a] = true
		}
	}
	if len(used) < 2 {
		t.Errorf("20 users all went to %v", used)
	}
}

// TestUnavailableCountsAsFailure has a server answer UNAVAILABLE: with
// max_fails=1 fail_timeout=10s it gets one call, which fails, and no
// more while the others take the rest.
func TestUnavailableCountsAsFailure(t *testing.T) {
	bs := startBackends(t, 3)
	server := func(int) balance.Server { return balance.Server{MaxFails: 1, FailTimeout: 10 * time.Second} }
	cc := dial(t, bs, balance.Config{}, server)
	warmUp(t, cc, bs)
	bad := bs[0]
	bad.fail.Store(true)
	before := bad.calls.Load()
	failed := 0
	for range 30 {
		if _, err := call(context.Background(), cc); err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatal(err)
			}
			failed++
		}
	}
	if n := bad.calls.Load() - before; n != 1 || failed != 1 {
		t.Errorf("failing server got %d calls and %d failed, want 1 and 1", n, failed)
	}
}

func TestBadConfig(t *testing.T) {
	if _, err := grpcbalance.NewBuilder("bad", balance.Config{Method: 99}); err == nil {
		t.Error("unknown method accepted")
	}
}
