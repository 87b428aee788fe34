package runtime

import (
	"log/slog"
	goruntime "runtime"
	"sync/atomic"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/internal/listen"
	"github.com/sluicelb/sluice/stream"
)

// Peers holds the state of every upstream server (active connections,
// failures, latency estimates) keyed by upstream name and server address.
// It is shared by all generations built in this process, so that a reload
// keeps what was learnt about each server. It is safe for concurrent use.
var Peers = balance.NewRegistry(nil)

// Build builds the generation a configuration describes. Nothing is bound
// or started until the generation is applied to a Server; files it opens
// (access logs) are closed by the generation's Closers.
func Build(cfg *config.Config, log *slog.Logger) (*Generation, error) {
	gen := &Generation{Config: cfg}
	// The groups of this configuration, stream and http, for the api
	// directive.
	groups := new(balance.GroupSet)
	if cfg.Stream != nil {
		b, err := stream.Build(cfg.Stream, stream.Options{Log: log, Registry: Peers, Upstreams: groups})
		if err != nil {
			return nil, err
		}
		addBuilt(gen, b)
	}
	n := loads.Load() + 1
	gen, err := buildHTTP(gen, cfg, log, groups, n)
	if err == nil {
		loads.CompareAndSwap(n-1, n)
	}
	return gen, err
}

// loads counts the configurations built successfully: the api directive
// reports the count as nginx's generation.
var loads atomic.Uint64

// addBuilt adds what a block's build gives to gen: its sockets,
// retirers, closers and reopeners.
func addBuilt[H ConnHandler](gen *Generation, b *listen.Built[H]) {
	for _, l := range b.Listeners {
		gen.Bindings = append(gen.Bindings, Binding{Network: l.Network, Address: l.Address, Options: l.Options, Handler: l.Handler})
	}
	gen.Starters = append(gen.Starters, b.Starters...)
	gen.Stoppers = append(gen.Stoppers, b.Stoppers...)
	gen.Retirers = append(gen.Retirers, b.Retirers...)
	gen.Closers = append(gen.Closers, b.Closers...)
	gen.Reopeners = append(gen.Reopeners, b.Reopeners...)
}

func cpuCount() int { return goruntime.NumCPU() }
