package testutil

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// NeedBBR skips the test unless this host's default TCP congestion
// control is bbr and ss(8) is installed: what a test of
// internal/loopbulk's effect on a proxy needs.
func NeedBBR(t testing.TB) {
	t.Helper()
	def, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil || !strings.HasPrefix(string(def), "bbr") {
		t.Skipf("the host's congestion control is not bbr (%q, %v)", strings.TrimSpace(string(def)), err)
	}
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("no ss(8)")
	}
}

// CheckUnpaced fails the test unless every established TCP socket whose
// local port is port has left bbr for cubic or reno, as ss(8) shows it.
func CheckUnpaced(t testing.TB, port string) {
	t.Helper()
	CheckUnpacedWhere(t, "sport", "= :"+port)
}

// CheckUnpacedWhere fails the test unless ss's filter (e.g. "dport",
// "= :80") selects established TCP sockets and every one is on cubic or
// reno, as ss(8) shows it.
func CheckUnpacedWhere(t testing.TB, filter ...string) {
	t.Helper()
	out, err := exec.Command("ss", append([]string{"-tinH", "state", "established"}, filter...)...).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	f := strings.Fields(string(out))
	if !slices.Contains(f, "cubic") && !slices.Contains(f, "reno") || slices.Contains(f, "bbr") {
		t.Errorf("a socket where %s is not off bbr; ss says:\n%s", strings.Join(filter, " "), out)
	}
}

// ReceiveBuffers returns the receive buffer (ss(8)'s skmem rb) of each
// established TCP socket that ss's filter selects, e.g. "sport", "= :80".
// It skips the test when ss is not installed.
func ReceiveBuffers(t testing.TB, filter ...string) []int {
	t.Helper()
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("no ss(8)")
	}
	out, err := exec.Command("ss", append([]string{"-tmnH", "state", "established"}, filter...)...).Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	var rbs []int
	for _, m := range rbField.FindAllSubmatch(out, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		rbs = append(rbs, n)
	}
	return rbs
}

var rbField = regexp.MustCompile(`[(,]rb(\d+)`)
