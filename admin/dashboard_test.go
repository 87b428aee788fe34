package admin

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardPage checks the page is built for the API's URI, escaped,
// and stays one small self-contained file.
func TestDashboardPage(t *testing.T) {
	if !strings.Contains(dashboardPage, dashboardMeta) {
		t.Fatalf("the page has no %s", dashboardMeta)
	}
	if n := len(dashboardPage); n >= 20<<10 {
		t.Errorf("the page is %d bytes, want less than 20 KB", n)
	}
	for _, s := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "<link", " src=", "@import", "url(", "http://", "https://"} {
		if strings.Contains(dashboardPage, s) {
			t.Errorf("the page has %q: it must be self-contained and put API data in as text", s)
		}
	}
	if !strings.Contains(dashboardPage, `var base = api + "9/";`) {
		t.Error("the page does not read version 9 of the API")
	}
	for _, s := range []string{"nginx", "connections", "http/requests", "http/upstreams", "stream/upstreams"} {
		if !strings.Contains(dashboardPage, `get("`+s+`")`) {
			t.Errorf("the page does not read 9/%s", s)
		}
	}
	for _, tc := range []struct{ uri, want string }{
		{"/api/", `<meta name="sluice-api" content="/api/">`},
		{"/status/api", `<meta name="sluice-api" content="/status/api">`},
		{`/a"><script>x</script>&`, `<meta name="sluice-api" content="/a&#34;&gt;&lt;script&gt;x&lt;/script&gt;&amp;">`},
	} {
		d := NewDashboard(tc.uri)
		st, page := d.Serve("GET")
		if st != 200 || !bytes.Contains(page, []byte(tc.want)) {
			t.Errorf("api URI %q: %d, page without %s", tc.uri, st, tc.want)
		}
		if n := len(regexp.MustCompile(`<meta name="sluice-api"`).FindAll(page, -1)); n != 1 {
			t.Errorf("api URI %q: %d api meta tags", tc.uri, n)
		}
		if bytes.Contains(page, []byte("<script>x")) {
			t.Errorf("api URI %q went into the page unescaped", tc.uri)
		}
	}
}

// TestDashboardMethods checks GET and HEAD get the page, other methods 405.
func TestDashboardMethods(t *testing.T) {
	d := NewDashboard("/api/")
	for _, m := range []string{"GET", "HEAD"} {
		if st, page := d.Serve(m); st != 200 || len(page) == 0 {
			t.Errorf("%s: %d, %d bytes", m, st, len(page))
		}
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get"} {
		if st, page := d.Serve(m); st != 405 || page != nil {
			t.Errorf("%s: %d, %d bytes, want 405", m, st, len(page))
		}
	}
}
