package config

import (
	"reflect"
	"testing"
	"time"
)

func TestHTTPSticky(t *testing.T) {
	cfg, errs := loadHTTP(t, `
upstream c {
    server 127.0.0.1:1 route=a;
    server 127.0.0.1:2;
    sticky cookie srv_id expires=1h domain=.$host path=/ httponly secure samesite=Lax;
}
upstream m { server 127.0.0.1:1; sticky cookie s expires=max samesite=$x; }
upstream r { server 127.0.0.1:1 route=x; sticky route $cookie_route $arg_route; }
upstream n { server 127.0.0.1:1; }
upstream l { server 127.0.0.1:1; sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=sess:1m; }
upstream h { server 127.0.0.1:1; sticky learn lookup=$cookie_s create=$upstream_cookie_s create=$upstream_http_x zone=h:32k timeout=30s header; }`)
	if errs != "" {
		t.Fatal(errs)
	}
	ups := cfg.HTTP.Upstreams
	if got := []string{ups[0].Servers[0].Route, ups[0].Servers[1].Route}; !reflect.DeepEqual(got, []string{"a", ""}) {
		t.Errorf("routes = %q", got)
	}
	want := &HTTPSticky{Method: "cookie", Cookie: "srv_id", Expires: time.Hour, ExpiresSet: true, Domain: ".$host",
		Path: "/", HTTPOnly: true, Secure: true, SameSite: "Lax", Pos: ups[0].Sticky.Pos}
	if !reflect.DeepEqual(ups[0].Sticky, want) {
		t.Errorf("sticky cookie = %+v\nwant %+v", ups[0].Sticky, want)
	}
	if s := ups[1].Sticky; !s.ExpiresSet || !s.ExpiresMax || s.SameSite != "$x" {
		t.Errorf("expires=max samesite=$x: %+v", s)
	}
	if s := ups[2].Sticky; s.Method != "route" || !reflect.DeepEqual(s.Route, []string{"$cookie_route", "$arg_route"}) {
		t.Errorf("sticky route: %+v", s)
	}
	want = &HTTPSticky{Method: "learn", Create: []string{"$upstream_cookie_s"}, Lookup: []string{"$cookie_s"},
		Zone: "sess", ZoneSize: 1 << 20, Timeout: 10 * time.Minute, Pos: ups[4].Sticky.Pos}
	if !reflect.DeepEqual(ups[4].Sticky, want) {
		t.Errorf("sticky learn = %+v\nwant %+v", ups[4].Sticky, want)
	}
	want = &HTTPSticky{Method: "learn", Create: []string{"$upstream_cookie_s", "$upstream_http_x"}, Lookup: []string{"$cookie_s"},
		Zone: "h", ZoneSize: 32 << 10, Timeout: 30 * time.Second, Header: true, Pos: ups[5].Sticky.Pos}
	if !reflect.DeepEqual(ups[5].Sticky, want) {
		t.Errorf("sticky learn header = %+v\nwant %+v", ups[5].Sticky, want)
	}
	if ups[3].Sticky != nil {
		t.Errorf("no sticky: %+v", ups[3].Sticky)
	}
}
