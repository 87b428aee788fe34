// Package h1 is the byte-level core of Sluice's HTTP/1.x proxy engine.
//
// It reads request heads from clients and response heads from upstream
// servers, decodes and encodes chunked bodies, and writes the request head
// that is sent to an upstream server. It does the same checks nginx 1.22
// does when it accepts a request, and answers with the same status codes:
//
//   - a malformed request line or header line, a header line that starts
//     with a space or tab (obs-fold), a header name with a space before the
//     colon, a NUL byte: 400;
//   - a missing Host header in an HTTP/1.1 request, two Host headers, an
//     invalid Host: 400;
//   - an invalid Content-Length (anything but digits, a list such as "5, 5",
//     a sign, an overflow), a repeated Content-Length, Content-Length
//     together with Transfer-Encoding, Transfer-Encoding in HTTP/1.0: 400;
//   - a Transfer-Encoding other than exactly "chunked": 501;
//   - TRACE and CONNECT: 405;
//   - an HTTP major version other than 1: 505;
//   - a request line longer than a large header buffer: 414; a header line
//     longer than a large header buffer, or a head that needs more large
//     buffers than allowed: 494, which goes out as 400 with the page
//     "Request Header Or Cookie Too Large".
//
// Header names with an underscore or with characters other than letters,
// digits and "-" are dropped, not rejected, as nginx does with its default
// underscores_in_headers off and ignore_invalid_headers on.
//
// Parsing never allocates in steady state: a parsed Request or Response holds
// slices into the caller's buffer, and headers live in an array of 32 that
// each value allocates once and reuses, growing only past 32 headers. Bodies are never held whole:
// the ChunkedDecoder returns each run of chunk data as it arrives, as a slice
// of the input.
//
// The package uses nothing from net/http; it is safe to use different values
// from different goroutines, but one Request, Response, ChunkedDecoder or
// ChunkedWriter must not be used by two goroutines at once.
package h1
