package httpproxy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/internal/testutil"
	"github.com/sluicelb/sluice/runtime"
)

// TestReloadUnderLoad swaps the upstream list with runtime.Server.Apply
// while 32 clients send requests over keep-alive connections: no request
// may fail or get a non-2xx answer, and after the swap every client
// reaches the new upstream.
func TestReloadUnderLoad(t *testing.T) {
	var backends [2]string
	for i, name := range []string{"old", "new"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		backends[i] = ln.Addr().String()
	}
	listen := testutil.FreeAddr(t)
	dir := t.TempDir()
	build := func(backend string) *runtime.Generation {
		text := fmt.Sprintf(`events {} http { access_log off;
			upstream u { server %s; keepalive 8; }
			server { listen %s; location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`, backend, listen)
		return buildGen(t, dir, text)
	}
	srv := runtime.NewServer(slog.New(slog.DiscardHandler))
	if err := srv.Apply(build(backends[0])); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background(), false)

	var ok, bad, sawNew atomic.Int64
	var firstBad atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients = 32
	newSeen := make([]atomic.Bool, clients)
	for g := 0; g < clients; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get("http://" + listen + "/")
				if err != nil {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, err.Error())
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, resp.Status)
					continue
				}
				ok.Add(1)
				if string(b) == "new" && !newSeen[g].Swap(true) {
					sawNew.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for ok.Load() < 500 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // load builds up; nothing to wait on
	}
	if err := srv.Apply(build(backends[1])); err != nil {
		t.Fatal(err)
	}
	before := ok.Load()
	for (sawNew.Load() < clients || ok.Load() < before+500) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d failed requests of %d (first: %v)", bad.Load(), ok.Load()+bad.Load(), firstBad.Load())
	}
	if sawNew.Load() != clients {
		t.Errorf("%d of %d clients reached the new upstream", sawNew.Load(), clients)
	}
	t.Logf("%d requests, %d before the reload", ok.Load(), before)
}

// buildGen builds the generation of the configuration text, read as the
// file sluice.conf of dir.
func buildGen(t *testing.T, dir, text string) *runtime.Generation {
	t.Helper()
	name := filepath.Join(dir, "sluice.conf")
	cfg, err := config.Load(config.Options{File: name, Prefix: dir + "/", ReadFile: func(f string) ([]byte, error) {
		if f == name {
			return []byte(text), nil
		}
		return os.ReadFile(f)
	}})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := runtime.Build(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return gen
}
