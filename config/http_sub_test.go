package config

import (
	"reflect"
	"testing"
)

// subPairs returns the match and replacement of each pair of s.
func subPairs(s *HTTPSubFilter) [][2]string {
	var out [][2]string
	for _, p := range s.Filters {
		out = append(out, [2]string{p.Match, p.Value})
	}
	return out
}

// TestSubFilterInheritance checks nginx's inheritance of the sub module's
// directives: sub_filter pairs are inherited as a whole by a level that
// has none and replaced by one that has any; the others each on their own.
// The string is lower-cased as nginx does.
func TestSubFilterInheritance(t *testing.T) {
	cfg, errText := loadHTTP(t, `sub_filter 'HTTP://A/' 'https://$host/'; sub_filter_once off;
		server { listen 127.0.0.1:18080; sub_filter_types text/css;
			location /in/ { }
			location /own/ { sub_filter x y; sub_filter Z $arg_z; sub_filter_last_modified on; sub_filter_once on; }
			location /any/ { sub_filter_types *; }
		}`)
	if errText != "" {
		t.Fatal(errText)
	}
	srv := cfg.HTTP.Servers[0]
	want := [][2]string{{"http://a/", "https://$host/"}}
	css := []string{"text/html", "text/css"}
	if got := &srv.Settings.SubFilter; !reflect.DeepEqual(subPairs(got), want) || got.Once || !reflect.DeepEqual(got.Types, css) || got.AnyType {
		t.Errorf("server: %+v", got)
	}
	locs := map[string]*HTTPSubFilter{}
	for i := range srv.Locations {
		locs[srv.Locations[i].Name] = &srv.Locations[i].Settings.SubFilter
	}
	if got := locs["/in/"]; !reflect.DeepEqual(subPairs(got), want) || got.Once || got.LastModified || !reflect.DeepEqual(got.Types, css) {
		t.Errorf("/in/: %+v", got)
	}
	own := [][2]string{{"x", "y"}, {"z", "$arg_z"}}
	if got := locs["/own/"]; !reflect.DeepEqual(subPairs(got), own) || !got.Once || !got.LastModified {
		t.Errorf("/own/: %+v", got)
	}
	if got := locs["/any/"]; !got.AnyType || !reflect.DeepEqual(subPairs(got), want) {
		t.Errorf("/any/: %+v", got)
	}
}

// TestSubFilterDefaults checks the defaults: no strings, text/html, once
// on, last_modified off.
func TestSubFilterDefaults(t *testing.T) {
	cfg, errText := loadHTTP(t, `server { listen 127.0.0.1:18080; }`)
	if errText != "" {
		t.Fatal(errText)
	}
	got := cfg.HTTP.Servers[0].Settings.SubFilter
	if len(got.Filters) != 0 || !got.Once || got.LastModified || got.AnyType || !reflect.DeepEqual(got.Types, []string{"text/html"}) {
		t.Errorf("defaults: %+v", got)
	}
}
