package httpproxy

import (
	"crypto/md5"
	"math"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/vars"
)

// secure_link (ngx_http_secure_link_module): $secure_link tells whether
// the link a request carries was made with a secret the server knows,
// and whether it has expired.

// secureLinkConf is the compiled secure_link configuration of a location.
type secureLinkConf struct {
	link, md5 *vars.Template[*request] // secure_link, secure_link_md5; nil when not set
	secret    []byte                   // secure_link_secret
	hasSecret bool
}

// buildSecureLink compiles sl; nil when none of its directives applies.
func (p *proxy) buildSecureLink(sl *config.HTTPSecureLink, pos string) (*secureLinkConf, error) {
	if !sl.HasLink && !sl.HasMD5 && !sl.HasSecret {
		return nil, nil
	}
	sc := &secureLinkConf{secret: []byte(sl.Secret), hasSecret: sl.HasSecret}
	var err error
	if sl.HasLink {
		if sc.link, err = p.tab.Compile(sl.Link, pos); err != nil {
			return nil, vars.NginxError(err)
		}
	}
	if sl.HasMD5 {
		if sc.md5, err = p.tab.Compile(sl.MD5, pos); err != nil {
			return nil, vars.NginxError(err)
		}
	}
	return sc, nil
}

// secureLinkVar is $secure_link, as nginx computes it with the settings
// of the request's location: with secure_link_secret, the part of the
// request URI after "/prefix/hash/" when hash is the MD5 of that part and
// the secret; otherwise "1" when the hash in secure_link's value (before
// an optional ",expires") is the MD5 of secure_link_md5's value, "0" when
// it is but the link has expired, and not found in every other case.
// Evaluating it sets $secure_link_expires, when the value has an expiry.
func secureLinkVar(dst []byte, r *request) ([]byte, bool) {
	if r.loc == nil || r.loc.mods == nil || r.loc.mods.secureLink == nil {
		return dst, false
	}
	sc := r.loc.mods.secureLink
	if sc.hasSecret {
		return secureLinkOld(dst, r, sc)
	}
	if sc.link == nil || sc.md5 == nil {
		return dst, false
	}
	var buf [64]byte
	val := sc.link.Append(buf[:0], r)
	var expires int64
	for i, b := range val {
		if b != ',' {
			continue
		}
		exp := val[i+1:]
		val = val[:i]
		var ok bool
		if expires, ok = parseTime(exp); !ok || expires <= 0 {
			return dst, false
		}
		r.mods.slExpires = append(r.mods.slExpires[:0], exp...)
		r.mods.slHasExpires = true
		break
	}
	if len(val) > 24 {
		return dst, false
	}
	var hash [18]byte
	n, ok := decodeBase64(hash[:], val, &base64URLValues)
	if !ok || n != 16 {
		return dst, false
	}
	text := sc.md5.Append(r.mods.buf[:0], r)
	r.mods.buf = text
	if md5.Sum(text) != [16]byte(hash[:16]) {
		return dst, false
	}
	if expires != 0 && expires < r.c.h.p.now().Unix() {
		return append(dst, '0'), true
	}
	return append(dst, '1'), true
}

// secureLinkOld is $secure_link with secure_link_secret: the request URI
// (as the client sent it, arguments included) is "/prefix/hash/link",
// hash being 32 hexadecimal digits of the MD5 of link and the secret; the
// value is link.
func secureLinkOld(dst []byte, r *request, sc *secureLinkConf) ([]byte, bool) {
	uri := r.h1.RequestURI
	if len(uri) == 0 {
		return dst, false
	}
	p := uri[1:]
	i := indexByte(p, '/')
	if i < 0 {
		return dst, false
	}
	p = p[i+1:]
	j := indexByte(p, '/')
	if j < 0 {
		return dst, false
	}
	hexHash, link := p[:j], p[j+1:]
	if len(hexHash) != 32 || len(link) == 0 {
		return dst, false
	}
	h := md5.New()
	h.Write(link)
	h.Write(sc.secret)
	var sum [16]byte
	h.Sum(sum[:0])
	for k := 0; k < 16; k++ {
		hi, lo := hexHash[2*k], hexHash[2*k+1]
		if !isHex(hi) || !isHex(lo) || unhex(hi)<<4|unhex(lo) != sum[k] {
			return dst, false
		}
	}
	return append(dst, link...), true
}

// indexByte returns the index of the first c in b, or -1.
func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// parseTime is nginx's ngx_atotm: decimal digits only, at least one, no
// overflow.
func parseTime(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// base64URLValues and base64StdValues map a character of base64url or
// base64 to its value, 0xff for characters outside the alphabet.
var (
	base64URLValues = base64Values("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
	base64StdValues = base64Values("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
)

// base64Values makes the table of an alphabet.
func base64Values(alphabet string) (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}

// decodeBase64 decodes src into dst with the table of an alphabet, as
// nginx's ngx_decode_base64 and ngx_decode_base64url: the text ends at the first "=" (what follows is ignored), a character
// outside the alphabet before it fails, a length of 4n+1 fails, and the
// unused bits of the last character are ignored. It returns the number of
// bytes written; dst must hold len(src)*3/4 bytes.
func decodeBase64(dst, src []byte, values *[256]byte) (int, bool) {
	n := 0
	for n < len(src) && src[n] != '=' {
		if values[src[n]] == 0xff {
			return 0, false
		}
		n++
	}
	if n%4 == 1 {
		return 0, false
	}
	s, d := src[:n], 0
	v := func(i int) byte { return values[s[i]] }
	for len(s) > 3 {
		dst[d] = v(0)<<2 | v(1)>>4
		dst[d+1] = v(1)<<4 | v(2)>>2
		dst[d+2] = v(2)<<6 | v(3)
		s, d = s[4:], d+3
	}
	if len(s) > 1 {
		dst[d] = v(0)<<2 | v(1)>>4
		d++
	}
	if len(s) > 2 {
		dst[d] = v(1)<<4 | v(2)>>2
		d++
	}
	return d, true
}
