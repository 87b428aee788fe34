package config

// HTTPMods holds the directives of nginx's small http modules of one
// level: secure_link (http_securelink.go), userid (http_userid.go),
// random_index and gunzip (http_mods.go). The zero value is nginx's
// defaults: every module off.
type HTTPMods struct {
	SecureLink HTTPSecureLink `json:",omitzero"`
	UserID     HTTPUserID     `json:",omitzero"`
	// RandomIndex is random_index (location; default off): a URI ending
	// in "/" is answered with a file of the directory chosen at random.
	RandomIndex bool `json:",omitempty"`
	// Gunzip is gunzip (default off): proxied responses compressed with
	// gzip are decompressed for clients that do not accept gzip.
	// gunzip_buffers is checked and ignored (the decompressor needs no
	// such buffers).
	Gunzip bool `json:",omitempty"`
}

func init() {
	httpInherit = append(httpInherit, []httpInheritRule{
		{"random_index", func(d, s *HTTPSettings) { d.Mods.RandomIndex = s.Mods.RandomIndex }},
		{"gunzip", func(d, s *HTTPSettings) { d.Mods.Gunzip = s.Mods.Gunzip }},
	}...)
	register(httpModsDirectives)
}

// httpModsDirectives are the directives of the small modules that fit in
// a line: random_index, gunzip and gunzip_buffers.
var httpModsDirectives = []*Spec{
	{Name: "random_index", Ctx: CtxHTTPLocation, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.Mods.RandomIndex })},
	{Name: "gunzip", Ctx: ctxHTTPAll, Args: ArgsFlag, Set: setting(hset, flagValue, func(s *HTTPSettings) *bool { return &s.Mods.Gunzip })},
	{Name: "gunzip_buffers", Ctx: ctxHTTPAll, Args: Args2, Set: func(c *compiler, d *Directive, parent any) (any, error) {
		if _, _, err := bufsArg(d); err != nil {
			return nil, err
		}
		hset(c, parent).mark(d.Name)
		return nil, nil
	}},
}

// httpModsChecks run when the http block closes, after inheritance, on
// the settings of every level; the first error stops the load. file and
// line are those of the end of the http block, where nginx reports the
// errors it finds while merging levels.
var httpModsChecks []func(s *HTTPSettings, file string, line int) error

// checkHTTPMods runs httpModsChecks on every level of h.
func checkHTTPMods(h *HTTP, file string, line int) error {
	var err error
	walkHTTPSettings(h, func(s *HTTPSettings) {
		for _, check := range httpModsChecks {
			if err == nil {
				err = check(s, file, line)
			}
		}
	})
	return err
}
