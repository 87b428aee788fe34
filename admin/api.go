// Package admin answers status and management requests: the NGINX
// Plus-compatible REST API of the "api" directive. It reads and changes
// upstream groups through package balance and knows nothing of the proxies:
// the http proxy hands it each request (method, path below the location,
// arguments and body) with the numbers only the proxy has (connection
// counters) and sends the answer it returns.
package admin

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// Version is the NGINX Plus API version served; Versions lists every
// version the API answers to (all served as Version).
const Version = 9

// Versions are the API versions /api/ lists.
var Versions = []int{1, 2, 3, 4, 5, 6, 7, 8, 9}

// docURL is the href of every error, as NGINX Plus gives it.
const docURL = "https://nginx.org/en/docs/http/ngx_http_api_module.html"

// HTTPPrefix starts the registry name of an http upstream's group (the
// http proxy names the group of "upstream NAME" "http:NAME"); stream
// groups are named after their upstream block.
const HTTPPrefix = "http:"

// Counters are the client connection and request counters of the process,
// as stub_status shows them.
type Counters struct {
	Accepted, Handled uint64 // connections
	Active            int64  // connections open, idle ones included
	Reading, Writing  int64  // connections reading a request head; requests being answered
	Requests          int64  // requests ever
}

// API answers the requests of one location with the "api" directive. Its
// fields are set when the configuration is built and not changed after;
// Serve is safe for concurrent use.
type API struct {
	// Write is "api write=on": POST, PATCH and DELETE may change upstream
	// groups.
	Write bool
	// Upstreams are the groups of the configuration, http and stream.
	Upstreams *balance.GroupSet
	// Version and Build are what /nginx reports as nginx's version and
	// build name.
	Version, Build string
	// Generation numbers the configuration among those the process loaded
	// (1 for the first); Loaded is when it was loaded.
	Generation uint64
	Loaded     time.Time
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Counters returns the connection counters; nil reports zeros.
	Counters func() Counters
}

// Request is one API request.
type Request struct {
	Method    string // GET, HEAD, POST, PATCH, DELETE, ...
	Path      string // the URI path below the location's prefix
	Args      string // the query string
	Body      []byte // the request body (POST, PATCH)
	RequestID string // $request_id, for errors
	Addr      string // the local address that accepted the request
}

// writeMu serializes changes to groups: each is a read of the server list
// and an update of it.
var writeMu sync.Mutex

// apiError is an error answer: status, description and NGINX Plus code.
type apiError struct {
	status     int
	text, code string
}

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, text: fmt.Sprintf(format, args...)}
}

var (
	errUnknownVersion = &apiError{404, "unknown version", "UnknownVersion"}
	errPathNotFound   = &apiError{404, "path not found", "PathNotFound"}
	errMethod         = &apiError{405, "method not supported", "MethodNotSupported"}
	errDisabled       = &apiError{405, "method disabled", "MethodDisabled"}
	errNoUpstream     = &apiError{404, "upstream not found", "UpstreamNotFound"}
	errBadID          = &apiError{400, "invalid server ID", "UpstreamBadServerId"}
	errJSON           = &apiError{415, "json error", "JsonError"}
)

// Serve answers req with a status and a JSON body.
func (a *API) Serve(req *Request) (status int, body []byte) {
	status, v, e := a.serve(req)
	if e != nil {
		return e.status, a.errorBody(req, e)
	}
	return status, encode(v)
}

func (a *API) errorBody(req *Request, e *apiError) []byte {
	return encode(object{
		{"error", object{{"status", e.status}, {"text", e.text}, {"code", e.code}}},
		{"request_id", req.RequestID},
		{"href", docURL},
	})
}

// endpoint methods
const (
	mGet = 1 << iota
	mPost
	mPatch
	mDelete
)

