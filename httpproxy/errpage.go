package httpproxy

import (
	"strconv"
	"sync/atomic"
	"time"
)

// statusLines are nginx's status lines ("HTTP/1.1 " is written before).
var statusLines = map[int]string{
	100: "100 Continue", 101: "101 Switching Protocols",
	200: "200 OK", 201: "201 Created", 202: "202 Accepted", 204: "204 No Content", 206: "206 Partial Content",
	301: "301 Moved Permanently", 302: "302 Moved Temporarily", 303: "303 See Other", 304: "304 Not Modified",
	307: "307 Temporary Redirect", 308: "308 Permanent Redirect",
	400: "400 Bad Request", 401: "401 Unauthorized", 402: "402 Payment Required", 403: "403 Forbidden",
	404: "404 Not Found", 405: "405 Not Allowed", 406: "406 Not Acceptable", 408: "408 Request Time-out",
	409: "409 Conflict", 410: "410 Gone", 411: "411 Length Required", 412: "412 Precondition Failed",
	413: "413 Request Entity Too Large", 414: "414 Request-URI Too Large", 415: "415 Unsupported Media Type",
	416: "416 Requested Range Not Satisfiable", 421: "421 Misdirected Request", 429: "429 Too Many Requests",
	500: "500 Internal Server Error", 501: "501 Not Implemented", 502: "502 Bad Gateway",
	503: "503 Service Temporarily Unavailable", 504: "504 Gateway Time-out", 505: "505 HTTP Version Not Supported",
	507: "507 Insufficient Storage",
}

// statusLine returns the status line text for s: nginx's, or the bare code
// followed by a space for codes nginx has no text for.
func statusLine(s int) string {
	if l, ok := statusLines[s]; ok {
		return l
	}
	return strconv.Itoa(s) + " "
}

// hasErrorPage reports whether nginx answers status s with its built-in
// page (3xx redirects and 4xx/5xx errors).
func hasErrorPage(s int) bool {
	_, ok := statusLines[s]
	return ok && (s >= 301 && s <= 308 && s != 304 || s >= 400) || s == 494
}

// appendErrorPage appends nginx's built-in page for status s, with tokens
// ("sluice/0.1.0" or "sluice") in the footer.
func appendErrorPage(dst []byte, s int, tokens []byte) []byte {
	if s == 494 {
		dst = append(dst, "<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>\r\n"...)
	} else {
		line := statusLine(s)
		switch s {
		case 302:
			line = "302 Found" // nginx's page, though its status line says "Moved Temporarily"
		case 401:
			line = "401 Authorization Required" // and "Unauthorized" in the status line
		}
		dst = append(dst, "<html>\r\n<head><title>"...)
		dst = append(dst, line...)
		dst = append(dst, "</title></head>\r\n<body>\r\n<center><h1>"...)
		dst = append(dst, line...)
		dst = append(dst, "</h1></center>\r\n"...)
	}
	dst = append(dst, "<hr><center>"...)
	dst = append(dst, tokens...)
	return append(dst, "</center>\r\n</body>\r\n</html>\r\n"...)
}

// closesConnection reports whether nginx closes the client connection
// after answering status s itself.
func closesConnection(s int) bool {
	switch s {
	case 400, 408, 413, 414, 494, 500, 501, 505:
		return true
	}
	return false
}

// dateCache holds the Date header value of the current second.
type dateCache struct {
	sec int64
	b   []byte // "Sun, 06 Nov 1994 08:49:37 GMT"
}

var dates atomic.Pointer[dateCache]

func httpDate(now time.Time) []byte {
	sec := now.Unix()
	if d := dates.Load(); d != nil && d.sec == sec {
		return d.b
	}
	d := &dateCache{sec: sec, b: now.UTC().AppendFormat(make([]byte, 0, 29), "Mon, 02 Jan 2006 15:04:05 GMT")}
	dates.Store(d)
	return d.b
}

// Connection counters for stub_status, shared by every generation as
// nginx's are shared by its workers. The per-request ones are spread
// (see spread).
var stats struct {
	accepted, handled          atomic.Uint64
	active                     atomic.Int64
	requests, reading, writing spread
}

// spread is a counter kept in several cache lines, chosen by connection,
// so that requests on different CPUs do not contend for one line on every
// change; Load sums them. A connection adds and takes away in its own
// line, so a line never goes below zero and neither does the sum.
type spread [8]struct {
	v atomic.Int64
	_ [56]byte
}

// Add adds d in the line of connection id.
func (s *spread) Add(id uint64, d int64) { s[id%uint64(len(s))].v.Add(d) }

// Load returns the sum.
func (s *spread) Load() int64 {
	var n int64
	for i := range s {
		n += s[i].v.Load()
	}
	return n
}

// appendStubStatus appends nginx's stub_status page.
func appendStubStatus(dst []byte) []byte {
	active := stats.active.Load()
	reading, writing := stats.reading.Load(), stats.writing.Load()
	waiting := active - reading - writing
	if waiting < 0 {
		waiting = 0
	}
	dst = append(dst, "Active connections: "...)
	dst = strconv.AppendInt(dst, active, 10)
	dst = append(dst, " \nserver accepts handled requests\n "...)
	dst = strconv.AppendUint(dst, stats.accepted.Load(), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, stats.handled.Load(), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, stats.requests.Load(), 10)
	dst = append(dst, " \nReading: "...)
	dst = strconv.AppendInt(dst, reading, 10)
	dst = append(dst, " Writing: "...)
	dst = strconv.AppendInt(dst, writing, 10)
	dst = append(dst, " Waiting: "...)
	dst = strconv.AppendInt(dst, waiting, 10)
	return append(dst, " \n"...)
}
