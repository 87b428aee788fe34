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
upstream n { server 127.0.0.1:1; }`)
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
	if ups[3].Sticky != nil {
		t.Errorf("no sticky: %+v", ups[3].Sticky)
	}
}
