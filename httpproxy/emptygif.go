package httpproxy

import (
	"strconv"
)

// empty_gif (ngx_http_empty_gif_module): a location that answers every GET
// and HEAD with a 1x1 transparent GIF, the image tracking pixels point to.

// emptyGIF is the 43-byte image nginx sends, byte for byte.
var emptyGIF = []byte{
	'G', 'I', 'F', '8', '9', 'a', // header
	0x01, 0x00, 0x01, 0x00, // logical screen width and height: 1x1
	0x80,             // global 1-bit color table
	0x01,             // background color #1
	0x00,             // no aspect ratio
	0x00, 0x00, 0x00, // color #0: black
	0xff, 0xff, 0xff, // color #1: white
	0x21, 0xf9, 0x04, // graphic control extension, 4 bytes
	0x01,       // transparent color is given
	0x00, 0x00, // delay time
	0x01,                   // transparent color #1
	0x00,                   // block terminator
	0x2c,                   // image separator
	0x00, 0x00, 0x00, 0x00, // image left and top position
	0x01, 0x00, 0x01, 0x00, // image width and height
	0x00,       // no local color table, not interlaced
	0x02,       // LZW minimum code size
	0x02,       // block size
	0x4c, 0x01, // image data
	0x00, // block terminator
	0x3b, // trailer
}

// emptyGIFTime is the Last-Modified time nginx gives the image, in Unix
// seconds ("Mon, 28 Sep 1970 06:00:00 GMT").
const emptyGIFTime = 23349600

// emptyGIFLastMod is emptyGIFTime as an HTTP date.
var emptyGIFLastMod = []byte("Mon, 28 Sep 1970 06:00:00 GMT")

// sendEmptyGIF answers r as nginx's empty_gif handler: 405 for methods
// other than GET and HEAD; else the image, with Last-Modified (for a 200),
// under nginx's not_modified filter (If-Modified-Since and the other
// conditional headers), and with expires, add_header, charset and gzip
// applied as to any response. As error page it keeps the error's status.
func (c *conn) sendEmptyGIF(r *request) bool {
	c.discardBody(r)
	if m := bstr(r.h1.Method); m != "GET" && m != "HEAD" {
		return c.sendError(r, 405)
	}
	status := 200
	if r.ep.errStatus != 0 {
		status = r.ep.errStatus
	}
	var lastMod []byte
	if status == 200 {
		switch conditional(r, r.loc.static.ims, emptyGIFTime, nil) {
		case 412:
			return c.sendError(r, 412)
		case 304:
			return c.sendNotModified(r, emptyGIFLastMod, nil)
		}
		lastMod = emptyGIFLastMod // nginx's header filter drops it for others
	}
	c.keepAliveOK(r)
	r.status = status
	c.setExpires(r, r.loc.exp, status, lastMod)
	ctype := []byte("image/gif")
	if cs := r.loc.charset; cs != nil {
		if v, ok := c.charsetCT(r, cs, status, ctype, false); ok {
			ctype = append([]byte(nil), v...)
		}
	}
	var gzVary, gz bool
	if g := r.loc.gz; g != nil {
		rh := respHeaders{ctype: ctype, lastMod: lastMod, hasLastMod: lastMod != nil}
		r.exp.patch(&rh)
		gzVary, gz = c.gzipCheck(r, g, status, &rh, int64(len(emptyGIF)))
		if gz && !c.chunked(r, r.loc) && !r.h1.IsHead() {
			r.keepAlive = false // close-delimited
		}
	}
	out := c.appendHeadStart(c.req.out[:0], r, status, nil)
	out = append(out, "Content-Type: "...)
	out = append(out, ctype...)
	out = append(out, '\r', '\n')
	if gz {
		if c.chunked(r, r.loc) && !r.h1.IsHead() {
			out = append(out, "Transfer-Encoding: chunked\r\n"...)
		}
	} else {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, int64(len(emptyGIF)), 10)
		out = append(out, '\r', '\n')
	}
	if lastMod != nil {
		out = append(out, "Last-Modified: "...)
		out = append(out, lastMod...)
		out = append(out, '\r', '\n')
	}
	out = appendGzipHeaders(out, gzVary, gz)
	out = c.appendHeadEnd(out, r, status)
	head := len(out)
	r.outHead = append(r.outHead[:0], out...)
	switch {
	case r.h1.IsHead():
	case gz:
		out = gzipBody(r, out, emptyGIF, r.loc.gz.level, c.chunked(r, r.loc))
	default:
		out = append(out, emptyGIF...)
	}
	return c.writeWhole(r, out, head)
}
