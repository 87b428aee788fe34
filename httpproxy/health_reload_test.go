package httpproxy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
	"github.com/sluicelb/sluice/runtime"
)

// TestHealthCheckReload: a server found unhealthy stays so across a reload
// that keeps the check (it must pass a check of the new configuration
// first), and a reload that removes the check frees it at once.
func TestHealthCheckReload(t *testing.T) {
	var bChecks atomic.Int64
	addrs := [2]string{}
	for i, name := range []string{"a", "b"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hc" && name == "b" {
				bChecks.Add(1)
				w.WriteHeader(500)
			}
			io.WriteString(w, name)
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		addrs[i] = ln.Addr().String()
	}
	listen := testutil.FreeAddr(t)
	dir := t.TempDir()
	build := func(check string) *runtime.Generation {
		text := fmt.Sprintf(`events {} http { access_log off;
			upstream hcreload { zone hcreload 64k; server %s; server %s; }
			server { listen %s; location / { proxy_pass http://hcreload; %s } } }`, addrs[0], addrs[1], listen, check)
		return buildGen(t, dir, text)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	answers := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			resp, err := client.Get("http://" + listen + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got[string(b)]++
		}
		return got
	}
	const check = "health_check interval=100ms uri=/hc;"
	srv := runtime.NewServer(slog.New(slog.DiscardHandler))
	if err := srv.Apply(build(check)); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background(), false)
	deadline := time.Now().Add(10 * time.Second)
	for bChecks.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("b was not checked")
		}
		time.Sleep(5 * time.Millisecond) // the checks run on their own timer
	}
	if got := answers(10); got["a"] != 10 {
		t.Fatalf("b unhealthy: %v", got)
	}
	if err := srv.Apply(build(check)); err != nil {
		t.Fatal(err)
	}
	if got := answers(10); got["a"] != 10 {
		t.Errorf("after a reload that keeps the check: %v", got)
	}
	if err := srv.Apply(build("")); err != nil {
		t.Fatal(err)
	}
	checks := bChecks.Load()
	if got := answers(10); got["b"] == 0 {
		t.Errorf("after a reload without the check: %v", got)
	}
	time.Sleep(250 * time.Millisecond) // two intervals: no check runs any more
	if n := bChecks.Load() - checks; n != 0 {
		t.Errorf("%d checks after the reload that removed them", n)
	}
}
