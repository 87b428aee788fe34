package runtime

import (
	"log/slog"
	goruntime "runtime"

	"github.com/sluicelb/sluice/config"
)

// Build builds the generation a configuration describes. Nothing is bound
// or started until the generation is applied to a Server.
func Build(cfg *config.Config, log *slog.Logger) (*Generation, error) {
	gen := &Generation{Config: cfg}
	return gen, nil
}

func cpuCount() int { return goruntime.NumCPU() }
