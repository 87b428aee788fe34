package config

import (
	"reflect"
	"testing"
)

// TestHTTPRewriteCompile checks how the rewrite module directives compile:
// order, flags, redirects, if conditions and the configuration of an if
// block inside a location.
func TestHTTPRewriteCompile(t *testing.T) {
	cfg, msg := loadHTTP(t, `server { listen 127.0.0.1:18080;
		rewrite ^/a/(.*)$ /b/$1 last;
		set $x 1;
		if ( $http_a ~* ^(x)$ ) { return 403; break; }
		location /l/ {
			add_header X-Out 1;
			rewrite ^ http://example.com/;
			rewrite ^/l/(.*)$ /m/$1 permanent;
			rewrite ^ /n? break;
			if (!-f /nonexistent) { add_header X-In 1; proxy_pass http://127.0.0.1:18081; set $y 2; }
			if ($x = "1") { }
			proxy_pass http://127.0.0.1:18082/base/;
		} }`)
	if msg != "" {
		t.Fatal(msg)
	}
	srv := cfg.HTTP.Servers[0]
	var ops []string
	for _, op := range srv.Script {
		ops = append(ops, op.Op)
	}
	if want := []string{OpRewrite, OpSet, OpIf}; !reflect.DeepEqual(ops, want) {
		t.Errorf("server script %v, want %v", ops, want)
	}
	if op := srv.Script[0]; op.Regex != "^/a/(.*)$" || op.Replacement != "/b/$1" || op.Flag != RewriteLast || op.Redirect {
		t.Errorf("server rewrite %+v", op)
	}
	f := srv.Script[2].If
	if f.Var != "$http_a" || f.Operator != "~*" || f.Operand != "^(x)$" || !f.Server || f.Location != nil || len(f.Script) != 2 {
		t.Errorf("server if %+v", f)
	}
	if srv.Return != nil {
		t.Errorf("a return inside if is the server's Return: %+v", srv.Return)
	}
	l := srv.Locations[0]
	if len(l.Script) != 5 {
		t.Fatalf("location script %+v", l.Script)
	}
	if op := l.Script[0]; !op.Redirect || op.Flag != "" {
		t.Errorf("URL replacement: %+v", op)
	}
	if op := l.Script[1]; !op.Redirect || op.Flag != RewritePermanent {
		t.Errorf("permanent: %+v", op)
	}
	if op := l.Script[2]; op.Redirect || op.Flag != RewriteBreak || op.Replacement != "/n?" {
		t.Errorf("break: %+v", op)
	}
	f = l.Script[3].If
	if f.Var != "" || f.Operator != "!-f" || f.Operand != "/nonexistent" || f.Location == nil {
		t.Fatalf("file test %+v", f)
	}
	if len(f.Script) != 1 || f.Script[0].Op != OpSet || f.Script[0].Var != "y" {
		t.Errorf("if script %+v", f.Script)
	}
	il := f.Location
	if il.Name != "/l/" || il.ProxyPass == nil || il.ProxyPass.HasURI || len(il.Script) != 0 {
		t.Errorf("if location %+v", il)
	}
	if hs := il.Settings.AddHeaders; len(hs) != 1 || hs[0].Name != "X-In" {
		t.Errorf("if add_header %+v, want X-In only", hs)
	}
	if len(il.Settings.ProxySetHeaders) == 0 || len(il.Settings.AccessLogs) == 0 {
		t.Errorf("if location lacks the defaults: %+v", il.Settings)
	}
	if f := l.Script[4].If; f.Var != "$x" || f.Operator != "=" || f.Operand != "1" {
		t.Errorf("equality %+v", f)
	}
}