func (a *API) serve(req *Request) (int, any, *apiError) {
	var path []string
	for s := range strings.SplitSeq(req.Path, "/") {
		if s != "" {
			path = append(path, s)
		}
	}
	method := 0
	switch req.Method {
	case "GET", "HEAD":
		method = mGet
	case "POST":
		method = mPost
	case "PATCH":
		method = mPatch
	case "DELETE":
		method = mDelete
	}
	if len(path) == 0 {
		if method != mGet {
			return 0, nil, errMethod
		}
		return 200, Versions, nil
	}
	if v, err := strconv.Atoi(path[0]); err != nil || v < 1 || v > Version || path[0][0] == '+' || path[0][0] == '0' {
		return 0, nil, errUnknownVersion
	}
	fields, hasFields := fieldsArg(req.Args)
	path = path[1:]
	// allowed is the methods the endpoint has; a write method on a
	// read-only API is disabled, one the endpoint lacks unsupported.
	check := func(allowed int) *apiError {
		switch {
		case method&allowed == 0:
			return errMethod
		case method != mGet && !a.Write:
			return errDisabled
		}
		return nil
	}
	switch {
	case len(path) == 0:
		if e := check(mGet); e != nil {
			return 0, nil, e
		}
		return 200, []string{"nginx", "connections", "http", "stream"}, nil
	case len(path) == 1 && path[0] == "nginx":
		if e := check(mGet); e != nil {
			return 0, nil, e
		}
		return 200, a.nginx(req).only(fields), nil
	case len(path) == 1 && path[0] == "connections":
		// DELETE (reset) is not supported: the counters are shared with
		// stub_status
		if e := check(mGet); e != nil {
			return 0, nil, e
		}
		return 200, a.connections().only(fields), nil
	case len(path) == 1 && path[0] == "http":
		if e := check(mGet); e != nil {
			return 0, nil, e
		}
		return 200, []string{"requests", "upstreams"}, nil
	case len(path) == 2 && path[0] == "http" && path[1] == "requests":
		if e := check(mGet); e != nil {
			return 0, nil, e
		}
		return 200, a.requests().only(fields), nil
	case len(path) == 1 && path[0] == "stream":
		if e := check(mGet); e != nil {
			return 0, nil, e
		}
		return 200, []string{"upstreams"}, nil
	case len(path) >= 2 && (path[0] == "http" || path[0] == "stream") && path[1] == "upstreams":
		return a.upstreams(req, method, check, path[0] == "stream", path[2:], fields, hasFields)
	}
	return 0, nil, errPathNotFound
}

// fieldsArg parses the "fields" argument: the names it lists, and whether
// it is there at all ("fields=" lists none).
func fieldsArg(args string) (map[string]bool, bool) {
	q, err := url.ParseQuery(args)
	if err != nil {
		return nil, false
	}
	v, ok := q["fields"]
	if !ok {
		return nil, false
	}
	fields := map[string]bool{}
	for _, f := range strings.Split(v[0], ",") {
		if f != "" {
			fields[f] = true
		}
	}
	return fields, true
}

// isoTime formats t as NGINX Plus does: ISO 8601, UTC, milliseconds.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) nginx(req *Request) object {
	addr := req.Addr
	if h, _, err := splitHostPort(addr); err == nil {
		addr = h
	}
	// One process is both nginx's master and its worker.
	pid := os.Getpid()
	return object{
		{"version", a.Version},
		{"build", a.Build},
		{"address", addr},
		{"generation", a.Generation},
		{"load_timestamp", isoTime(a.Loaded)},
		{"timestamp", isoTime(a.now())},
		{"pid", pid},
		{"ppid", pid},
	}
}

func splitHostPort(addr string) (string, string, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", "", fmt.Errorf("no port")
	}
	return strings.Trim(addr[:i], "[]"), addr[i+1:], nil
}

func (a *API) counters() Counters {
	if a.Counters == nil {
		return Counters{}
	}
	return a.Counters()
}

func (a *API) connections() object {
	c := a.counters()
	idle := max(c.Active-c.Reading-c.Writing, 0)
	return object{
		{"accepted", c.Accepted},
		{"dropped", c.Accepted - c.Handled},
		{"active", c.Active - idle},
		{"idle", idle},
	}
}

func (a *API) requests() object {
	c := a.counters()
	return object{{"total", c.Requests}, {"current", c.Reading + c.Writing}}
}
