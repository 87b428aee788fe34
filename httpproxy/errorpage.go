package httpproxy

import (
	"fmt"
	"strings"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/vars"
)

// maxURIChanges is how many internal redirects a request may make (nginx's
// NGX_HTTP_MAX_URI_CHANGES).
const maxURIChanges = 10

// errPage is one compiled error_page directive.
type errPage struct {
	codes []int
	// overwrite is the status sent: -1 the error's own, 0 ("=") the status
	// of the error page's response, else that code.
	overwrite int
	uri       *vars.Template[*request]
}

// epState is a request's error_page state, nginx's r->err_status,
// r->error_page and r->uri_changes.
type epState struct {
	// errStatus, when not 0, is the status sent in place of the status
	// of the response that serves the error page.
	errStatus int
	// inPage says an error page is being served and recursive_error_pages
	// is off: a further error gets the built-in page.
	inPage bool
	// internal says the request was redirected: its body is not sent to
	// an upstream again.
	internal bool
	changes  int
	// wwwAuth is the WWW-Authenticate of an intercepted 401, or of the
	// 401 of auth_basic, sent with the error page.
	wwwAuth []byte
	// extra are header lines the error response carries (the
	// Content-Range of a 416 for a file; static_send.go).
	extra []byte
}

func (e *epState) reset() { *e = epState{extra: e.extra[:0]} }

// buildErrorPages compiles the error_page directives in effect at a level.
func (p *proxy) buildErrorPages(l *location, st *config.HTTPSettings) error {
	l.recursiveErrors = st.RecursiveErrorPages
	for _, ep := range st.ErrorPages {
		t, err := p.tab.Compile(ep.URI, ep.Pos)
		if err != nil {
			return vars.NginxError(err)
		}
		e := errPage{codes: ep.Codes, overwrite: -1, uri: t}
		switch {
		case ep.OverwriteUpstream:
			e.overwrite = 0
		case ep.Overwrite > 0:
			e.overwrite = ep.Overwrite
		}
		if e.overwrite == -1 {
			// nginx answers these with 400 unless told otherwise
			for _, c := range e.codes {
				if c == 494 || c == 495 || c == 496 || c == 497 {
					e.overwrite = 400
				}
			}
		}
		l.errPages = append(l.errPages, e)
	}
	return nil
}

// errorPageFor returns the error_page of location l for status, or nil.
func errorPageFor(l *location, status int) *errPage {
	for i := range l.errPages {
		for _, c := range l.errPages[i].codes {
			if c == status {
				return &l.errPages[i]
			}
		}
	}
	return nil
}

// tryErrorPage answers status with the location's error_page when one
// applies, as nginx's special response handler does. handled is false when
// the built-in page is to be sent.
func (c *conn) tryErrorPage(r *request, status int) (ok, handled bool) {
	l := r.loc
	if r.sm.Server == nil || len(l.errPages) == 0 || r.ep.inPage || r.ep.changes > maxURIChanges {
		return false, false
	}
	if !l.recursiveErrors {
		r.ep.inPage = true
	}
	ep := errorPageFor(l, status)
	if ep == nil {
		return false, false
	}
	return c.sendErrorPage(r, status, ep), true
}

// sendErrorPage serves an error page: an internal redirect to a URI or a
// named location, or a redirect to a URL.
func (c *conn) sendErrorPage(r *request, status int, ep *errPage) bool {
	c.discardBody(r) // as nginx's special response handler
	switch {
	case ep.overwrite < 0:
		r.ep.errStatus = status
	default:
		r.ep.errStatus = ep.overwrite
	}
	// a new buffer: the template may read $uri, which a previous
	// redirect pointed into an earlier target
	target := ep.uri.Append(nil, r)
	switch {
	case len(target) > 0 && target[0] == '/':
		path, args := target, []byte(nil)
		if i := strings.IndexByte(bstr(target), '?'); i >= 0 {
			path, args = target[:i], target[i+1:]
		}
		if !r.h1.IsHead() {
			r.h1.Method = methodGET
		}
		return c.internalRedirect(r, path, args)
	case len(target) > 0 && target[0] == '@':
		return c.namedRedirect(r, bstr(target))
	}
	code := 302
	switch ep.overwrite {
	case 301, 302, 303, 307, 308:
		code = ep.overwrite
	}
	r.ep.errStatus = 0
	page := appendErrorPage(nil, code, r.loc.tokens)
	loc := append([]byte(nil), target...)
	return c.sendSimple(r, code, "text/html", page, loc)
}

