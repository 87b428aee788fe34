//go:build !race

package httpproxy

// raceEnabled reports whether the tests run with the race detector, whose
// instrumentation makes stack frames larger.
const raceEnabled = false
