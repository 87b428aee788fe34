package config

import (
	"net/netip"
	"strings"
)

// Syslog is a "syslog:" target of error_log or access_log, parsed and
// resolved as nginx does when it reads the configuration:
//
//	syslog:server=ADDRESS[,facility=F][,severity=S][,tag=T][,nohostname]
//
// Its fields match errlog.SyslogConfig, so one converts to the other.
type Syslog struct {
	// Server is the resolved address: "127.0.0.1:514", "[::1]:514" or
	// "unix:/dev/log". A host name is resolved once, here; the first IPv4
	// address wins, as in nginx.
	Server string
	// Facility is the number of facility= (kern 0 ... local7 23); the
	// default is local7.
	Facility int
	// Severity is the number of severity= (emerg 0 ... debug 7); the
	// default is info. Only access_log uses it: an error_log message
	// carries its own level.
	Severity int
	// Tag is tag=, "nginx" unless given (it may be given empty).
	Tag        string
	NoHostname bool `json:",omitempty"`
}

// SyslogFacilities are the facility= names, in the order of their numbers.
var SyslogFacilities = []string{"kern", "user", "mail", "daemon", "auth", "intern", "lpr", "news", "uucp",
	"clock", "authpriv", "ftp", "ntp", "audit", "alert", "cron", "local0",
	"local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// SyslogSeverities are the severity= names, in the order of their numbers
// (nginx's level names, not syslog's "err" and "warning").
var SyslogSeverities = []string{"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"}

// isSyslog reports whether a log target is a "syslog:" one (the prefix is
// case-sensitive, as in nginx).
func isSyslog(target string) bool { return strings.HasPrefix(target, "syslog:") }

// parseSyslog parses the parameters of a "syslog:" target with nginx's
// messages: comma-separated, each at most once, server= required.
func parseSyslog(d *Directive, target string) (*Syslog, error) {
	s := &Syslog{Facility: -1, Severity: -1}
	var server string
	var haveServer, haveTag bool
	for _, p := range strings.Split(target[len("syslog:"):], ",") {
		switch {
		case strings.HasPrefix(p, "server="):
			if haveServer {
				return nil, errorf(d.File, d.Line, `duplicate syslog "server"`)
			}
			server, haveServer = p[len("server="):], true
			addr, msg := syslogServer(server)
			if msg != "" {
				return nil, errorf(d.File, d.Line, `%s in syslog server "%s"`, msg, server)
			}
			s.Server = addr
		case strings.HasPrefix(p, "facility="):
			if s.Facility >= 0 {
				return nil, errorf(d.File, d.Line, `duplicate syslog "facility"`)
			}
			if s.Facility = indexOf(SyslogFacilities, p[len("facility="):]); s.Facility < 0 {
				return nil, errorf(d.File, d.Line, `unknown syslog facility "%s"`, p[len("facility="):])
			}
		case strings.HasPrefix(p, "severity="):
			if s.Severity >= 0 {
				return nil, errorf(d.File, d.Line, `duplicate syslog "severity"`)
			}
			if s.Severity = indexOf(SyslogSeverities, p[len("severity="):]); s.Severity < 0 {
				return nil, errorf(d.File, d.Line, `unknown syslog severity "%s"`, p[len("severity="):])
			}
		case strings.HasPrefix(p, "tag="):
			if haveTag {
				return nil, errorf(d.File, d.Line, `duplicate syslog "tag"`)
			}
			tag := p[len("tag="):]
			// RFC 3164: alphanumeric characters, at most 32.
			if len(tag) > 32 {
				return nil, errorf(d.File, d.Line, "syslog tag length exceeds 32")
			}
			for i := 0; i < len(tag); i++ {
				if !isTagChar(tag[i]) {
					return nil, errorf(d.File, d.Line, `syslog "tag" only allows alphanumeric characters and underscore`)
				}
			}
			s.Tag, haveTag = tag, true
		case p == "nohostname":
			s.NoHostname = true
		default:
			return nil, errorf(d.File, d.Line, `unknown syslog parameter "%s"`, p)
		}
	}
	if !haveServer {
		return nil, errorf(d.File, d.Line, "no syslog server specified")
	}
	if s.Facility < 0 {
		s.Facility = 23 // local7
	}
	if s.Severity < 0 {
		s.Severity = 6 // info
	}
	if !haveTag {
		s.Tag = "nginx"
	}
	return s, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// isTagChar reports whether c may appear in a syslog tag: a letter, a
// digit or an underscore.
func isTagChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// syslogServer parses and resolves server= as nginx's URL parser does for
// it: unix:PATH, [IPV6][:PORT] or HOST[:PORT], the port 514 by default.
// It returns the address, or nginx's reason ("invalid port", "no host",
// ...) for refusing it.
func syslogServer(s string) (addr, msg string) {
	if len(s) >= 5 && strings.EqualFold(s[:5], "unix:") {
		switch path := s[5:]; {
		case path == "":
			return "", "no path in the unix domain socket"
		case len(path)+1 > 108: // sizeof(sun_path)
			return "", "too long path in the unix domain socket"
		default:
			return "unix:" + path, ""
		}
	}
	port := int64(514)
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "invalid host"
		}
		if rest := s[end+1:]; rest != "" {
			if rest[0] != ':' || strings.Contains(rest, "/") {
				return "", "invalid host"
			}
			p, ok := parseDigits(rest[1:])
			if !ok || p < 1 || p > 65535 {
				return "", "invalid port"
			}
			port = p
		}
		host := s[1:end]
		if host == "" {
			return "", "no host"
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", "invalid IPv6 address"
		}
		return netip.AddrPortFrom(a, uint16(port)).String(), ""
	}
	if strings.ContainsAny(s, "/?") {
		return "", "invalid host"
	}
	host := s
	if i := strings.IndexByte(s, ':'); i >= 0 {
		p, ok := parseDigits(s[i+1:])
		if !ok || p < 1 || p > 65535 {
			return "", "invalid port"
		}
		host, port = s[:i], p
	}
	if host == "" {
		return "", "no host"
	}
	addrs := resolveHostPort(host, int(port))
	if len(addrs) == 0 {
		return "", "host not found"
	}
	for _, a := range addrs { // IPv4 first, as nginx orders them
		if ap, err := netip.ParseAddrPort(a); err == nil && ap.Addr().Is4() {
			return a, ""
		}
	}
	return addrs[0], ""
}
