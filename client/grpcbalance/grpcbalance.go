// Package grpcbalance is a gRPC load-balancing policy backed by a sluice
// balance.Group: nginx's methods and server parameters (package balance)
// applied to every RPC of a ClientConn.
//
// gRPC keeps one long-lived HTTP/2 connection per server and multiplexes
// every call over it, so balancing connections (a TCP proxy, or DNS)
// pins all the calls of a client to one server. This policy keeps a
// connection (SubConn) to every address the resolver gives and picks a
// server for each call:
//
//	if err := grpcbalance.Register("sluice_least_conn", balance.Config{Method: balance.LeastConn}); err != nil {
//		...
//	}
//	cc, err := grpc.NewClient("dns:///orders.internal:50051",
//		grpc.WithTransportCredentials(insecure.NewCredentials()),
//		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"sluice_least_conn":{}}]}`))
//
// The servers of the group are the addresses whose connection is READY;
// a server whose connection breaks leaves the group until it is READY
// again. A call counts as an active request of its server until it ends
// (least_conn, max_conns); a call that ends with codes.Unavailable counts
// as a failure (max_fails, fail_timeout); the duration of successful calls
// feeds least_time. WithServer gives an address nginx's server parameters
// (weight, max_fails, backup, slow_start, ...), and WithKey the hash key
// of a call (the hash method).
//
// This package is separate from package client so that programs that
// balance only HTTP do not import gRPC.
package grpcbalance

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/sluicelb/sluice/balance"
)

// KeyFunc gives the hash key of a call (nginx's "hash KEY"), for example
// a user or session id taken from the call's metadata. It is called for
// every pick and must be safe for concurrent use.
type KeyFunc func(balancer.PickInfo) []byte

// MetadataKey returns a KeyFunc whose key is the first value of the
// outgoing metadata entry name (lower case) of the call; calls without
// it have an empty key.
func MetadataKey(name string) KeyFunc {
	return func(info balancer.PickInfo) []byte {
		md, _ := metadata.FromOutgoingContext(info.Ctx)
		if v := md[name]; len(v) > 0 {
			return []byte(v[0])
		}
		return nil
	}
}

// Option configures a policy.
type Option func(*builder)

// WithKey sets the hash key of calls, for balance.Hash (plain or
// consistent). Without it every call has an empty key.
func WithKey(k KeyFunc) Option { return func(b *builder) { b.key = k } }

// NewBuilder returns a balancer.Builder of the policy name that balances
// calls as cfg says. Each ClientConn using the policy has a group of its
// own. It returns an error when cfg is not a valid balancing method.
// Most programs call Register instead.
func NewBuilder(name string, cfg balance.Config, opts ...Option) (balancer.Builder, error) {
	// Build a throwaway group to have cfg checked as Group.Update checks it.
	if _, err := balance.NewRegistry(nil).Build(name, []balance.Server{{Addr: "127.0.0.1:1"}}, cfg); err != nil {
		return nil, fmt.Errorf("grpcbalance: %w", err)
	}
	b := &builder{name: name, cfg: cfg}
	for _, o := range opts {
		o(b)
	}
	return b, nil
}

// Register registers the policy name with gRPC (balancer.Register), to be
// selected with the service config {"loadBalancingConfig":[{"NAME":{}}]}.
// As balancer.Register, it must be called at initialisation, before any
// ClientConn is created, and a later registration of the same name wins.
func Register(name string, cfg balance.Config, opts ...Option) error {
	b, err := NewBuilder(name, cfg, opts...)
	if err != nil {
		return err
	}
	balancer.Register(b)
	return nil
}

type builder struct {
	name string
	cfg  balance.Config
	key  KeyFunc
}

func (b *builder) Name() string { return b.name }

// Build returns the policy's balancer for one ClientConn: grpc's base
// balancer (a SubConn per address, kept connected), whose pickers come
// from a group of the ClientConn's own.
func (b *builder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	pb := &pickerBuilder{b: b, reg: balance.NewRegistry(nil)}
	bal := base.NewBalancerBuilder(b.name, pb, base.Config{}).Build(cc, opts)
	return endpointsAsAddresses{bal}
}

// endpointsAsAddresses gives the base balancer, which reads only
// ResolverState.Addresses, the first address of each endpoint when the
// resolver set only endpoints.
type endpointsAsAddresses struct{ balancer.Balancer }

