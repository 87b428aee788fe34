package runtime

import (
	"log/slog"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/httpproxy"
)

// buildHTTP adds the listeners of the http block to gen and returns it. On
// failure it releases what gen holds already (the stream block's log
// files) and returns the error.
func buildHTTP(gen *Generation, cfg *config.Config, log *slog.Logger, groups *balance.GroupSet, generation uint64) (*Generation, error) {
	if cfg.HTTP == nil {
		return gen, nil
	}
	workers := cfg.WorkerProcesses
	if workers == 0 {
		workers = cpuCount()
	}
	b, err := httpproxy.Build(cfg.HTTP, httpproxy.Options{Log: log, Registry: Peers, Workers: workers,
		Upstreams: groups, Generation: generation, LoadTime: time.Now()})
	if err != nil {
		for _, f := range gen.Closers {
			f()
		}
		return nil, err
	}
	addBuilt(gen, b)
	return gen, nil
}
