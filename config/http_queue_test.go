package config

import (
	"testing"
	"time"
)

func TestHTTPQueue(t *testing.T) {
	cfg, errs := loadHTTP(t, `
upstream a { server 127.0.0.1:1 max_conns=1; queue 10; }
upstream b { least_conn; server 127.0.0.1:1; queue 5 timeout=300ms; }
upstream c { server 127.0.0.1:1; }`)
	if errs != "" {
		t.Fatal(errs)
	}
	ups := cfg.HTTP.Upstreams
	for i, want := range []struct {
		n int
		t time.Duration
	}{{10, 60 * time.Second}, {5, 300 * time.Millisecond}, {0, 0}} {
		if ups[i].Queue != want.n || ups[i].QueueTimeout != want.t {
			t.Errorf("upstream %s: queue %d timeout %v, want %d %v", ups[i].Name, ups[i].Queue, ups[i].QueueTimeout, want.n, want.t)
		}
	}
}
