// Package upstream turns the upstream blocks of a configuration into
// balance groups. The stream and http proxies both use it, so an upstream
// block means the same in either context: the same servers, parameters
// and balancing method, with peer state kept across reloads by the shared
// balance.Registry.
package upstream

import (
	"fmt"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/config"
)

// Method is an upstream block's balancing method as the configuration
// states it (config.StreamUpstream and config.HTTPUpstream carry these
// fields).
type Method struct {
	Name            string // round_robin, least_conn, ip_hash, hash, random, least_time
	Consistent      bool   // hash ... consistent
	RandomTwo       bool   // random two
	RandomTwoMethod string // random two least_conn | least_time
	LeastTimeMetric string // header, connect, first_byte, last_byte
	Inflight        bool   // least_time ... inflight
}

var metrics = map[string]balance.Metric{
	"header":     balance.MetricHeader,
	"connect":    balance.MetricConnect,
	"first_byte": balance.MetricFirstByte,
	"last_byte":  balance.MetricLastByte,
}

// Config returns the balance configuration of m.
func (m Method) Config() (balance.Config, error) {
	var cfg balance.Config
	switch m.Name {
	case "round_robin", "":
		cfg.Method = balance.RoundRobin
	case "least_conn":
		cfg.Method = balance.LeastConn
	case "ip_hash":
		cfg.Method = balance.IPHash
	case "hash":
		cfg.Method, cfg.Consistent = balance.Hash, m.Consistent
	case "random":
		cfg.Method, cfg.Two = balance.Random, m.RandomTwo
		if m.RandomTwoMethod == "least_time" {
			cfg.TwoLeastTime, cfg.Metric = true, metrics[m.LeastTimeMetric]
		}
	case "least_time":
		cfg.Method, cfg.Metric, cfg.Inflight = balance.LeastTime, metrics[m.LeastTimeMetric], m.Inflight
	default:
		return cfg, fmt.Errorf("unknown balancing method %q", m.Name)
	}
	return cfg, nil
}

// Servers converts the server lines of an upstream block. nginx's
// max_fails=0 (no failure accounting) becomes balance.MaxFailsOff.
func Servers(list []config.UpstreamServer) []balance.Server {
	servers := make([]balance.Server, 0, len(list))
	for _, s := range list {
		bs := balance.Server{
			Addr: s.Addr, Name: s.Name, Weight: s.Weight, MaxConns: s.MaxConns, MaxFails: s.MaxFails,
			FailTimeout: s.FailTimeout, Backup: s.Backup, Down: s.Down, Drain: s.Drain, SlowStart: s.SlowStart,
			Route: s.Route,
		}
		if s.MaxFails == 0 {
			bs.MaxFails = balance.MaxFailsOff
		}
		servers = append(servers, bs)
	}
	return servers
}

// Build builds (or rebuilds, keeping peer state) the group named group in
// reg. pos is the block's file:line for errors.
func Build(reg *balance.Registry, group string, m Method, list []config.UpstreamServer, pos string) (*balance.Group, error) {
	cfg, err := m.Config()
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %v in %s", group, err, pos)
	}
	g, err := reg.Build(group, Servers(list), cfg)
	if err != nil {
		return nil, fmt.Errorf("%v in %s", err, pos)
	}
	return g, nil
}
