package admin

import (
	_ "embed"
	"html"
	"strings"
)

// DashboardContentType is the Content-Type of the dashboard page.
const DashboardContentType = "text/html; charset=utf-8"

// dashboardPage is the dashboard: one self-contained page (no external
// scripts, styles or fonts) whose script polls the API and shows what it
// reports. Its sluice-api meta tag holds the API's URI.
//
//go:embed dashboard.html
var dashboardPage string

// dashboardMeta is the meta tag of dashboardPage that names the API's URI.
const dashboardMeta = `<meta name="sluice-api" content="/api/">`

// Dashboard answers the requests of one location with the "dashboard"
// directive: the status page, set to read the API at the URI the
// directive gives. It is built when the configuration is and not changed
// after; Serve is safe for concurrent use.
type Dashboard struct {
	page []byte
}

// NewDashboard returns the dashboard that reads the API at apiURI, the URI
// of a location with the api directive ("/api/" in nginx's examples).
func NewDashboard(apiURI string) *Dashboard {
	meta := `<meta name="sluice-api" content="` + html.EscapeString(apiURI) + `">`
	return &Dashboard{page: []byte(strings.Replace(dashboardPage, dashboardMeta, meta, 1))}
}

// Serve answers a request with method: 200 and the page for GET and HEAD,
// 405 and no page for the others. The page must not be changed.
func (d *Dashboard) Serve(method string) (int, []byte) {
	if method != "GET" && method != "HEAD" {
		return 405, nil
	}
	return 200, d.page
}
