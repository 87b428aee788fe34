package httpproxy

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/httpproxy/h1"
	"github.com/sluicelb/sluice/vars"
)

// userid (ngx_http_userid_module): a cookie that identifies clients. Its
// value is 16 bytes in base64, four 32-bit words: a service number (or
// the server's IPv4 address), the time it was made, a number of the
// process and a sequence number. Version 1 ("userid v1") writes the
// words in host order (little-endian, as nginx on x86), version 2
// ("userid on") in network order. $uid_got and $uid_set print each word
// as nginx does on a little-endian machine: 8 upper-case hexadecimal
// digits of its bytes read little-endian.

// useridConf is the compiled userid configuration of a location.
type useridConf struct {
	mode       string // config.UserIDLog, UserIDV1 or UserIDOn
	service    uint32
	hasService bool
	name       []byte
	tail       []byte // "; domain=...; path=...; secure..." after the expiry
	expires    int64
	p3p        []byte
	mark       byte
	reset      vars.Var // $uid_reset
}

// useridState is the identifier of one request: the cookie the client
// sent (got) and the one to send (set), found once per request.
type useridState struct {
	done    bool     // the request's cookie was looked for
	got     [16]byte // the identifier the client sent; got[12:16] zero for none
	set     [16]byte // the identifier to send; set[12:16] zero for none
	cookie  []byte   // the cookie's value as sent
	reset   bool     // $uid_reset asked for a new identifier
	created bool     // createUID ran
}

// The state of nginx's ngx_http_userid_init_worker and its sequencers.
var (
	uidStart = func() uint32 {
		usec := uint32(time.Now().Nanosecond() / 1000)
		return usec/20<<16 | uint32(os.Getpid())
	}()
	uidSeqV1 atomic.Uint32
	uidSeqV2 atomic.Uint32
)

func init() {
	uidSeqV1.Store(1)
	uidSeqV2.Store(0x03030302)
}

// nextSeqV2 returns the next version 2 sequence number: from 0x03030302
// by 0x100, starting again there when it wraps.
func nextSeqV2() uint32 {
	for {
		cur := uidSeqV2.Load()
		next := cur + 0x100
		if next < 0x03030302 {
			next = 0x03030302
		}
		if uidSeqV2.CompareAndSwap(cur, next) {
			return cur
		}
	}
}

// buildUserID compiles u; nil when userid is off.
func (p *proxy) buildUserID(u *config.HTTPUserID, pos string) (*useridConf, error) {
	if u.Mode == config.UserIDOff {
		return nil, nil
	}
	uc := &useridConf{mode: u.Mode, hasService: u.HasService, service: uint32(u.Service),
		name: []byte("uid"), expires: u.Expires, p3p: []byte(u.P3P), mark: u.Mark}
	if u.HasName {
		uc.name = []byte(u.Name)
	}
	if u.Domain != "" {
		uc.tail = append(uc.tail, "; domain="+u.Domain...)
	}
	path := "/"
	if u.HasPath {
		path = u.Path
	}
	uc.tail = append(uc.tail, "; path="+path...)
	for _, f := range []struct {
		bit  uint8
		text string
	}{{config.UserIDSecure, "; secure"}, {config.UserIDHTTPOnly, "; httponly"},
		{config.UserIDSameSiteStrict, "; samesite=strict"}, {config.UserIDSameSiteLax, "; samesite=lax"},
		{config.UserIDSameSiteNone, "; samesite=none"}} {
		if u.Flags&f.bit != 0 {
			uc.tail = append(uc.tail, f.text...)
		}
	}
	var err error
	if uc.reset, err = p.tab.Ref("uid_reset", pos); err != nil {
		return nil, vars.NginxError(err)
	}
	return uc, nil
}

// userIDOf returns the userid configuration of r's location, or nil.
func userIDOf(r *request) *useridConf {
	if r.loc == nil || r.loc.mods == nil {
		return nil
	}
	return r.loc.mods.uid
}

