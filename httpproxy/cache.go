package httpproxy

import (
	"bytes"
	"crypto/md5"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/httpproxy/cache"
	"github.com/sluicelb/sluice/httpproxy/h1"
	"github.com/sluicelb/sluice/vars"
)

// This file is proxy_cache (ngx_http_upstream's cache with
// ngx_http_file_cache): a location with a cache looks the request up
// before it is proxied (cachePass), serves a fresh entry from its file as
// if the file were the upstream connection (serveCached), and stores a
// cacheable response while it streams to the client (cacheResponse, the
// teeConn). Locations without proxy_cache never reach this code: their
// only cost is the check of l.cache in proxyPass.

// The proxy_ignore_headers bits.
const (
	ignXAccelExpires uint16 = 1 << iota
	ignExpires
	ignCacheControl
	ignSetCookie
	ignVary
)

// cacheUpdating is the proxy_cache_use_stale condition "updating"; the
// others are the proxy_next_upstream bits.
const cacheUpdating uint32 = 1 << 31

// cacheConf is the compiled proxy cache of a location.
type cacheConf struct {
	zone        *cache.Zone
	zoneVar     *vars.Template[*request] // proxy_cache with variables
	zones       map[string]*cache.Zone   // the zones zoneVar may name
	key         *vars.Template[*request]
	valid       []config.HTTPCacheValid
	methods     []string
	bypass      []*vars.Template[*request]
	noCache     []*vars.Template[*request]
	minUses     int
	useStale    uint32
	lock        bool
	lockTimeout time.Duration
	lockAge     time.Duration
	revalidate  bool
	background  bool
	convertHead bool
	ignore      uint16
}

// cacheReq is the cache state of one request to a location with a cache.
type cacheReq struct {
	conf   *cacheConf
	zone   *cache.Zone
	on     bool   // the proxyPass under way is the cache's (see proxyPass)
	status string // $upstream_cache_status
	key    [16]byte
	keyTxt []byte
	store  bool // a cacheable response may be stored
	locked bool // this request holds the zone's lock of key

	stale     *os.File   // an expired entry: for use_stale and revalidation
	staleMeta cache.Meta // its header
	revalid   bool       // conditional headers were sent for stale

	getForHead bool // a HEAD request was sent upstream as GET
	single     bool // the response being stored: one range at most
	background bool // the response only fills the cache (background update)
	drain      bool // the client got the head only: read the body into the cache

	w    *cache.Writer
	tee  teeConn
	orig net.Conn // the upstream connection the tee wraps
}

// buildCaches opens the zones of the proxy_cache_path directives.
func (p *proxy) buildCaches(hc *config.HTTP, b *Built) error {
	for _, cp := range hc.CachePaths {
		z, release, err := cache.Acquire(cache.Config{Name: cp.Zone, Dir: cp.Path, Levels: cp.Levels,
			Size: cp.ZoneSize, Inactive: cp.Inactive, MaxSize: cp.MaxSize, Now: p.now,
			Log: func(level, msg string) {
				if level == "notice" {
					p.opts.Log.Info(msg)
				} else {
					p.opts.Log.Error(msg)
				}
			}})
		if err != nil {
			return &config.Error{Msg: `mkdir() "` + cp.Path + `" failed (` + errText(err) + `)`}
		}
		if p.caches == nil {
			p.caches = map[string]*cache.Zone{}
		}
		p.caches[cp.Zone] = z
		b.Closers = append(b.Closers, release)
	}
	return p.tab.Define("upstream_cache_status", func(dst []byte, r *request) ([]byte, bool) {
		if r.cache == nil || r.cache.status == "" {
			return dst, false
		}
		return append(dst, r.cache.status...), true
	}, 0)
}

