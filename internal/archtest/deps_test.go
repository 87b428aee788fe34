// Package archtest checks the package boundaries of DESIGN.md §3.
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/sluicelb/sluice/"

// forbidden maps a package (relative to the module) to the imports it must
// not have, directly or indirectly. "project" stands for every package of
// the module; a path ending in "/..." stands for it and everything under it.
var forbidden = map[string][]string{
	"config":     {"project"},
	"proxyproto": {"project"},
	"tlspreread": {"project"},
	"tlsconf":    {mod + "config", mod + "stream", mod + "httpproxy", mod + "runtime"},
	"balance":    {"net/http", mod + "config", mod + "stream", mod + "httpproxy", mod + "runtime"},
	"upstream":   {mod + "stream", mod + "httpproxy", mod + "runtime"},
	"vars":       {mod + "config", mod + "stream", mod + "httpproxy", mod + "runtime", mod + "upstream", mod + "accesslog", mod + "admin"},
	"accesslog":  {mod + "config", mod + "stream", mod + "httpproxy", mod + "runtime"},
	"stream":     {mod + "httpproxy", mod + "runtime"},
	"httpproxy":  {mod + "stream", mod + "runtime"},
	"admin":      {mod + "config", mod + "stream", mod + "httpproxy", mod + "runtime", mod + "upstream", mod + "vars"},
	// Programs that balance only HTTP do not import gRPC: its adapter is
	// a package of its own.
	"client":             {mod + "config", mod + "stream", mod + "httpproxy", mod + "runtime", mod + "upstream", mod + "admin", "google.golang.org/grpc/..."},
	"client/grpcbalance": {mod + "config", mod + "stream", mod + "httpproxy", mod + "runtime", mod + "upstream", mod + "admin"},
	"errlog":             {"project"},
	"httpproxy/h1":       {"project", "net/http"},
	// Tests of every package import testutil: it may import only the
	// standard library.
	"internal/testutil": {"project"},
	"internal/splice":   {"project"},
	"internal/dnstest":  {"project"},
	"internal/listen":   {"project"},
	"internal/pcre":     {"project"},
}

// leaves are packages that import nothing of the module (forbidden says
// so) and that "project" therefore lets any package import: config
// compiles nginx's regular expressions with internal/pcre.
var leaves = map[string]bool{"internal/pcre": true}

type pkg struct {
	ImportPath string
	Deps       []string
}

func TestImportBoundaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Deps", "github.com/sluicelb/sluice/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Deps {
			if d == mod+"cmd/sluice" {
				t.Errorf("%s imports cmd/sluice", p.ImportPath)
			}
		}
		rules, ok := forbidden[strings.TrimPrefix(p.ImportPath, mod)]
		if !ok {
			continue
		}
		seen++
		for _, d := range p.Deps {
			for _, f := range rules {
				if d == f || (f == "project" && strings.HasPrefix(d, mod) && !leaves[strings.TrimPrefix(d, mod)]) ||
					(strings.HasSuffix(f, "/...") && (d == strings.TrimSuffix(f, "/...") || strings.HasPrefix(d, strings.TrimSuffix(f, "...")))) {
					t.Errorf("%s must not import %s (DESIGN.md §3)", p.ImportPath, d)
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no package checked")
	}
}
