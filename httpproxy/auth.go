package httpproxy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/errlog"
	"github.com/sluicelb/sluice/internal/passwd"
	"github.com/sluicelb/sluice/vars"
)

// accessConf is what the access phase of a location checks: allow/deny,
// auth_basic and satisfy.
type accessConf struct {
	rules      []config.StreamAccessRule
	auth       *authConf        // nil without auth_basic and auth_basic_user_file
	authReq    *authRequestConf // auth_request, nil for none (subrequest.go)
	satisfyAny bool
}

// authConf is a compiled auth_basic and auth_basic_user_file.
type authConf struct {
	realm      *vars.Template[*request]
	file       *vars.Template[*request]
	filePrefix string // the directory a relative file with variables is in
}

// limitExceptConf is a compiled limit_except block: requests whose method
// is not in methods are checked with acc instead of the location's.
type limitExceptConf struct {
	methods []string
	acc     accessConf
}

// Results of the access phase handlers besides an HTTP status, as nginx's
// NGX_DECLINED and NGX_OK.
const (
	accessDeclined = -1
	accessOK       = 0
)

// buildAccess compiles the access phase settings of st.
func (p *proxy) buildAccess(st *config.HTTPSettings, pos string) (accessConf, error) {
	acc := accessConf{rules: st.Access, satisfyAny: st.Auth.SatisfyAny}
	a := &st.Auth
	// each value is compiled when set, so that an unknown variable is
	// refused even when the other directive is missing, as nginx does
	var realm, file *vars.Template[*request]
	var err error
	if a.Realm != nil {
		if realm, err = p.tab.Compile(*a.Realm, pos); err != nil {
			return acc, vars.NginxError(err)
		}
	}
	if a.UserFile != "" {
		if file, err = p.tab.Compile(a.UserFile, pos); err != nil {
			return acc, vars.NginxError(err)
		}
	}
	if realm != nil && file != nil {
		acc.auth = &authConf{realm: realm, file: file, filePrefix: a.UserFilePrefix}
	}
	if acc.authReq, err = p.buildAuthRequest(st); err != nil {
		return acc, err
	}
	return acc, nil
}

// buildLimitExcept compiles the limit_except block of lc, if any.
func (p *proxy) buildLimitExcept(lc *config.HTTPLocation) (*limitExceptConf, error) {
	if lc == nil || lc.LimitExcept == nil {
		return nil, nil
	}
	le := lc.LimitExcept
	acc, err := p.buildAccess(&le.Location.Settings, le.Pos)
	if err != nil {
		return nil, err
	}
	return &limitExceptConf{methods: le.Methods, acc: acc}, nil
}

// accessPhase runs allow/deny and then auth_basic for the request in l,
// with nginx's satisfy rules. It returns 0 when the request may go on,
// else the status to answer with (r.ep.wwwAuth is set for a 401).
func (c *conn) accessPhase(r *request, l *location) int {
	acc := &l.acc
	if le := l.limitExcept; le != nil && !methodIn(le.methods, r.h1.Method) {
		acc = &le.acc
	}
	if len(acc.rules) == 0 && acc.auth == nil && acc.authReq == nil {
		return 0
	}
	code := 0 // nginx's r->access_code
	// nginx's order: allow/deny, auth_basic, auth_request
	for step := range 3 {
		var rc int
		switch step {
		case 0:
			rc = c.accessRules(r, acc)
		case 1:
			rc = c.authBasic(r, acc.auth)
		default:
			rc = c.authRequest(r, acc.authReq) // subrequest.go
		}
		switch {
		case rc == accessDeclined:
			continue
		case !acc.satisfyAny && rc == accessOK:
			continue
		case !acc.satisfyAny:
			return rc
		case rc == accessOK:
			r.ep.wwwAuth = nil
			return 0
		case rc == 401 || rc == 403:
			if code != 401 {
				code = rc
			}
		default:
			return rc
		}
	}
	if code == 0 {
		return 0
	}
	if code == 403 {
		c.logf(r.srv, errlog.LevelError, "access forbidden by rule")
	}
	return code
}

// methodIn reports whether method is one of list.
func methodIn(list []string, method []byte) bool {
	for _, m := range list {
		if m == string(method) {
			return true
		}
	}
	return false
}

// accessRules is ngx_http_access_module's handler.
func (c *conn) accessRules(r *request, acc *accessConf) int {
	allow, matched := matchAccessRule(acc.rules, r.remote.Addr(), c.unix)
	switch {
	case !matched:
		return accessDeclined
	case allow:
		return accessOK
	}
	if !acc.satisfyAny {
		c.logf(r.srv, errlog.LevelError, "access forbidden by rule")
	}
	return 403
}

