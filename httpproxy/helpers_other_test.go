//go:build !linux

package httpproxy

import "net"

// runtimeListener returns ln: elsewhere the runtime accepts with the net
// package.
func runtimeListener(ln net.Listener) net.Listener { return ln }
