package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
)

// startProfile writes a CPU profile of the whole run to path, when
// path is not empty (the environment's SLUICE_CPUPROFILE): the profile
// cmd/sluice/default.pgo is made from (bench/pgo.sh). It returns the
// function that ends the profile.
func startProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice: SLUICE_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// profilePath is where this process writes the profile asked for at
// path: a worker process writes its own, at path.PID.
func profilePath(path string) string {
	if _, worker := isWorker(); worker && path != "" {
		return path + "." + strconv.Itoa(os.Getpid())
	}
	return path
}
