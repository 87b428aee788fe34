package upstream

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
	"github.com/sluicelb/sluice/internal/dnstest"
)

func TestResolverLookup(t *testing.T) {
	dns := dnstest.Start(t)
	dns.SetTTL(300)
	dns.Set("api.test", "10.0.0.1", "10.0.0.2", "fd00::1")
	r, err := ParseResolver([]string{dns.Addr()}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	addrs, ttl, err := r.Lookup(context.Background(), "api.test")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	if got := addrList(addrs); got != "10.0.0.1, 10.0.0.2, fd00::1" || ttl != 300*time.Second {
		t.Errorf("got %s ttl %v", got, ttl)
	}
	if _, _, err := r.Lookup(context.Background(), "gone.test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown name: %v, want ErrNotFound", err)
	}

	// valid= overrides the TTL; ipv6=off asks for A records only
	r, err = ParseResolver([]string{dns.Addr(), "valid=7s", "ipv6=off"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	dns.Forget()
	addrs, ttl, err = r.Lookup(context.Background(), "api.test")
	if err != nil || len(addrs) != 2 || ttl != 7*time.Second {
		t.Errorf("valid=7s ipv6=off: %v ttl %v err %v", addrs, ttl, err)
	}
	if dns.Asked(dnsmessage.TypeAAAA) {
		t.Error("ipv6=off asked for AAAA records")
	}

	// a resolver that does not answer: an error within the timeout
	dead, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer dead.Close()
	r, _ = ParseResolver([]string{dead.LocalAddr().String()}, 200*time.Millisecond)
	start := time.Now()
	if _, _, err := r.Lookup(context.Background(), "api.test"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("silent resolver: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("silent resolver took %v", d)
	}
}

func resolveList(port int) []config.UpstreamServer {
	return []config.UpstreamServer{
		{Addr: "127.0.0.1:9", Name: "127.0.0.1:9", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second, Backup: true},
		{Name: "api.test", Weight: 2, MaxFails: 1, FailTimeout: 10 * time.Second, Resolve: true, Host: "api.test", Port: port},
	}
}

func peerAddrs(g *balance.Group) string {
	var out []string
	for _, p := range g.Peers() {
		s := p.Addr()
		if p.Server().Down {
			s += " down"
		}
		if p.Backup() {
			s += " backup"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func TestResolvingFollowsDNS(t *testing.T) {
	defer func(d time.Duration) { retryRefresh = d }(retryRefresh)
	retryRefresh = 200 * time.Millisecond
	dns := dnstest.Start(t)
	dns.Set("api.test", "10.0.0.1")
	reg := balance.NewRegistry(nil)
	var logs []string
	var mu sync.Mutex
	rs := &Resolving{Log: func(warn bool, msg string) { mu.Lock(); logs = append(logs, msg); mu.Unlock() }}
	g, err := rs.Build(reg, "http:dyn1", Method{}, resolveList(8080), "FILE:1", []string{dns.Addr()}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := peerAddrs(g); got != "10.0.0.1:8080,127.0.0.1:9 backup" {
		t.Fatalf("at start: %s", got)
	}
	if w := g.Lookup("10.0.0.1:8080").Server().Weight; w != 2 {
		t.Errorf("weight %d, want the server line's 2", w)
	}
	rs.Start()
	defer rs.Stop()
	dns.Set("api.test", "10.0.0.1", "10.0.0.3")
	waitFor(t, "the new address", func() bool { return peerAddrs(g) == "10.0.0.1:8080,10.0.0.3:8080,127.0.0.1:9 backup" })

	// the name disappears: its servers go, the group is all down but exists
	dns.Set("api.test")
	waitFor(t, "the name to go", func() bool { return peerAddrs(g) == "127.0.0.1:9 backup,api.test:8080 down" })
	mu.Lock()
	joined := strings.Join(logs, "\n")
	mu.Unlock()
	if !strings.Contains(joined, `upstream "dyn1": api.test:8080 now resolves to 10.0.0.1, 10.0.0.3`) {
		t.Errorf("log:\n%s", joined)
	}
	dns.Set("api.test", "10.0.0.4")
	waitFor(t, "the name to come back", func() bool { return peerAddrs(g) == "10.0.0.4:8080,127.0.0.1:9 backup" })
}

func TestResolvingReloadKeepsAddresses(t *testing.T) {
	dns := dnstest.Start(t)
	dns.Set("api.test", "10.0.0.7")
	reg := balance.NewRegistry(nil)
	rs := &Resolving{}
	if _, err := rs.Build(reg, "dyn2", Method{}, resolveList(53), "FILE:1", []string{dns.Addr()}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	// the resolver goes away: a reload starts with what was found before
	dns.Close()
	rs2 := &Resolving{}
	g, err := rs2.Build(reg, "dyn2", Method{}, resolveList(53), "FILE:1", []string{dns.Addr()}, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got := peerAddrs(g); got != "10.0.0.7:53,127.0.0.1:9 backup" {
		t.Fatalf("after reload: %s", got)
	}
	// and keeps it while the resolver fails
	rs2.Start()
	time.Sleep(400 * time.Millisecond)
	rs2.Stop()
	if got := peerAddrs(g); got != "10.0.0.7:53,127.0.0.1:9 backup" {
		t.Fatalf("with the resolver down: %s", got)
	}
}

func TestResolvingErrors(t *testing.T) {
	reg := balance.NewRegistry(nil)
	rs := &Resolving{}
	_, err := rs.Build(reg, "http:u", Method{}, resolveList(80), "FILE:3", nil, time.Second)
	if err == nil || err.Error() != `no resolver defined to resolve "api.test" in upstream "u" in FILE:3` {
		t.Errorf("no resolver: %v", err)
	}
	// a name that does not resolve at start: the group starts all down
	dns := dnstest.Start(t)
	g, err := rs.Build(reg, "http:u", Method{}, resolveList(80), "FILE:3", []string{dns.Addr()}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := peerAddrs(g); got != "127.0.0.1:9 backup,api.test:80 down" {
		t.Errorf("unresolved at start: %s", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(6 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
