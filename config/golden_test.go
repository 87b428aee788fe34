package config

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenConfs returns the absolute path of testdata/golden and the .conf
// files in it.
func goldenConfs(t *testing.T) (string, []string) {
	t.Helper()
	dir, err := filepath.Abs("testdata/golden")
	if err != nil {
		t.Fatal(err)
	}
	confs, err := filepath.Glob(filepath.Join(dir, "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(confs) == 0 {
		t.Fatal("no golden cases")
	}
	return dir, confs
}

// TestGolden compiles every testdata/golden/*.conf and compares the result
// with NAME.json (the typed configuration) or NAME.err (the error text).
// Absolute paths of the test data directory read as TESTDATA in both.
func TestGolden(t *testing.T) {
	dir, confs := goldenConfs(t)
	for _, conf := range confs {
		name := strings.TrimSuffix(filepath.Base(conf), ".conf")
		t.Run(name, func(t *testing.T) {
			opts := Options{File: conf, Prefix: dir}
			if g, err := os.ReadFile(strings.TrimSuffix(conf, ".conf") + ".g"); err == nil {
				opts.Directives = strings.TrimSpace(string(g))
			}
			cfg, err := Load(opts)
			var got, ext string
			if err != nil {
				got, ext = err.Error()+"\n", ".err"
			} else {
				b, err := json.MarshalIndent(cfg, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got, ext = string(b)+"\n", ".json"
			}
			got = strings.ReplaceAll(got, dir, "TESTDATA")
			base := strings.TrimSuffix(conf, ".conf")
			if *update {
				os.Remove(base + ".json")
				os.Remove(base + ".err")
				if err := os.WriteFile(base+ext, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(base + ext)
			if err != nil {
				other := ".json"
				if ext == ".json" {
					other = ".err"
				}
				if w, err2 := os.ReadFile(base + other); err2 == nil {
					t.Fatalf("got %s result:\n%s\nwant %s:\n%s", ext, got, other, w)
				}
				t.Fatalf("no golden file %s%s (run go test ./config -run TestGolden -update): got\n%s", base, ext, got)
			}
			if got != string(want) {
				t.Errorf("mismatch for %s%s\ngot:\n%s\nwant:\n%s", base, ext, got, want)
			}
		})
	}
}
