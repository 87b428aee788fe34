package tlsconf

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// cipherInfo is a cipher suite Go implements, with its OpenSSL name and
// the OpenSSL cipher-string words that select it.
type cipherInfo struct {
	id    uint16
	name  string
	words []string
}

// cipherTable lists the TLS 1.0-1.2 cipher suites Go implements, in
// OpenSSL's default preference order. ssl_ciphers and proxy_ssl_ciphers
// choose among them; the TLS 1.3 suites are not configurable, as with
// OpenSSL's ssl_ciphers.
var cipherTable = []cipherInfo{
	{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384", []string{"kECDHE", "aECDSA", "AESGCM", "AES256", "AES", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384", []string{"kECDHE", "aRSA", "AESGCM", "AES256", "AES", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305", []string{"kECDHE", "aECDSA", "CHACHA20", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-RSA-CHACHA20-POLY1305", []string{"kECDHE", "aRSA", "CHACHA20", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256", []string{"kECDHE", "aECDSA", "AESGCM", "AES128", "AES", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-GCM-SHA256", []string{"kECDHE", "aRSA", "AESGCM", "AES128", "AES", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, "ECDHE-ECDSA-AES128-SHA256", []string{"kECDHE", "aECDSA", "AES128", "AES", "SHA256", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, "ECDHE-RSA-AES128-SHA256", []string{"kECDHE", "aRSA", "AES128", "AES", "SHA256", "HIGH", "TLSv1.2"}},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, "ECDHE-ECDSA-AES256-SHA", []string{"kECDHE", "aECDSA", "AES256", "AES", "SHA1", "HIGH", "TLSv1", "SSLv3"}},
	{tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, "ECDHE-RSA-AES256-SHA", []string{"kECDHE", "aRSA", "AES256", "AES", "SHA1", "HIGH", "TLSv1", "SSLv3"}},
	{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "ECDHE-ECDSA-AES128-SHA", []string{"kECDHE", "aECDSA", "AES128", "AES", "SHA1", "HIGH", "TLSv1", "SSLv3"}},
	{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "ECDHE-RSA-AES128-SHA", []string{"kECDHE", "aRSA", "AES128", "AES", "SHA1", "HIGH", "TLSv1", "SSLv3"}},
	{tls.TLS_RSA_WITH_AES_256_GCM_SHA384, "AES256-GCM-SHA384", []string{"kRSA", "aRSA", "AESGCM", "AES256", "AES", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, "AES128-GCM-SHA256", []string{"kRSA", "aRSA", "AESGCM", "AES128", "AES", "AEAD", "HIGH", "TLSv1.2"}},
	{tls.TLS_RSA_WITH_AES_128_CBC_SHA256, "AES128-SHA256", []string{"kRSA", "aRSA", "AES128", "AES", "SHA256", "HIGH", "TLSv1.2"}},
	{tls.TLS_RSA_WITH_AES_256_CBC_SHA, "AES256-SHA", []string{"kRSA", "aRSA", "AES256", "AES", "SHA1", "HIGH", "TLSv1", "SSLv3"}},
	{tls.TLS_RSA_WITH_AES_128_CBC_SHA, "AES128-SHA", []string{"kRSA", "aRSA", "AES128", "AES", "SHA1", "HIGH", "TLSv1", "SSLv3"}},
	{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, "ECDHE-RSA-DES-CBC3-SHA", []string{"kECDHE", "aRSA", "3DES", "SHA1", "MEDIUM", "TLSv1", "SSLv3"}},
	{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, "DES-CBC3-SHA", []string{"kRSA", "aRSA", "3DES", "SHA1", "MEDIUM", "TLSv1", "SSLv3"}},
}

// cipherAliases maps OpenSSL's other spellings to the words above.
var cipherAliases = map[string]string{
	"kEECDH": "kECDHE", "ECDHE": "kECDHE", "EECDH": "kECDHE", "ECDH": "kECDHE",
	"RSA": "kRSA", "ECDSA": "aECDSA", "SHA": "SHA1", "TLSv1.0": "TLSv1",
}

// tls13Names are OpenSSL's names of the TLS 1.3 suites.
var tls13Names = map[uint16]string{
	tls.TLS_AES_128_GCM_SHA256:       "TLS_AES_128_GCM_SHA256",
	tls.TLS_AES_256_GCM_SHA384:       "TLS_AES_256_GCM_SHA384",
	tls.TLS_CHACHA20_POLY1305_SHA256: "TLS_CHACHA20_POLY1305_SHA256",
}

// CipherName returns OpenSSL's name of a cipher suite, as $ssl_cipher
// gives it ("ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256"), or
// Go's name for a suite OpenSSL does not name.
func CipherName(id uint16) string {
	if n, ok := tls13Names[id]; ok {
		return n
	}
	for _, c := range cipherTable {
		if c.id == id {
			return c.name
		}
	}
	return tls.CipherSuiteName(id)
}

func (c *cipherInfo) has(word string) bool {
	if a, ok := cipherAliases[word]; ok {
		word = a
	}
	switch word {
	case "ALL", "DEFAULT", "COMPLEMENTOFDEFAULT":
		return word != "COMPLEMENTOFDEFAULT"
	case c.name:
		return true
	}
	for _, w := range c.words {
		if w == word {
			return true
		}
	}
	return false
}

// ParseCiphers interprets an OpenSSL cipher list ("HIGH:!aNULL:!MD5",
// "ECDHE+AESGCM:-AES256", explicit names ...) over the suites Go
// implements, the way SSL_CTX_set_cipher_list does: words are joined by
// ':' (or ',' and ' '), a '+' inside a word requires every part, '!'
// removes for good, '-' removes, '+' in front moves to the end, and
// words that match nothing (aNULL, MD5, RC4, DHE ...) are ignored. It
// returns the suites in preference order. A list that selects nothing is
// an error, as in nginx.
func ParseCiphers(list string) ([]uint16, error) {
	var order []*cipherInfo
	banned := map[uint16]bool{}
	in := map[uint16]bool{}
	remove := func(id uint16) {
		for j, o := range order {
			if o.id == id {
				order = append(order[:j], order[j+1:]...)
				return
			}
		}
	}
	for _, tok := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		op := byte(0)
		if tok[0] == '!' || tok[0] == '-' || tok[0] == '+' {
			op, tok = tok[0], tok[1:]
		}
		if tok == "" || strings.HasPrefix(tok, "@") {
			continue // @STRENGTH, @SECLEVEL=n
		}
		parts := strings.Split(tok, "+")
		match := func(c *cipherInfo) bool {
			for _, p := range parts {
				if !c.has(p) {
					return false
				}
			}
			return true
		}
		for i := range cipherTable {
			c := &cipherTable[i]
			if !match(c) {
				continue
			}
			switch op {
			case '!':
				banned[c.id] = true
				fallthrough
			case '-':
				if in[c.id] {
					in[c.id] = false
					remove(c.id)
				}
			case '+':
				if in[c.id] {
					remove(c.id)
					order = append(order, c)
				}
			default:
				if !in[c.id] && !banned[c.id] {
					in[c.id] = true
					order = append(order, c)
				}
			}
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("SSL_CTX_set_cipher_list(%q) failed (SSL: no cipher match)", list)
	}
	ids := make([]uint16, len(order))
	for i, c := range order {
		ids[i] = c.id
	}
	return ids, nil
}

var protocolVersions = map[string]uint16{
	"TLSv1": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11, "TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13,
}

// VersionRange turns an ssl_protocols list ("TLSv1.2", "TLSv1.3" ...)
// into Go's range of versions. SSLv2 and SSLv3 are ignored (Go implements
// neither); a gap in the list (TLSv1 TLSv1.2) enables the versions
// between too, since Go takes a range. A list with no version Go
// implements is an error.
func VersionRange(protos []string) (lo, hi uint16, err error) {
	for _, p := range protos {
		v, ok := protocolVersions[p]
		if !ok {
			continue
		}
		if lo == 0 || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	if lo == 0 {
		return 0, 0, fmt.Errorf("no protocol of %q is supported by sluice", strings.Join(protos, " "))
	}
	return lo, hi, nil
}

// VersionName returns OpenSSL's name of a TLS version, as $ssl_protocol
// gives it ("TLSv1.2"), or "unknown".
func VersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return "unknown"
}
