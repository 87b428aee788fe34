package httpproxy

import (
	"fmt"
	"strings"

	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/internal/pcre"
	"github.com/sluicelb/sluice/vars"
)

// cgiConf is a compiled fastcgi_pass, uwsgi_pass or scgi_pass with the
// module's parameters.
type cgiConf struct {
	proto  string    // config.ProtoFastCGI, ProtoUWSGI or ProtoSCGI
	pass   *passConf // the address: up, or url with variables
	params []cgiParam
	// paramHeaders are the names of the params that start with "HTTP_",
	// in upper case: request headers of those names are not passed.
	paramHeaders []string
	keepConn     bool // fastcgi_keep_conn
	passHeaders  bool // *_pass_request_headers
	passBody     bool // *_pass_request_body
	mod1, mod2   byte // uwsgi_modifier1, uwsgi_modifier2
}

// cgiParam is one compiled *_param.
type cgiParam struct {
	setHeader  // the name and its value, as proxy_set_header's
	ifNotEmpty bool
}

// cgiSplit is the location's fastcgi_split_path_info and fastcgi_index,
// for $fastcgi_script_name and $fastcgi_path_info.
type cgiSplit struct {
	re    *pcre.Regexp // nil: no split
	index string
}

// cgiHidden are the response headers of an application server that are
// not passed by default (nginx's ngx_http_fastcgi_hide_headers, with the
// Date and Server that sluice always writes itself).
var cgiHidden = []string{"status", "date", "server", "x-accel-expires", "x-accel-redirect",
	"x-accel-limit-rate", "x-accel-buffering", "x-accel-charset"}

// cgiSettings returns the settings of a location whose handler is the
// gateway module proto: a copy of st whose proxy_* values, which the
// upstream code reads, are the module's own. Nothing of proxy_pass's
// request rewriting (proxy_redirect, proxy_cookie_*, proxy_cache) applies.
func cgiSettings(st *config.HTTPSettings, proto string) *config.HTTPSettings {
	g := st.CGI(proto)
	s := *st
	s.ProxyConnectTimeout, s.ProxyReadTimeout, s.ProxySendTimeout = g.ConnectTimeout, g.ReadTimeout, g.SendTimeout
	s.ProxyHideHeaders, s.ProxyPassHeaders = g.HideHeaders, g.PassHeaders
	s.ProxyNextUpstream, s.ProxyNextUpstreamTries, s.ProxyNextUpstreamTimeout = g.NextUpstream, g.NextUpstreamTries, g.NextUpstreamTimeout
	s.ProxyInterceptErrors = g.InterceptErrors
	s.ProxyBuffering, s.ProxyRequestBuffering = g.Buffering, true
	s.ProxyBufferSize, s.ProxyBuffersNum, s.ProxyBuffersSize = g.BufferSize, g.BuffersNum, g.BuffersSize
	s.ProxyBusyBuffersSize = g.BusyBuffersSize
	s.ProxyPassRequestHeaders, s.ProxyPassRequestBody = g.PassRequestHeaders, g.PassRequestBody
	s.ProxyIgnoreClientAbort = g.IgnoreClientAbort
	s.ProxySocketKeepalive = g.SocketKeepalive
	s.ProxyBind = g.Bind
	s.ProxyHTTPVersion = "1.1"
	s.ProxyRedirect = nil
	s.ProxyCookieDomain, s.ProxyCookiePath, s.ProxyCookieFlags = nil, nil, nil
	s.ProxyCache = nil
	s.ProxySetHeaders = nil
	return &s
}

// buildCGI compiles the gateway handler of a location.
func (p *proxy) buildCGI(cp *config.HTTPCGIPass, st *config.HTTPSettings, pos string) (*cgiConf, error) {
	g := st.CGI(cp.Proto)
	cc := &cgiConf{proto: cp.Proto, keepConn: g.KeepConn && cp.Proto == config.ProtoFastCGI,
		passHeaders: g.PassRequestHeaders, passBody: g.PassRequestBody,
		mod1: byte(g.Modifier1), mod2: byte(g.Modifier2)}
	pp := cp.Pass
	if pp.HasVars {
		t, err := p.tab.Compile(pp.URL, pp.Pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		cc.pass = &passConf{url: t}
	} else {
		up := p.groups[strings.ToLower(pp.Upstream)]
		if up == nil {
			return nil, fmt.Errorf("httpproxy: no upstream %q in %s", pp.Upstream, pp.Pos)
		}
		cc.pass = &passConf{up: up}
	}
	for _, prm := range g.Params {
		if len(prm.Name) > 5 && strings.EqualFold(prm.Name[:5], "HTTP_") {
			cc.paramHeaders = append(cc.paramHeaders, strings.ToUpper(prm.Name))
			if prm.Value == "" {
				continue // hides the header, sends nothing (as nginx)
			}
		}
		t, err := p.tab.Compile(prm.Value, pos)
		if err != nil {
			return nil, vars.NginxError(err)
		}
		k, isConst := t.Const()
		cc.params = append(cc.params, cgiParam{setHeader: setHeader{name: []byte(prm.Name), value: t, konst: []byte(k), isVar: !isConst}, ifNotEmpty: prm.IfNotEmpty})
	}
	return cc, nil
}

// buildCGISplit compiles fastcgi_split_path_info and fastcgi_index of a
// level, nil where neither is set.
func buildCGISplit(st *config.HTTPSettings) (*cgiSplit, error) {
	g := st.FastCGI
	if g == nil || g.SplitPathInfo == "" && g.Index == "" {
		return nil, nil
	}
	sp := &cgiSplit{index: g.Index}
	if g.SplitPathInfo != "" {
		re, err := pcre.Compile(g.SplitPathInfo, false)
		if err != nil {
			return nil, err
		}
		sp.re = re
	}
	return sp, nil
}

// splitPath returns $fastcgi_script_name and $fastcgi_path_info of uri.
func (sp *cgiSplit) splitPath(uri []byte) (script, info []byte) {
	script = uri
	if sp != nil && sp.re != nil {
		if m := sp.re.FindSubmatchIndex(uri); m != nil && len(m) >= 6 {
			if m[2] >= 0 {
				script = uri[m[2]:m[3]]
			} else {
				script = nil
			}
			if m[4] >= 0 {
				info = uri[m[4]:m[5]]
			}
		}
	}
	return script, info
}

// defineCGIVars defines $fastcgi_script_name and $fastcgi_path_info.
func defineCGIVars(t *vars.Table[*request]) error {
	split := func(r *request) *cgiSplit {
		if r.loc == nil {
			return nil
		}
		return r.loc.fsplit
	}
	if err := t.Define("fastcgi_script_name", func(dst []byte, r *request) ([]byte, bool) {
		sp := split(r)
		script, _ := sp.splitPath(r.h1.URI)
		dst = append(dst, script...)
		if sp != nil && sp.index != "" && len(script) > 0 && script[len(script)-1] == '/' {
			dst = append(dst, sp.index...)
		}
		return dst, true
	}, 0); err != nil {
		return err
	}
	return t.Define("fastcgi_path_info", func(dst []byte, r *request) ([]byte, bool) {
		_, info := split(r).splitPath(r.h1.URI)
		return append(dst, info...), true
	}, 0)
}
