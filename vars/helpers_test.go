package vars

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// req is the request type a proxy would define.
type req struct {
	st   State
	vals map[string]string // proxy variables; absent means "not found"
	hdr  map[string]string // lower-case header names
	args url.Values
}

func (r *req) VarState() *State { return &r.st }

func newReq(kv ...string) *req {
	r := &req{vals: map[string]string{}, hdr: map[string]string{}, args: url.Values{}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.vals[kv[i]] = kv[i+1]
	}
	return r
}

func proxyGetter(name string) Getter[*req] {
	return func(dst []byte, r *req) ([]byte, bool) {
		v, ok := r.vals[name]
		if !ok {
			return dst, false
		}
		return append(dst, v...), true
	}
}

var proxyVars = []string{"remote_addr", "remote_user", "host", "request", "status",
	"body_bytes_sent", "uri", "upstream_addr", "request_uri"}

type testTable struct {
	*Table[*req]
	warnings []string
	calls    map[string]int
}

// newTable returns a table with the proxy variables above, $http_* and
// $arg_* families, and stock variables on a fixed clock.
func newTable(t testing.TB) *testTable {
	t.Helper()
	tt := &testTable{Table: NewTable[*req](), calls: map[string]int{}}
	tt.OnWarn(func(msg, pos string) { tt.warnings = append(tt.warnings, msg) })
	for _, n := range proxyVars {
		flags := Flags(0)
		if n == "uri" {
			flags = Changeable
		}
		if err := tt.Define(n, proxyGetter(n), flags); err != nil {
			t.Fatal(err)
		}
	}
	counted := func(name string) Getter[*req] {
		g := proxyGetter(name)
		return func(dst []byte, r *req) ([]byte, bool) {
			tt.calls[name]++
			return g(dst, r)
		}
	}
	if err := tt.Define("counted", counted("counted"), 0); err != nil {
		t.Fatal(err)
	}
	must(t, tt.DefinePrefix("http_", func(suffix string) Getter[*req] {
		h := strings.ReplaceAll(suffix, "_", "-")
		return func(dst []byte, r *req) ([]byte, bool) {
			v, ok := r.hdr[h]
			if !ok {
				return dst, false
			}
			return append(dst, v...), true
		}
	}))
	must(t, tt.DefinePrefix("arg_", func(suffix string) Getter[*req] {
		return func(dst []byte, r *req) ([]byte, bool) {
			v, ok := r.args[suffix]
			if !ok {
				return dst, false
			}
			return append(dst, v[0]...), true
		}
	}))
	clock := func() time.Time {
		return time.Date(2024, 3, 9, 7, 5, 3, 42e6, time.FixedZone("", 6*3600))
	}
	must(t, tt.DefineStock(Stock{Clock: clock, Hostname: "box", PID: 4242, Version: "sluice-test"}))
	return tt
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// lines turns "a b; c d" into block statements.
func lines(s string) []Line {
	var out []Line
	for _, st := range strings.Split(s, ";") {
		f := strings.Fields(st)
		if len(f) == 0 {
			continue
		}
		for i := range f {
			f[i] = strings.ReplaceAll(f[i], "<sp>", " ")
			if f[i] == `""` {
				f[i] = ""
			}
		}
		out = append(out, Line{Args: f, Pos: "test.conf:1"})
	}
	return out
}

func eval(t testing.TB, tab *testTable, src string, r *req) string {
	t.Helper()
	tp, err := tab.Compile(src, "")
	if err != nil {
		t.Fatalf("compile %q: %v", src, err)
	}
	if !tab.Frozen() {
		must(t, tab.Freeze())
	}
	return string(tp.Append(nil, r))
}
