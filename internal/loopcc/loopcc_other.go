//go:build !linux

package loopcc

import "net"

// Bulk does nothing here: TCP internal pacing is Linux's.
func Bulk(c net.Conn) {}

// Congestion returns "": the congestion control is not read here.
func Congestion(c net.Conn) string { return "" }
