// Package cache stores proxied responses in files under a directory, as
// nginx's proxy_cache_path does: each entry is a file named by the MD5 of
// its key, in levels= subdirectories, with an index in memory (the keys
// zone) that bounds the number of keys, removes entries unused for
// inactive= and, past max_size=, the least recently used ones. The index
// is rebuilt from the files when a zone is first opened, so entries
// survive a restart; a zone is shared by every configuration that names
// its directory, so they survive a reload too.
//
// The package knows nothing of HTTP: callers store the response bytes
// and the few facts (validity, ETag, Vary) the header of a file keeps.
package cache

import (
	"container/list"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes a zone: proxy_cache_path's parameters.
type Config struct {
	Name     string
	Dir      string
	Levels   []int
	Size     int64         // keys_zone size: 8000 keys a megabyte, as nginx
	Inactive time.Duration // entries unused for this long are removed
	MaxSize  int64         // 0: no limit
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Log receives the manager's and loader's messages (level, text);
	// nil drops them.
	Log func(level, msg string)
}

// Zone is the index of one cache directory. It is safe for concurrent use.
type Zone struct {
	dir     string
	levels  []int
	waiters atomic.Int64 // requests in Wait
	now     func() time.Time
	log     func(level, msg string)
	seq     atomic.Uint64
	tmpTag  string // in the names of this zone's temporary files (Acquire)

	mu       sync.Mutex
	maxKeys  int
	inactive time.Duration
	maxSize  int64
	m        map[[16]byte]*entry
	lru      list.List // of *entry, most recently used first
	size     int64     // bytes of the files indexed
	refs     int
	stop     chan struct{}
	done     chan struct{}
}

// entry is the index node of one key.
type entry struct {
	key     [16]byte
	uses    int
	access  time.Time
	exists  bool // a file is there
	size    int64
	meta    Meta
	filling bool // a request is fetching the response
	fillAt  time.Time
	fillEnd chan struct{} // closed when the fill ends
	elem    *list.Element
}

var (
	zonesMu sync.Mutex
	zones   = map[string]*Zone{}
)

// Acquire returns the zone of cfg.Dir, opening it (and starting its
// loader and manager) when no configuration holds it yet; a zone already
// open takes cfg's limits. release gives the zone back; the last release
// stops its goroutines.
func Acquire(cfg Config) (z *Zone, release func(), err error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, nil, err
	}
	zonesMu.Lock()
	defer zonesMu.Unlock()
	z = zones[cfg.Dir]
	if z == nil {
		z = &Zone{dir: cfg.Dir, m: map[[16]byte]*entry{}, stop: make(chan struct{}), done: make(chan struct{})}
		// the zone's temporary files carry a tag of their own, so that the
		// loader, running meanwhile, removes only those left before
		z.tmpTag = "." + strconv.FormatUint(rand.Uint64(), 36) + "-"
		z.now, z.log = cfg.Now, cfg.Log
		if z.now == nil {
			z.now = time.Now
		}
		if z.log == nil {
			z.log = func(string, string) {}
		}
		z.levels = cfg.Levels
		zones[cfg.Dir] = z
		z.configure(cfg)
		go z.run()
	} else {
		z.configure(cfg)
	}
	z.refs++
	var once sync.Once
	return z, func() { once.Do(z.release) }, nil
}

func (z *Zone) configure(cfg Config) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.maxKeys = int(cfg.Size * 8000 / (1 << 20))
	if z.maxKeys < 1 {
		z.maxKeys = 1
	}
	z.inactive, z.maxSize = cfg.Inactive, cfg.MaxSize
}

func (z *Zone) release() {
	zonesMu.Lock()
	z.refs--
	last := z.refs == 0
	if last {
		delete(zones, z.dir)
	}
	zonesMu.Unlock()
	if last {
		close(z.stop)
		<-z.done
	}
}

// Key returns the MD5 of a key text, which names its file.
func Key(text []byte) [16]byte { return md5.Sum(text) }

// path returns the file of key: the hex MD5 under levels directories
// taken from its end, as nginx names them.
func (z *Zone) path(key [16]byte) string {
	var hb [32]byte
	hex.Encode(hb[:], key[:])
	h := string(hb[:])
	parts := []string{z.dir}
	end := len(h)
	for _, n := range z.levels {
		parts = append(parts, h[end-n:end])
		end -= n
	}
	parts = append(parts, h)
	return filepath.Join(parts...)
}

