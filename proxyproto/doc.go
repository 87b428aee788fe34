// Package proxyproto reads and writes the PROXY protocol header, versions 1
// and 2, as specified by HAProxy's proxy-protocol.txt.
//
// A load balancer in front of Sluice (HAProxy, an AWS or GCP network load
// balancer, another Sluice or nginx) can announce the real client address by
// sending a short header before the client's own bytes. With
// `listen ... proxy_protocol` Sluice reads that header, and with
// `proxy_protocol on` it writes one towards the upstream server so that the
// server sees the client address instead of Sluice's.
//
// Version 1 is one text line, for example
//
//	PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n
//
// and version 2 is a binary block that also carries UDP and unix socket
// addresses and optional type-length-value fields (TLVs) such as the ALPN
// protocol, the TLS server name, a unique connection ID or TLS details.
//
// Reading is strict: anything that does not match the specification exactly
// is rejected with an error wrapping ErrInvalid, and a stream that does not
// start with a PROXY header at all is reported as ErrNoHeader without
// consuming any byte. Read never consumes bytes past the header, so the
// payload that follows stays in the reader for the proxy to forward.
//
// The package has no state; every function is safe for concurrent use.
package proxyproto
