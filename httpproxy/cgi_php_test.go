package httpproxy

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

// phpScripts are the scripts TestCGIPHPFPM serves.
var phpScripts = map[string]string{
	"index.php": `<?php
foreach (['SCRIPT_FILENAME', 'SCRIPT_NAME', 'PATH_INFO', 'PHP_SELF', 'REQUEST_URI', 'QUERY_STRING',
	'REQUEST_METHOD', 'CONTENT_LENGTH', 'CONTENT_TYPE', 'DOCUMENT_URI', 'DOCUMENT_ROOT', 'HTTP_HOST',
	'HTTP_X_TEST', 'HTTPS', 'SERVER_NAME', 'REMOTE_ADDR', 'GATEWAY_INTERFACE'] as $n) {
	echo $n, '=', $_SERVER[$n] ?? '-', "\n";
}
echo 'get=', json_encode($_GET), "\n";
echo 'post=', json_encode($_POST), "\n";
echo 'body=', file_get_contents('php://input'), "\n";
`,
	"status.php":   `<?php http_response_code(404); header('X-A: b'); echo "not found here\n";`,
	"redirect.php": `<?php header('Location: /target?x=1');`,
	"log.php":      `<?php error_log("something broke"); echo "logged\n";`,
	"cookie.php":   `<?php setcookie('a', 'b'); header('Cache-Control: no-store'); echo "cookie\n";`,
}

// startPHPFPM runs php-fpm on a TCP address until the test ends.
func startPHPFPM(t *testing.T, dir string) string {
	bins, _ := filepath.Glob("/usr/sbin/php-fpm*")
	if len(bins) == 0 {
		t.Skip("php-fpm is not installed")
	}
	addr := testutil.FreeAddr(t)
	conf := filepath.Join(dir, "fpm.conf")
	os.WriteFile(conf, []byte(`[global]
pid = `+dir+`/fpm.pid
error_log = `+dir+`/fpm.log
daemonize = no
[www]
listen = `+addr+`
pm = static
pm.max_children = 2
`), 0o644)
	cmd := exec.Command(bins[0], "-n", "-R", "-F", "-y", conf)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // the master stops its workers
		select {
		case <-done:
		case <-time.After(waitLimit):
			cmd.Process.Kill()
			<-done
		}
	})
	testutil.WaitFor(t, "php-fpm listening", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// TestCGIPHPFPM runs nginx and sluice on one PHP site served by the real
// php-fpm, when it is installed, and compares what PHP sees ($_SERVER,
// $_GET, $_POST, the body) and what the clients get, and the error log
// lines of PHP's messages.
func TestCGIPHPFPM(t *testing.T) {
	testutil.NeedNginx(t)
	testutil.SkipUnless(t, "/etc/nginx/fastcgi_params")
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	os.Mkdir(www, 0o755)
	for name, text := range phpScripts {
		os.WriteFile(filepath.Join(www, name), []byte(text), 0o644)
	}
	fpm := startPHPFPM(t, dir)
	nginxLog, sluiceLog := filepath.Join(dir, "nginx.log"), filepath.Join(dir, "sluice.log")
	body := strings.NewReplacer("WWW", www, "FPM", fpm).Replace(`
	error_log ERRLOG error;
	upstream php { server FPM; keepalive 4; }
	server { listen LISTEN; server_name example.com; root WWW; index index.php;
		location / { try_files $uri $uri/ /index.php?$args; }
		location ~ [^/]\.php(/|$) {
			fastcgi_split_path_info ^(.+?\.php)(/.*)$;
			if (!-f $document_root$fastcgi_script_name) { return 404; }
			include /etc/nginx/fastcgi_params;
			fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
			fastcgi_param PATH_INFO $fastcgi_path_info;
			fastcgi_keep_conn on;
			fastcgi_pass php;
		}
	}`)
	nginxAddr := startNginx(t, strings.ReplaceAll(body, "ERRLOG", nginxLog))
	h := startProxy(t, "events {} http { access_log off;\n"+strings.NewReplacer("LISTEN", "127.0.0.1:18080", "ERRLOG", sluiceLog).Replace(body)+"}", Options{})
	sluiceAddr := h.addr["127.0.0.1:18080"]
	reqs := []string{
		"GET /index.php?a=1&b[]=2 HTTP/1.1\r\nHost: example.com\r\nX-Test: yes\r\nConnection: close\r\n\r\n",
		"GET /index.php/extra/path HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /pretty/url?page=3 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"POST /index.php HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\nConnection: close\r\n\r\nname=x&n=42",
		"POST /index.php HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
		"HEAD /index.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /status.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /redirect.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /log.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /cookie.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /nothere.php HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
	}
	for _, req := range reqs {
		want := normalizeResponse(rawRequest(t, nginxAddr, req), nginxAddr)
		got := normalizeResponse(rawRequest(t, sluiceAddr, req), sluiceAddr)
		if got != want {
			t.Errorf("%s:\nsluice:\n%s\nnginx:\n%s", firstLine(req), got, want)
		}
	}
	logLines := func(path string) string {
		b, _ := os.ReadFile(path)
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			l = cgiLogStrip.ReplaceAllString(l, "[$1] ")
			out = append(out, cgiPortRE.ReplaceAllString(l, `:PORT"`))
		}
		return strings.Join(out, "\n")
	}
	testutil.WaitFor(t, "sluice's error log", func() bool { return len(logLines(sluiceLog)) >= len(logLines(nginxLog)) })
	if got, want := logLines(sluiceLog), logLines(nginxLog); got != want {
		t.Errorf("error log:\nsluice:\n%s\nnginx:\n%s", got, want)
	}
}