// buildCache compiles the proxy cache settings of a location.
func (p *proxy) buildCache(l *location, st *config.HTTPSettings, pos string) error {
	pc := st.ProxyCache
	if pc == nil || pc.Zone == "" || l.pass == nil {
		return nil
	}
	cc := &cacheConf{valid: pc.Valid, methods: pc.Methods, minUses: pc.MinUses,
		lock: pc.Lock, lockTimeout: pc.LockTimeout, lockAge: pc.LockAge, revalidate: pc.Revalidate,
		background: pc.BackgroundUpdate, convertHead: pc.ConvertHead}
	if pc.ZoneVar {
		t, err := p.tab.Compile(pc.Zone, pos)
		if err != nil {
			return vars.NginxError(err)
		}
		cc.zoneVar, cc.zones = t, p.caches
	} else if cc.zone = p.caches[pc.Zone]; cc.zone == nil {
		return &config.Error{Msg: `zero size shared memory zone "` + pc.Zone + `"`}
	}
	if pc.Key != "" {
		var err error
		if cc.key, err = p.tab.Compile(pc.Key, pos); err != nil {
			return vars.NginxError(err)
		}
	}
	for _, s := range pc.Bypass {
		t, err := p.tab.Compile(s, pos)
		if err != nil {
			return vars.NginxError(err)
		}
		cc.bypass = append(cc.bypass, t)
	}
	for _, s := range pc.NoCache {
		t, err := p.tab.Compile(s, pos)
		if err != nil {
			return vars.NginxError(err)
		}
		cc.noCache = append(cc.noCache, t)
	}
	for _, s := range pc.UseStale {
		if s == "updating" {
			cc.useStale |= cacheUpdating
		} else {
			cc.useStale |= nuNames[s]
		}
	}
	for _, h := range pc.IgnoreHeaders {
		switch h {
		case "X-Accel-Expires":
			cc.ignore |= ignXAccelExpires
		case "Expires":
			cc.ignore |= ignExpires
		case "Cache-Control":
			cc.ignore |= ignCacheControl
		case "Set-Cookie":
			cc.ignore |= ignSetCookie
		case "Vary":
			cc.ignore |= ignVary
		}
	}
	l.cache = cc
	return nil
}

// predicates reports whether any of ts is neither empty nor "0"
// (ngx_http_test_predicates).
func predicates(r *request, ts []*vars.Template[*request]) bool {
	var buf [64]byte
	for _, t := range ts {
		v := t.Append(buf[:0], r)
		if len(v) > 0 && !(len(v) == 1 && v[0] == '0') {
			return true
		}
	}
	return false
}

