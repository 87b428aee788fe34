package errlog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fixed() time.Time { return time.Date(2026, 11, 22, 10, 4, 5, 0, time.Local) }

func TestFormat(t *testing.T) {
	var buf bytes.Buffer
	l, err := New([]Target{{Path: "stderr", Level: LevelInfo}}, Options{Now: fixed, Stderr: &buf, Pid: 42})
	if err != nil {
		t.Fatal(err)
	}
	log := l.Logger()
	tests := []struct {
		do   func()
		want string
	}{
		{func() { log.Error("connect() failed", "cid", 17, "upstream", "127.0.0.1:8001") },
			"[error] 42#42: *17 connect() failed, upstream: 127.0.0.1:8001\n"},
		{func() { log.Info("plain") }, "[info] 42#42: plain\n"},
		{func() { log.Debug("hidden") }, ""},
		{func() { log.Log(context.Background(), LevelEmerg, "bad", "err", errors.New("x y")) },
			"[emerg] 42#42: bad, err: x y\n"},
		{func() { log.With("cid", 5).Warn("slow", "client", "a b") }, "[warn] 42#42: *5 slow, client: \"a b\"\n"},
		{func() { log.Log(context.Background(), LevelNotice, "n") }, "[notice] 42#42: n\n"},
	}
	for _, tc := range tests {
		buf.Reset()
		tc.do()
		want := ""
		if tc.want != "" {
			want = fixed().Format("2006/01/02 15:04:05") + " " + tc.want
		}
		if buf.String() != want {
			t.Errorf("got %q, want %q", buf.String(), want)
		}
	}
}

func TestLevels(t *testing.T) {
	for _, name := range []string{"debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"} {
		l, ok := ParseLevel(name)
		if !ok || LevelName(l) != name {
			t.Errorf("level %s: %v %v %s", name, l, ok, LevelName(l))
		}
	}
	if _, ok := ParseLevel("verbose"); ok {
		t.Error("unknown level accepted")
	}
}

func TestFileTargetsReopenAndSetTargets(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	var stderr bytes.Buffer
	l, err := New([]Target{{Path: a, Level: LevelWarn}, {Path: "stderr", Level: LevelError}}, Options{Now: fixed, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	log := l.Logger()
	log.Warn("one")
	// Rotate: rename the file, reopen, write again.
	if err := os.Rename(a, a+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	log.Error("two")
	if b, _ := os.ReadFile(a + ".1"); !strings.Contains(string(b), "one") || strings.Contains(string(b), "two") {
		t.Errorf("rotated file: %q", b)
	}
	if b, _ := os.ReadFile(a); !strings.Contains(string(b), "[error]") || !strings.Contains(string(b), "two") {
		t.Errorf("reopened file: %q", b)
	}
	if strings.Contains(stderr.String(), "one") || !strings.Contains(stderr.String(), "two") {
		t.Errorf("stderr target ignored its level: %q", stderr.String())
	}
	// A target that cannot be opened leaves the old ones in place.
	if err := l.SetTargets([]Target{{Path: filepath.Join(dir, "no/such/dir.log"), Level: LevelDebug}}); err == nil ||
		!strings.Contains(err.Error(), "No such file or directory") && !strings.Contains(err.Error(), "no such file or directory") {
		t.Fatalf("SetTargets error = %v", err)
	}
	if l.MinLevel() != LevelWarn {
		t.Errorf("min level changed by a failed SetTargets: %v", l.MinLevel())
	}
	b := filepath.Join(dir, "b.log")
	if err := l.SetTargets([]Target{{Path: b, Level: LevelDebug}}); err != nil {
		t.Fatal(err)
	}
	log.Debug("three")
	if data, _ := os.ReadFile(b); !strings.Contains(string(data), "[debug]") {
		t.Errorf("new target: %q", data)
	}
}
