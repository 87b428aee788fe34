package httpproxy

import (
	"net/http"
	"strings"
	"time"
)

// Conditional and range requests for static files: nginx's not_modified
// filter (ngx_http_not_modified_filter_module) and the parsing of its
// range filter (ngx_http_range_filter_module).

// conditional is nginx's not_modified filter for a 200 response last
// modified at mtime (-1: not known) with etag (nil: none), a file's or a
// cached one: it returns 412 or 304 when a conditional header of r says
// so, else 0. ims is if_modified_since.
func conditional(r *request, ims string, mtime int64, etag []byte) int {
	hs := r.h1.Headers
	var ius, im, imsVal, inm []byte
	var hasIUS, hasIM, hasIMS, hasINM bool
	for i := range hs {
		h := &hs[i]
		switch {
		case !hasIUS && equalFoldLower(h.Name, "if-unmodified-since"):
			ius, hasIUS = h.Value, true
		case !hasIM && equalFoldLower(h.Name, "if-match"):
			im, hasIM = h.Value, true
		case !hasIMS && equalFoldLower(h.Name, "if-modified-since"):
			imsVal, hasIMS = h.Value, true
		case !hasINM && equalFoldLower(h.Name, "if-none-match"):
			inm, hasINM = h.Value, true
		}
	}
	if hasIUS {
		t, ok := parseHTTPTime(ius)
		if mtime < 0 || !ok || t < mtime {
			return 412
		}
	}
	if hasIM && !etagMatch(etag, im, false) {
		return 412
	}
	if !hasIMS && !hasINM {
		return 0
	}
	if hasIMS && (mtime < 0 || modifiedSince(ims, imsVal, mtime)) {
		return 0
	}
	if hasINM && !etagMatch(etag, inm, true) {
		return 0
	}
	return 304
}

// modifiedSince is nginx's ngx_http_test_if_modified: whether the file
// counts as modified since the If-Modified-Since date.
func modifiedSince(mode string, v []byte, mtime int64) bool {
	if mode == "off" {
		return true
	}
	t, ok := parseHTTPTime(v)
	if !ok {
		t = -1
	}
	if t == mtime {
		return false
	}
	return mode == "exact" || t < mtime
}

// etagMatch is nginx's ngx_http_test_if_match: whether the list of an
// If-Match (weak false) or If-None-Match (weak true) header holds etag.
func etagMatch(etag, list []byte, weak bool) bool {
	if len(list) == 1 && list[0] == '*' {
		return true
	}
	if etag == nil {
		return false
	}
	if !weak && len(etag) > 2 && etag[0] == 'W' && etag[1] == '/' {
		return false // If-Match takes strong tags only
	}
	if weak && len(etag) > 2 && etag[0] == 'W' && etag[1] == '/' {
		etag = etag[2:]
	}
	p := list
	for len(p) > 0 {
		if weak && len(p) > 2 && p[0] == 'W' && p[1] == '/' {
			p = p[2:]
		}
		if len(etag) > len(p) {
			return false
		}
		if string(p[:len(etag)]) == string(etag) {
			return true
		}
		for len(p) > 0 {
			ch := p[0]
			p = p[1:]
			if ch == ',' {
				break
			}
		}
		for len(p) > 0 && (p[0] == ' ' || p[0] == '\t') {
			p = p[1:]
		}
	}
	return false
}

// parseHTTPTime parses the three date formats of HTTP as nginx's
// ngx_parse_http_time, to Unix seconds.
func parseHTTPTime(v []byte) (int64, bool) {
	s := strings.TrimSpace(string(v))
	for _, layout := range []string{http.TimeFormat, time.RFC850, time.ANSIC, "Mon, 2 Jan 2006 15:04:05 GMT"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix(), true
		}
	}
	return 0, false
}