// Hit is what Get finds for a key.
type Hit struct {
	Meta Meta
	File *os.File // the entry's file, open; nil when there is none
	Uses int      // requests for the key counted so far, this one included
	// Filling says another request is fetching the response;
	// FillAt is when it began.
	Filling bool
	FillAt  time.Time
}

// Get looks key up, counting a use and marking it recently used. The
// caller closes Hit.File.
func (z *Zone) Get(key [16]byte) Hit {
	now := z.now()
	z.mu.Lock()
	defer z.mu.Unlock()
	e := z.m[key]
	if e == nil {
		e = z.insert(key)
		// not indexed yet (the loader may not have reached it): look on
		// disk, as nginx opens the file of a key it does not know
		if f, err := os.Open(z.path(key)); err == nil {
			if m, err := readHeader(f); err == nil {
				e.exists, e.meta = true, m
				if st, err := f.Stat(); err == nil {
					e.size = st.Size()
					z.size += e.size
				}
			}
			f.Close()
		}
	}
	e.uses++
	e.access = now
	z.lru.MoveToFront(e.elem)
	h := Hit{Uses: e.uses, Filling: e.filling, FillAt: e.fillAt}
	if e.exists {
		f, err := os.Open(z.path(key))
		if err != nil {
			z.size -= e.size
			e.exists, e.size = false, 0
		} else {
			h.File, h.Meta = f, e.meta
		}
	}
	return h
}

// insert adds an index node for key, removing the least recently used
// when the zone holds as many keys as it may.
func (z *Zone) insert(key [16]byte) *entry {
	for len(z.m) >= z.maxKeys {
		if !z.evictOne() {
			break
		}
	}
	e := &entry{key: key}
	e.elem = z.lru.PushFront(e)
	z.m[key] = e
	return e
}

// evictOne removes the least recently used entry not being filled.
func (z *Zone) evictOne() bool {
	for el := z.lru.Back(); el != nil; el = el.Prev() {
		e := el.Value.(*entry)
		if !e.filling {
			z.remove(e)
			return true
		}
	}
	return false
}

// remove drops e from the index and deletes its file.
func (z *Zone) remove(e *entry) {
	if e.exists {
		os.Remove(z.path(e.key))
		z.size -= e.size
	}
	z.lru.Remove(e.elem)
	delete(z.m, e.key)
}

// Lock marks key as being fetched by the caller, unless another request
// fetches it and began less than age ago: then it returns a channel
// closed when that fetch ends. Unlock ends a fetch the caller began.
func (z *Zone) Lock(key [16]byte, age time.Duration) (locked bool, wait <-chan struct{}) {
	now := z.now()
	z.mu.Lock()
	defer z.mu.Unlock()
	e := z.m[key]
	if e == nil {
		e = z.insert(key)
	}
	if e.filling && now.Sub(e.fillAt) < age {
		return false, e.fillEnd
	}
	if e.filling {
		close(e.fillEnd) // the old fetch is taken over
	}
	e.filling, e.fillAt, e.fillEnd = true, now, make(chan struct{})
	return true, nil
}

// Wait waits for the channel Lock returned, at most timeout; it reports
// whether the fetch ended in time.
func (z *Zone) Wait(ch <-chan struct{}, timeout time.Duration) bool {
	z.waiters.Add(1)
	defer z.waiters.Add(-1)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// Waiting returns how many requests are in Wait.
func (z *Zone) Waiting() int { return int(z.waiters.Load()) }

// Unlock ends the fetch of key that Lock granted.
func (z *Zone) Unlock(key [16]byte) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if e := z.m[key]; e != nil && e.filling {
		e.filling = false
		close(e.fillEnd)
		e.fillEnd = nil
	}
}

// Updating reports whether another request is fetching key.
func (z *Zone) Updating(key [16]byte) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	e := z.m[key]
	return e != nil && e.filling
}

// Writer writes a new entry; nothing is visible until Commit.
type Writer struct {
	z    *Zone
	key  [16]byte
	f    *os.File
	tmp  string
	meta Meta
	n    int64
	err  error
}

// Create starts the file of key with the header of m.
func (z *Zone) Create(key [16]byte, m Meta) (*Writer, error) {
	final := z.path(key)
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return nil, err
	}
	tmp := final + z.tmpTag + strconv.FormatUint(z.seq.Add(1), 10) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	w := &Writer{z: z, key: key, f: f, tmp: tmp, meta: m}
	hdr := appendHeader(nil, &w.meta)
	if _, err := f.Write(hdr); err != nil {
		w.Abort()
		return nil, err
	}
	w.n = int64(len(hdr))
	return w, nil
}

