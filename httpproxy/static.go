package httpproxy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/vars"
)

// Static files: nginx's try_files phase, index, static and core content
// handlers (ngx_http_core_try_files_phase, ngx_http_index_handler,
// ngx_http_static_handler, ngx_http_core_content_phase). A location
// without proxy_pass, grpc_pass, return or stub_status serves files from
// its root or alias; the response (conditional requests, ranges, gzip,
// charset, expires, add_header) is made in static_send.go.

// staticConf is a location's compiled file-serving settings. Every
// location has one.
type staticConf struct {
	root       *vars.Template[*request] // root, or alias when aliasLen != 0 or aliasRegex
	rootConst  string                   // the root when it has no variables
	constRoot  bool
	aliasLen   int  // alias of a prefix location: the length of the location's name
	aliasRegex bool // alias of a regular expression location: the whole path
	index      []*vars.Template[*request]
	try        []tryFile // try_files but its last argument; nil without try_files
	tryCode    int       // the last argument "=code", or 0
	tryLast    *vars.Template[*request]
	types      map[string]string
	defType    string
	etag       bool
	ims        string // if_modified_since: off, exact, before
	maxRanges  int
	logMissing bool // log_not_found

	autoindex          bool // autoindex and its settings (autoindex.go)
	autoindexExactSize bool
	autoindexFormat    string
	autoindexLocaltime bool

	randomIndex bool // random_index (randomindex.go)
}

// tryFile is one try_files argument but the last: a file, or a directory
// when it ends with "/".
type tryFile struct {
	name *vars.Template[*request]
	dir  bool
}

// buildStatic compiles the file-serving settings of a level.
func (p *proxy) buildStatic(lc *config.HTTPLocation, st *config.HTTPSettings, pos string) (*staticConf, error) {
	sc := &staticConf{defType: st.Static.DefaultType, etag: st.Static.ETag, ims: st.Static.IfModifiedSince,
		maxRanges: st.Static.MaxRanges, logMissing: st.Static.LogNotFound, types: st.Static.Types,
		autoindex: st.Static.Autoindex, autoindexExactSize: st.Static.AutoindexExactSize,
		autoindexFormat: st.Static.AutoindexFormat, autoindexLocaltime: st.Static.AutoindexLocaltime,
		randomIndex: st.Mods.RandomIndex}
	if sc.types == nil {
		sc.types = config.DefaultTypes
	}
	root := st.Root
	if lc != nil && lc.Alias != "" {
		root = lc.Alias
		switch lc.Modifier {
		case config.LocRegex, config.LocRegexCase:
			sc.aliasRegex = true
		default:
			sc.aliasLen = len(lc.Name)
		}
	}
	var err error
	compile := func(s string) *vars.Template[*request] {
		if err != nil {
			return nil
		}
		var t *vars.Template[*request]
		t, err = p.tab.Compile(s, pos)
		return t
	}
	sc.root = compile(root)
	if err == nil {
		sc.rootConst, sc.constRoot = sc.root.Const()
	}
	for _, ix := range st.Index {
		sc.index = append(sc.index, compile(ix))
	}
	if tf := st.TryFiles; len(tf) > 0 {
		sc.try = make([]tryFile, 0, len(tf)-1)
		for _, a := range tf[:len(tf)-1] {
			dir := strings.HasSuffix(a, "/")
			if dir {
				a = a[:len(a)-1]
			}
			sc.try = append(sc.try, tryFile{name: compile(a), dir: dir})
		}
		last := tf[len(tf)-1]
		if n, ok := config.ParseDigits(strings.TrimPrefix(last, "=")); ok && strings.HasPrefix(last, "=") {
			sc.tryCode = int(n)
		} else {
			sc.tryLast = compile(last)
		}
	}
	if err != nil {
		return nil, vars.NginxError(err)
	}
	return sc, nil
}

