// Package passwd checks a password against the hashed form stored in an
// htpasswd-style file, with the schemes nginx's auth_basic accepts on a
// Debian system: nginx's own {PLAIN}, {SHA}, {SSHA} and $apr1$ (Apache
// MD5), and those it leaves to crypt(3): $1$ (MD5-crypt), $5$ and $6$
// (SHA-256 and SHA-512 crypt) and bcrypt ($2a$, $2b$, $2y$).
//
// MD5-crypt and SHA-crypt are implemented from their specifications
// (Poul-Henning Kamp's md5crypt and Ulrich Drepper's "Unix crypt using
// SHA-256 and SHA-512"). Other crypt(3) schemes (traditional DES,
// yescrypt, ...) are not known here: Verify reports a mismatch for them,
// as nginx does when crypt(3) does not know a scheme.
//
// The functions are safe for concurrent use.
package passwd

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Known reports whether the scheme of stored is one Verify computes.
func Known(stored string) bool {
	for _, p := range []string{"{PLAIN}", "{SHA}", "{SSHA}", "$apr1$", "$1$", "$5$", "$6$", "$2a$", "$2b$", "$2y$"} {
		if strings.HasPrefix(stored, p) {
			return true
		}
	}
	return false
}

// Verify reports whether password matches stored, the second field of a
// password file line. As nginx does, it hashes password with the scheme
// and salt of stored and compares the result with all of stored.
func Verify(password, stored []byte) bool {
	var got []byte
	s := string(stored)
	switch {
	case strings.HasPrefix(s, "{PLAIN}"):
		got = append([]byte("{PLAIN}"), password...)
	case strings.HasPrefix(s, "{SHA}"):
		got = SHA(password)
	case strings.HasPrefix(s, "{SSHA}"):
		got = SSHA(password, s)
	case strings.HasPrefix(s, "$apr1$"), strings.HasPrefix(s, "$1$"):
		got = MD5Crypt(password, s)
	case strings.HasPrefix(s, "$5$"), strings.HasPrefix(s, "$6$"):
		got = SHACrypt(password, s)
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		if len(password) > 72 {
			password = password[:72] // crypt(3) reads 72 bytes at most
		}
		return bcrypt.CompareHashAndPassword(stored, password) == nil
	default:
		return false
	}
	return subtle.ConstantTimeCompare(got, stored) == 1
}

// SHA returns "{SHA}" and the base64 SHA-1 digest of password.
func SHA(password []byte) []byte {
	sum := sha1.Sum(password)
	return append([]byte("{SHA}"), base64.StdEncoding.EncodeToString(sum[:])...)
}

// SSHA returns the {SSHA} form of password with the salt of stored
// ("{SSHA}" and base64 of the SHA-1 digest followed by the salt), as
// nginx's ngx_crypt_ssha: a value that does not decode to at least 20
// bytes gives an empty salt.
func SSHA(password []byte, stored string) []byte {
	enc := strings.TrimPrefix(stored, "{SSHA}")
	if i := strings.IndexByte(enc, '='); i >= 0 {
		enc = enc[:i]
	}
	dec, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil || len(dec) < sha1.Size {
		dec = make([]byte, sha1.Size)
	}
	h := sha1.New()
	h.Write(password)
	h.Write(dec[sha1.Size:])
	out := h.Sum(nil)
	out = append(out, dec[sha1.Size:]...)
	return append([]byte("{SSHA}"), base64.StdEncoding.EncodeToString(out)...)
}

// itoa64 is the alphabet of the crypt(3) base64 encoding.
const itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// to64 appends the n low 6-bit groups of v, least significant first.
func to64(dst []byte, v uint32, n int) []byte {
	for ; n > 0; n-- {
		dst = append(dst, itoa64[v&0x3f])
		v >>= 6
	}
	return dst
}

// cryptSalt returns the salt of setting after its magic: up to max bytes,
// ending at the first '$'.
func cryptSalt(rest string, max int) string {
	if i := strings.IndexByte(rest, '$'); i >= 0 {
		rest = rest[:i]
	}
	if len(rest) > max {
		rest = rest[:max]
	}
	return rest
}