// cachePass proxies a request of a location with a cache: it answers from
// the cache when it can, else proxies with r.cache set so that the
// response is stored. It reports whether the client connection may be
// kept.
func (c *conn) cachePass(r *request) bool {
	cc := r.loc.cache
	if !cacheMethod(cc, r.h1.Method) {
		r.cache = &cacheReq{conf: cc}
		return c.proxyPass(r)
	}
	zone := cc.zone
	if cc.zoneVar != nil {
		var ok bool
		if zone, ok = c.cacheZone(r, cc); !ok {
			c.discardBody(r)
			return c.sendError(r, 500)
		}
		if zone == nil {
			r.cache = &cacheReq{conf: cc}
			return c.proxyPass(r)
		}
	}
	rc := &cacheReq{conf: cc, zone: zone, on: true}
	r.cache = rc
	defer c.cacheRelease(r)
	rc.keyTxt = c.cacheKey(r, cc)
	rc.key = cache.Key(rc.keyTxt)
	rc.getForHead = r.h1.IsHead() && cc.convertHead
	if predicates(r, cc.bypass) {
		rc.status, rc.store = "BYPASS", true
		return c.cacheUpstream(r)
	}
	hit := rc.zone.Get(rc.key)
	if hit.File != nil && hit.Meta.Vary != "" {
		if v := variant(r, hit.Meta.Vary); v != hit.Meta.Variant {
			hit.File.Close()
			rc.key = md5.Sum(append(append([]byte(nil), rc.key[:]...), v[:]...))
			hit = rc.zone.Get(rc.key)
		}
	}
	now := c.h.p.now().Unix()
	if hit.File != nil && hit.Meta.Valid >= now {
		rc.status = "HIT"
		return c.serveFresh(r, hit.File, hit.Meta)
	}
	if hit.File != nil {
		// expired: another request may be updating it
		if rc.zone.Updating(rc.key) && cc.useStale&cacheUpdating != 0 {
			rc.status = "UPDATING"
			return c.serveFresh(r, hit.File, hit.Meta)
		}
		rc.stale, rc.staleMeta = hit.File, hit.Meta
		rc.locked, _ = rc.zone.Lock(rc.key, 1<<62)
		rc.store = true
		if cc.background && cc.useStale&cacheUpdating != 0 && rc.locked && r.h1.ContentLength <= 0 && !r.h1.Chunked {
			rc.status = "STALE"
			f := rc.stale
			rc.stale = nil
			ka := c.serveCached(r, f, hit.Meta)
			c.backgroundUpdate(r)
			return ka
		}
		rc.status = "EXPIRED"
		return c.cacheUpstream(r)
	}
	rc.status = "MISS"
	rc.store = hit.Uses >= cc.minUses
	if rc.store && cc.lock {
		deadline := time.Now().Add(cc.lockTimeout)
		for {
			locked, wait := rc.zone.Lock(rc.key, cc.lockAge)
			if locked {
				rc.locked = true
				break
			}
			if !rc.zone.Wait(wait, time.Until(deadline)) {
				rc.store = false // proxy_cache_lock_timeout: proxied, not stored
				break
			}
			if h := rc.zone.Get(rc.key); h.File != nil {
				if h.Meta.Valid >= c.h.p.now().Unix() {
					rc.status = "HIT"
					return c.serveFresh(r, h.File, h.Meta)
				}
				h.File.Close()
			}
		}
	}
	return c.cacheUpstream(r)
}

// serveFresh answers from the cache a request that does not go
// upstream: its body, if any, is discarded first.
func (c *conn) serveFresh(r *request, f *os.File, m cache.Meta) bool {
	c.discardBody(r)
	return c.serveCached(r, f, m)
}

// cacheZone evaluates a proxy_cache with variables
// (ngx_http_upstream_cache_get): nil for an empty value or "off", false
// for a name no proxy_cache_path declares.
func (c *conn) cacheZone(r *request, cc *cacheConf) (*cache.Zone, bool) {
	var buf [64]byte
	v := cc.zoneVar.Append(buf[:0], r)
	if len(v) == 0 || string(v) == "off" {
		return nil, true
	}
	if z := cc.zones[string(v)]; z != nil {
		return z, true
	}
	c.logf(r.srv, errlog.LevelError, `cache "`+string(v)+`" not found`)
	return nil, false
}

// cacheKey evaluates proxy_cache_key, or nginx's built-in key without
// it: the proxy_pass URL's scheme and host as written and the URI sent
// upstream ("http://backend/path?args").
func (c *conn) cacheKey(r *request, cc *cacheConf) []byte {
	if cc.key != nil {
		return cc.key.Append(nil, r)
	}
	l := r.loc
	pc := l.pass
	if pc.url != nil {
		// proxy_pass with variables: the URL evaluated
		return pc.url.Append(nil, r)
	}
	key := append([]byte(nil), pc.prefix...)
	switch {
	case pc.hasURI:
		key = append(key, c.replaceURI(r, l, pc)...)
	case r.ep.internal || r.rw.internal:
		key = append(key, internalURI(r)...)
	default:
		key = append(key, r.h1.RequestURI...)
	}
	return key
}

// cacheUpstream proxies the request with the cache's hooks on (r.cache
// is set, so proxyPass does not come back here).
func (c *conn) cacheUpstream(r *request) bool { return c.proxyPass(r) }

// cacheRelease ends the cache's part of a request: the lock is released,
// an unfinished entry removed and the stale file closed.
func (c *conn) cacheRelease(r *request) {
	rc := r.cache
	rc.on = false
	if rc.w != nil {
		rc.w.Abort()
		rc.w = nil
	}
	if rc.stale != nil {
		rc.stale.Close()
		rc.stale = nil
	}
	if rc.locked {
		rc.zone.Unlock(rc.key)
		rc.locked = false
	}
}