// Write appends response bytes; an error is kept and makes Commit fail.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Abort removes the unfinished file.
func (w *Writer) Abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.tmp)
		w.f = nil
	}
}

// Commit renames the file into place and indexes it, then removes least
// recently used entries while the cache is over max_size.
func (w *Writer) Commit() error {
	if w.f == nil {
		return errors.New("cache: entry already closed")
	}
	err := w.err
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err == nil {
		err = os.Rename(w.tmp, w.z.path(w.key))
	}
	if err != nil {
		os.Remove(w.tmp)
		return err
	}
	z := w.z
	z.mu.Lock()
	defer z.mu.Unlock()
	e := z.m[w.key]
	if e == nil {
		e = z.insert(w.key)
	}
	if e.exists {
		z.size -= e.size
	}
	e.exists, e.size, e.meta = true, w.n, w.meta
	e.access = z.now()
	z.lru.MoveToFront(e.elem)
	z.size += e.size
	for z.maxSize > 0 && z.size > z.maxSize {
		if !z.evictOne() {
			break
		}
	}
	return nil
}

// Extend sets the validity of key's entry (a revalidated response).
func (z *Zone) Extend(key [16]byte, valid int64) {
	z.mu.Lock()
	defer z.mu.Unlock()
	e := z.m[key]
	if e == nil || !e.exists {
		return
	}
	if err := writeValid(z.path(key), valid); err == nil {
		e.meta.Valid = valid
	}
}

// Remove deletes key's entry.
func (z *Zone) Remove(key [16]byte) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if e := z.m[key]; e != nil && !e.filling {
		z.remove(e)
	} else if e != nil && e.exists {
		os.Remove(z.path(key))
		z.size -= e.size
		e.exists, e.size = false, 0
	}
}

// Filling returns how many keys requests are fetching now.
func (z *Zone) Filling() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	n := 0
	for _, e := range z.m {
		if e.filling {
			n++
		}
	}
	return n
}

// Size returns the bytes of the files indexed and the number of keys.
func (z *Zone) Size() (bytes int64, keys int) {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.size, len(z.m)
}

// run is the zone's goroutine: it loads the index from the files (nginx's
// cache loader), then removes inactive entries every second (its cache
// manager) until the zone is released.
func (z *Zone) run() {
	defer close(z.done)
	z.load()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-z.stop:
			return
		case <-t.C:
			z.Expire()
		}
	}
}

// Expire removes the entries not used for inactive= and, past max_size=,
// the least recently used ones. The manager runs it every second.
func (z *Zone) Expire() {
	now := z.now()
	z.mu.Lock()
	defer z.mu.Unlock()
	for el := z.lru.Back(); el != nil; {
		e := el.Value.(*entry)
		prev := el.Prev()
		if now.Sub(e.access) < z.inactive {
			break
		}
		if !e.filling {
			z.remove(e)
		}
		el = prev
	}
	for z.maxSize > 0 && z.size > z.maxSize {
		if !z.evictOne() {
			break
		}
	}
}

// load indexes the files of the directory and removes temporary files
// left by an interrupted write.
func (z *Zone) load() {
	now := z.now()
	filepath.WalkDir(z.dir, func(p string, d os.DirEntry, err error) error {
		select {
		case <-z.stop:
			return filepath.SkipAll
		default:
		}
		if err != nil || d.IsDir() {
			return nil
		}
		name := d.Name()
		if strings.HasSuffix(name, ".tmp") {
			if !strings.Contains(name, z.tmpTag) {
				os.Remove(p) // left by an interrupted write; ours are being written
			}
			return nil
		}
		var key [16]byte
		if len(name) != 32 {
			return nil
		}
		if _, err := hex.Decode(key[:], []byte(name)); err != nil || z.path(key) != p {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		m, herr := readHeader(f)
		st, serr := f.Stat()
		f.Close()
		if herr != nil || serr != nil {
			return nil
		}
		z.mu.Lock()
		if z.m[key] == nil {
			e := &entry{key: key, exists: true, size: st.Size(), meta: m, access: now}
			if len(z.m) < z.maxKeys {
				e.elem = z.lru.PushBack(e)
				z.m[key] = e
				z.size += e.size
			}
		}
		z.mu.Unlock()
		return nil
	})
	bytes, keys := z.Size()
	z.log("notice", "http file cache: "+z.dir+" "+strconv.FormatFloat(float64(bytes)/(1<<20), 'f', 3, 64)+"M, bsize: 4096")
	_ = keys
}