// docRoot appends the document root of r's location: the root or alias,
// evaluated ($document_root).
func (c *conn) docRoot(dst []byte, r *request) []byte {
	sc := r.loc.static
	if sc.constRoot {
		return append(dst, sc.rootConst...)
	}
	c.locationCaptures(r)
	start := len(dst)
	dst = sc.root.Append(dst, r)
	if !filepath.IsAbs(bstr(dst[start:])) && len(dst) > start {
		// nginx resolves a relative root with variables under the prefix
		// per request; the configuration's directory stands for it here
		abs, err := filepath.Abs(string(dst[start:]))
		if err == nil {
			dst = append(dst[:start], abs...)
		}
	}
	return dst
}

// locationCaptures records the captures of r's regular expression
// location when no rewrite directive of the location did (a root or alias
// may use them).
func (c *conn) locationCaptures(r *request) {
	l := r.loc
	if len(l.script) > 0 || r.m.Location == nil || r.m.Location.Conf != l.cfg {
		return
	}
	if idx := r.m.CaptureIndex(bstr(r.h1.URI)); idx != nil {
		r.vs.SetCaptures(r.h1.URI, idx)
	}
}

// mapPath appends the file path of uri in r's location, as nginx's
// ngx_http_map_uri_to_path: the root and the URI, or the alias and the
// part of the URI after the location's name, or a regular expression
// location's alias alone. rootLen is the length of the root part.
func (c *conn) mapPath(dst []byte, r *request, uri []byte) (path []byte, rootLen int) {
	sc := r.loc.static
	start := len(dst)
	dst = c.docRoot(dst, r)
	rootLen = len(dst) - start
	switch {
	case sc.aliasRegex:
		if r.addURIToAlias {
			dst = append(dst, uri...)
		}
	case sc.aliasLen > 0:
		if len(uri) >= sc.aliasLen {
			dst = append(dst, uri[sc.aliasLen:]...)
		}
	default:
		dst = append(dst, uri...)
	}
	return dst, rootLen
}

// errnoOf returns the system error number of a file operation's error.
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// notFoundErr reports whether a file error means "not found" to nginx.
func notFoundErr(e syscall.Errno) bool {
	return e == syscall.ENOENT || e == syscall.ENOTDIR || e == syscall.ENAMETOOLONG
}