// basicCredentials decodes the Authorization header of r as nginx's
// ngx_http_auth_basic_user: "Basic" in any case, spaces, and base64 that
// may lack its padding and ends at the first "=". The user may not be
// empty.
func basicCredentials(r *request) (user, pass []byte, ok bool) {
	v := r.h1.Get("authorization")
	if len(v) < len("Basic ") || !bytes.EqualFold(v[:len("Basic ")], []byte("Basic ")) {
		return nil, nil, false
	}
	v = bytes.TrimLeft(v[len("Basic "):], " ")
	if i := bytes.IndexByte(v, '='); i >= 0 {
		v = v[:i]
	}
	if len(v) == 0 {
		return nil, nil, false
	}
	dec := make([]byte, base64.RawStdEncoding.DecodedLen(len(v)))
	n, err := base64.RawStdEncoding.Decode(dec, v)
	if err != nil {
		return nil, nil, false
	}
	dec = dec[:n]
	i := bytes.IndexByte(dec, ':')
	if i <= 0 {
		return nil, nil, false
	}
	return dec[:i], dec[i+1:], true
}

// setRealm answers 401 with the realm, as ngx_http_auth_basic_set_realm
// (the realm is not escaped).
func (r *request) setRealm(realm []byte) int {
	v := make([]byte, 0, len(`Basic realm=""`)+len(realm))
	v = append(v, `Basic realm="`...)
	v = append(v, realm...)
	r.ep.wwwAuth = append(v, '"')
	return 401
}

// authBasic is ngx_http_auth_basic_module's handler. The user file is
// read for every request, as nginx reads it.
func (c *conn) authBasic(r *request, a *authConf) int {
	if a == nil {
		return accessDeclined
	}
	realm := a.realm.Append(nil, r)
	if string(realm) == "off" {
		return accessDeclined
	}
	user, pass, ok := basicCredentials(r)
	if !ok {
		c.logf(r.srv, errlog.LevelInfo, "no user/password was provided for basic authentication")
		return r.setRealm(realm)
	}
	file := string(a.file.Append(nil, r))
	if a.filePrefix != "" && !filepath.IsAbs(file) {
		file = filepath.Join(a.filePrefix, file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Op != "open" {
			c.logf(r.srv, errlog.LevelCrit, fmt.Sprintf("pread() \"%s\" failed %s", file, errText(pe.Err)))
			return 500
		}
		if errors.Is(err, fs.ErrNotExist) {
			c.logf(r.srv, errlog.LevelError, fmt.Sprintf("open() \"%s\" failed %s", file, errText(unwrapPath(err))))
			return 403
		}
		c.logf(r.srv, errlog.LevelCrit, fmt.Sprintf("open() \"%s\" failed %s", file, errText(unwrapPath(err))))
		return 500
	}
	stored, found := findUser(data, user)
	if !found {
		c.logf(r.srv, errlog.LevelError, fmt.Sprintf("user \"%s\" was not found in \"%s\"", user, file))
		return r.setRealm(realm)
	}
	if passwd.Verify(pass, stored) {
		return accessOK
	}
	msg := fmt.Sprintf("user \"%s\": password mismatch", user)
	if !passwd.Known(string(stored)) {
		msg += " (password scheme not supported by sluice)"
	}
	c.logf(r.srv, errlog.LevelError, msg)
	return r.setRealm(realm)
}

// unwrapPath returns the error under a *fs.PathError.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// findUser finds the line of user in a password file as nginx's parser:
// lines starting with "#" or CR are skipped; the first line starting with
// user and ":" wins, and its password ends at CR, LF, ":" or the end of
// the file. As in nginx, a line that is a beginning of user and ":" hides
// the line after it (its LF is taken as the mismatch and skipped past).
func findUser(data, user []byte) ([]byte, bool) {
	skip := false
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if skip {
			skip = false
			continue
		}
		if len(line) == 0 || line[0] == '#' || line[0] == '\r' {
			continue
		}
		if len(line) <= len(user) || !bytes.Equal(line[:len(user)], user) || line[len(user)] != ':' {
			n := min(len(line), len(user))
			skip = len(line) <= len(user) && bytes.Equal(line, user[:n]) && data != nil
			continue
		}
		pw := line[len(user)+1:]
		if i := bytes.IndexAny(pw, "\r:"); i >= 0 {
			pw = pw[:i]
		}
		return pw, true
	}
	return nil, false
}

// appendRemoteUser is $remote_user: the user of the Basic credentials
// the client sent, whether or not auth_basic checks them.
func appendRemoteUser(dst []byte, r *request) ([]byte, bool) {
	user, _, ok := basicCredentials(r)
	if !ok {
		return dst, false
	}
	return append(dst, user...), true
}
