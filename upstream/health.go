package upstream

import "github.com/sluicelb/sluice/balance"

// HealthCheck and Checks are the active health checks of the groups an
// upstream block builds (the engine lives in package balance, so that
// the client library has it too).
type (
	HealthCheck = balance.HealthCheck
	Checks      = balance.Checks
)
