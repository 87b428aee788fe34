package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/httpproxy"
	"github.com/sluicelb/sluice/internal/testutil"
)

const dashboardConf = `events {}
error_log stderr crit;
stream {
    upstream d_tcp {
        server %s;
    }
    server {
        listen %s;
        proxy_pass d_tcp;
    }
}
http {
    access_log off;
    upstream d_back {
        zone d_back 64k;
        server %s;
        server %s;
    }
    upstream d_hc {
        zone d_hc 64k;
        server %s;
        server %s;
    }
    upstream "d_<b>bold</b>" {
        server %s;
    }
    server {
        listen %s;
        location / {
            proxy_pass http://d_back;
        }
        location /hc {
            proxy_pass http://d_hc;
            health_check interval=50ms fails=2;
        }
        location /api/ {
            api write=on;
        }
        location = /dashboard.html {
            dashboard;
        }
        location /dashboard/ {
            add_header X-Own 1;
            dashboard /api;
            if ($arg_x) {
                add_header X-If 1;
            }
        }
        location /lost/ {
            dashboard /nothing/;
        }
        location /nothing/ {
            return 404;
        }
    }
}
`

// startDashboard runs dashboardConf with real backends: d_back's two
// servers answer, d_hc's second server is a dead address its health check
// finds, and the stream upstream has one server.
func startDashboard(t *testing.T) (c *apiClient, h1, h2, good, dead, s1 string) {
	h1, h2 = apiBackend(t, "h1"), apiBackend(t, "h2")
	good = apiBackend(t, "good")
	dead = freeAddr(t) // nothing listens there
	s1 = tcpBackend(t, "s1")
	httpAddr, streamAddr := freeAddr(t), freeAddr(t)
	conf := fmt.Sprintf(dashboardConf, s1, streamAddr, h1, h2, good, dead, good, httpAddr)
	srv := NewServer(slog.New(slog.DiscardHandler))
	if err := srv.Apply(loadAPIConf(t, conf)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background(), false) })
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return &apiClient{t: t, base: "http://" + httpAddr, stream: streamAddr, http: hc}, h1, h2, good, dead, s1
}

// TestDashboard requests the dashboard page as a browser does: GET and HEAD
// get the page with its headers and the configured api URI, other methods
// 405, and an if block in the location answers with the page too.
func TestDashboard(t *testing.T) {
	c, _, _, _, _, _ := startDashboard(t)
	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, c.base+path, strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	page := func(path, api string) (*http.Response, string) {
		t.Helper()
		resp, body := get("GET", path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
			resp.Header.Get("Cache-Control") != "no-cache" || len(resp.Header.Values("Cache-Control")) != 1 {
			t.Errorf("GET %s: %d %v", path, resp.StatusCode, resp.Header)
		}
		if !strings.HasPrefix(body, "<!DOCTYPE html>") || !strings.Contains(body, `<meta name="sluice-api" content="`+api+`">`) {
			t.Errorf("GET %s: not the page for api %s:\n%.300s", path, api, body)
		}
		if len(body) >= 20<<10 || resp.ContentLength != int64(len(body)) {
			t.Errorf("GET %s: %d bytes, Content-Length %d", path, len(body), resp.ContentLength)
		}
		return resp, body
	}

	_, body := page("/dashboard.html", "/api/")
	resp, _ := page("/dashboard/", "/api")
	if resp.Header.Get("X-Own") != "1" {
		t.Errorf("the location's add_header is lost: %v", resp.Header)
	}
	// an if block keeps its location's handler, as in nginx
	resp, _ = page("/dashboard/?x=1", "/api")
	if resp.Header.Get("X-If") != "1" {
		t.Errorf("GET from the if block: %v", resp.Header)
	}

	resp, head := get("HEAD", "/dashboard.html")
	if resp.StatusCode != 200 || head != "" || resp.ContentLength != int64(len(body)) ||
		resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("HEAD: %d %d %q %v", resp.StatusCode, resp.ContentLength, head, resp.Header)
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		resp, body := get(m, "/dashboard.html")
		if resp.StatusCode != 405 || !strings.Contains(body, "<center><h1>405 Not Allowed</h1></center>") ||
			resp.Header.Get("Cache-Control") != "" {
			t.Errorf("%s: %d %v %q, want nginx's 405", m, resp.StatusCode, resp.Header, body)
		}
	}
}