// getUID is nginx's ngx_http_userid_get_uid: it reads the identifier of
// the client's cookie once per request. A cookie shorter than 22
// characters or not in base64 is logged (at error) and ignored.
func (c *conn) getUID(r *request, uc *useridConf) *useridState {
	st := &r.mods.uid
	if st.done {
		return st
	}
	st.done = true
	val, header, ok := multiHeaderValue(r, "cookie", uc.name)
	if !ok {
		return st
	}
	st.cookie = append(st.cookie[:0], val...)
	if len(val) < 22 {
		c.logf(r.srv, errlog.LevelError, `client sent too short userid cookie "`+string(header)+`"`)
		return st
	}
	if _, ok := decodeBase64(st.got[:], val[:22], &base64StdValues); !ok {
		c.logf(r.srv, errlog.LevelError, `client sent invalid userid cookie "`+string(header)+`"`)
	}
	return st
}

// createUID is nginx's ngx_http_userid_create_uid: it decides the
// identifier to send, once per request. A client with a valid cookie gets
// none, unless $uid_reset is set (neither empty nor "0": a new one; "log"
// logs the reset), or userid_mark is set and the cookie lacks the mark
// (the same one, marked).
func (c *conn) createUID(r *request, st *useridState, uc *useridConf) {
	if st.created {
		return
	}
	st.created = true
	if !uidZero(st.got[:]) {
		v, _ := c.h.p.tab.Get(r.mods.buf[:0], r, uc.reset)
		r.mods.buf = v
		if len(v) == 0 || len(v) == 1 && v[0] == '0' {
			if uc.mark == 0 || len(st.cookie) > 23 && st.cookie[22] == uc.mark && st.cookie[23] == '=' {
				return
			}
			st.set = st.got
			return
		}
		st.reset = true
		if string(v) == "log" {
			c.logf(r.srv, errlog.LevelNotice, fmt.Sprintf(`userid cookie "%s=%s" was reset`, uc.name, appendUIDHex(nil, &st.got)))
		}
	}
	now := uint32(c.h.p.now().Unix())
	w := st.set[:]
	if uc.mode == config.UserIDV1 {
		binary.LittleEndian.PutUint32(w[0:], uc.service) // 0 without userid_service
		binary.LittleEndian.PutUint32(w[4:], now)
		binary.LittleEndian.PutUint32(w[8:], uidStart)
		binary.LittleEndian.PutUint32(w[12:], uidSeqV1.Add(0x100)-0x100)
		return
	}
	switch a := c.local.Addr(); {
	case uc.hasService:
		binary.BigEndian.PutUint32(w[0:], uc.service)
	case c.unix || !a.IsValid():
		binary.BigEndian.PutUint32(w[0:], 0)
	default:
		b := a.As16() // the last 4 bytes: IPv4, or those of IPv6 as nginx takes them
		copy(w[0:4], b[12:16])
	}
	binary.BigEndian.PutUint32(w[4:], now)
	binary.BigEndian.PutUint32(w[8:], uidStart)
	binary.BigEndian.PutUint32(w[12:], nextSeqV2())
}

// uidZero reports whether the last word of an identifier is zero: nginx
// takes such an identifier for none.
func uidZero(uid []byte) bool { return binary.LittleEndian.Uint32(uid[12:]) == 0 }

// appendUIDHex appends the four words of uid as nginx's "%08XD" prints
// them on a little-endian machine.
func appendUIDHex(dst []byte, uid *[16]byte) []byte {
	for i := 0; i < 16; i += 4 {
		w := strconv.FormatUint(uint64(binary.LittleEndian.Uint32(uid[i:])), 16)
		for j := len(w); j < 8; j++ {
			dst = append(dst, '0')
		}
		for _, ch := range []byte(w) {
			if ch >= 'a' {
				ch -= 'a' - 'A'
			}
			dst = append(dst, ch)
		}
	}
	return dst
}

