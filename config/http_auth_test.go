package config

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestHTTPAuth checks what auth_basic, auth_basic_user_file, satisfy and
// limit_except compile to, and how they are inherited.
func TestHTTPAuth(t *testing.T) {
	cfg, msg := loadHTTP(t, `auth_basic top; auth_basic_user_file users; satisfy any;
		server { listen 127.0.0.1:18080;
			location / { auth_basic_user_file /abs/$host; deny all;
				limit_except get POST { allow 127.0.0.1; auth_basic le; } }
			location /off/ { auth_basic off; satisfy all; limit_except PUT { } } }`)
	if msg != "" {
		t.Fatal(msg)
	}
	dir := filepath.Dir(cfg.File)
	srv := cfg.HTTP.Servers[0]
	l, off := srv.Locations[0], srv.Locations[1]
	a := l.Settings.Auth
	if a.Realm == nil || *a.Realm != "top" || a.UserFile != "/abs/$host" || a.UserFilePrefix != dir || !a.SatisfyAny {
		t.Errorf("location /: %+v", a)
	}
	if sa := srv.Settings.Auth; sa.UserFile != filepath.Join(dir, "users") || sa.UserFilePrefix != "" {
		t.Errorf("server: %+v", sa)
	}
	le := l.LimitExcept
	if le == nil || !slices.Equal(le.Methods, []string{"GET", "POST", "HEAD"}) || !le.Allows("HEAD") || le.Allows("PUT") {
		t.Fatalf("limit_except: %+v", le)
	}
	ls := le.Location.Settings
	if *ls.Auth.Realm != "le" || ls.Auth.UserFile != "/abs/$host" || !ls.Auth.SatisfyAny || len(ls.Access) != 1 || !ls.Access[0].Allow {
		t.Errorf("limit_except settings: %+v %+v", ls.Auth, ls.Access)
	}
	if le.Location.Name != "/" || le.Location.ProxyPass != nil {
		t.Errorf("limit_except location: %q", le.Location.Name)
	}
	if *off.Settings.Auth.Realm != "off" || off.Settings.Auth.SatisfyAny || !slices.Equal(off.LimitExcept.Methods, []string{"PUT"}) {
		t.Errorf("location /off/: %+v %+v", off.Settings.Auth, off.LimitExcept)
	}
}