// backgroundUpdate fetches an expired entry again after the stale one was
// sent (proxy_cache_background_update): the response only fills the
// cache.
func (c *conn) backgroundUpdate(r *request) {
	rc := r.cache
	rc.background = true
	status, outHead, headSent, bodySent := r.status, r.outHead, r.headSent, r.bodySent
	ka := r.keepAlive
	r.outHead = nil
	c.proxyPass(r)
	r.status, r.outHead, r.headSent, r.bodySent, r.keepAlive = status, outHead, headSent, bodySent, ka
}

// cacheMethod reports whether proxy_cache_methods lists m.
func cacheMethod(cc *cacheConf, m []byte) bool {
	for _, x := range cc.methods {
		if string(m) == x {
			return true
		}
	}
	return false
}

// variant hashes the request header values that the Vary names list.
func variant(r *request, names string) [16]byte {
	h := md5.New()
	var buf []byte
	for _, n := range strings.Split(names, ",") {
		buf, _ = findHeader(buf[:0], r.h1.Headers, n)
		h.Write([]byte(n))
		h.Write([]byte{':'})
		h.Write(buf)
		h.Write([]byte{'\n'})
	}
	var v [16]byte
	h.Sum(v[:0])
	return v
}

// cacheHidden are the client headers not sent upstream from a location
// with a cache (nginx's ngx_http_proxy_cache_headers).
var cacheHidden = []string{"if-modified-since", "if-unmodified-since", "if-none-match", "if-match", "range", "if-range"}

// cacheForward adjusts the upstream request of a location with a cache:
// HEAD goes as GET (proxy_cache_convert_head), the client's conditional
// and range headers are dropped, and an expired entry is revalidated
// (proxy_cache_revalidate).
func (c *conn) cacheForward(r *request, f *h1.Forward) {
	rc := r.cache
	if rc.getForHead {
		f.Method = []byte("GET")
	}
	f.Hide = cacheHidden
	if rc.stale != nil && rc.conf.revalidate {
		m := &rc.staleMeta
		if m.LastMod >= 0 {
			v := []byte(time.Unix(m.LastMod, 0).UTC().Format(http.TimeFormat))
			f.Set = append(f.Set, h1.Header{Name: []byte("If-Modified-Since"), Value: v})
			rc.revalid = true
		}
		if m.ETag != "" {
			f.Set = append(f.Set, h1.Header{Name: []byte("If-None-Match"), Value: []byte(m.ETag)})
			rc.revalid = true
		}
	}
}

// serveCached sends a cache entry: its file stands for the upstream
// connection, so the response goes through the same filters as a proxied
// one. The file is closed.
func (c *conn) serveCached(r *request, f *os.File, m cache.Meta) bool {
	l := r.loc
	fc := &fileConn{f: f, off: m.BodyStart}
	defer fc.Close()
	uc := &upConn{nc: fc}
	if r.tb == nil {
		r.tb = getBuf(upBufSize)
	}
	tb := r.tb
	rc := r.cache
	getForHead := rc.getForHead
	rc.getForHead = false // the entry is parsed as the client's method asks
	n, have, err := c.readResponseHead(r, l, uc, tb, 0, nil)
	rc.getForHead = getForHead
	if err != nil {
		c.logf(r.srv, errlog.LevelCrit, "cache file \""+f.Name()+"\" has broken header")
		r.cache.zone.Remove(r.cache.key)
		return c.sendError(r, 500)
	}
	if preconditionFailed(r) { // cache_range.go
		return c.sendError(r, 412)
	}
	notModified(r)
	if l.sub != nil && c.subProxied(r, l) {
		// a filtered response has no length: no ranges (subfilter.go)
	} else if rr := applyRanges(r, f, m.BodyStart+int64(n), !rc.single); rr != nil {
		uc.nc = rr
		have = n // the body comes from the ranges
		if r.resp.Body != h1.BodyNone {
			r.resp.Body = h1.BodyLength
		}
	}
	r.haveResp = true
	r.tries = append(r.tries, try{connect: -1, header: -1, response: -1})
	_, clientOK, _ := c.sendResponse(r, l, uc, tb, n, have)
	r.tries = r.tries[:len(r.tries)-1]
	if !clientOK {
		r.keepAlive = false
		return false
	}
	return r.keepAlive
}

