//go:build !linux

package stream

import (
	"context"
	"syscall"
)

// pollable says whether the pollers can copy the session: they are built
// on epoll sets, which exist on Linux only.
func (p *pipe) pollable() bool { return false }

// register is the copy through epoll sets, which exist on Linux only.
func (p *pipe) register(context.Context) bool { return false }

// inq would return the number of bytes queued for reading on the socket;
// the copy then moves a default amount at a time.
func inq(syscall.RawConn) int64 { return 0 }

func (p *pipe) waitPolled(*dirResult, *dirResult) {}

type flow struct{}

type shard struct{}
