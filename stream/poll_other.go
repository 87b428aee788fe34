//go:build !linux

package stream

import "context"

// register is the copy through epoll sets, which exist on Linux only.
func (p *pipe) register(context.Context) bool { return false }

func (p *pipe) waitPolled(*dirResult, *dirResult) {}

type flow struct{}

type shard struct{}
