package h1

import "errors"

// ErrNeedMore is returned by the parsers when the input ends before the
// message head does. The caller reads more bytes and calls again.
var ErrNeedMore = errors.New("h1: message head incomplete: need more data")

// StatusRequestHeaderTooLarge is nginx's internal status 494 for a request
// head that does not fit in the header buffers. nginx answers it on the wire
// with status 400 and the page "Request Header Or Cookie Too Large".
const StatusRequestHeaderTooLarge = 494

// Error is a message head that is malformed or not acceptable. Status is the
// status nginx gives the same input: 400, 405, 414, 494, 501 or 505 for
// requests, 502 for upstream responses. Reason is nginx's log text.
// Errors returned by this package are shared values: compare them with
// errors.As and read them, never modify them.
type Error struct {
	Status int
	Reason string
}

// Error returns "h1: " followed by the reason.
func (e *Error) Error() string { return "h1: " + e.Reason }

// ResponseStatus is the status code to send on the wire: 400 for 494, the
// Status itself otherwise.
func (e *Error) ResponseStatus() int {
	if e.Status == StatusRequestHeaderTooLarge {
		return 400
	}
	return e.Status
}

// Request head errors, with nginx's log messages as reasons.
var (
	errInvalidMethod   = &Error{400, "client sent invalid method"}
	errInvalidRequest  = &Error{400, "client sent invalid request"}
	errHTTP09          = &Error{400, "client sent HTTP/0.9 request, not supported"}
	errInvalidVersion  = &Error{505, "client sent unsupported HTTP version"}
	errInvalidHeader   = &Error{400, "client sent invalid header line"}
	errDuplicateHeader = &Error{400, "client sent duplicate header line"}
	errDuplicateHost   = &Error{400, "client sent duplicate host header"}
	errInvalidHost     = &Error{400, "client sent invalid host header"}
	errNoHost          = &Error{400, "client sent HTTP/1.1 request without \"Host\" header"}
	errInvalidCL       = &Error{400, "client sent invalid \"Content-Length\" header"}
	errTE10            = &Error{400, "client sent HTTP/1.0 request with \"Transfer-Encoding\" header"}
	errCLTE            = &Error{400, "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"}
	errUnknownTE       = &Error{501, "client sent unknown \"Transfer-Encoding\""}
	errTrace           = &Error{405, "client sent TRACE method"}
	errConnect         = &Error{405, "client sent CONNECT method"}
	errInvalidURI      = &Error{400, "client sent invalid request URI"}
	errLongURI         = &Error{414, "client sent too long URI"}
	errLongHeader      = &Error{StatusRequestHeaderTooLarge, "client sent too long header line"}
	errLargeRequest    = &Error{StatusRequestHeaderTooLarge, "client sent too large request"}
)

// Upstream response errors: nginx's "invalid_header" condition, answered 502
// and retried under proxy_next_upstream invalid_header.
var (
	errUpstreamStatus = &Error{502, "upstream sent no valid HTTP/1.x status line"}
	errUpstreamHeader = &Error{502, "upstream sent invalid header"}
	errUpstreamBig    = &Error{502, "upstream sent too big header"}
	errUpstreamCL     = &Error{502, "upstream sent invalid \"Content-Length\" header"}
	errUpstreamDupCL  = &Error{502, "upstream sent duplicate \"Content-Length\" header"}
	errUpstreamTE     = &Error{502, "upstream sent unknown \"Transfer-Encoding\""}
	errUpstreamDupTE  = &Error{502, "upstream sent duplicate \"Transfer-Encoding\" header"}
	errUpstreamCLTE   = &Error{502, "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"}
)

// IsInvalidHeader reports whether err is an upstream response error that
// nginx classes as "invalid_header" (a 502 for the client).
func IsInvalidHeader(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == 502
}