func (e endpointsAsAddresses) UpdateClientConnState(s balancer.ClientConnState) error {
	if len(s.ResolverState.Addresses) == 0 && len(s.ResolverState.Endpoints) > 0 {
		addrs := make([]resolver.Address, 0, len(s.ResolverState.Endpoints))
		for _, ep := range s.ResolverState.Endpoints {
			if len(ep.Addresses) > 0 {
				a := ep.Addresses[0]
				if a.BalancerAttributes == nil {
					a.BalancerAttributes = ep.Attributes
				}
				addrs = append(addrs, a)
			}
		}
		s.ResolverState.Addresses = addrs
	}
	return e.Balancer.UpdateClientConnState(s)
}

type serverKey struct{}

// WithServer returns a with nginx's server parameters s (weight,
// max_conns, max_fails, fail_timeout, backup, down, drain, slow_start;
// s.Addr is ignored: the server is a.Addr), for a resolver to hand to the
// policy. The parameters are read when the address is first seen by a
// ClientConn; change them by removing the address and adding it again.
func WithServer(a resolver.Address, s balance.Server) resolver.Address {
	a.BalancerAttributes = a.BalancerAttributes.WithValue(serverKey{}, s)
	return a
}

// serverOf is the server of address a.
func serverOf(a resolver.Address) balance.Server {
	s, _ := a.BalancerAttributes.Value(serverKey{}).(balance.Server)
	s.Addr = a.Addr
	return s
}

// pickerBuilder keeps the group of one ClientConn. Build is called by the
// base balancer, one call at a time.
type pickerBuilder struct {
	b   *builder
	reg *balance.Registry
	g   *balance.Group
}

func (pb *pickerBuilder) Build(info base.PickerBuildInfo) balancer.Picker {
	if len(info.ReadySCs) == 0 {
		// Nothing is READY yet (or any more): calls wait for a picker
		// that has a server, or fail if the ClientConn is in
		// TRANSIENT_FAILURE.
		return base.NewErrPicker(balancer.ErrNoSubConnAvailable)
	}
	servers := make([]balance.Server, 0, len(info.ReadySCs))
	byAddr := make(map[string]balancer.SubConn, len(info.ReadySCs))
	for sc, sci := range info.ReadySCs {
		if _, dup := byAddr[sci.Address.Addr]; dup {
			continue // the same address with other attributes: one server
		}
		byAddr[sci.Address.Addr] = sc
		servers = append(servers, serverOf(sci.Address))
	}
	// Map order is random; the group's order (round robin's sequence,
	// the hash of a key) should not depend on it.
	slices.SortFunc(servers, func(a, b balance.Server) int { return strings.Compare(a.Addr, b.Addr) })
	var err error
	if pb.g == nil {
		pb.g, err = pb.reg.Build(pb.b.name, servers, pb.b.cfg)
	} else {
		err = pb.g.Update(servers)
	}
	if err != nil {
		// All READY servers are backups, for example.
		return base.NewErrPicker(status.Error(codes.Unavailable, "grpcbalance: "+err.Error()))
	}
	cfg := pb.g.Config()
	p := &picker{
		g:     pb.g,
		key:   pb.b.key,
		scs:   make(map[*balance.Peer]balancer.SubConn, len(servers)),
		timed: cfg.Method == balance.LeastTime || (cfg.Method == balance.Random && cfg.Two && cfg.TwoLeastTime),
	}
	for _, peer := range pb.g.Peers() {
		p.scs[peer] = byAddr[peer.Addr()]
	}
	return p
}

// picker is one immutable view of the READY servers. Pick is lock-free,
// as Group.Pick is.
type picker struct {
	g     *balance.Group
	key   KeyFunc
	scs   map[*balance.Peer]balancer.SubConn
	timed bool // the method uses latencies
}

var _ balancer.Picker = (*picker)(nil)

// errNoPeer is the status of a call when every READY server is
// unavailable (max_fails, max_conns, down): nginx's "no live upstreams",
// answered at once rather than waited on.
var errNoPeer = status.Error(codes.Unavailable, "grpcbalance: "+balance.ErrNoPeer.Error())

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	var req balance.Request
	if p.key != nil {
		req.Key = p.key(info)
	}
	sel, err := p.g.Pick(&req)
	if err != nil {
		return balancer.PickResult{}, errNoPeer
	}
	sc, ok := p.scs[sel.Peer]
	if !ok {
		// The group was updated for the next picker, which gRPC is
		// about to install: wait for it.
		sel.Done(balance.Outcome{})
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	var start time.Time
	if p.timed {
		start = time.Now()
	}
	timed := p.timed
	return balancer.PickResult{SubConn: sc, Done: func(di balancer.DoneInfo) {
		o := balance.Outcome{Failed: status.Code(di.Err) == codes.Unavailable}
		if timed && !o.Failed {
			o.Latency = time.Since(start)
		}
		sel.Done(o)
	}}, nil
}
