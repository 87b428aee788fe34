package vars

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const nginxBin = "/usr/sbin/nginx"

// Blocks shared by the nginx configuration and the specs built here.
const (
	diffMap = `hostnames; default def; example.com exact; *.example.com head; *.a.example.com head-a;
		.example.org dot; www.example.* tail; www.example.co.* tail-co; \default literal-default;
		~^(?<first>[a-z]+)\.re\.net$ re:$1:$first; ~*^UP upper; ~^up second; ~^var- var:$arg_x;`
	diffGeo = `default d; 10.0.0.0/8 ten; 10.1.0.0/16 ten-one; 10.1.2.3 host; 10.1.2.3/32 host2;
		2001:db8::/32 v6; 2001:db8:1::/48 v6-48; delete 10.2.0.0/16; 10.3.0.0/16 three;
		delete 10.3.0.0/16; 255.255.255.255 none;`
	diffRanges = `ranges; default rd; 10.0.0.0-10.0.255.255 r1; 10.0.0.10-10.0.0.20 inner;
		10.0.0.0-10.0.0.5 start; 10.0.255.0-10.0.255.255 end; 10.1.255.0-10.2.0.255 cross;
		10.5.0.100-10.5.0.200 hi; 10.5.0.0-10.5.0.50 lo; 10.5.0.150-10.5.0.160 shadowed;
		10.7.0.0-10.7.0.9 del; delete 10.7.0.0-10.7.0.9;`
	diffSplit   = `0.5% a; 2.5% b; 33.33% c; 10% d; 20.01% e; * f;`
	diffLogDef  = `'$arg_a "$http_x_t" $http_missing $arg_none [$m] [$first] $arg_empty.'`
	diffLogJSON = `escape=json '{"a":"$arg_a","t":"$http_x_t","miss":"$http_missing","m":"$m"}'`
)

// startNginx runs nginx with the http block body on a loopback port and
// returns the base URL and the directory holding its logs.
func startNginx(t *testing.T, httpBody string) (string, string) {
	t.Helper()
	if _, err := os.Stat(nginxBin); err != nil {
		t.Skip("nginx not installed")
	}
	if testing.Short() {
		t.Skip("differential test against nginx skipped in -short mode")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`daemon off; master_process off; pid %[1]s/nginx.pid; error_log %[1]s/error.log;
events { worker_connections 64; }
http {
	client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy; fastcgi_temp_path %[1]s/fcgi;
	uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
	%[2]s
	server { listen %[3]s; %[4]s }
}
`, dir, httpBody, addr, `
		location /map { return 200 "$m|$first"; }
		location /geo { return 200 "$g|$gr"; }
		location /split { return 200 "$split"; }
		location /log { access_log `+dir+`/def.log def; access_log `+dir+`/json.log json; return 200 "ok"; }`)
	cf := filepath.Join(dir, "nginx.conf")
	must(t, os.WriteFile(cf, []byte(conf), 0o644))
	cmd := exec.Command(nginxBin, "-p", dir, "-c", cf)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr, dir
		}
		select {
		case err := <-done:
			t.Fatalf("nginx exited: %v: %s", err, stderr.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s: %s", addr, stderr.String())
		}
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	return string(b)
}

func diffTable(t *testing.T) (*testTable, *LogFormat[*req], *LogFormat[*req]) {
	tab := newTable(t)
	must(t, tab.AddMap(MapSpec{Source: "$arg_h", Variable: "$m", Lines: lines(diffMap)}))
	must(t, tab.AddGeo(GeoSpec{Source: "$arg_ip", Variable: "$g", Lines: lines(diffGeo), HTTP: true}))
	must(t, tab.AddGeo(GeoSpec{Source: "$arg_ip", Variable: "$gr", Lines: lines(diffRanges), HTTP: true}))
	must(t, tab.AddSplitClients(SplitSpec{Source: "${arg_k}AAA", Variable: "$split", Lines: lines(diffSplit)}))
	unq := func(s string) []string {
		var out []string
		for _, f := range strings.SplitAfter(s, "' ") {
			out = append(out, strings.Trim(strings.TrimSpace(f), "'"))
		}
		return out
	}
	def, err := tab.CompileLogFormat("def", unq(diffLogDef), "")
	must(t, err)
	js, err := tab.CompileLogFormat("json", strings.SplitN(strings.ReplaceAll(diffLogJSON, "'", ""), " ", 2), "")
	must(t, err)
	must(t, tab.Freeze())
	return tab, def, js
}

