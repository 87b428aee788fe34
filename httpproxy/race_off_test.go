//go:build !race

package httpproxy

// raceEnabled says the race detector is on: goroutine stacks are larger.
const raceEnabled = false
