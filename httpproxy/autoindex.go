package httpproxy

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	utf8pkg "unicode/utf8"

	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/httpproxy/h1"
)

// autoindex lists a directory as nginx's ngx_http_autoindex_module: html
// (names cut at 50 characters, sizes exact or scaled, times in GMT or
// local time), xml, json or jsonp. Hidden files (a name starting with
// ".") are left out; directories come first, then files, each by name.

// autoindexEntry is one listed name.
type autoindexEntry struct {
	name  string
	dir   bool
	mtime int64
	size  int64
}

// autoindexNameLen is nginx's NGX_HTTP_AUTOINDEX_NAME_LEN.
const autoindexNameLen = 50

// serveAutoindex answers a directory URI with its listing.
func (c *conn) serveAutoindex(r *request, sc *staticConf) bool {
	path, _ := c.mapPath(nil, r, r.h1.URI)
	if n := len(path); n > 1 && path[n-1] == '/' {
		path = path[:n-1]
	}
	d, err := os.Open(bstr(path))
	if err != nil {
		return c.fileError(r, sc, "opendir()", path, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		c.logf(r.srv, errlog.LevelCrit, fmt.Sprintf("readdir() %q failed %s", path, errText(err)))
		return c.sendError(r, 500)
	}
	entries := make([]autoindexEntry, 0, len(names))
	for _, n := range names {
		if n == "" || n[0] == '.' {
			continue
		}
		full := string(path) + "/" + n
		fi, err := os.Stat(full)
		if err != nil {
			if fi, err = os.Lstat(full); err != nil {
				continue
			}
		}
		entries = append(entries, autoindexEntry{name: n, dir: fi.IsDir(), mtime: fi.ModTime().Unix(), size: fi.Size()})
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].dir != entries[j].dir {
			return entries[i].dir
		}
		return entries[i].name < entries[j].name
	})
	ctype := "text/html"
	var body []byte
	switch sc.autoindexFormat {
	case "json", "jsonp":
		callback, ok := jsonpCallback(r, sc.autoindexFormat == "jsonp")
		if !ok {
			c.logf(r.srv, errlog.LevelError, "client sent invalid callback")
			return c.sendError(r, 400)
		}
		ctype = "application/json"
		if callback != nil {
			ctype = "application/javascript"
			body = append(body, "/* callback */\r\n"...)
			body = append(body, callback...)
			body = append(body, '(')
		}
		body = appendAutoindexJSON(body, entries)
		if callback != nil {
			body = append(body, ");"...)
		}
	case "xml":
		ctype = "text/xml; charset=utf-8"
		body = appendAutoindexXML(body, entries)
	default:
		// names are measured in characters when the response's charset
		// is utf-8, else in bytes, as nginx does
		utf8 := false
		if cs := r.loc.charset; cs != nil {
			if v, ok := c.charsetCT(r, cs, 200, []byte(ctype), false); ok {
				utf8 = strings.HasSuffix(strings.ToLower(string(v)), "charset=utf-8")
			}
		}
		body = appendAutoindexHTML(body, r.h1.URI, entries, sc.autoindexExactSize, sc.autoindexLocaltime, utf8)
	}
	return c.sendListing(r, ctype, body)
}

// jsonpCallback returns the callback argument of a jsonp listing (nil
// for none, and for the json format), and false when it has characters
// other than letters, digits, "_" and ".".
func jsonpCallback(r *request, jsonp bool) ([]byte, bool) {
	if !jsonp {
		return nil, true
	}
	cb, ok := argValue(r.h1.Args, "callback")
	if !ok || len(cb) == 0 {
		return nil, true
	}
	for _, b := range cb {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '.') {
			return nil, false
		}
	}
	return cb, true
}