// notModified is nginx's not_modified filter for a response of a
// location with a cache: a 200 whose Last-Modified or ETag matches the
// client's If-Modified-Since or If-None-Match becomes a 304 without
// Content-Type, Content-Length, Content-Encoding and Accept-Ranges. It
// reports whether it did.
func notModified(r *request) bool {
	if cachedConditional(r) != 304 { // cache_range.go
		return false
	}
	resp := &r.resp
	resp.Status = 304
	resp.Reason = nil
	resp.Body = h1.BodyNone
	resp.ContentLength = -1
	hs := resp.Headers[:0]
	for _, h := range resp.Headers {
		if equalFoldLower(h.Name, "content-type") || equalFoldLower(h.Name, "content-length") ||
			equalFoldLower(h.Name, "content-encoding") || equalFoldLower(h.Name, "accept-ranges") {
			continue
		}
		hs = append(hs, h)
	}
	resp.Headers = hs
	return true
}

// cacheResponse runs when the upstream response head has arrived, for a
// request whose proxyPass is the cache's. It answers a revalidation
// (304) and the statuses proxy_cache_use_stale names from the stale
// entry, and else decides whether the response is stored, starting the
// entry file and wrapping the upstream connection so that the body is
// written to it as it streams. done says the request was answered here;
// ka is then whether the client connection may be kept.
func (c *conn) cacheResponse(r *request, uc *upConn, tb []byte, n, have int) (done, ka bool) {
	rc := r.cache
	cc := rc.conf
	resp := &r.resp
	if rc.stale != nil && rc.revalid && resp.Status == 304 {
		// revalidated: the entry is fresh again
		valid, ok := c.validity(r, cc, storedStatus(rc.stale, rc.staleMeta), true)
		if ok {
			rc.zone.Extend(rc.key, valid)
		}
		rc.status = "REVALIDATED"
		f := rc.stale
		rc.stale = nil
		return true, c.serveCached(r, f, rc.staleMeta)
	}
	if rc.stale != nil && !rc.background {
		if cond := statusCond(resp.Status); cond != 0 && cc.useStale&cond != 0 {
			rc.status = "STALE"
			f := rc.stale
			rc.stale = nil
			return true, c.serveCached(r, f, rc.staleMeta)
		}
	}
	if interceptable(r.loc, resp.Status) {
		// proxy_intercept_errors: an error page replaces the response,
		// and what it proxies is not stored under this key
		rc.on = false
		return false, false
	}
	if rc.store && !predicates(r, cc.noCache) && !(resp.Status == 206) {
		if valid, ok := c.validity(r, cc, resp.Status, false); ok {
			if !rc.background && preconditionFailed(r) {
				return true, c.sendError(r, 412) // and the response is not stored
			}
			c.cacheStart(r, uc, tb, n, have, valid)
		}
	}
	if rc.orig != nil && !rc.background && rangeAsked(r) {
		// a range of a response being stored: nginx cuts one range from
		// it as it goes by; sluice stores it whole first and cuts the
		// range from the entry
		rc.drain = true
		c.cacheFinish(r, r.loc, uc, tb, false, true, nil)
		if h := rc.zone.Get(rc.key); h.File != nil {
			rc.single = true
			return true, c.serveCached(r, h.File, h.Meta)
		}
		return true, c.sendError(r, 502)
	}
	if rc.background {
		// only the cache wants this response
		if rc.orig != nil {
			rc.drain = true
			c.cacheFinish(r, r.loc, uc, tb, false, true, nil)
		}
		return true, false
	}
	if rc.orig != nil && notModified(r) {
		rc.drain = true
	} else if rc.getForHead {
		// the client asked for HEAD: it gets the head of the GET response
		if _, err := h1.ParseResponse(tb[:n], resp, h1.ResponseOptions{MaxHeadSize: n, HeadRequest: true}); err == nil {
			rc.drain = true
			notModified(r)
		}
	}
	return false, false
}

