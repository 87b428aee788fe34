package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/httpproxy"
	"github.com/sluicelb/sluice/internal/promtext"
)

const metricsConf = `events {}
error_log stderr crit;
stream {
    upstream m_tcp {
        server %s;
    }
    server {
        listen %s;
        proxy_pass m_tcp;
    }
}
http {
    access_log off;
    upstream m_back {
        least_time header;
        server %s;
        server %s;
    }
    upstream m_hc {
        zone m_hc 64k;
        server %s;
        server %s;
    }
    server {
        listen %s;
        location / {
            proxy_pass http://m_back;
        }
        location /hc {
            proxy_pass http://m_hc;
            health_check interval=50ms fails=2;
        }
        location /api {
            api write=on;
        }
        location /metrics {
            metrics;
        }
        location /inif {
            metrics;
            if ($arg_x) {
                add_header X-If 1;
            }
        }
    }
}
`

// scrape is one read of the metrics, parsed.
type scrape map[string]*promtext.Family

// get returns the value of a sample, failing the test when there is none.
func (s scrape) get(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	f := s[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
	v, ok := f.Get(labels...)
	if !ok {
		t.Fatalf("no sample %s%v in %+v", name, labels, f.Samples)
	}
	return v
}

// scrapeMetrics GETs url and parses the answer strictly: every line must
// be valid exposition format.
func scrapeMetrics(t *testing.T, c *http.Client, url string) scrape {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("GET %s: %d %q", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	fams, err := promtext.Parse(string(b))
	if err != nil {
		t.Fatalf("%v in\n%s", err, b)
	}
	s := scrape{}
	for i := range fams {
		s[fams[i].Name] = &fams[i]
	}
	return s
}

// TestMetrics scrapes a running configuration's metrics as Prometheus
// does, over loopback, while real clients go through the http and stream
// proxies to real backends: the counters grow with the traffic, a server
// taken down through the API and one a health check finds dead show their
// states, and every scrape is valid exposition format.
func TestMetrics(t *testing.T) {
	h1, h2 := apiBackend(t, "h1"), apiBackend(t, "h2")
	good := apiBackend(t, "good")
	dead := freeAddr(t) // nothing listens there
	s1 := tcpBackend(t, "s1")
	httpAddr, streamAddr := freeAddr(t), freeAddr(t)
	conf := fmt.Sprintf(metricsConf, s1, streamAddr, h1, h2, good, dead, httpAddr)

	srv := NewServer(slog.New(slog.DiscardHandler))
	start := time.Now()
	if err := srv.Apply(loadAPIConf(t, conf)); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background(), false)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	c := &apiClient{t: t, base: "http://" + httpAddr, stream: streamAddr, http: hc}
	url := c.base + "/metrics"

	m := scrapeMetrics(t, hc, url)
	if v := m.get(t, "sluice_info", "version", httpproxy.DefaultVersion); v != 1 {
		t.Errorf("sluice_info: %v", v)
	}
	if v := m.get(t, "sluice_config_generation"); v < 1 {
		t.Errorf("generation %v", v)
	}
	if v := m.get(t, "sluice_config_load_timestamp_seconds"); v < float64(start.Unix()-1) || v > float64(time.Now().Unix()+1) {
		t.Errorf("load timestamp %v, started at %v", v, start.Unix())
	}
	for _, s := range []string{h1, h2} {
		if v := m.get(t, "sluice_upstream_server_state", "upstream", "m_back", "server", s); v != 1 {
			t.Errorf("state of %s: %v, want 1 (up)", s, v)
		}
		if v := m.get(t, "sluice_upstream_server_requests", "upstream", "m_back", "server", s); v != 0 {
			t.Errorf("requests of %s before any: %v", s, v)
		}
	}
	if m["sluice_upstream_server_latency_seconds"] != nil {
		t.Errorf("a latency before any request: %+v", m["sluice_upstream_server_latency_seconds"])
	}
	reqs, accepted := m.get(t, "sluice_http_requests_total"), m.get(t, "sluice_connections_accepted")
	if m.get(t, "sluice_connections_active") < 1 || m.get(t, "sluice_connections_writing") < 1 {
		t.Errorf("the scrape's own connection is not counted: %+v %+v", m["sluice_connections_active"], m["sluice_connections_writing"])
	}

	// six proxied requests, each on a connection of its own
	c.hits(6)
	m = scrapeMetrics(t, hc, url)
	r1 := m.get(t, "sluice_upstream_server_requests", "upstream", "m_back", "server", h1)
	r2 := m.get(t, "sluice_upstream_server_requests", "upstream", "m_back", "server", h2)
	if r1+r2 != 6 {
		t.Errorf("requests %v + %v, want 6", r1, r2)
	}
	if v := m.get(t, "sluice_http_requests_total"); v != reqs+7 {
		t.Errorf("http requests %v, want %v + 6 proxied + 1 scrape", v, reqs)
	}
	if v := m.get(t, "sluice_connections_accepted"); v != accepted+7 {
		t.Errorf("accepted %v, want %v + 7", v, accepted)
	}
	if f := m["sluice_upstream_server_latency_seconds"]; f == nil || len(f.Samples) == 0 {
		t.Errorf("no least_time latency after 6 requests")
	} else {
		for _, s := range f.Samples {
			if s.Labels["upstream"] != "m_back" || s.Value <= 0 || s.Value > 5 {
				t.Errorf("latency sample %+v", s)
			}
		}
	}

	// h2 down through the API: state 3, and requests go to h1 alone
	var sv apiServer
	if st := c.do("PATCH", "/api/9/http/upstreams/m_back/servers/1", `{"down":true}`, &sv); st != 200 || !sv.Down || sv.Server != h2 {
		t.Fatalf("PATCH down: %d %+v", st, sv)
	}
	c.hits(3)
	m = scrapeMetrics(t, hc, url)
	if v := m.get(t, "sluice_upstream_server_state", "upstream", "m_back", "server", h2); v != 3 {
		t.Errorf("state of h2 after down: %v, want 3", v)
	}
	if v := m.get(t, "sluice_upstream_server_state", "upstream", "m_back", "server", h1); v != 1 {
		t.Errorf("state of h1: %v, want 1", v)
	}
	if v := m.get(t, "sluice_upstream_server_requests", "upstream", "m_back", "server", h1); v != r1+3 {
		t.Errorf("requests of h1 with h2 down: %v, want %v", v, r1+3)
	}

	// the health check finds the dead server: unhealthy (6), its failed
	// checks counted; the good one is up with its checks counted
	deadline := time.Now().Add(5 * time.Second)
	for {
		m = scrapeMetrics(t, hc, url)
		if m.get(t, "sluice_upstream_server_state", "upstream", "m_hc", "server", dead) == 6 &&
			m.get(t, "sluice_upstream_server_health_checks_checks", "upstream", "m_hc", "server", good) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the health check did not make %s unhealthy: %+v", dead, m["sluice_upstream_server_state"].Samples)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := m.get(t, "sluice_upstream_server_health_checks_fails", "upstream", "m_hc", "server", dead); v < 2 {
		t.Errorf("failed checks of the dead server: %v", v)
	}
	if v := m.get(t, "sluice_upstream_server_health_checks_unhealthy", "upstream", "m_hc", "server", dead); v != 1 {
		t.Errorf("times the dead server became unhealthy: %v", v)
	}
	if v := m.get(t, "sluice_upstream_server_state", "upstream", "m_hc", "server", good); v != 1 {
		t.Errorf("state of the good server: %v", v)
	}
	if v := m.get(t, "sluice_upstream_server_health_checks_fails", "upstream", "m_hc", "server", good); v != 0 {
		t.Errorf("failed checks of the good server: %v", v)
	}

	// stream sessions
	c.sessions(2)
	m = scrapeMetrics(t, hc, url)
	if v := m.get(t, "sluice_stream_upstream_server_connections", "upstream", "m_tcp", "server", s1); v != 2 {
		t.Errorf("stream connections: %v, want 2", v)
	}
	if v := m.get(t, "sluice_stream_upstream_server_state", "upstream", "m_tcp", "server", s1); v != 1 {
		t.Errorf("stream state: %v", v)
	}

	// a reload: the generation grows, the counters of the servers that
	// stay go on, and what the API changed is gone
	gen := m.get(t, "sluice_config_generation")
	before := m.get(t, "sluice_upstream_server_requests", "upstream", "m_back", "server", h1)
	if err := srv.Apply(loadAPIConf(t, conf)); err != nil {
		t.Fatal(err)
	}
	m = scrapeMetrics(t, hc, url)
	if v := m.get(t, "sluice_config_generation"); v != gen+1 {
		t.Errorf("generation after a reload: %v, want %v", v, gen+1)
	}
	if v := m.get(t, "sluice_upstream_server_requests", "upstream", "m_back", "server", h1); v != before {
		t.Errorf("requests of h1 after a reload: %v, want %v", v, before)
	}
	if v := m.get(t, "sluice_upstream_server_state", "upstream", "m_back", "server", h2); v != 1 {
		t.Errorf("state of h2 after a reload: %v, want 1", v)
	}

	// an if block in the location answers with the metrics too, as
	// nginx's if inherits its location's content handler
	m = scrapeMetrics(t, hc, c.base+"/inif?x=1")
	if v := m.get(t, "sluice_config_generation"); v != gen+1 {
		t.Errorf("generation from an if block: %v", v)
	}

	// HEAD: the headers alone; other methods: 405
	req, _ := http.NewRequest("HEAD", url, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength <= 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("HEAD: %d %d %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("Content-Type"))
	}
	for _, method := range []string{"POST", "PUT", "DELETE"} {
		req, _ := http.NewRequest(method, url, strings.NewReader("x"))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 405 || !strings.Contains(string(b), "405 Not Allowed") {
			t.Errorf("%s: %d %q", method, resp.StatusCode, b)
		}
	}
}
