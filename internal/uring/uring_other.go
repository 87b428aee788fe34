//go:build !linux

package uring

import "errors"

// Ring is not available on this system.
type Ring struct{}

// New reports that io_uring is not available.
func New(entries uint32) (*Ring, error) { return nil, errors.New("uring: not available") }

// Recv is never called: New fails.
func (r *Ring) Recv(fd int32, buf []byte, tag uint64) error { return nil }

// Send is never called: New fails.
func (r *Ring) Send(fd int32, buf []byte, tag uint64) error { return nil }

// Submit is never called: New fails.
func (r *Ring) Submit(fn func(tag uint64, res int32)) error { return nil }

// Close does nothing.
func (r *Ring) Close() {}

// Cap is 0: New fails.
func (r *Ring) Cap() int { return 0 }