// parseRanges is nginx's range header filter for a file of size bytes:
// the ranges asked for (nil for the whole file, with Accept-Ranges), or
// ok false for 416.
func (c *conn) parseRanges(r *request, sc *staticConf, size int64, lastMod, etag []byte) (ranges []byteRange, ok bool) {
	rv, hasRange := findHeader(nil, r.h1.Headers, "range")
	if !hasRange || len(rv) < 7 || !strings.EqualFold(bstr(rv[:6]), "bytes=") {
		return nil, true
	}
	if !ifRange(r, etag, lastMod) {
		return nil, true
	}
	ranges, res := parseRangeSpec(rv[6:], size, sc.maxRanges)
	switch res {
	case rangeOK:
		return ranges, true
	case rangeUnsatisfiable:
		return nil, false
	}
	return nil, true
}

// ifRange is nginx's If-Range test: whether the ranges r asks for apply
// to a response with etag and lastMod (they do without If-Range).
func ifRange(r *request, etag, lastMod []byte) bool {
	v, ok := findHeader(nil, r.h1.Headers, "if-range")
	if !ok {
		return true
	}
	if len(v) >= 2 && v[len(v)-1] == '"' {
		return etag != nil && string(v) == string(etag)
	}
	t, ok := parseHTTPTime(v)
	lm, _ := parseHTTPTime(lastMod)
	return ok && t == lm
}

// Results of parseRangeSpec.
const (
	rangeOK = iota
	rangeUnsatisfiable
	rangeDeclined // the whole file is sent
)

// parseRangeSpec parses the byte ranges after "bytes=" as nginx's
// ngx_http_range_parse, allowing at most max ranges.
func parseRangeSpec(p []byte, size int64, max int) ([]byteRange, int) {
	const maxOff = 1<<63 - 1
	const cutoff, cutlim = maxOff / 10, maxOff % 10
	var ranges []byteRange
	var total int64
	at := func(i int) byte {
		if i < len(p) {
			return p[i]
		}
		return 0
	}
	digit := func(b byte) bool { return b >= '0' && b <= '9' }
	i := 0
	left := max
	for {
		var start, end int64
		suffix := false
		for at(i) == ' ' {
			i++
		}
		if at(i) != '-' {
			if !digit(at(i)) {
				return nil, rangeUnsatisfiable
			}
			for digit(at(i)) {
				d := int64(at(i) - '0')
				if start >= cutoff && (start > cutoff || d > cutlim) {
					return nil, rangeUnsatisfiable
				}
				start = start*10 + d
				i++
			}
			for at(i) == ' ' {
				i++
			}
			if at(i) != '-' {
				return nil, rangeUnsatisfiable
			}
			i++
			for at(i) == ' ' {
				i++
			}
			if at(i) == ',' || at(i) == 0 {
				end = size
				goto found
			}
		} else {
			suffix = true
			i++
		}
		if !digit(at(i)) {
			return nil, rangeUnsatisfiable
		}
		for digit(at(i)) {
			d := int64(at(i) - '0')
			if end >= cutoff && (end > cutoff || d > cutlim) {
				return nil, rangeUnsatisfiable
			}
			end = end*10 + d
			i++
		}
		for at(i) == ' ' {
			i++
		}
		if at(i) != ',' && at(i) != 0 {
			return nil, rangeUnsatisfiable
		}
		if suffix {
			if end < size {
				start = size - end
			} else {
				start = 0
			}
			end = size - 1
		}
		if end >= size {
			end = size
		} else {
			end++
		}
	found:
		if start < end {
			ranges = append(ranges, byteRange{start, end})
			if total > maxOff-(end-start) {
				return nil, rangeUnsatisfiable
			}
			total += end - start
			if left == 0 {
				return nil, rangeDeclined
			}
			left--
		} else if start == 0 {
			return nil, rangeDeclined
		}
		if at(i) != ',' {
			break
		}
		i++
	}
	if len(ranges) == 0 {
		return nil, rangeUnsatisfiable
	}
	if total > size {
		return nil, rangeDeclined
	}
	return ranges, rangeOK
}
