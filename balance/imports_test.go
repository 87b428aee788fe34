package balance

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the package free of the server-side layers: it is used by
// the proxies and by the client library.
func TestImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == "net/http", strings.HasPrefix(dep, "net/http/"),
			strings.HasPrefix(dep, "github.com/sluicelb/sluice/") && dep != "github.com/sluicelb/sluice/balance":
			t.Errorf("balance depends on %s", dep)
		}
	}
}
