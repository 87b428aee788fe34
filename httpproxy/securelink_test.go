package httpproxy

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// secureLinkDiffConf uses secure_link with an expiry, without one, the
// old secure_link_secret form, inheritance, a location with no
// secure_link_md5, and an internal redirect (after which
// $secure_link_expires is forgotten, as nginx forgets it).
const secureLinkDiffConf = `
	server { listen LISTEN;
		secure_link $arg_h;
		location /s/ {
			secure_link $arg_md5,$arg_expires;
			secure_link_md5 "$secure_link_expires$uri$remote_addr secret";
			if ($secure_link = "") { return 403; }
			if ($secure_link = "0") { return 410; }
			return 200 "ok [$secure_link] [$secure_link_expires]";
		}
		location /v/ { secure_link_md5 "$uri secret"; return 200 "[$secure_link] [$secure_link_expires]"; }
		location /n/ { return 200 "[$secure_link]"; }
		location /p/ {
			secure_link_secret word;
			if ($secure_link = "") { return 403; }
			return 200 "link=$secure_link";
		}
		location /q/ { secure_link_secret word; location /q/in/ { return 200 "[$secure_link]"; } }
		location /sx/ { secure_link $arg_h,$arg_e; secure_link_md5 x; set $y $secure_link; error_page 404 /sxshow; return 404; }
		location = /sxshow { return 200 "[$secure_link_expires]"; }
		location /gif/ {
			secure_link_secret word;
			if ($secure_link = "") { return 403; }
			empty_gif;
		}
	}`

// md5Link is the base64url MD5 of s, as secure_link expects it.
func md5Link(s string) string {
	sum := md5.Sum([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// md5Hex is the hexadecimal MD5 of s, as secure_link_secret expects it.
func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestSecureLinkNginxDifferential sends nginx and sluice valid, expired,
// tampered, malformed and missing links and compares the answers.
func TestSecureLinkNginxDifferential(t *testing.T) {
	const past, future = "1000000000", "4000000000"
	get := func(target string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	}
	valid := md5Link(future + "/s/f127.0.0.1 secret")
	expired := md5Link(past + "/s/f127.0.0.1 secret")
	noExp := md5Link("/v/x secret")
	tampered := []byte(valid)
	tampered[3] ^= 1
	requests := []string{
		get("/s/f?md5=" + valid + "&expires=" + future),
		get("/s/f?md5=" + expired + "&expires=" + past),
		get("/s/f?md5=" + valid + "&expires=" + past),
		get("/s/f?md5=" + string(tampered) + "&expires=" + future),
		get("/s/g?md5=" + valid + "&expires=" + future),
		get("/s/f?md5=" + valid),
		get("/s/f?expires=" + future),
		get("/s/f"),
		get("/s/f?md5=" + valid + "==&expires=" + future),
		get("/s/f?md5=" + valid + "=x&expires=" + future),
		get("/s/f?md5=" + valid + "AAA&expires=" + future),
		get("/s/f?md5=" + strings.ReplaceAll(valid, "_", "/") + "&expires=" + future),
		get("/s/f?md5=" + valid + "&expires=0"),
		get("/s/f?md5=" + valid + "&expires=-1"),
		get("/s/f?md5=" + valid + "&expires=12x"),
		get("/s/f?md5=" + valid + "&expires=99999999999999999999"),
		get("/v/x?h=" + noExp),
		get("/v/x?h=" + noExp + ",0"),
		get("/v/x?h=" + noExp + "," + future),
		get("/v/x?h=" + noExp + "," + past),
		get("/v/x?h=" + noExp[:21]),
		get("/v/x?h=" + noExp[:21] + "B"),
		get("/v/x?h=" + noExp + "A"),
		get("/v/y?h=" + noExp),
		get("/n/x?h=" + noExp),
		get("/p/" + md5Hex("file.txtword") + "/file.txt"),
		get("/p/" + strings.ToUpper(md5Hex("file.txtword")) + "/file.txt"),
		get("/p/" + md5Hex("file.txt?a=1word") + "/file.txt?a=1"),
		get("/p/" + md5Hex("file.txtword") + "/file.txt?a=1"),
		get("/p/" + md5Hex("file.txtwordx") + "/file.txt"),
		get("/p/" + md5Hex("word") + "/"),
		get("/p/" + md5Hex("a/bword") + "/a/b"),
		get("/p/" + md5Hex("file.txtword")[:31] + "/file.txt"),
		get("/p/file.txt"),
		get("/q/in/" + md5Hex("xword") + "/x"),
		get("/sx/?h=" + md5Link("x") + "&e=" + future),
		get("/gif/" + md5Hex("a.gifword") + "/a.gif"),
		get("/gif/" + md5Hex("a.gifword") + "/b.gif"),
	}
	moduleDiff(t, t.TempDir(), secureLinkDiffConf, requests)
}

// TestDecodeBase64URL checks the decoder against nginx's rules.
func TestDecodeBase64URL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"", "", true},
		{"YQ", "a", true},
		{"YR", "a", true}, // unused bits are ignored
		{"YWI", "ab", true},
		{"YWJj", "abc", true},
		{"YWJj=garbage", "abc", true},
		{"YQ==", "a", true},
		{"Y", "", false},
		{"YWJjZ", "", false},
		{"YW+j", "", false},
		{"_-8", "\xff\xef", true},
	} {
		dst := make([]byte, len(tc.in))
		n, ok := decodeBase64(dst, []byte(tc.in), &base64URLValues)
		if ok != tc.ok || ok && string(dst[:n]) != tc.want {
			t.Errorf("%q: %q %v, want %q %v", tc.in, dst[:n], ok, tc.want, tc.ok)
		}
	}
}
