package cache

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestZoneStore stores an entry, reads it back through a second zone
// opened on the same directory after the first was released (the
// loader), and checks nginx's file naming.
func TestZoneStore(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Levels: []int{1, 2}, Size: 1 << 20, Inactive: time.Hour}
	z, release, err := Acquire(cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := Key([]byte("http://b/plain"))
	if h := z.Get(key); h.File != nil || h.Uses != 1 {
		t.Fatalf("empty zone: %+v", h)
	}
	w, err := z.Create(key, Meta{Valid: 100, Date: 50, LastMod: -1, Key: "http://b/plain", ETag: `"e"`, Vary: "accept"})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("HTTP/1.1 200 OK\r\n\r\nbody"))
	// nothing is visible before Commit
	if h := z.Get(key); h.File != nil {
		t.Fatal("entry visible before Commit")
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	// nginx's name for this key with levels=1:2 (its cache file of the
	// same key has this path)
	p := z.path(key)
	if want := filepath.Join(dir, "0", "07", "be3771f89516ca8955eb4133233af070"); p != want {
		t.Errorf("path %s, want %s", p, want)
	}
	if _, err := os.Stat(p); err != nil {
		t.Error(err)
	}
	release()
	z2, release2, err := Acquire(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer release2()
	h := z2.Get(key)
	if h.File == nil {
		t.Fatal("entry lost across a restart")
	}
	defer h.File.Close()
	if h.Meta.Valid != 100 || h.Meta.ETag != `"e"` || h.Meta.Vary != "accept" || h.Meta.Key != "http://b/plain" {
		t.Errorf("meta %+v", h.Meta)
	}
	b := make([]byte, 4)
	if _, err := h.File.ReadAt(b, h.Meta.BodyStart+int64(len("HTTP/1.1 200 OK\r\n\r\n"))); err != nil || string(b) != "body" {
		t.Errorf("body %q %v", b, err)
	}
	z2.Extend(key, 200)
	f, _ := os.Open(p)
	m, err := readHeader(f)
	f.Close()
	if err != nil || m.Valid != 200 {
		t.Errorf("extended validity %d %v", m.Valid, err)
	}
}

// TestLoaderKeepsWritesUnderWay runs the loader while an entry is being
// written: it removes the temporary file an interrupted write left, and
// not the one being written, whose Commit then succeeds.
func TestLoaderKeepsWritesUnderWay(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Levels: []int{1, 2}, Size: 1 << 20, Inactive: time.Hour}
	z, release, err := Acquire(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	key := Key([]byte("http://b/under-way"))
	w, err := z.Create(key, Meta{Valid: 100, Date: 50, LastMod: -1, Key: "http://b/under-way"})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("HTTP/1.1 200 OK\r\n\r\nbody"))
	stale := filepath.Join(filepath.Dir(z.path(key)), "0123456789abcdef0123456789abcdef.7.tmp")
	if err := os.WriteFile(stale, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	z.load()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the interrupted write's file is still there (%v)", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit after the loader ran: %v", err)
	}
	if h := z.Get(key); h.File == nil {
		t.Fatal("entry missing")
	} else {
		h.File.Close()
	}
}
