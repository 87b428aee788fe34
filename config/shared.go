package config

import (
	"fmt"
	"strings"
)

// sharedZoneDirectives are the directives whose state nginx keeps in
// shared memory, for all its worker processes to see: counters, limits,
// caches, the run-time state of upstream groups, and the status pages and
// API that read them.
var sharedZoneDirectives = map[string]bool{
	"zone":               true,
	"limit_conn_zone":    true,
	"limit_req_zone":     true,
	"proxy_cache_path":   true,
	"fastcgi_cache_path": true,
	"uwsgi_cache_path":   true,
	"scgi_cache_path":    true,
	"keyval_zone":        true,
	"stub_status":        true,
	"api":                true,
	"metrics":            true,
	"dashboard":          true,
	"health_check":       true,
	"sticky":             true,
	"queue":              true,
}

// sharedState returns where the configuration first uses state that
// worker processes would have to share, as "directive \"name\" in
// file:line", or "" when it uses none. sluice keeps such state in one
// process's memory, so a configuration that uses it runs as one process
// (see cmd/sluice's worker processes).
func sharedState(tree []*Directive) string {
	for _, d := range tree {
		if where := sharedIn(d); where != "" {
			return where
		}
	}
	return ""
}

func sharedIn(d *Directive) string {
	shared := sharedZoneDirectives[d.Name]
	switch d.Name {
	case "ssl_session_cache":
		// a cache of the worker's own ("builtin") or none is per
		// process anyway
		for _, a := range d.Args {
			if strings.HasPrefix(a, "shared:") {
				shared = true
			}
		}
	case "listen":
		// UDP sessions are kept by the process that reads the
		// datagrams: all of a client's must reach the same one
		for _, a := range d.Args[min(1, len(d.Args)):] {
			if a == "udp" {
				shared = true
			}
		}
	}
	if shared {
		return fmt.Sprintf("directive %q in %s:%d", d.Name, d.File, d.Line)
	}
	for _, c := range d.Block {
		if where := sharedIn(c); where != "" {
			return where
		}
	}
	return ""
}