// escapes reports whether a path has a ".." segment or a NUL: a request
// URI is normalised when it is parsed, but a URI made by rewrite,
// try_files or a variable is not, and a file path never leaves its root.
func escapes(p []byte) bool {
	s := bstr(p)
	if strings.IndexByte(s, 0) >= 0 {
		return true
	}
	for s != "" {
		i := strings.IndexByte(s, '/')
		seg := s
		if i >= 0 {
			seg, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		if seg == ".." {
			return true
		}
	}
	return false
}

// tryFiles runs try_files: the first argument naming an existing file (or
// directory, for one ending in "/") becomes the URI and the content
// handler runs for it; otherwise the last argument applies. done says
// that a response was sent (ok then says whether the connection stays).
func (c *conn) tryFiles(r *request) (done, ok bool) {
	sc := r.loc.static
	c.locationCaptures(r)
	for _, tf := range sc.try {
		name := tf.name.Append(nil, r)
		if escapes(name) {
			continue
		}
		path := c.docRoot(nil, r)
		rootLen := len(path)
		rest := name
		if sc.aliasLen > 0 && len(rest) >= sc.aliasLen && r.loc.cfg != nil && bstr(rest[:sc.aliasLen]) == r.loc.cfg.Name {
			rest = rest[sc.aliasLen:]
		}
		path = append(path, rest...)
		fi, err := os.Stat(bstr(path))
		if err != nil {
			if e := errnoOf(err); !notFoundErr(e) {
				c.logf(r.srv, errlog.LevelCrit, fmt.Sprintf("stat() %q failed %s", path, errText(err)))
			}
			continue
		}
		if fi.IsDir() != tf.dir {
			continue
		}
		switch {
		case sc.aliasRegex:
			if !tf.dir {
				r.h1.URI = path[rootLen:]
				r.addURIToAlias = true
			}
		case sc.aliasLen > 0:
			uri := append([]byte(r.loc.cfg.Name), path[rootLen:]...)
			r.h1.URI = uri
		default:
			r.h1.URI = path[rootLen:]
		}
		return false, false
	}
	if sc.tryCode != 0 {
		c.discardBody(r)
		return true, c.sendError(r, sc.tryCode)
	}
	// a redirect keeps the request body for the handler it reaches
	// (try_files $uri @backend with proxy_pass sends it)
	target := sc.tryLast.Append(nil, r)
	if len(target) > 0 && target[0] == '@' {
		return true, c.namedRedirect(r, bstr(target))
	}
	// the arguments are the URI's own: without "?" there are none
	path, args := target, []byte(nil)
	if i := strings.IndexByte(bstr(target), '?'); i >= 0 {
		path, args = target[:i], target[i+1:]
	}
	return true, c.internalRedirect(r, path, args)
}

// serveStatic is the content handler of a location that serves files:
// the index files of a directory URI, else the file the URI names. The
// request body is discarded, unless an index file is found: the request
// is then redirected with it.
func (c *conn) serveStatic(r *request) bool {
	sc := r.loc.static
	uri := r.h1.URI
	m := bstr(r.h1.Method)
	getHeadPost := m == "GET" || m == "HEAD" || m == "POST"
	if len(uri) > 0 && uri[len(uri)-1] == '/' && getHeadPost && !escapes(uri) {
		if sc.randomIndex {
			if done, ok := c.serveRandomIndex(r, sc); done { // randomindex.go
				return ok
			}
		}
		if done, ok := c.serveIndex(r, sc); done {
			return ok
		}
	}
	c.discardBody(r)
	if len(uri) == 0 || escapes(uri) {
		return c.sendError(r, 404)
	}
	if uri[len(uri)-1] == '/' {
		if sc.autoindex && (m == "GET" || m == "HEAD") {
			return c.serveAutoindex(r, sc)
		}
		if !getHeadPost {
			return c.sendError(r, 405)
		}
		path, _ := c.mapPath(nil, r, uri)
		c.logf(r.srv, errlog.LevelError, fmt.Sprintf("directory index of %q is forbidden", path))
		return c.sendError(r, 403)
	}
	if !getHeadPost {
		return c.sendError(r, 405)
	}
	path, _ := c.mapPath(nil, r, uri)
	f, err := openFile(bstr(path))
	if err != nil {
		return c.fileError(r, sc, "open()", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return c.fileError(r, sc, "fstat()", path, err)
	}
	if fi.IsDir() {
		return c.redirectSlash(r)
	}
	if !fi.Mode().IsRegular() {
		c.logf(r.srv, errlog.LevelCrit, fmt.Sprintf("%q is not a regular file", path))
		return c.sendError(r, 404)
	}
	if m == "POST" {
		return c.sendError(r, 405)
	}
	return c.sendFile(r, sc, f, fi)
}

// openFile opens a file for reading without blocking on a FIFO.
func openFile(path string) (*os.File, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// fileError answers a failed open or stat of a file as nginx's static
// handler: 404 (logged with log_not_found on), 403, or 500.
func (c *conn) fileError(r *request, sc *staticConf, op string, path []byte, err error) bool {
	e := errnoOf(err)
	status, level := 500, errlog.LevelCrit
	switch {
	case notFoundErr(e):
		status, level = 404, errlog.LevelError
	case e == syscall.EACCES || e == syscall.EMLINK || e == syscall.ELOOP:
		status, level = 403, errlog.LevelError
	}
	if status != 404 || sc.logMissing {
		c.logf(r.srv, level, fmt.Sprintf("%s %q failed %s", op, path, errText(err)))
	}
	return c.sendError(r, status)
}

// serveIndex runs the index directive for a URI ending in "/": an
// internal redirect to the first index file that exists. done is false
// when none does.
func (c *conn) serveIndex(r *request, sc *staticConf) (done, ok bool) {
	dirTested := false
	uri := r.h1.URI
	for _, ix := range sc.index {
		// an empty name (a variable) opens the directory itself and
		// redirects to the same URI, until nginx's redirect limit: 500
		name := ix.Append(nil, r)
		if len(name) > 0 && name[0] == '/' {
			return true, c.internalRedirect(r, name, r.h1.Args)
		}
		dir, _ := c.mapPath(nil, r, uri)
		path := append(dir, name...)
		f, err := openFile(bstr(path))
		if err != nil {
			e := errnoOf(err)
			if e == syscall.ENOTDIR || e == syscall.ENAMETOOLONG || e == syscall.EACCES {
				return true, c.indexError(r, sc, path, err)
			}
			if !dirTested {
				if done, ok := c.indexTestDir(r, sc, dir, path); done {
					return true, ok
				}
				dirTested = true
			}
			if e == syscall.ENOENT {
				continue
			}
			c.logf(r.srv, errlog.LevelCrit, fmt.Sprintf("open() %q failed %s", path, errText(err)))
			c.discardBody(r)
			return true, c.sendError(r, 500)
		}
		f.Close()
		next := make([]byte, 0, len(uri)+len(name))
		next = append(append(next, uri...), name...)
		return true, c.internalRedirect(r, next, r.h1.Args)
	}
	return false, false
}

// indexTestDir checks that the directory of a missing index file exists,
// as ngx_http_index_test_dir; a missing or forbidden directory is logged
// with the index file's path, as nginx logs it.
func (c *conn) indexTestDir(r *request, sc *staticConf, dir, index []byte) (done, ok bool) {
	if n := len(dir); n > 1 && dir[n-1] == '/' {
		dir = dir[:n-1]
	}
	fi, err := os.Stat(bstr(dir))
	if err != nil {
		e := errnoOf(err)
		if e == syscall.ENOENT || e == syscall.EACCES {
			return true, c.indexError(r, sc, index, err)
		}
		c.logf(r.srv, errlog.LevelCrit, fmt.Sprintf("stat() %q failed %s", dir, errText(err)))
		c.discardBody(r)
		return true, c.sendError(r, 500)
	}
	if !fi.IsDir() {
		c.logf(r.srv, errlog.LevelCrit, fmt.Sprintf("%q is not a directory", dir))
		c.discardBody(r)
		return true, c.sendError(r, 500)
	}
	return false, false
}

// indexError answers a missing or forbidden index file or directory.
func (c *conn) indexError(r *request, sc *staticConf, path []byte, err error) bool {
	c.discardBody(r)
	if errnoOf(err) == syscall.EACCES {
		c.logf(r.srv, errlog.LevelError, fmt.Sprintf("%q is forbidden %s", path, errText(err)))
		return c.sendError(r, 403)
	}
	if sc.logMissing {
		c.logf(r.srv, errlog.LevelError, fmt.Sprintf("%q is not found %s", path, errText(err)))
	}
	return c.sendError(r, 404)
}

// defineStaticVars defines $document_root, $realpath_root and
// $request_filename.
func defineStaticVars(t *vars.Table[*request]) error {
	defs := []struct {
		name string
		get  vars.Getter[*request]
	}{
		{"document_root", func(dst []byte, r *request) ([]byte, bool) {
			if r.loc == nil || r.loc.static == nil {
				return dst, false
			}
			return r.c.docRoot(dst, r), true
		}},
		{"realpath_root", func(dst []byte, r *request) ([]byte, bool) {
			if r.loc == nil || r.loc.static == nil {
				return dst, false
			}
			root := r.c.docRoot(nil, r)
			real, err := filepath.EvalSymlinks(string(root))
			if err != nil {
				return dst, false
			}
			return append(dst, real...), true
		}},
		{"request_filename", func(dst []byte, r *request) ([]byte, bool) {
			if r.loc == nil || r.loc.static == nil {
				return dst, false
			}
			dst, _ = r.c.mapPath(dst, r, r.h1.URI)
			return dst, true
		}},
	}
	for _, d := range defs {
		if err := t.Define(d.name, d.get, 0); err != nil {
			return err
		}
	}
	return nil
}
