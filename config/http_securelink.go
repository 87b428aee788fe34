package config

// HTTPSecureLink holds the directives of ngx_http_secure_link_module of
// one level. secure_link and secure_link_md5 are inherited each on its
// own; secure_link_secret is inherited by a level that has neither of
// them, as nginx merges them.
type HTTPSecureLink struct {
	// Link is secure_link's value (HasLink when set): the MD5 hash in
	// base64url, optionally followed by "," and an expiry time in Unix
	// seconds; variables are allowed.
	Link    string `json:",omitempty"`
	HasLink bool   `json:",omitempty"`
	// MD5 is secure_link_md5's value (HasMD5 when set): the string whose
	// MD5 hash the link must hold; variables are allowed.
	MD5    string `json:",omitempty"`
	HasMD5 bool   `json:",omitempty"`
	// Secret is secure_link_secret's word (HasSecret when set): the link
	// is the request URI "/prefix/hash/link", hash being the MD5 of link
	// and the word in hexadecimal.
	Secret    string `json:",omitempty"`
	HasSecret bool   `json:",omitempty"`
}

func init() {
	// one rule, always run: nginx merges the three together
	httpInherit = append(httpInherit, httpInheritRule{"secure_link*", mergeSecureLink})
	httpModsChecks = append(httpModsChecks, checkSecureLink)
	register(httpSecureLinkDirectives)
}

var httpSecureLinkDirectives = []*Spec{
	{Name: "secure_link", Ctx: ctxHTTPAll, Args: Args1, Set: setSecureLink},
	{Name: "secure_link_md5", Ctx: ctxHTTPAll, Args: Args1, Set: setSecureLink},
	{Name: "secure_link_secret", Ctx: ctxHTTPAll, Args: Args1, Set: setSecureLink},
}

// setSecureLink parses secure_link, secure_link_md5 and
// secure_link_secret. Variables in the first two are compiled when the
// configuration is built.
func setSecureLink(c *compiler, d *Directive, parent any) (any, error) {
	s := hset(c, parent)
	sl := &s.Mods.SecureLink
	switch d.Name {
	case "secure_link":
		sl.Link, sl.HasLink = d.Args[0], true
	case "secure_link_md5":
		sl.MD5, sl.HasMD5 = d.Args[0], true
	default:
		sl.Secret, sl.HasSecret = d.Args[0], true
	}
	s.mark(d.Name)
	return nil, nil
}

// mergeSecureLink is nginx's ngx_http_secure_link_merge_conf: a level
// with secure_link_secret inherits nothing; another inherits secure_link
// and secure_link_md5 each unless it sets it, and then the enclosing
// secure_link_secret when it has neither.
func mergeSecureLink(d, s *HTTPSettings) {
	dl, sl := &d.Mods.SecureLink, &s.Mods.SecureLink
	if d.set["secure_link_secret"] {
		return
	}
	if !d.set["secure_link"] {
		dl.Link, dl.HasLink = sl.Link, sl.HasLink
	}
	if !d.set["secure_link_md5"] {
		dl.MD5, dl.HasMD5 = sl.MD5, sl.HasMD5
	}
	if !dl.HasLink && !dl.HasMD5 {
		dl.Secret, dl.HasSecret = sl.Secret, sl.HasSecret
	}
}

// checkSecureLink refuses a server or location that sets
// secure_link_secret with secure_link or secure_link_md5, as nginx does
// when merging (the http level is not checked, as in nginx).
func checkSecureLink(s *HTTPSettings, file string, line int) error {
	if s.set["secure_link_secret"] && (s.set["secure_link"] || s.set["secure_link_md5"]) {
		return errorf(file, line, `"secure_link_secret" cannot be mixed with "secure_link" and "secure_link_md5"`)
	}
	return nil
}