// TestDifferentialNginx runs the same map, geo, split_clients and
// log_format definitions under nginx and here, and compares the values for
// the same inputs.
func TestDifferentialNginx(t *testing.T) {
	body := fmt.Sprintf(`map $arg_h $m { %s } geo $arg_ip $g { %s } geo $arg_ip $gr { %s }
		split_clients "${arg_k}AAA" $split { %s } log_format def %s; log_format json %s;`,
		diffMap, diffGeo, diffRanges, diffSplit, diffLogDef, diffLogJSON)
	base, dir := startNginx(t, body)
	tab, defFmt, jsonFmt := diffTable(t)
	ours := func(src string, args map[string]string) string {
		r := newReq()
		for k, v := range args {
			r.args.Set(k, v)
		}
		return eval(t, tab, src, r)
	}

	t.Run("map", func(t *testing.T) {
		for _, h := range []string{"example.com", "EXAMPLE.Com", "example.com.", "www.example.com",
			"x.a.example.com", "a.example.com", "example.org", "deep.sub.example.org", "www.example.net",
			"www.example.co.uk", "www.example", "default", "abc.re.net", "upper", "UPPER", "up", "var-1",
			"nothing", "", ".", "..", "example.com..", "Www.Example.Co.UK", "ABC.re.net"} {
			want := httpGet(t, base+"/map?x=X&h="+h)
			if got := ours("$m|$first", map[string]string{"h": h, "x": "X"}); got != want {
				t.Errorf("map h=%q: sluice %q, nginx %q", h, got, want)
			}
		}
	})
	t.Run("geo", func(t *testing.T) {
		for _, ip := range []string{"10.9.9.9", "10.1.9.9", "10.1.2.3", "10.3.0.1", "8.8.8.8",
			"2001:db8:2::1", "2001:db8:1::1", "::ffff:10.1.2.3", "fe80::1", "not-an-ip", "010.1.2.3",
			"10.0.0.1", "10.0.0.6", "10.0.0.15", "10.0.0.21", "10.0.255.1", "10.1.255.7", "10.2.0.7",
			"10.5.0.155", "10.5.0.10", "10.7.0.1", "::ffff:10.0.0.15", "10.0.0.", "1..2.3", "255.255.255.255", ""} {
			want := httpGet(t, base+"/geo?ip="+ip)
			if got := ours("$g|$gr", map[string]string{"ip": ip}); got != want {
				t.Errorf("geo ip=%q: sluice %q, nginx %q", ip, got, want)
			}
		}
	})
	t.Run("split_clients", func(t *testing.T) {
		seen := map[string]int{}
		for i := range 200 {
			k := fmt.Sprintf("key-%d", i*7919)
			want := httpGet(t, base+"/split?k="+k)
			seen[want]++
			if got := ours("$split", map[string]string{"k": k}); got != want {
				t.Errorf("split k=%q: sluice %q, nginx %q", k, got, want)
			}
		}
		if len(seen) < 4 {
			t.Errorf("only buckets %v seen; the test does not exercise the split", seen)
		}
	})
	t.Run("log_format", func(t *testing.T) {
		hdr := "q\"b\\c\x01\x7f\xc3\xa9 \t!"
		query := "a=x%22y&h=EXAMPLE.Com&empty="
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		must(t, err)
		fmt.Fprintf(c, "GET /log?%s HTTP/1.0\r\nHost: t\r\nX-T: %s\r\n\r\n", query, hdr)
		io.Copy(io.Discard, c)
		c.Close()
		r := newReq()
		r.args["a"] = []string{"x%22y"}
		r.args["h"] = []string{"EXAMPLE.Com"}
		r.args["empty"] = []string{""}
		r.hdr["x-t"] = strings.TrimRight(hdr, " \t")
		for _, f := range []struct {
			file string
			lf   *LogFormat[*req]
		}{{"def.log", defFmt}, {"json.log", jsonFmt}} {
			want := readFirstLine(t, filepath.Join(dir, f.file))
			r.st.Reset()
			if got := string(f.lf.Append(nil, r)); got != want {
				t.Errorf("%s: sluice %q\n          nginx  %q", f.file, got, want)
			}
		}
	})
}

func readFirstLine(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return strings.TrimSuffix(line, "\n")
}
