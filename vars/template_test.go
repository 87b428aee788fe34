package vars

import (
	"errors"
	"strings"
	"testing"
)

func TestCompileAndEvaluate(t *testing.T) {
	r := newReq("remote_addr", "10.0.0.1", "host", "example.com", "request", "GET / HTTP/1.1",
		"upstream_addr", "127.0.0.1:8001", "remote_user", "")
	r.hdr["user-agent"] = "curl/8"
	r.args.Set("k", "v")
	tests := []struct {
		src, want string
	}{
		{"", ""},
		{"plain text", "plain text"},
		{"$host", "example.com"},
		{"${host}foo", "example.comfoo"},
		{"x$host.y", "xexample.com.y"}, // '.' ends a name
		{"$remote_addr-$host", "10.0.0.1-example.com"},
		{`$remote_addr - [$time_local] "$request" to: $upstream_addr`,
			`10.0.0.1 - [09/Mar/2024:07:05:03 +0600] "GET / HTTP/1.1" to: 127.0.0.1:8001`},
		{"$http_user_agent|$http_missing|$arg_k", "curl/8||v"},
		{"$time_iso8601 $msec", "2024-03-09T07:05:03+06:00 1709946303.042"},
		{"$hostname:$pid:$nginx_version", "box:4242:sluice-test"},
		{"[$remote_user]", "[]"},
		{"$1$2x", "x"}, // captures without a regex match are empty
		{"$10", "0"},   // $1 then a literal 0, as nginx
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			tab := newTable(t)
			if got := eval(t, tab, tc.src, r); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		src      string
		atBuild  string // error from Compile
		atFreeze string
	}{
		{src: "$", atBuild: "invalid variable name"},
		{src: "x$", atBuild: "invalid variable name"},
		{src: "${}", atBuild: "invalid variable name"},
		{src: "$-", atBuild: "invalid variable name"},
		{src: "a $ b", atBuild: "invalid variable name"},
		{src: "${host", atBuild: `the closing bracket in "host" variable is missing`},
		{src: "${ho-st}", atBuild: `the closing bracket in "ho" variable is missing`},
		{src: "${", atBuild: "invalid variable name"},
		{src: "$foo", atFreeze: `unknown "foo" variable`},
		{src: "$hostfoo", atFreeze: `unknown "hostfoo" variable`},
		{src: "${0}", atFreeze: `unknown "0" variable`},
		{src: "$0", atFreeze: `unknown "0" variable`},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			tab := newTable(t)
			_, err := tab.Compile(tc.src, "t.conf:3")
			if tc.atBuild != "" {
				checkErr(t, err, tc.atBuild)
				return
			}
			must(t, err)
			checkErr(t, tab.Freeze(), tc.atFreeze)
		})
	}
}

func checkErr(t *testing.T, err error, msg string) {
	t.Helper()
	var ve *Error
	if !errors.As(err, &ve) {
		t.Fatalf("error %v, want %q", err, msg)
	}
	if ve.Msg != msg {
		t.Fatalf("error %q, want %q", ve.Msg, msg)
	}
	if !strings.HasPrefix(err.Error(), "vars: ") {
		t.Fatalf("error text %q lacks package prefix", err)
	}
}

func TestSettable(t *testing.T) {
	tab := newTable(t)
	x, err := tab.Settable("x", "")
	must(t, err)
	uri, err := tab.Settable("uri", "") // Changeable proxy variable
	must(t, err)
	if _, err := tab.Settable("host", "p:1"); err == nil {
		t.Fatal("set $host accepted; want the duplicate \"host\" variable")
	} else {
		checkErr(t, err, `the duplicate "host" variable`)
	}
	val := tab.MustCompile("[$host]")
	out := tab.MustCompile("$x|$uri")
	must(t, tab.Freeze())
	r := newReq("host", "h", "uri", "/orig")
	if got := string(out.Append(nil, r)); got != "|/orig" {
		t.Fatalf("before set: %q", got)
	}
	tab.SetTemplate(r, x, val)
	tab.Set(r, uri, []byte("/new"))
	if got := string(out.Append(nil, r)); got != "[h]|/new" {
		t.Fatalf("after set: %q", got)
	}
	r.st.Reset()
	if got := string(out.Append(nil, r)); got != "|/orig" {
		t.Fatalf("after reset: %q", got)
	}
}

func TestTruthy(t *testing.T) {
	tab := newTable(t)
	tp := tab.MustCompile("$arg_log")
	must(t, tab.Freeze())
	for _, tc := range []struct {
		set  bool
		v    string
		want bool
	}{{false, "", false}, {true, "", false}, {true, "0", false}, {true, "00", true}, {true, "1", true}, {true, "yes", true}} {
		r := newReq()
		if tc.set {
			r.args.Set("log", tc.v)
		}
		if got, _ := tp.Truthy(r, nil); got != tc.want {
			t.Errorf("%+v: got %v", tc, got)
		}
	}
}

func TestFrozenTableRefusesDefinitions(t *testing.T) {
	tab := newTable(t)
	must(t, tab.Freeze())
	if err := tab.Define("late", proxyGetter("late"), 0); err == nil {
		t.Fatal("Define after Freeze accepted")
	}
	if _, err := tab.Compile("$nosuch", ""); err == nil {
		t.Fatal("Compile of a new name after Freeze accepted")
	}
}

// TestSettableNotFound checks a variable assigned by the proxy (nginx's
// auth_request_set): not found until assigned, found once it is.
func TestSettableNotFound(t *testing.T) {
	tab := newTable(t)
	u, err := tab.SettableNotFound("user", "")
	must(t, err)
	if _, err := tab.SettableNotFound("host", "p:1"); err == nil {
		t.Fatal("auth_request_set $host accepted")
	}
	must(t, tab.Freeze())
	r := newReq()
	if _, ok := tab.Get(nil, r, u); ok {
		t.Fatal("found before it is assigned")
	}
	tab.Set(r, u, []byte("alice"))
	if v, ok := tab.Get(nil, r, u); !ok || string(v) != "alice" {
		t.Fatalf("after Set: %q %v", v, ok)
	}
}
