package h1

// normalizePath appends to dst the path p decoded and resolved as nginx
// computes $uri: "%XX" is decoded, and a decoded byte takes part in the
// path syntax ("%2F" is a slash, "%2E" a dot) except "%", "#" and "?",
// which stay literal; "." segments are dropped, ".." segments remove the
// previous one, and going above the root is an error; with merge, runs of
// "/" become one. A malformed escape or a decoded NUL is an error.
func normalizePath(dst, p []byte, merge bool) ([]byte, bool) {
	start := len(dst)
	for i := 0; i < len(p); i++ {
		c := p[i]
		literal := false
		if c == '%' {
			if i+2 >= len(p) {
				return dst, false
			}
			hi, ok1 := unhex(p[i+1])
			lo, ok2 := unhex(p[i+2])
			if !ok1 || !ok2 {
				return dst, false
			}
			i += 2
			c = hi<<4 | lo
			switch c {
			case 0:
				return dst, false
			case '%', '#', '?':
				literal = true
			}
		}
		if c == '/' && !literal {
			var ok, dots bool
			if dst, dots, ok = endSegment(dst, start); !ok {
				return dst, false
			}
			if dots || (merge && len(dst) > start && dst[len(dst)-1] == '/') {
				continue
			}
		}
		dst = append(dst, c)
	}
	dst, _, ok := endSegment(dst, start)
	return dst, ok
}

// endSegment resolves a "." or ".." segment at the end of dst[start:],
// leaving dst ending in "/" and reporting dots in that case.
func endSegment(dst []byte, start int) (out []byte, dots, ok bool) {
	seg := dst[start:]
	n := len(seg)
	switch {
	case n >= 2 && seg[n-1] == '.' && seg[n-2] == '/':
		return dst[:len(dst)-1], true, true
	case n >= 3 && seg[n-1] == '.' && seg[n-2] == '.' && seg[n-3] == '/':
		// Drop "..", then the segment before it.
		j := n - 3 // the slash before ".."
		if j == 0 {
			return dst, false, false
		}
		k := j - 1
		for k >= 0 && seg[k] != '/' {
			k--
		}
		if k < 0 {
			return dst, false, false
		}
		return dst[:start+k+1], true, true
	}
	return dst, false, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c|0x20 && c|0x20 <= 'f':
		return c | 0x20 - 'a' + 10, true
	}
	return 0, false
}
