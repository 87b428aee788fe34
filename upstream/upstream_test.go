package upstream

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
)

func TestMethodConfig(t *testing.T) {
	tests := []struct {
		m    Method
		want balance.Config
	}{
		{Method{Name: "round_robin"}, balance.Config{Method: balance.RoundRobin}},
		{Method{Name: "least_conn"}, balance.Config{Method: balance.LeastConn}},
		{Method{Name: "ip_hash"}, balance.Config{Method: balance.IPHash}},
		{Method{Name: "hash", Consistent: true}, balance.Config{Method: balance.Hash, Consistent: true}},
		{Method{Name: "random", RandomTwo: true, RandomTwoMethod: "least_conn"}, balance.Config{Method: balance.Random, Two: true}},
		{Method{Name: "random", RandomTwo: true, RandomTwoMethod: "least_time", LeastTimeMetric: "connect"},
			balance.Config{Method: balance.Random, Two: true, TwoLeastTime: true, Metric: balance.MetricConnect}},
		{Method{Name: "least_time", LeastTimeMetric: "header", Inflight: true},
			balance.Config{Method: balance.LeastTime, Metric: balance.MetricHeader, Inflight: true}},
		{Method{Name: "least_time", LeastTimeMetric: "first_byte"}, balance.Config{Method: balance.LeastTime, Metric: balance.MetricFirstByte}},
	}
	for _, tc := range tests {
		got, err := tc.m.Config()
		if err != nil || got != tc.want {
			t.Errorf("%+v: got %+v, %v; want %+v", tc.m, got, err, tc.want)
		}
	}
	if _, err := (Method{Name: "sticky"}).Config(); err == nil {
		t.Error("unknown method accepted")
	}
}

func TestBuild(t *testing.T) {
	reg := balance.NewRegistry(nil)
	list := []config.UpstreamServer{
		{Addr: "127.0.0.1:1", Name: "a", Weight: 5, MaxFails: 0, FailTimeout: 10 * time.Second},
		{Addr: "127.0.0.1:2", Name: "b", Weight: 1, MaxFails: 3, FailTimeout: 30 * time.Second, Backup: true},
	}
	g, err := Build(reg, "u", Method{Name: "round_robin"}, list, "f.conf:3")
	if err != nil {
		t.Fatal(err)
	}
	srv := Servers(list)
	if srv[0].MaxFails != balance.MaxFailsOff || srv[1].MaxFails != 3 || !srv[1].Backup || srv[0].Weight != 5 {
		t.Errorf("servers %+v", srv)
	}
	if len(g.Peers()) != 2 || g.Lookup("127.0.0.1:2") == nil {
		t.Errorf("group peers %v", g.Peers())
	}
	// balance refuses backup with hash; the error carries the block's position.
	if _, err := Build(reg, "h", Method{Name: "hash"}, list, "f.conf:9"); err == nil || !strings.HasSuffix(err.Error(), " in f.conf:9") {
		t.Errorf("err = %v", err)
	}
}