// rangeAsked reports whether the client asks for a range of a response
// that allows them.
func rangeAsked(r *request) bool {
	if r.resp.Status != 200 || r.resp.Body != h1.BodyLength {
		return false
	}
	if v, ok := findHeader(nil, r.h1.Headers, "range"); !ok || len(v) < 7 {
		return false
	}
	for i := range r.resp.Headers {
		if equalFoldLower(r.resp.Headers[i].Name, "accept-ranges") {
			return true
		}
	}
	return false
}

// cacheStart begins the entry of a cacheable response: the file gets the
// response as it came so far, and the upstream connection is wrapped to
// add the rest.
func (c *conn) cacheStart(r *request, uc *upConn, tb []byte, n, have int, valid int64) {
	rc := r.cache
	resp := &r.resp
	m := cache.Meta{Valid: valid, Date: c.h.p.now().Unix(), LastMod: -1, Key: string(rc.keyTxt)}
	for i := range resp.Headers {
		h := &resp.Headers[i]
		switch {
		case equalFoldLower(h.Name, "last-modified"):
			if t, err := http.ParseTime(string(h.Value)); err == nil {
				m.LastMod = t.Unix()
			}
		case equalFoldLower(h.Name, "etag"):
			m.ETag = string(h.Value)
		case equalFoldLower(h.Name, "vary") && rc.conf.ignore&ignVary == 0:
			names := strings.Split(strings.ToLower(string(h.Value)), ",")
			for i := range names {
				names[i] = strings.TrimSpace(names[i])
			}
			if m.Vary != "" {
				m.Vary += ","
			}
			m.Vary += strings.Join(names, ",")
		}
	}
	if m.Vary != "" {
		m.Variant = variant(r, m.Vary)
	}
	w, err := rc.zone.Create(rc.key, m)
	if err != nil {
		c.logf(r.srv, errlog.LevelCrit, "open() cache file failed ("+errText(err)+")")
		return
	}
	w.Write(tb[:have])
	rc.w = w
	rc.tee = teeConn{Conn: uc.nc, w: w, done: func() { c.cacheCommit(r) }}
	rc.tee.track.start(resp)
	rc.tee.track.feed(tb[n:have])
	rc.orig = uc.nc
	uc.nc = &rc.tee
	if rc.tee.track.done {
		c.cacheCommit(r)
	}
}

// cacheCommit puts the entry in place once the whole response is in it,
// before the last of it goes to the client: a request that follows the
// response finds it.
func (c *conn) cacheCommit(r *request) {
	rc := r.cache
	if rc.w == nil || rc.tee.track.bad {
		return
	}
	w := rc.w
	rc.w = nil
	if err := w.Commit(); err != nil {
		c.logf(r.srv, errlog.LevelCrit, "rename() cache file failed ("+errText(err)+")")
	}
}

// cacheFinish runs after the response was sent: a response whose client
// got only the head, or went away, is read to its end into the entry
// (nginx completes an entry whose client is gone), the upstream
// connection is unwrapped, and an entry without its whole body is
// dropped. It returns whether the upstream connection can be reused and
// the upstream's failure, if any.
func (c *conn) cacheFinish(r *request, l *location, uc *upConn, tb []byte, reusable, clientOK bool, upErr error) (bool, error) {
	rc := r.cache
	if rc.orig == nil {
		if rc.drain {
			reusable = false // the body was not read
		}
		return reusable, upErr
	}
	t := &rc.tee.track
	if upErr != nil && rc.tee.rerr == nil {
		// the copy failed writing to the client, not reading upstream
		upErr, clientOK = nil, false
	}
	if (rc.drain || !clientOK) && upErr == nil && !t.done {
		for !t.done && !t.bad {
			m, err := c.upRead(l, uc, tb)
			if m == 0 && err != nil {
				if !t.done {
					upErr = err
				}
				break
			}
		}
		reusable = t.done && !t.bad && r.resp.KeepAlive && !t.untilClose
	}
	uc.nc = rc.orig
	rc.orig = nil
	if rc.w != nil && t.done && !t.bad && upErr == nil {
		c.cacheCommit(r)
	}
	if rc.w != nil {
		rc.w.Abort()
		rc.w = nil
	}
	return reusable, upErr
}

