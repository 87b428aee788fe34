package h1

import (
	"testing"
)

// TestCopyTo checks that a copied request keeps its fields and IsHead
// when the buffer it was parsed from is overwritten, and that SetGet
// makes a GET of it.
func TestCopyTo(t *testing.T) {
	buf := []byte("HEAD /a%20b/?x=1 HTTP/1.1\r\nHost: Example.com\r\nX-One: 1\r\nContent-Length: 0\r\n\r\n")
	var r, c Request
	r.Reset()
	if _, err := ParseRequest(buf, &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	var d Request
	d.Reset() // a request of the pool: its header array is reused
	r.CopyTo(&c)
	r.CopyTo(&d)
	if &d.Headers[0] == &r.Headers[0] {
		t.Fatal("the copy shares the header array")
	}
	for i := range buf {
		buf[i] = 'z'
	}
	if string(c.Method) != "HEAD" || !c.IsHead() || string(c.RequestURI) != "/a%20b/?x=1" || string(c.URI) != "/a b/" ||
		string(c.Args) != "x=1" || string(c.HostName) != "example.com" || string(c.Get("x-one")) != "1" || c.ContentLength != 0 {
		t.Errorf("copy: %q %v %q %q %q %q %q %d", c.Method, c.IsHead(), c.RequestURI, c.URI, c.Args, c.HostName, c.Get("x-one"), c.ContentLength)
	}
	if string(d.Get("host")) != "Example.com" || string(d.URI) != "/a b/" {
		t.Errorf("copy into a pooled request: %q %q", d.Get("host"), d.URI)
	}
	c.SetGet()
	if string(c.Method) != "GET" || c.IsHead() {
		t.Errorf("SetGet: %q %v", c.Method, c.IsHead())
	}
}