// appendUserID is nginx's userid header filter, run for every response
// of a client's request (not of subrequests) in a location with userid v1
// or on: it appends the Set-Cookie header (and P3P) when createUID made
// an identifier to send.
func (c *conn) appendUserID(dst []byte, r *request, uc *useridConf) []byte {
	if c.sub || uc.mode == config.UserIDLog {
		return dst
	}
	st := c.getUID(r, uc)
	c.createUID(r, st, uc)
	if uidZero(st.set[:]) {
		return dst
	}
	dst = append(dst, "Set-Cookie: "...)
	dst = append(dst, uc.name...)
	dst = append(dst, '=')
	if uidZero(st.got[:]) || st.reset {
		start := len(dst)
		dst = base64.StdEncoding.AppendEncode(dst, st.set[:])
		if uc.mark != 0 {
			dst[start+22] = uc.mark
		}
	} else {
		dst = append(dst, st.cookie[:22]...)
		dst = append(dst, uc.mark, '=')
	}
	switch {
	case uc.expires == config.UserIDMaxExpires:
		dst = append(dst, "; expires=Thu, 31-Dec-37 23:55:55 GMT"...)
	case uc.expires != 0:
		dst = append(dst, "; expires="...)
		dst = appendCookieTime(dst, time.Unix(c.h.p.now().Unix()+uc.expires, 0))
	}
	dst = append(dst, uc.tail...)
	dst = append(dst, '\r', '\n')
	if len(uc.p3p) > 0 {
		dst = append(dst, "P3P: "...)
		dst = append(dst, uc.p3p...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// appendCookieTime appends t as nginx's ngx_http_cookie_time writes it:
// "Thu, 31-Dec-37 23:55:55 GMT", the year in two digits up to 2037.
func appendCookieTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	if t.Year() > 2037 {
		return t.AppendFormat(dst, "Mon, 02-Jan-2006 15:04:05 GMT")
	}
	return t.AppendFormat(dst, "Mon, 02-Jan-06 15:04:05 GMT")
}

// multiHeaderValue is nginx 1.22's ngx_http_parse_multi_header_lines for
// the request headers called name (lower case): the value of the first
// "name=value" item (the name compared without regard to case) of their
// ";"- or ","-separated lists, up to the next ";". It returns the value
// and the whole header it was found in.
func multiHeaderValue(r *request, name string, item []byte) (val, header []byte, ok bool) {
	hs := r.h1.Headers
	for i := range hs {
		h := &hs[i]
		if len(h.Name) != len(name) || !equalFoldLower(h.Name, name) || len(item) > len(h.Value) {
			continue
		}
		v := h.Value
		p := 0
		for p < len(v) {
			if len(v)-p >= len(item) && h1.EqualFold(v[p:p+len(item)], item) {
				q := p + len(item)
				for q < len(v) && v[q] == ' ' {
					q++
				}
				if q < len(v) && v[q] == '=' {
					q++
					for q < len(v) && v[q] == ' ' {
						q++
					}
					end := q
					for end < len(v) && v[end] != ';' {
						end++
					}
					return v[q:end], v, true
				}
				if q < len(v) {
					q++ // nginx steps over the character that is not "="
				}
				p = q
			}
			for p < len(v) {
				ch := v[p]
				p++
				if ch == ';' || ch == ',' {
					break
				}
			}
			for p < len(v) && v[p] == ' ' {
				p++
			}
		}
	}
	return nil, nil, false
}

// userIDVars returns the definitions of $uid_got, $uid_set and
// $uid_reset.
func userIDVars() []struct {
	name  string
	get   vars.Getter[*request]
	flags vars.Flags
} {
	return []struct {
		name  string
		get   vars.Getter[*request]
		flags vars.Flags
	}{
		{"uid_got", func(dst []byte, r *request) ([]byte, bool) {
			uc := userIDOf(r)
			if uc == nil {
				return dst, false
			}
			st := r.c.getUID(r, uc)
			if uidZero(st.got[:]) {
				return dst, false
			}
			dst = append(dst, uc.name...)
			dst = append(dst, '=')
			return appendUIDHex(dst, &st.got), true
		}, 0},
		{"uid_set", func(dst []byte, r *request) ([]byte, bool) {
			uc := userIDOf(r)
			if uc == nil || uc.mode == config.UserIDLog {
				return dst, false
			}
			st := r.c.getUID(r, uc)
			r.c.createUID(r, st, uc)
			if uidZero(st.set[:]) {
				return dst, false
			}
			dst = append(dst, uc.name...)
			dst = append(dst, '=')
			return appendUIDHex(dst, &st.set), true
		}, 0},
		{"uid_reset", func(dst []byte, r *request) ([]byte, bool) { return dst, true }, vars.Changeable},
	}
}
