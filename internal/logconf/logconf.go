// Package logconf turns the error_log directives of a configuration into
// the targets of package errlog, for the places that open error logs (the
// main context, http servers and locations, stream servers). errlog
// itself does not know the configuration's types.
package logconf

import (
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
)

// ErrorTargets returns the targets of els: files, stderr or syslog, each
// with its level.
func ErrorTargets(els []config.ErrorLog) []errlog.Target {
	var ts []errlog.Target
	for _, el := range els {
		lvl, _ := errlog.ParseLevel(el.Level)
		t := errlog.Target{Path: el.Path, Level: lvl}
		if el.Syslog != nil {
			sc := errlog.SyslogConfig(*el.Syslog)
			t.Syslog = &sc
		}
		ts = append(ts, t)
	}
	return ts
}
