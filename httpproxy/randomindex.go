package httpproxy

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"syscall"

	"github.com/sluicelb/sluice/errlog"
)

// random_index (ngx_http_random_index_module): a URI ending in "/" in a
// location with "random_index on" is answered by an internal redirect to
// a file of the directory chosen at random, before index and autoindex
// are tried, as nginx's content handlers run.

// serveRandomIndex is nginx's ngx_http_random_index_handler for a GET,
// HEAD or POST of a URI ending in "/": it lists the directory, keeps the
// regular files (symbolic links followed) whose names do not start with
// ".", and redirects to one of them, with the request's arguments. done
// is false when the directory has none: index and autoindex are tried
// then. A directory that cannot be opened is answered with 404, 403 or
// 500 and logged as nginx logs it.
func (c *conn) serveRandomIndex(r *request, sc *staticConf) (done, ok bool) {
	dir, _ := c.mapPath(nil, r, r.h1.URI)
	if n := len(dir); n > 1 && dir[n-1] == '/' {
		dir = dir[:n-1]
	}
	d, err := os.Open(string(dir))
	if err == nil {
		var fi os.FileInfo
		if fi, err = d.Stat(); err == nil && !fi.IsDir() {
			d.Close()
			err = &os.PathError{Op: "open", Path: string(dir), Err: syscall.ENOTDIR}
		}
	}
	if err != nil {
		status, level := 500, errlog.LevelCrit
		switch errnoOf(err) {
		case syscall.ENOENT, syscall.ENOTDIR, syscall.ENAMETOOLONG:
			status, level = 404, errlog.LevelError
		case syscall.EACCES:
			status, level = 403, errlog.LevelError
		}
		c.logf(r.srv, level, fmt.Sprintf("opendir() %q failed %s", dir, errText(err)))
		c.discardBody(r)
		return true, c.sendError(r, status)
	}
	defer d.Close()
	var names []string
	for {
		ents, err := d.ReadDir(256)
		for _, e := range ents {
			name := e.Name()
			if name[0] == '.' {
				continue
			}
			t := e.Type()
			if t&os.ModeSymlink != 0 {
				fi, err := os.Stat(string(dir) + "/" + name)
				if err != nil {
					if errnoOf(err) == syscall.ENOENT {
						continue // a broken link
					}
					c.logf(r.srv, errlog.LevelCrit, fmt.Sprintf("stat() %q failed %s", string(dir)+"/"+name, errText(err)))
					c.discardBody(r)
					return true, c.sendError(r, 500)
				}
				t = fi.Mode().Type()
			}
			if t.IsRegular() {
				names = append(names, name)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			c.logf(r.srv, errlog.LevelCrit, fmt.Sprintf("readdir() %q failed %s", dir, errText(err)))
			c.discardBody(r)
			return true, c.sendError(r, 500)
		}
	}
	if len(names) == 0 {
		return false, false
	}
	name := names[rand.IntN(len(names))]
	uri := r.h1.URI
	next := make([]byte, 0, len(uri)+len(name))
	next = append(append(next, uri...), name...)
	return true, c.internalRedirect(r, next, r.h1.Args)
}
