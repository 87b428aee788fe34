package h1

// SetGet makes r a GET request (nginx's subrequests are GET unless their
// module says otherwise): Method and IsHead change, nothing else.
func (r *Request) SetGet() {
	r.Method = []byte("GET")
	r.method = methodOther
}

// CopyTo makes dst a copy of r that shares no memory with r or with the
// buffer r was parsed from, so that it can outlive them (a request served
// in the background). Only the exported fields and IsHead are kept: dst
// cannot resume parsing. dst keeps its own header array, if it has one.
func (r *Request) CopyTo(dst *Request) {
	n := len(r.Method) + len(r.Target) + len(r.RequestURI) + len(r.Path) + len(r.Args) +
		len(r.URI) + len(r.Proto) + len(r.Host) + len(r.HostName) + len(r.Upgrade)
	for i := range r.Headers {
		n += len(r.Headers[i].Name) + len(r.Headers[i].Value)
	}
	buf := make([]byte, 0, n)
	cp := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		s := len(buf)
		buf = append(buf, b...)
		return buf[s:len(buf):len(buf)]
	}
	hdrs, scratch := dst.hdrs, dst.scratch[:0] // dst's own arrays are kept
	*dst = Request{
		Method: cp(r.Method), Target: cp(r.Target), RequestURI: cp(r.RequestURI), Path: cp(r.Path),
		Args: cp(r.Args), URI: cp(r.URI), Proto: cp(r.Proto), Major: r.Major, Minor: r.Minor,
		Host: cp(r.Host), HostName: cp(r.HostName),
		ContentLength: r.ContentLength, Chunked: r.Chunked, KeepAlive: r.KeepAlive, Conn: r.Conn,
		Upgrade: cp(r.Upgrade), ExpectContinue: r.ExpectContinue, HeadLen: r.HeadLen,
		qpos: -1, pathOff: -1, method: r.method,
	}
	dst.hdrs, dst.scratch = hdrs, scratch
	if hdrs != nil && hdrs != r.hdrs && len(r.Headers) <= len(hdrs) {
		dst.Headers = hdrs[:len(r.Headers)]
	} else {
		dst.Headers = make([]Header, len(r.Headers))
	}
	for i, h := range r.Headers {
		dst.Headers[i] = Header{Name: cp(h.Name), Value: cp(h.Value)}
	}
}
