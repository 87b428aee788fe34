package vars

import (
	"encoding/json"
	"testing"
)

func TestLogFormat(t *testing.T) {
	r := newReq("remote_addr", "10.0.0.1", "remote_user", "", "request", "GET /\"q\\\x01\x7f\xc3\xa9 HTTP/1.1",
		"status", "200", "body_bytes_sent", "512")
	r.hdr["user-agent"] = "tab\there"
	tests := []struct {
		args []string
		want string
	}{
		{[]string{CombinedFormat},
			`10.0.0.1 -  [09/Mar/2024:07:05:03 +0600] "GET /\x22q\x5C\x01\x7F\xC3\xA9 HTTP/1.1" 200 512 "-" "tab\x09here"`},
		{[]string{"escape=default", "[$upstream_addr]", "$remote_user."}, "[-]."},
		{[]string{"escape=json", `{"r":"$request","ua":"$http_user_agent","up":"$upstream_addr"}`},
			`{"r":"GET /\"q\\\u0001` + "\x7f\xc3\xa9" + ` HTTP/1.1","ua":"tab\there","up":""}`},
		{[]string{"escape=none", "$request|$upstream_addr|"}, "GET /\"q\\\x01\x7f\xc3\xa9 HTTP/1.1||"},
		{[]string{"a", "$status", "b"}, "a200b"},
		{[]string{"${status}x$1"}, "200x-"}, // "$1" is a variable named "1" here; defined below
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			tab := newTable(t)
			must(t, tab.Define("1", func(dst []byte, _ *req) ([]byte, bool) { return dst, false }, 0))
			f, err := tab.CompileLogFormat("t", tc.args, "")
			must(t, err)
			must(t, tab.Freeze())
			if got := string(f.Append(nil, r)); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if got := string(f.AppendLine([]byte("x"), r)); got != "x"+tc.want+"\n" {
				t.Errorf("AppendLine: %q", got)
			}
		})
	}
}

func TestLogFormatJSONIsValid(t *testing.T) {
	tab := newTable(t)
	f, err := tab.CompileLogFormat("j", []string{"escape=json", `{"v":"$arg_v"}`}, "")
	must(t, err)
	must(t, tab.Freeze())
	for c := range 256 {
		r := newReq()
		r.args.Set("v", string([]byte{'a', byte(c), '"', '\\'}))
		line := f.Append(nil, r)
		if c >= 0x80 {
			continue // nginx copies bytes >= 0x80 as they are
		}
		var out struct{ V string }
		if err := json.Unmarshal(line, &out); err != nil {
			t.Fatalf("byte %#x: %s: %v", c, line, err)
		}
		if out.V != string([]byte{'a', byte(c), '"', '\\'}) {
			t.Fatalf("byte %#x: round trip %q", c, out.V)
		}
	}
}

func TestLogFormatErrors(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"$"}, `invalid parameter "$"`},
		{[]string{"x${}"}, `invalid parameter "${}"`},
		{[]string{"a $-b"}, `invalid parameter "$-b"`},
		{[]string{"${foo"}, `the closing bracket in "foo" variable is missing`},
		{[]string{"escape=xml", "x"}, `unknown log format escaping "xml"`},
	}
	for _, tc := range tests {
		tab := newTable(t)
		_, err := tab.CompileLogFormat("t", tc.args, "")
		checkErr(t, err, tc.msg)
	}
	tab := newTable(t)
	_, err := tab.CompileLogFormat("t", []string{"$foo"}, "")
	must(t, err)
	checkErr(t, tab.Freeze(), `unknown "foo" variable`)
}

func TestLogFormats(t *testing.T) {
	tab := newTable(t)
	http := NewLogFormats(tab.Table, true)
	stream := NewLogFormats(tab.Table, false)
	must(t, http.Add([]string{"main", "$remote_addr"}, ""))
	must(t, http.Add([]string{"Main", "$host"}, "")) // names differ in case: allowed
	checkErr(t, http.Add([]string{"main", "$host"}, "f:2"), `duplicate "log_format" name "main"`)
	checkErr(t, http.Add([]string{"combined", "$host"}, ""), `duplicate "log_format" name "combined"`)
	must(t, stream.Add([]string{"combined", "$host"}, ""))
	if f, err := http.Lookup("MAIN", ""); err != nil || f.Name() != "main" {
		t.Fatalf("lookup MAIN: %v %v", f, err)
	}
	if f, err := http.Lookup("combined", ""); err != nil || f.Name() != "combined" {
		t.Fatalf("lookup combined: %v", err)
	}
	_, err := NewLogFormats(tab.Table, false).Lookup("combined", "f:9")
	checkErr(t, err, `unknown log format "combined"`)
	if (&Error{Msg: "m", Pos: "f:9"}).Error() != "vars: m in f:9" {
		t.Fatal("Error text")
	}
}

func TestEscapeHelpers(t *testing.T) {
	if got := string(AppendEscapeDefault([]byte("<"), []byte("a\"\n"))); got != `<a\x22\x0A` {
		t.Fatal(got)
	}
	if got := string(AppendEscapeJSON([]byte("<"), []byte("a\"\n\x1f"))); got != `<a\"\n\u001F` {
		t.Fatal(got)
	}
}
