package vars

import (
	"slices"
	"testing"
)

func geoEval(t *testing.T, spec GeoSpec, r *req) (string, []string) {
	t.Helper()
	tab := newTable(t)
	must(t, tab.AddGeo(spec))
	return eval(t, tab, "$g", r), tab.warnings
}

func TestGeoCIDR(t *testing.T) {
	block := lines(`
		default d;
		10.0.0.0/8 ten;
		10.1.0.0/16 ten-one;
		10.1.2.3 host;
		10.1.2.3/32 host2;
		192.168.1.77/24 low-bits;
		2001:db8::/32 v6;
		2001:db8:1::/48 v6-48;
		::ffff:0:0/96 mapped-v6;
		delete 10.2.0.0/16;
		delete 10.3.0.0/16;
		10.3.0.0/16 three;
		delete 10.3.0.0/16;
		255.255.255.255 none;
	`)
	tests := []struct{ ip, want string }{
		{"10.9.9.9", "ten"},
		{"10.1.9.9", "ten-one"},
		{"10.1.2.3", "host2"},
		{"10.3.0.1", "ten"},
		{"192.168.1.5", "low-bits"},
		{"8.8.8.8", "d"},
		{"2001:db8:2::1", "v6"},
		{"2001:db8:1::1", "v6-48"},
		{"::ffff:10.1.2.3", "host2"}, // IPv4-mapped: IPv4 lookup
		{"fe80::1", "d"},
		{"not-an-ip", "none"}, // unparsable: 255.255.255.255
		{"010.1.2.3", "host2"},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			r := newReq()
			r.args.Set("ip", tc.ip)
			got, warns := geoEval(t, GeoSpec{Source: "$arg_ip", Variable: "$g", Lines: block}, r)
			if got != tc.want {
				t.Errorf("geo(%s) = %q, want %q", tc.ip, got, tc.want)
			}
			wantWarns := []string{
				`duplicate network "10.1.2.3/32", value: "host2", old value: "host"`,
				`low address bits of 192.168.1.77/24 are meaningless`,
				`no network "10.2.0.0/16" to delete`,
			}
			for _, w := range wantWarns {
				if !slices.Contains(warns, w) {
					t.Errorf("missing warning %q in %q", w, warns)
				}
			}
		})
	}
}

func TestGeoDefaultSourceAndEmptyDefault(t *testing.T) {
	got, _ := geoEval(t, GeoSpec{Variable: "$g", Lines: lines("127.0.0.0/8 lo;")}, newReq("remote_addr", "127.0.0.2"))
	if got != "lo" {
		t.Fatalf("got %q", got)
	}
	got, _ = geoEval(t, GeoSpec{Variable: "$g", Lines: lines("127.0.0.0/8 lo;")}, newReq("remote_addr", "::1"))
	if got != "" {
		t.Fatalf("got %q, want empty default", got)
	}
}