// sendListing sends a listing as nginx does: without Content-Length,
// chunked to HTTP/1.1 clients, else closing the connection at its end.
func (c *conn) sendListing(r *request, ctype string, body []byte) bool {
	status := 200
	if r.ep.errStatus != 0 {
		status = r.ep.errStatus
	}
	chunked := c.chunked(r, r.loc)
	if !chunked && !r.h1.IsHead() {
		r.keepAlive = false
	}
	c.keepAliveOK(r)
	r.status = status
	c.setExpires(r, r.loc.exp, status, nil)
	if r.loc.sub != nil && !r.h1.IsHead() { // sub_filter (subfilter.go)
		if sf := c.subStart(r, r.loc.sub, []byte(ctype), -1); sf != nil {
			body = sf.filterAll(r, nil, body)
		}
	}
	out := c.appendHeadStart(c.req.out[:0], r, status, nil)
	out = append(out, "Content-Type: "...)
	ct := []byte(ctype)
	if cs := r.loc.charset; cs != nil {
		if v, ok := c.charsetCT(r, cs, status, ct, false); ok {
			ct = v
		}
	}
	out = append(out, ct...)
	out = append(out, '\r', '\n')
	if chunked && !r.h1.IsHead() {
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	}
	out = c.appendHeadEnd(out, r, status)
	r.outHead = append(r.outHead[:0], out...)
	head := len(out)
	if !r.h1.IsHead() {
		if chunked {
			out = h1.AppendChunk(out, body)
			out = append(out, "0\r\n\r\n"...)
		} else {
			out = append(out, body...)
		}
	}
	c.req.out = out
	n, err := c.write(r, out)
	r.headSent = int64(min(n, head))
	if n > head {
		r.bodySent = int64(n - head)
	}
	return err == nil
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// appendAutoindexHTML appends nginx's html listing.
func appendAutoindexHTML(dst, uri []byte, entries []autoindexEntry, exact, local, utf8 bool) []byte {
	title := appendEscapedHTML(nil, string(uri))
	dst = append(dst, "<html>\r\n<head><title>Index of "...)
	dst = append(dst, title...)
	dst = append(dst, "</title></head>\r\n<body>\r\n<h1>Index of "...)
	dst = append(dst, title...)
	dst = append(dst, "</h1><hr><pre><a href=\"../\">../</a>\r\n"...)
	for _, e := range entries {
		dst = append(dst, "<a href=\""...)
		dst = appendEscapedComponent(dst, e.name)
		if e.dir {
			dst = append(dst, '/')
		}
		dst = append(dst, "\">"...)
		n := len(e.name)
		if utf8 {
			n = utf8pkg.RuneCountInString(e.name)
		}
		shown := e.name
		if n > autoindexNameLen {
			if utf8 {
				shown = firstRunes(e.name, autoindexNameLen-3)
			} else {
				shown = e.name[:autoindexNameLen-3]
			}
		}
		dst = appendEscapedHTML(dst, shown)
		if n > autoindexNameLen {
			dst = append(dst, "..&gt;</a>"...)
		} else {
			if e.dir && autoindexNameLen-n > 0 {
				dst = append(dst, '/')
				n++
			}
			dst = append(dst, "</a>"...)
			for i := n; i < autoindexNameLen; i++ {
				dst = append(dst, ' ')
			}
		}
		dst = append(dst, ' ')
		t := time.Unix(e.mtime, 0).UTC()
		if local {
			t = time.Unix(e.mtime, 0).Local()
		}
		dst = fmt.Appendf(dst, "%02d-%s-%d %02d:%02d ", t.Day(), months[t.Month()-1], t.Year(), t.Hour(), t.Minute())
		switch {
		case exact && e.dir:
			dst = append(dst, "                  -"...)
		case exact:
			dst = fmt.Appendf(dst, "%19d", e.size)
		case e.dir:
			dst = append(dst, "      -"...)
		default:
			dst = appendScaledSize(dst, e.size)
		}
		dst = append(dst, '\r', '\n')
	}
	return append(dst, "</pre><hr></body>\r\n</html>\r\n"...)
}

// appendScaledSize appends a size as autoindex_exact_size off shows it:
// rounded to K, M or G past 9999 bytes, 1 MB and 1 GB.
func appendScaledSize(dst []byte, n int64) []byte {
	const k, m, g = 1024, 1024 * 1024, 1024 * 1024 * 1024
	var size int64
	var scale byte
	switch {
	case n > g-1:
		size, scale = n/g, 'G'
		if n%g > g/2-1 {
			size++
		}
	case n > m-1:
		size, scale = n/m, 'M'
		if n%m > m/2-1 {
			size++
		}
	case n > 9999:
		size, scale = n/k, 'K'
		if n%k > 511 {
			size++
		}
	default:
		return fmt.Appendf(dst, " %6d", n)
	}
	return fmt.Appendf(dst, "%6d%c", size, scale)
}

// firstRunes returns the first n characters of s.
func firstRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// appendEscapedHTML appends s with <, >, & and " as entities
// (ngx_escape_html).
func appendEscapedHTML(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; b {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		case '"':
			dst = append(dst, "&quot;"...)
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

// appendEscapedComponent escapes a name as nginx's
// NGX_ESCAPE_URI_COMPONENT: all but letters, digits and "-._~".
func appendEscapedComponent(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_' || b == '~' {
			dst = append(dst, b)
			continue
		}
		dst = append(dst, '%', hex[b>>4], hex[b&15])
	}
	return dst
}

// appendEscapedJSON appends s escaped for a JSON string (ngx_escape_json).
func appendEscapedJSON(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b == '"' || b == '\\':
			dst = append(dst, '\\', b)
		case b < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&15])
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

// appendAutoindexJSON appends nginx's json listing.
func appendAutoindexJSON(dst []byte, entries []autoindexEntry) []byte {
	dst = append(dst, "[\r\n"...)
	for i, e := range entries {
		dst = append(dst, "{ \"name\":\""...)
		dst = appendEscapedJSON(dst, e.name)
		dst = append(dst, "\", \"type\":\""...)
		if e.dir {
			dst = append(dst, "directory"...)
		} else {
			dst = append(dst, "file"...)
		}
		dst = append(dst, "\", \"mtime\":\""...)
		dst = append(dst, time.Unix(e.mtime, 0).UTC().Format(http.TimeFormat)...)
		dst = append(dst, '"')
		if !e.dir {
			dst = append(dst, ", \"size\":"...)
			dst = strconv.AppendInt(dst, e.size, 10)
		}
		dst = append(dst, " }"...)
		if i < len(entries)-1 {
			dst = append(dst, ',')
		}
		dst = append(dst, '\r', '\n')
	}
	return append(dst, ']')
}

// appendAutoindexXML appends nginx's xml listing.
func appendAutoindexXML(dst []byte, entries []autoindexEntry) []byte {
	dst = append(dst, "<?xml version=\"1.0\"?>\r\n<list>\r\n"...)
	for _, e := range entries {
		t := time.Unix(e.mtime, 0).UTC()
		if e.dir {
			dst = append(dst, "<directory"...)
		} else {
			dst = append(dst, "<file"...)
		}
		dst = fmt.Appendf(dst, " mtime=\"%04d-%02d-%02dT%02d:%02d:%02dZ\"", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second())
		if !e.dir {
			dst = fmt.Appendf(dst, " size=\"%d\"", e.size)
		}
		dst = append(dst, '>')
		dst = appendEscapedHTML(dst, e.name)
		if e.dir {
			dst = append(dst, "</directory>\r\n"...)
		} else {
			dst = append(dst, "</file>\r\n"...)
		}
	}
	return append(dst, "</list>\r\n"...)
}
