//go:build !linux

package loopbulk

import "net"

// Unpace does nothing here: TCP internal pacing is Linux's.
func Unpace(c net.Conn) {}

// UnpaceLoopback does nothing here: TCP internal pacing is Linux's.
func UnpaceLoopback(fd uintptr, address string) {}

// Congestion returns "": the congestion control is not read here.
func Congestion(c net.Conn) string { return "" }

// CapReceive does nothing here: the figures behind it are Linux's.
func CapReceive(c net.Conn) {}

// CanCapReceive reports false: CapReceive does nothing here.
func CanCapReceive() bool { return false }
