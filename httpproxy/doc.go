// Package httpproxy is Sluice's HTTP/1.x reverse proxy: the http {} block
// of an nginx configuration.
//
// Build turns a compiled http block into one Handler per listening
// address. A Handler serves the connections accepted there: it reads each
// request head (with nginx's limits and status codes), picks the virtual
// server by Host and the location by path as nginx does, applies allow and
// deny, limit_conn and limit_req, then answers with return, stub_status or
// proxy_pass, writes the access log lines and keeps the connection open
// for the next request when HTTP keep-alive allows it. Pipelined requests
// are answered in order.
//
// proxy_pass sends the request to a server of an upstream group chosen by
// the balancing method, over a pooled connection when the upstream has
// "keepalive N" and the location speaks HTTP/1.1 without "Connection:
// close" to it, else over a new connection per request (nginx's default:
// HTTP/1.0 and "Connection: close"). The request head is rewritten as nginx
// rewrites it (proxy_set_header, hop-by-hop headers removed, the URI
// replaced per nginx's rules when proxy_pass has a URI part). A failed
// attempt is retried on the next server under proxy_next_upstream; an
// attempt whose request never reached the server is retried even for
// non-idempotent methods. The response streams to the client: each read
// from the server is written to the client at once, whether
// proxy_buffering is on or off, so server-sent events and token streams
// arrive as they are produced; "X-Accel-Buffering: no" is accepted and
// changes nothing since nothing is held back. limit_rate, $limit_rate
// and an upstream's X-Accel-Limit-Rate pace a response body as nginx's
// write filter does (rate.go). A response is never held whole in memory. A server that fails in the middle of a body makes the
// client connection close before the body is complete, so the client
// sees a truncated response, never a short one presented as whole. A
// client that leaves while a streamed response waits for its upstream
// makes the proxy close the upstream connection at once, so that the
// backend can stop generating. "keepalive N" keeps N idle connections per
// nginx worker: Sluice, one process, keeps N times worker_processes.
// Upgrades (WebSocket) go through the usual
//
//	map $http_upgrade $connection_upgrade { default upgrade; '' close; }
//	proxy_http_version 1.1;
//	proxy_set_header Upgrade $http_upgrade;
//	proxy_set_header Connection $connection_upgrade;
//
// and after the server's 101 both directions are copied until each side
// closes (half-close is passed on).
//
// Request bodies: with proxy_request_buffering on (the default) a body up
// to client_body_buffer_size is read whole before the server is chosen,
// so that it can be sent again on a retry; larger bodies are streamed (not
// spooled to disk as nginx does), and such a request is retried only when
// no byte reached the server. A chunked body is sent on with a
// Content-Length when it was read whole, re-framed as chunked otherwise
// (over HTTP/1.1; an HTTP/1.0 upstream gets the body read whole, up to
// client_max_body_size).
//
// error_page answers the errors the proxy makes itself (502 and 504 when
// no server answered, 403 from deny, 404, 413, 503 from the limits,
// "return 404") and, with proxy_intercept_errors on, upstream responses of
// status 300 or more that have a page: by an internal redirect to a URI
// (the location is found again, the method becomes GET, the status sent
// is the error's unless "=code" or "=" says otherwise), to a named
// location, or by a redirect to a URL. An error while an error page is
// served gets the built-in page unless recursive_error_pages is on; ten
// redirects at most (errorpage.go). proxy_redirect rewrites Location and
// Refresh with "default", prefix and regular expression rules, in order
// (redirect.go); proxy_cookie_domain, proxy_cookie_path and
// proxy_cookie_flags rewrite Set-Cookie as nginx does (cookie.go). With
// proxy_ignore_client_abort off, a client that goes away while a response
// head is awaited ends the request with 499 and closes the upstream
// connection (headWatch in proxy.go); chunked_transfer_encoding off sends
// bodies of unknown length unframed, closing the connection at their end.
// gzip compresses proxied responses and the proxy's own
// pages under nginx's gzip_* rules, flushing after every read from the
// upstream so that streams are not held back (gzip.go).
//
// auth_request and mirror make subrequests (subrequest.go): internal
// requests for a URI, served by the same engine on a connection whose
// client is a sink, so that routing, rewrite directives, handlers and
// error pages are those of any request. auth_request's runs in the access
// phase and its status decides; mirror's run in the background after the
// access phase and the limits, with the request body read whole first
// (mirror_request_body on). An "internal" location answers 404 to a
// client's own request.
//
// Not done yet: static files (root, index, try_files are accepted and such
// locations answer 404), error_page for requests whose
// head could not be read or whose Host is invalid, proxy_bind with variables, and proxy_pass with
// variables naming a host that only a resolver could find at run time
// (answered 502).
//
// HTTPS: a "listen ... ssl" address terminates TLS with the certificates
// of the server the client's SNI names (tls.go), checks client
// certificates per request as nginx does, and hands connections that
// negotiate "h2" to the HTTP/2 server; "proxy_pass https://" speaks TLS
// to the upstream servers under the proxy_ssl_* directives
// (upstream_tls.go).
//
// HTTP/2 (h2.go): "listen ... http2" or "http2 on" turns it on; TLS
// listeners offer it by ALPN, plain ones serve a connection that starts
// with the HTTP/2 preface as HTTP/2 and any other as HTTP/1.1. Every
// stream is one request served by the engine above, as an HTTP/1.1
// request would be (same routing, limits, variables, logs, proxy_pass and
// balancing, per stream), with $server_protocol "HTTP/2.0". grpc_pass
// (grpc.go) sends gRPC calls over pooled HTTP/2 connections to a server
// picked per call, streaming messages and trailers both ways. See
// docs/http2.md.
//
// A Handler is safe for concurrent use; it serves each connection on the
// goroutine that calls ServeConn.
package httpproxy
