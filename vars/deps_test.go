package vars

import (
	"os/exec"
	"strings"
	"testing"
)

// TestForbiddenImports keeps the variable system independent of the proxies
// and of the configuration package, which hands it plain strings.
func TestForbiddenImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"/stream", "/httpproxy", "/config", "/runtime", "/upstream", "/accesslog", "/admin"} {
			if strings.HasPrefix(dep, "github.com/sluicelb/sluice"+bad) {
				t.Errorf("vars depends on %s", dep)
			}
		}
	}
}
