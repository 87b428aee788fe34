package httpproxy

import (
	"github.com/sluicelb/sluice/admin"
	"github.com/sluicelb/sluice/config"
)

// buildDashboard sets up the dashboard of l (package admin makes the page;
// this file sends it): the page, and a Cache-Control: no-cache header,
// added as "add_header Cache-Control no-cache;" would be, so that a
// browser asks again for the page and a new Sluice's page replaces an old
// one.
func (p *proxy) buildDashboard(l *location, d *config.HTTPDashboard) error {
	l.dashboard = admin.NewDashboard(d.APIURI)
	return p.addNoCache(l, d.Pos)
}

// addNoCache adds Cache-Control: no-cache to the headers l adds.
func (p *proxy) addNoCache(l *location, pos string) error {
	t, err := p.tab.Compile("no-cache", pos)
	if err != nil {
		return err
	}
	hs := make([]addHeader, 0, len(l.addHeaders)+1)
	hs = append(hs, l.addHeaders...)
	l.addHeaders = append(hs, addHeader{name: "Cache-Control", value: t})
	return nil
}

// serveDashboard answers r with the dashboard of l: GET and HEAD get the
// page, other methods 405. It reports whether the connection stays open.
//
//go:noinline
func (c *conn) serveDashboard(r *request, l *location) bool {
	c.discardBody(r)
	status, page := l.dashboard.Serve(string(r.h1.Method))
	if status != 200 {
		return c.sendError(r, status)
	}
	return c.sendSimple(r, status, admin.DashboardContentType, page, nil)
}