// TestDashboardBrowser loads the dashboard in headless Chromium against a
// running configuration with real backends, after taking a server down
// through the API and while a health check finds another dead, and checks
// what the page shows: the process, the counters with their rates, every
// upstream with its servers and their states, an upstream name with markup
// in it as text, and, for a dashboard whose API is missing, the error.
func TestDashboardBrowser(t *testing.T) {
	chromium := testutil.NeedChromium(t)
	c, h1, h2, good, dead, s1 := startDashboard(t)
	c.hits(4)
	c.sessions(2)
	var sv apiServer
	if st := c.do("PATCH", "/api/9/http/upstreams/d_back/servers/1", `{"down":true}`, &sv); st != 200 || !sv.Down || sv.Server != h2 {
		t.Fatalf("PATCH down: %d %+v", st, sv)
	}
	testutil.WaitFor(t, "the health check to find "+dead+" dead", func() bool {
		for _, p := range c.upstream("http", "d_hc").Peers {
			if p.Server == dead {
				return p.State == "unhealthy"
			}
		}
		return false
	})

	dom := testutil.DumpDOM(t, chromium, c.base+"/dashboard.html", 5*time.Second)
	if m := regexp.MustCompile(`(?s)<div id="error"[^>]*>(.*?)</div>`).FindStringSubmatch(dom); m == nil || !strings.Contains(m[0], "hidden") {
		t.Errorf("the page shows an error: %v", m)
	}
	for _, want := range []string{
		"<dd>" + httpproxy.DefaultVersion + " (sluice)</dd>",
		"<dt>Address</dt><dd>127.0.0.1</dd>",
		"<dt>Loaded</dt>", "<dt>Uptime</dt>",
		`<table class="upstream" data-upstream="d_back"><caption>d_back — 1 of 2 up, zone d_back</caption>`,
		`<table class="upstream" data-upstream="d_hc">`,
		`<table class="upstream" data-upstream="d_tcp">`,
		// the name is text: escaped in the DOM, not markup
		`<caption>d_&lt;b&gt;bold&lt;/b&gt; — 1 of 1 up</caption>`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page has no %s", want)
		}
	}
	if !regexp.MustCompile(`<dt>Generation</dt><dd>[1-9][0-9]*</dd>`).MatchString(dom) {
		t.Error("the page has no generation")
	}
	if strings.Contains(dom, "<b>bold") {
		t.Error("an upstream name went into the page as markup")
	}
	// the request rate needs two polls: the page polled more than once
	if !regexp.MustCompile(`<th class="text">Requests</th><td>[0-9,]+</td><td>[0-9.]+/s</td>`).MatchString(dom) {
		t.Errorf("no request rate in %s", regexp.MustCompile(`(?s)<table id="totals">.*?</table>`).FindString(dom))
	}

	// each server's row: address, state (and its colour), counters
	row := func(upstream, addr string) string {
		t.Helper()
		table := regexp.MustCompile(`(?s)<table class="upstream" data-upstream="` + regexp.QuoteMeta(upstream) + `">.*?</table>`).FindString(dom)
		r := regexp.MustCompile(`<tr><td class="text">` + regexp.QuoteMeta(addr) + `</td>.*?</tr>`).FindString(table)
		if r == "" {
			t.Errorf("upstream %s: no row for %s in %s", upstream, addr, table)
		}
		return r
	}
	for _, tc := range []struct{ upstream, addr, state string }{
		{"d_back", h1, "up"},
		{"d_back", h2, "down"},
		{"d_hc", good, "up"},
		{"d_hc", dead, "unhealthy"},
		{"d_tcp", s1, "up"},
	} {
		r := row(tc.upstream, tc.addr)
		state := `<td class="state st-` + tc.state + `">` + tc.state + `</td>`
		if r != "" && !strings.Contains(r, state) {
			t.Errorf("%s %s: not %s in %s", tc.upstream, tc.addr, tc.state, r)
		}
	}
	if r := row("d_hc", dead); r != "" && !regexp.MustCompile(`<td>[1-9][0-9]*</td><td>[1-9][0-9]*</td><td>no</td></tr>$`).MatchString(r) {
		t.Errorf("health checks of the dead server: %s", r)
	}
	if r := row("d_tcp", s1); r != "" && !strings.Contains(r, `<td class="state st-up">up</td><td>1</td><td>0</td><td>2</td>`) {
		t.Errorf("stream server row (weight 1, active 0, 2 connections): %s", r)
	}

	// a dashboard whose API is not there says so
	dom = testutil.DumpDOM(t, chromium, c.base+"/lost/", 3*time.Second)
	m := regexp.MustCompile(`(?s)<div id="error" class="error" role="alert">(.*?)</div>`).FindStringSubmatch(dom)
	if m == nil || !strings.Contains(m[1], "GET /nothing/9/") || !strings.Contains(m[1], ": 404 ") ||
		!strings.Contains(m[1], `is there a location with "api" at /nothing/?`) {
		t.Errorf("no error shown for a missing API: %v", m)
	}
}