func TestGeoRanges(t *testing.T) {
	block := lines(`
		ranges;
		default rd;
		10.0.0.0-10.0.255.255 r1;
		10.0.0.10-10.0.0.20 inner;
		10.0.0.0-10.0.0.5 start;
		10.0.255.0-10.0.255.255 end;
		10.1.255.0-10.2.0.255 cross;
		10.5.0.100-10.5.0.200 hi;
		10.5.0.0-10.5.0.50 lo;
		10.5.0.150-10.5.0.160 shadowed;
		10.7.0.0-10.7.0.9 del;
		delete 10.7.0.0-10.7.0.9;
	`)
	tests := []struct{ ip, want string }{
		{"10.0.0.1", "start"},
		{"10.0.0.6", "r1"},
		{"10.0.0.15", "inner"},
		{"10.0.0.21", "r1"},
		{"10.0.255.1", "end"},
		{"10.1.255.7", "cross"},
		{"10.2.0.7", "cross"},
		{"10.5.0.155", "shadowed"},
		{"10.5.0.10", "lo"},
		{"10.7.0.1", "rd"},
		{"2001:db8::1", "rd"},
		{"::ffff:10.0.0.15", "inner"},
		{"garbage", "rd"},
	}
	for _, tc := range tests {
		r := newReq()
		r.args.Set("ip", tc.ip)
		got, _ := geoEval(t, GeoSpec{Source: "$arg_ip", Variable: "$g", Lines: block}, r)
		if got != tc.want {
			t.Errorf("geo ranges(%s) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

func TestGeoErrors(t *testing.T) {
	tests := []struct {
		http bool
		spec string
		msg  string
	}{
		{false, "ranges; 10.0.0.0/8 a;", `invalid range "10.0.0.0/8"`},
		{false, "ranges; ::1-::2 a;", `invalid range "::1-::2"`},
		{false, "ranges; 10.0.0.9-10.0.0.1 a;", `invalid range "10.0.0.9-10.0.0.1"`},
		{false, "ranges; 10.0.0.0-10.0.0.255 a; 10.0.0.128-10.0.1.5 b;",
			`range "10.0.0.128-10.0.1.5" overlaps "10.0.0.0-10.0.0.255"`},
		{false, "ranges; 10.0.0.0-10.0.0.255 a; 10.0.0.0-10.0.0.5 b; 10.0.0.0-10.255.255.255 c;",
			`range "10.0.0.0-10.255.255.255" overlaps "10.0.0.6-10.0.0.255"`},
		{false, "ranges; 10.5.0.100-10.5.0.200 hi; 10.5.0.0-10.5.0.50 lo; 10.5.0.40-10.5.0.120 x;",
			`range "10.5.0.40-10.5.0.120" overlaps "10.5.0.100-10.5.0.200"`},
		{false, "default a; ranges;", `the "ranges" directive must be the first directive inside "geo" block`},
		{false, "10.0.0.0/33 a;", `invalid network "10.0.0.0/33"`},
		{false, "a b c;", "invalid number of the geo parameters"},
		{false, "proxy 10.0.0.1;", `invalid network "proxy"`}, // stream has no proxy
		{false, "proxy_recursive;", "invalid number of the geo parameters"},
		{true, "proxy nonsense;", `invalid network "nonsense"`},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			tab := newTable(t)
			checkErr(t, tab.AddGeo(GeoSpec{Variable: "$g", Lines: lines(tc.spec), HTTP: tc.http}), tc.msg)
		})
	}
}

func TestGeoProxy(t *testing.T) {
	block := "proxy 192.168.0.0/16; proxy 10.0.0.1; 1.1.1.0/24 one; 10.0.0.1 proxyaddr; 192.168.5.5 inner; 2.2.2.2 two; default d;"
	tests := []struct {
		recursive bool
		addr, xff string
		noXFF     bool
		want      string
	}{
		{false, "10.0.0.1", "1.1.1.1", false, "one"},
		{false, "10.0.0.1", "", true, "proxyaddr"},
		{false, "3.3.3.3", "1.1.1.1", false, "d"}, // untrusted peer: XFF ignored
		{false, "10.0.0.1", "1.1.1.1, 192.168.5.5", false, "inner"},
		{true, "10.0.0.1", "1.1.1.1, 192.168.5.5", false, "one"},
		{true, "10.0.0.1", "2.2.2.2,1.1.1.1 , 192.168.5.5", false, "one"},
		{true, "10.0.0.1", "bogus, 192.168.5.5", false, "inner"},
		{false, "10.0.0.1", "1.1.1.1:8080", false, "one"},
		{false, "10.0.0.1", "[2001:db8::1]:80", false, "d"},
	}
	for _, tc := range tests {
		spec := block
		if tc.recursive {
			spec += "proxy_recursive;"
		}
		r := newReq("remote_addr", tc.addr)
		if !tc.noXFF {
			r.hdr["x-forwarded-for"] = tc.xff
		}
		got, _ := geoEval(t, GeoSpec{Variable: "$g", Lines: lines(spec), HTTP: true}, r)
		if got != tc.want {
			t.Errorf("%+v: got %q", tc, got)
		}
	}
}