// storedStatus reads the status of the response an entry file holds.
func storedStatus(f *os.File, m cache.Meta) int {
	var b [12]byte // "HTTP/1.1 200"
	if _, err := f.ReadAt(b[:], m.BodyStart); err != nil {
		return 0
	}
	n, err := strconv.Atoi(string(b[9:12]))
	if err != nil {
		return 0
	}
	return n
}

// cacheStaleOnError answers from the stale entry when the upstream could
// not be reached or failed (proxy_cache_use_stale error, timeout,
// invalid_header, http_*), and swallows the error of a background
// update. handled says the request was answered.
func (c *conn) cacheStaleOnError(r *request, status int) (handled, ka bool) {
	rc := r.cache
	if rc.background {
		return true, false
	}
	cond := nuError | nuInvalidHeader
	if status == 504 {
		cond = nuTimeout
	}
	if rc.stale == nil || rc.conf.useStale&cond == 0 {
		rc.on = false // an error page is not stored under this key
		return false, false
	}
	rc.status = "STALE"
	f := rc.stale
	rc.stale = nil
	return true, c.serveCached(r, f, rc.staleMeta)
}

// validity is nginx 1.22's decision of how long a response stays fresh:
// the Unix second until which it is, and false when it is not cached.
// The headers count in the order they came, as in nginx 1.22:
// X-Accel-Expires sets the time (and a Cache-Control after it is then
// ignored), Cache-Control with no-cache, no-store or private (or a
// max-age of 0) keeps the response out of the cache and max-age or
// s-maxage sets the time, an Expires is used when nothing set the time
// before it (one in the past keeps the response out), and
// proxy_cache_valid for the status applies when no header set it.
// Set-Cookie and "Vary: *" keep a response out of the cache.
// revalidated asks for the validity of a 304 that revalidates an entry
// of the given status.
func (c *conn) validity(r *request, cc *cacheConf, status int, revalidated bool) (int64, bool) {
	now := c.h.p.now().Unix()
	var valid int64
	accel := false
	for i := range r.resp.Headers {
		h := &r.resp.Headers[i]
		switch {
		case equalFoldLower(h.Name, "x-accel-expires") && cc.ignore&ignXAccelExpires == 0:
			accel = true
			v := string(h.Value)
			if strings.HasPrefix(v, "@") {
				if n, ok := config.ParseDigits(v[1:]); ok {
					valid = n
				}
				continue
			}
			n, ok := config.ParseDigits(v)
			if !ok {
				continue
			}
			if n == 0 {
				return 0, false
			}
			valid = now + n
		case equalFoldLower(h.Name, "cache-control") && cc.ignore&ignCacheControl == 0:
			if valid != 0 && accel {
				continue
			}
			v := strings.ToLower(string(h.Value))
			if strings.Contains(v, "no-cache") || strings.Contains(v, "no-store") || strings.Contains(v, "private") {
				return 0, false
			}
			i := strings.Index(v, "s-maxage=")
			off := 9
			if i < 0 {
				i, off = strings.Index(v, "max-age="), 8
			}
			if i < 0 {
				continue
			}
			var n int64
			for _, ch := range []byte(v[i+off:]) {
				if ch == ',' || ch == ';' || ch == ' ' {
					break
				}
				if ch < '0' || ch > '9' {
					return 0, false
				}
				n = n*10 + int64(ch-'0')
			}
			if n == 0 {
				return 0, false
			}
			valid = now + n
		case equalFoldLower(h.Name, "expires") && cc.ignore&ignExpires == 0:
			if valid != 0 {
				continue
			}
			t, err := http.ParseTime(string(h.Value))
			if err != nil || t.Unix() < now {
				return 0, false
			}
			valid = t.Unix()
		case equalFoldLower(h.Name, "set-cookie") && cc.ignore&ignSetCookie == 0 && !revalidated:
			return 0, false
		case equalFoldLower(h.Name, "vary") && cc.ignore&ignVary == 0 && !revalidated:
			v := bytes.TrimSpace(h.Value)
			if len(v) == 1 && v[0] == '*' || len(v) > 128 {
				return 0, false
			}
		}
	}
	if valid == 0 {
		d, ok := validFor(cc.valid, status)
		if !ok {
			return 0, false
		}
		valid = now + int64(d/time.Second)
	}
	return valid, true
}

