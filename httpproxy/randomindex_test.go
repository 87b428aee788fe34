package httpproxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// randomIndexTree makes the directories the random_index tests serve.
func randomIndexTree(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{"one/sub", "none/.git", "none/sub", "none2", "link", "t", "nest/in", "off", "two", "idx"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"one/only.html": "only\n", "one/.hidden": "hidden\n", "none/.h": "h\n", "t/a.txt": "a\n",
		"nest/in/n.html": "n\n", "off/o.html": "o\n", "two/a.html": "a\n", "two/b.html": "b\n",
		"idx/index.html": "index\n", "target.html": "target\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{"one/dirlink": "sub", "one/broken": "nothing", "link/l.html": "../target.html"}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// randomIndexConf serves randomIndexTree with random_index in various
// places.
const randomIndexConf = `
	server { listen LISTEN; root DIR;
		location /one/ { random_index on; }
		location /none/ { random_index on; autoindex on; }
		location /none2/ { random_index on; }
		location /link/ { random_index on; }
		location /missing/ { random_index on; }
		location /t/ { random_index on; }
		location ~ \.txt$ { return 200 "uri=$uri args=$args method=$request_method"; }
		location /nest/ { random_index on; location /nest/in/ { } }
		location /off/ { random_index off; }
		location /idx/ { random_index on; }
		location /two/ { random_index on; }
	}`

// TestRandomIndexNginxDifferential compares nginx's and sluice's answers
// for directories where the choice is not random: one file, none (index
// and autoindex then apply), a link to a file, hidden files and
// directories, a missing directory; and what the redirect keeps.
func TestRandomIndexNginxDifferential(t *testing.T) {
	dir := t.TempDir()
	randomIndexTree(t, dir)
	get := func(target string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	}
	requests := []string{
		get("/one/"), get("/one/?a=1"), get("/none/"), get("/none2/"), get("/link/"), get("/missing/"),
		get("/t/?x=y"), "POST /t/ HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
		"HEAD /one/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"POST /one/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		"PUT /one/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		get("/nest/in/"), get("/off/"), get("/one/only.html/"), get("/idx/"),
	}
	moduleDiff(t, dir, randomIndexConf, requests)
}

// TestRandomIndexChoice checks that every file of a directory is chosen,
// and only those, and the error log of a missing directory and of a
// file taken for one.
func TestRandomIndexChoice(t *testing.T) {
	dir := t.TempDir()
	randomIndexTree(t, dir)
	h := startProxy(t, "events {} http { access_log off;\n"+strings.ReplaceAll(strings.ReplaceAll(randomIndexConf, "LISTEN", "127.0.0.1:18080"), "DIR", dir)+"}", Options{})
	addr := h.addr["127.0.0.1:18080"]
	seen := map[string]int{}
	for i := 0; i < 64; i++ {
		out := rawRequest(t, addr, "GET /two/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		_, body, _ := strings.Cut(out, "\r\n\r\n")
		seen[body]++
	}
	if len(seen) != 2 || seen["a\n"] == 0 || seen["b\n"] == 0 {
		t.Errorf("bodies %v, want both files", seen)
	}
	rawRequest(t, addr, "GET /missing/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	rawRequest(t, addr, "GET /one/only.html/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	for _, want := range []string{
		`[error] `, `opendir() "` + dir + `/missing" failed (2: No such file or directory), client: 127.0.0.1`,
		`opendir() "` + dir + `/one/only.html" failed (20: Not a directory), client: 127.0.0.1`,
	} {
		if log := h.errs.String(); !strings.Contains(log, want) {
			t.Errorf("error log lacks %q:\n%s", want, log)
		}
	}
}
