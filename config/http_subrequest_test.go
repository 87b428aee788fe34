package config

import (
	"slices"
	"testing"
)

// TestHTTPSubrequests checks what auth_request, auth_request_set, mirror,
// mirror_request_body and internal compile to, and how they are
// inherited: each as a whole, "off" turning auth_request and mirror off.
func TestHTTPSubrequests(t *testing.T) {
	cfg, msg := loadHTTP(t, `auth_request /auth; auth_request_set $user $upstream_http_x_user; mirror /m1; mirror /m2;
		server { listen 127.0.0.1:18080; mirror_request_body off;
			location / { }
			location /in/ { auth_request off; auth_request_set $a 1; auth_request_set $b 2; mirror off; }
			location /m/ { mirror /m3; mirror_request_body on; }
			location = /auth { internal; } }`)
	if msg != "" {
		t.Fatal(msg)
	}
	srv := cfg.HTTP.Servers[0]
	root, in, m, auth := srv.Locations[0], srv.Locations[1], srv.Locations[2], srv.Locations[3]
	s := root.Settings.Sub
	if s.AuthRequest != "/auth" || len(s.AuthRequestSet) != 1 || s.AuthRequestSet[0].Var != "user" ||
		s.AuthRequestSet[0].Value != "$upstream_http_x_user" || !slices.Equal(s.Mirrors, []string{"/m1", "/m2"}) || !s.MirrorNoBody {
		t.Errorf("location /: %+v", s)
	}
	s = in.Settings.Sub
	if s.AuthRequest != "" || len(s.AuthRequestSet) != 2 || s.AuthRequestSet[1].Var != "b" || len(s.Mirrors) != 0 {
		t.Errorf("location /in/: %+v", s)
	}
	s = m.Settings.Sub
	if !slices.Equal(s.Mirrors, []string{"/m3"}) || s.MirrorNoBody || s.AuthRequest != "/auth" {
		t.Errorf("location /m/: %+v", s)
	}
	if !auth.Internal || root.Internal {
		t.Errorf("internal: %v %v", auth.Internal, root.Internal)
	}
}