// validFor returns the proxy_cache_valid time of a status.
func validFor(list []config.HTTPCacheValid, status int) (time.Duration, bool) {
	for _, v := range list {
		for _, code := range v.Codes {
			if code == status || code == 0 {
				if v.Time == 0 {
					return 0, false
				}
				return v.Time, true
			}
		}
	}
	return 0, false
}

// bodyTrack follows the framing of a response body as its bytes go by, to
// tell when the whole body has come.
type bodyTrack struct {
	rem        int64 // Content-Length bytes still to come
	chunked    bool
	dec        h1.ChunkedDecoder
	untilClose bool
	done       bool
	bad        bool // the framing was broken
}

func (t *bodyTrack) start(resp *h1.Response) {
	switch resp.Body {
	case h1.BodyNone:
		t.done = true
	case h1.BodyLength:
		t.rem = resp.ContentLength
		t.done = t.rem <= 0
	case h1.BodyChunked:
		t.chunked = true
	default:
		t.untilClose = true
	}
}

func (t *bodyTrack) feed(p []byte) {
	switch {
	case t.done || t.untilClose:
	case t.chunked:
		for len(p) > 0 && !t.dec.Done() {
			n, _, err := t.dec.Decode(p)
			if err != nil {
				t.bad = true
				return
			}
			p = p[n:]
		}
		t.done = t.dec.Done()
	default:
		t.rem -= int64(len(p))
		t.done = t.rem <= 0
	}
}

// teeConn is the upstream connection of a response being stored: what is
// read from it is also written to the entry file.
type teeConn struct {
	net.Conn
	w     *cache.Writer
	track bodyTrack
	done  func() // called once the whole body has been read
	rerr  error  // the read error that ended the body early, if any
}

func (t *teeConn) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	if t.track.done {
		return n, err // what follows the body is not stored
	}
	if n > 0 {
		t.w.Write(p[:n])
		t.track.feed(p[:n])
	}
	if t.track.done {
		t.done()
		return n, err
	}
	if errors.Is(err, io.EOF) && t.track.untilClose {
		t.track.done = true
	} else if err != nil {
		t.rerr = err
	}
	if t.track.done {
		t.done()
	}
	return n, err
}

// fileConn reads a cache file from an offset as if it were an upstream
// connection; its deadlines do nothing.
type fileConn struct {
	f   *os.File
	off int64
}

func (fc *fileConn) Read(p []byte) (int, error) {
	n, err := fc.f.ReadAt(p, fc.off)
	fc.off += int64(n)
	if n > 0 && err != nil {
		err = nil
	}
	return n, err
}

func (fc *fileConn) Write(p []byte) (int, error)        { return 0, os.ErrInvalid }
func (fc *fileConn) Close() error                       { return fc.f.Close() }
func (fc *fileConn) LocalAddr() net.Addr                { return nil }
func (fc *fileConn) RemoteAddr() net.Addr               { return nil }
func (fc *fileConn) SetDeadline(t time.Time) error      { return nil }
func (fc *fileConn) SetReadDeadline(t time.Time) error  { return nil }
func (fc *fileConn) SetWriteDeadline(t time.Time) error { return nil }

var _ net.Conn = (*fileConn)(nil)