var methodGET = []byte("GET")

// internalRedirect serves the request again for another URI, as nginx's
// ngx_http_internal_redirect: the location is found anew and its access
// rules and handler run; limits are not counted again.
func (c *conn) internalRedirect(r *request, path, args []byte) bool {
	r.ep.changes++
	if r.ep.changes > maxURIChanges {
		c.logf(r.srv, errlog.LevelError, fmt.Sprintf("rewrite or internal redirection cycle while internally redirecting to %q", path))
		r.ep.errStatus = 0
		return c.sendError(r, 500)
	}
	r.ep.internal = true
	r.h1.URI, r.h1.Args = path, args
	r.vs.Reset()
	r.mods.reset()          // nginx clears the modules' contexts (mods.go)
	r.rw.noLocation = false // nginx's valid_location is set again
	r.loc = r.srv.def
	// nginx starts again at the server rewrite phase
	if answered, ok := c.serverRewrite(r); answered {
		return ok
	}
	r.m = r.sm.Server.Match(bstr(r.h1.URI))
	r.loc = r.srv.def
	if r.m.Location != nil {
		r.loc = c.h.p.locs[r.m.Location.Conf]
	}
	c.matchedCaptures(r)
	if r.m.Redirect {
		r.ep.errStatus = 0
		return c.redirectSlash(r)
	}
	return c.serveRedirected(r)
}

// namedRedirect serves the request in the named location name ("@x").
func (c *conn) namedRedirect(r *request, name string) bool {
	r.ep.changes++
	if r.ep.changes > maxURIChanges {
		c.logf(r.srv, errlog.LevelError, fmt.Sprintf("rewrite or internal redirection cycle while redirect to named location %q", name))
		r.ep.errStatus = 0
		return c.sendError(r, 500)
	}
	nl := r.sm.Server.Named(name)
	if nl == nil {
		c.logf(r.srv, errlog.LevelError, fmt.Sprintf("could not find named location %q", name))
		r.ep.errStatus = 0
		return c.sendError(r, 500)
	}
	r.ep.internal = true
	r.vs.Reset()
	r.mods.reset()
	r.loc = c.h.p.locs[nl.Conf]
	return c.serveRedirected(r)
}

// serveRedirected runs the access check and the handler of r.loc for a
// redirected request.
func (c *conn) serveRedirected(r *request) bool {
	l := r.loc
	r.tries = r.tries[:0]
	r.bal.Reset()
	r.haveResp = false
	if answered, ok, again := c.locationRewrite(r); answered {
		return ok
	} else if again {
		r.ep.changes-- // counted by locationRewrite
		return c.internalRedirect(r, r.h1.URI, r.h1.Args)
	}
	l = r.loc // an if block may have changed it
	// nginx runs no access phase for subrequests
	if !c.sub {
		if status := c.accessPhase(r, l); status != 0 {
			return c.sendError(r, status)
		}
	}
	return c.content(r, l)
}

// internalURI is the request-target sent upstream for a redirected request
// whose proxy_pass has no URI part: the new path, escaped, and arguments.
func internalURI(r *request) []byte {
	out := make([]byte, 0, len(r.h1.URI)+len(r.h1.Args)+8)
	out = appendEscapedURI(out, r.h1.URI)
	if len(r.h1.Args) > 0 {
		out = append(out, '?')
		out = append(out, r.h1.Args...)
	}
	return out
}

// intercept notes what nginx keeps of an upstream response that
// proxy_intercept_errors replaces: the WWW-Authenticate of a 401.
func intercept(r *request) {
	if r.resp.Status != 401 {
		return
	}
	for i := range r.resp.Headers {
		h := &r.resp.Headers[i]
		if len(h.Name) == 16 && equalFoldLower(h.Name, "www-authenticate") {
			r.ep.wwwAuth = append([]byte{}, h.Value...)
			return
		}
	}
}

// appendErrorPageHeaders appends the headers an error page carries from
// an intercepted response.
func appendErrorPageHeaders(dst []byte, r *request) []byte {
	if r.ep.wwwAuth != nil {
		dst = append(dst, "WWW-Authenticate: "...)
		dst = append(dst, r.ep.wwwAuth...)
		dst = append(dst, '\r', '\n')
	}
	return append(dst, r.ep.extra...)
}

// interceptable reports whether proxy_intercept_errors replaces an
// upstream response of this status with an error page.
func interceptable(l *location, status int) bool {
	return l.set.ProxyInterceptErrors && status >= 300 && errorPageFor(l, status) != nil
}
