package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

// ECDH curves (ssl_ecdh_curve) and DH parameters (ssl_dhparam), for http
// and stream alike.

// opensslGroups maps the names OpenSSL 3.0 takes in a curve list
// (SSL_CTX_set1_curves_list, case-sensitive) to a group: the TLS group id,
// so that two names of one curve count as a duplicate. goCurves marks those
// Go's TLS stack implements; the others are accepted and skipped with a
// warning.
var opensslGroups = map[string]int{
	"secp256r1": 23, "P-256": 23, "prime256v1": 23,
	"secp384r1": 24, "P-384": 24,
	"secp521r1": 25, "P-521": 25,
	"X25519": 29, "x25519": 29,
	"X448": 30, "x448": 30,
	"ffdhe2048": 256, "ffdhe3072": 257, "ffdhe4096": 258, "ffdhe6144": 259, "ffdhe8192": 260,
	"sect163k1": 1, "K-163": 1, "sect163r1": 2, "sect163r2": 3, "B-163": 3,
	"sect193r1": 4, "sect193r2": 5, "sect233k1": 6, "K-233": 6, "sect233r1": 7, "B-233": 7,
	"sect239k1": 8, "sect283k1": 9, "K-283": 9, "sect283r1": 10, "B-283": 10,
	"sect409k1": 11, "K-409": 11, "sect409r1": 12, "B-409": 12,
	"sect571k1": 13, "K-571": 13, "sect571r1": 14, "B-571": 14,
	"secp160k1": 15, "secp160r1": 16, "secp160r2": 17, "secp192k1": 18,
	"prime192v1": 19, "secp192r1": 19, "P-192": 19,
	"secp224k1": 20, "secp224r1": 21, "P-224": 21, "secp256k1": 22,
	"brainpoolP256r1": 26, "brainpoolP384r1": 27, "brainpoolP512r1": 28,
}

// goCurves are the groups of opensslGroups that Go's crypto/tls has.
var goCurves = map[int]bool{23: true, 24: true, 25: true, 29: true}

// curveList splits an ssl_ecdh_curve value at ':' and trims the spaces
// around each name, as OpenSSL's CONF_parse_list does.
func curveList(v string) []string {
	names := strings.Split(v, ":")
	for i, n := range names {
		names[i] = strings.Trim(n, " \t\r\n\f\v")
	}
	return names
}

// unsupportedCurves returns the names of an ssl_ecdh_curve value that
// OpenSSL knows and Go does not.
func unsupportedCurves(v string) []string {
	if v == "auto" {
		return nil
	}
	var out []string
	for _, n := range curveList(v) {
		if g, ok := opensslGroups[n]; ok && !goCurves[g] {
			out = append(out, n)
		}
	}
	return out
}

// checkECDHCurve checks an ssl_ecdh_curve value as nginx does when it sets
// up a server's TLS: "auto", or a list of known curves without
// repetitions. A list of curves Go does not implement only is refused.
func checkECDHCurve(v string) error {
	if v == "" || v == "auto" {
		return nil
	}
	failed := fmt.Sprintf(`SSL_CTX_set1_curves_list("%s") failed`, v)
	seen := map[int]bool{}
	supported := false
	for _, n := range curveList(v) {
		g, ok := opensslGroups[n]
		switch {
		case n == "" || ok && seen[g]:
			return &Error{Msg: failed}
		case !ok:
			return &Error{Msg: fmt.Sprintf("%s (SSL: error:0A080106:SSL routines::passed invalid argument:group '%s' cannot be set)", failed, n)}
		}
		seen[g] = true
		supported = supported || goCurves[g]
	}
	if !supported {
		return &Error{Msg: failed + " (sluice supports only the curves X25519, prime256v1, secp384r1 and secp521r1)"}
	}
	return nil
}

// ecdhCurveValue parses ssl_ecdh_curve, warning about the curves Go does
// not implement: they are left out of the list the server offers.
func ecdhCurveValue(c *compiler, d *Directive) (string, error) {
	if d.Args[0] == "" {
		// empty stands for the default; nginx refuses "" when it sets
		// up the server's TLS
		return "", errorf(d.File, d.Line, `SSL_CTX_set1_curves_list("") failed`)
	}
	if bad := unsupportedCurves(d.Args[0]); len(bad) > 0 {
		c.warnf(d, `the curves "%s" of the "ssl_ecdh_curve" directive are not supported by sluice and are ignored`, strings.Join(bad, ":"))
	}
	return d.Args[0], nil
}

// dhparamValue parses ssl_dhparam: the path of a file of DH parameters,
// which nginx reads and checks when it sets up a server's TLS (the
// runtime does the same). Go's TLS stack has no DHE cipher suites, so the
// parameters are not used.
func dhparamValue(c *compiler, d *Directive) (string, error) {
	c.warnf(d, `the "%s" directive is ignored: sluice offers no DHE cipher suites (ECDHE ones are used)`, d.Name)
	// relative to the directory of the main configuration file, like
	// certificates, but with no "data:" form
	p := d.Args[0]
	if p == "" || filepath.IsAbs(p) {
		return p, nil
	}
	return filepath.Join(filepath.Dir(c.cfg.File), p), nil
}