// MD5Crypt hashes password with MD5-crypt; setting starts with "$1$" or
// "$apr1$" (Apache's variant, which differs only in that magic) and the
// salt (up to 8 bytes). It returns magic, salt, "$" and the hash.
func MD5Crypt(password []byte, setting string) []byte {
	magic := "$1$"
	if strings.HasPrefix(setting, "$apr1$") {
		magic = "$apr1$"
	}
	salt := cryptSalt(setting[len(magic):], 8)

	ctx := md5.New()
	ctx.Write(password)
	ctx.Write([]byte(magic))
	ctx.Write([]byte(salt))
	alt := md5.New()
	alt.Write(password)
	alt.Write([]byte(salt))
	alt.Write(password)
	final := alt.Sum(nil)
	for pl := len(password); pl > 0; pl -= 16 {
		ctx.Write(final[:min(pl, 16)])
	}
	for i := len(password); i != 0; i >>= 1 {
		if i&1 != 0 {
			ctx.Write([]byte{0})
		} else {
			ctx.Write(password[:1])
		}
	}
	final = ctx.Sum(nil)
	for i := range 1000 {
		c := md5.New()
		if i&1 != 0 {
			c.Write(password)
		} else {
			c.Write(final)
		}
		if i%3 != 0 {
			c.Write([]byte(salt))
		}
		if i%7 != 0 {
			c.Write(password)
		}
		if i&1 != 0 {
			c.Write(final)
		} else {
			c.Write(password)
		}
		final = c.Sum(final[:0])
	}
	out := make([]byte, 0, len(magic)+len(salt)+1+22)
	out = append(out, magic...)
	out = append(out, salt...)
	out = append(out, '$')
	for _, g := range [][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}} {
		out = to64(out, uint32(final[g[0]])<<16|uint32(final[g[1]])<<8|uint32(final[g[2]]), 4)
	}
	return to64(out, uint32(final[11]), 2)
}

// SHA-crypt output orders: the digest bytes taken three at a time, the
// first the most significant; the final group is shorter.
var (
	sha256Order = [][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
		{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}}
	sha512Order = [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
		{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10},
		{53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57}, {37, 58, 16},
		{59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}}
)

// SHA-crypt rounds: default, smallest and largest.
const (
	shaRoundsDefault = 5000
	shaRoundsMin     = 1000
	shaRoundsMax     = 999999999
)

// SHACrypt hashes password with SHA-crypt; setting starts with "$5$"
// (SHA-256) or "$6$" (SHA-512), an optional "rounds=N$" and the salt (up
// to 16 bytes). Rounds outside 1000 to 999999999 give nil, as crypt(3)
// on Debian refuses them. It returns the magic, the rounds when the setting gives
// them, the salt, "$" and the hash.
func SHACrypt(password []byte, setting string) []byte {
	magic := setting[:3]
	newHash, order, last := sha256.New, sha256Order, [3]int{-1, 31, 30}
	if magic == "$6$" {
		newHash, order, last = sha512.New, sha512Order, [3]int{-1, -1, 63}
	}
	rest := setting[3:]
	rounds, custom := shaRoundsDefault, false
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		if i := strings.IndexByte(r, '$'); i > 0 {
			n, err := strconv.ParseUint(r[:i], 10, 64)
			if err != nil || n < shaRoundsMin || n > shaRoundsMax {
				// the specification clamps; Debian's crypt(3)
				// (libxcrypt), which nginx uses, refuses
				return nil
			}
			rounds, custom, rest = int(n), true, r[i+1:]
		}
	}
	salt := []byte(cryptSalt(rest, 16))

	sum := func(h hash.Hash) []byte { return h.Sum(nil) }
	b := newHash()
	b.Write(password)
	b.Write(salt)
	b.Write(password)
	bsum := sum(b)
	size := len(bsum)
	a := newHash()
	a.Write(password)
	a.Write(salt)
	n := len(password)
	for ; n > size; n -= size {
		a.Write(bsum)
	}
	a.Write(bsum[:n])
	for i := len(password); i > 0; i >>= 1 {
		if i&1 != 0 {
			a.Write(bsum)
		} else {
			a.Write(password)
		}
	}
	asum := sum(a)
	dp := newHash()
	for range len(password) {
		dp.Write(password)
	}
	p := repeatTo(sum(dp), len(password))
	ds := newHash()
	for range 16 + int(asum[0]) {
		ds.Write(salt)
	}
	s := repeatTo(sum(ds), len(salt))
	c := asum
	h := newHash()
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}
	var out bytes.Buffer
	out.WriteString(magic)
	if custom {
		out.WriteString("rounds=" + strconv.Itoa(rounds) + "$")
	}
	out.Write(salt)
	out.WriteByte('$')
	enc := out.Bytes()
	for _, g := range order {
		enc = to64(enc, uint32(c[g[0]])<<16|uint32(c[g[1]])<<8|uint32(c[g[2]]), 4)
	}
	if last[0] < 0 && last[1] < 0 {
		return to64(enc, uint32(c[last[2]]), 2)
	}
	return to64(enc, uint32(c[last[1]])<<8|uint32(c[last[2]]), 3)
}

// repeatTo returns n bytes of digest repeated.
func repeatTo(digest []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, digest[:min(len(digest), n-len(out))]...)
	}
	return out
}
