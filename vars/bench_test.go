package vars

import "testing"

func benchReq() *req {
	r := newReq("remote_addr", "10.0.0.1", "remote_user", "", "request", "GET /chat HTTP/1.1",
		"status", "200", "body_bytes_sent", "512", "upstream_addr", "127.0.0.1:8001", "host", "api.example.com")
	r.hdr["user-agent"] = "ApacheBench/2.3"
	r.hdr["referer"] = "http://x/\"quoted\""
	return r
}

// BenchmarkLogLine formats seed 001's upstream_log format.
func BenchmarkLogLine(b *testing.B) {
	tab := newTable(b)
	f, err := tab.CompileLogFormat("upstream_log", []string{`$remote_addr - $remote_user [$time_local] "$request" `,
		`$status $body_bytes_sent "$http_referer" `, `"$http_user_agent" "$http_x_forwarded_for" `, `to: $upstream_addr`}, "")
	must(b, err)
	must(b, tab.Freeze())
	r := benchReq()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		r.st.Reset()
		buf = f.AppendLine(buf[:0], r)
	}
}

func BenchmarkTemplate(b *testing.B) {
	tab := newTable(b)
	tp := tab.MustCompile("${remote_addr}:$host/$request")
	must(b, tab.Freeze())
	r := benchReq()
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = tp.Append(buf[:0], r)
	}
}

func BenchmarkMap(b *testing.B) {
	cases := []struct{ name, host string }{
		{"exact", "api.example.com"},
		{"exact-mixed-case", "API.Example.com"},
		{"wildcard-head", "x.y.example.net"},
		{"regex", "svc-42.internal"},
		{"default", "unknown.host"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tab := newTable(b)
			must(b, tab.AddMap(MapSpec{Source: "$host", Variable: "$backend", Lines: lines(`hostnames;
				api.example.com api; www.example.com www; *.example.net net; ~^svc-(\d+)\.internal$ svc$1;
				default fallback;`)}))
			tp := tab.MustCompile("$backend")
			must(b, tab.Freeze())
			r := benchReq()
			r.vals["host"] = c.host
			buf := make([]byte, 0, 64)
			b.ReportAllocs()
			for b.Loop() {
				r.st.Reset()
				buf = tp.Append(buf[:0], r)
			}
		})
	}
}

func BenchmarkGeo(b *testing.B) {
	tab := newTable(b)
	must(b, tab.AddGeo(GeoSpec{Variable: "$g", Lines: lines("default d; 10.0.0.0/8 ten; 10.0.0.0/24 lan; 192.168.0.0/16 home;")}))
	tp := tab.MustCompile("$g")
	must(b, tab.Freeze())
	r := benchReq()
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		r.st.Reset()
		buf = tp.Append(buf[:0], r)
	}
}

func BenchmarkSplitClients(b *testing.B) {
	tab := newTable(b)
	must(b, tab.AddSplitClients(SplitSpec{Source: "${remote_addr}AAA", Variable: "$v", Lines: lines("0.5% a; 2% b; * c;")}))
	tp := tab.MustCompile("$v")
	must(b, tab.Freeze())
	r := benchReq()
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		r.st.Reset()
		buf = tp.Append(buf[:0], r)
	}
}
