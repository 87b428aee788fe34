package config

import (
	"math"
	"strings"
	"testing"
)

// TestHTTPStatic checks the file-serving directives: types blocks (added
// up at one level, replacing the inherited list, a duplicate extension
// warned about as nginx does), default_type, etag, if_modified_since,
// max_ranges, log_not_found and autoindex with their defaults and
// inheritance; root losing its final "/" and a relative alias keeping it.
func TestHTTPStatic(t *testing.T) {
	cfg, msg := loadHTTP(t, `types { text/html html; text/css css; }
		types { application/x-a A css; }
		default_type application/octet-stream;
		server { listen 18080; root /srv/www/;
			location / { }
			location /t/ { types { text/x-t t; } etag off; if_modified_since before; max_ranges 2; log_not_found off;
				autoindex on; autoindex_format json; autoindex_exact_size off; autoindex_localtime on; }
			location /a/ { alias rel/; }
		}`)
	if msg != "" {
		t.Fatal(msg)
	}
	srv := cfg.HTTP.Servers[0]
	if got := srv.Settings.Root; got != "/srv/www" {
		t.Errorf("root %q", got)
	}
	def := srv.Locations[0].Settings.Static
	if def.Types["css"] != "application/x-a" || def.Types["a"] != "application/x-a" || def.Types["html"] != "text/html" ||
		def.DefaultType != "application/octet-stream" || !def.ETag || def.IfModifiedSince != "exact" ||
		def.MaxRanges != math.MaxInt32 || !def.LogNotFound || def.Autoindex || def.AutoindexFormat != "html" || !def.AutoindexExactSize {
		t.Errorf("inherited static settings %+v", def)
	}
	tl := srv.Locations[1].Settings.Static
	if len(tl.Types) != 1 || tl.Types["t"] != "text/x-t" || tl.ETag || tl.IfModifiedSince != "before" || tl.MaxRanges != 2 ||
		tl.LogNotFound || !tl.Autoindex || tl.AutoindexFormat != "json" || tl.AutoindexExactSize || !tl.AutoindexLocaltime {
		t.Errorf("location static settings %+v", tl)
	}
	if a := srv.Locations[2].Alias; !strings.HasSuffix(a, "/rel/") || !strings.HasPrefix(a, "/") {
		t.Errorf("alias %q", a)
	}
	var warned bool
	for _, w := range cfg.Warnings {
		if strings.HasPrefix(w, `duplicate extension "css", content type: "application/x-a", previous content type: "text/css" in `) {
			warned = true
		}
	}
	if !warned {
		t.Errorf("warnings %q", cfg.Warnings)
	}
	// no types block: nginx's built-in types
	cfg, _ = loadHTTP(t, "server { listen 18080; }")
	if cfg.HTTP.Servers[0].Settings.Static.Types != nil {
		t.Errorf("types without a block: %v", cfg.HTTP.Servers[0].Settings.Static.Types)
	}
}
