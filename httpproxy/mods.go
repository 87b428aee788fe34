package httpproxy

import (
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/vars"
)

// The small nginx modules that hook into a location without being its
// handler: secure_link (securelink.go), userid (userid.go) and gunzip
// (gunzip.go). A location that uses none of them has nil mods, so that
// they cost requests elsewhere one pointer test.

// modsConf is the compiled configuration of the small modules of one
// location.
type modsConf struct {
	secureLink *secureLinkConf // nil without secure_link settings
	uid        *useridConf     // nil when userid is off
	gunzip     *gunzipConf     // nil when gunzip is off
}

// modsState is what the small modules keep for one request.
type modsState struct {
	// slExpires is the expiry part of the last secure_link value that
	// had one, for $secure_link_expires (slHasExpires).
	slExpires    []byte
	slHasExpires bool
	// buf holds values the modules evaluate (secure_link_md5's,
	// $uid_reset's).
	buf []byte
	uid useridState
	// gunzip says the proxied response is being decompressed (gunzip.go).
	gunzip bool
}

// reset forgets the state of the previous request, keeping buffers.
func (m *modsState) reset() {
	m.slExpires, m.slHasExpires = m.slExpires[:0], false
	if cap(m.buf) > 4<<10 {
		m.buf = nil
	}
	m.uid = useridState{cookie: m.uid.cookie[:0]}
	m.gunzip = false
}

// buildMods compiles the small modules' settings of st; nil when none
// is used.
func (p *proxy) buildMods(st *config.HTTPSettings, pos string) (*modsConf, error) {
	var mc modsConf
	var err error
	if mc.secureLink, err = p.buildSecureLink(&st.Mods.SecureLink, pos); err != nil {
		return nil, err
	}
	if mc.uid, err = p.buildUserID(&st.Mods.UserID, pos); err != nil {
		return nil, err
	}
	if mc.gunzip, err = buildGunzip(st, pos); err != nil {
		return nil, err
	}
	if mc == (modsConf{}) {
		return nil, nil
	}
	return &mc, nil
}

// defineModsVars defines the variables of the small modules.
func defineModsVars(t *vars.Table[*request]) error {
	defs := append(userIDVars(), []struct {
		name  string
		get   vars.Getter[*request]
		flags vars.Flags
	}{
		{"secure_link", secureLinkVar, 0},
		{"secure_link_expires", func(dst []byte, r *request) ([]byte, bool) {
			if !r.mods.slHasExpires {
				return dst, false
			}
			return append(dst, r.mods.slExpires...), true
		}, 0},
	}...)
	for _, d := range defs {
		if err := t.Define(d.name, d.get, d.flags); err != nil {
			return err
		}
	}
	return nil
}
