//go:build !race

package stream

// raceEnabled reports whether the tests run with the race detector, whose
// instrumentation makes stack frames larger.
const raceEnabled = false
