package admin

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// MetricsContentType is the Content-Type of the metrics: Prometheus's text
// exposition format, version 0.0.4.
const MetricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// Metrics answers the requests of one location with the "metrics"
// directive: the numbers the API reports, in Prometheus's text format,
// named as nginx-prometheus-exporter names those of NGINX Plus with the
// prefix "sluice_" (docs/metrics.md). Its fields are set when the
// configuration is built and not changed after; Serve is safe for
// concurrent use.
type Metrics struct {
	// Upstreams are the groups of the configuration, http and stream.
	Upstreams *balance.GroupSet
	// Version is the version sluice_info reports.
	Version string
	// Generation numbers the configuration among those the process loaded
	// (1 for the first); Loaded is when it was loaded.
	Generation uint64
	Loaded     time.Time
	// Counters returns the connection counters; nil reports zeros.
	Counters func() Counters
}

// Serve answers a request with method: 200 and the metrics appended to
// buf for GET and HEAD, 405 and buf unchanged for the others.
func (m *Metrics) Serve(method string, buf []byte) (int, []byte) {
	if method != "GET" && method != "HEAD" {
		return 405, buf
	}
	return 200, m.Append(buf)
}

// Metric types.
const (
	counter = "counter"
	gauge   = "gauge"
)

// Server states as nginx-prometheus-exporter numbers them.
var stateCodes = map[balance.State]int{
	balance.StateUp:        1,
	balance.StateSlowStart: 1, // "up" in the API
	balance.StateDraining:  2,
	balance.StateDown:      3,
	balance.StateUnavail:   4,
	balance.StateChecking:  5,
	balance.StateUnhealthy: 6,
}

// serverRow is one server of an upstream as the metrics label it.
type serverRow struct {
	upstream string
	id       string // set on the second and later servers of an address
	st       balance.PeerStats
}

// serverMetric is a metric of each upstream server: value returns the
// sample's value, or false for none.
type serverMetric struct {
	name, typ, help string
	value           func(st *balance.PeerStats) (string, bool)
}

func uintValue(f func(st *balance.PeerStats) uint64) func(*balance.PeerStats) (string, bool) {
	return func(st *balance.PeerStats) (string, bool) { return strconv.FormatUint(f(st), 10), true }
}

// serverMetrics are the per-server metrics, sorted by name; the stream
// ones take the prefix "stream_" and call requests connections.
func serverMetrics(stream bool) []serverMetric {
	what, started := "requests", "Client requests started on the server"
	if stream {
		what, started = "connections", "Client connections forwarded to the server"
	}
	ms := []serverMetric{
		{"active", gauge, "Active connections", func(st *balance.PeerStats) (string, bool) {
			return strconv.Itoa(st.Active), true
		}},
		{what, counter, started, uintValue(func(st *balance.PeerStats) uint64 { return st.Requests })},
		{"fails", counter, "Number of unsuccessful attempts to communicate with the server", uintValue(func(st *balance.PeerStats) uint64 { return st.Fails })},
		{"health_checks_checks", counter, "Total health check requests", uintValue(func(st *balance.PeerStats) uint64 { return st.Health.Checks })},
		{"health_checks_fails", counter, "Failed health checks", uintValue(func(st *balance.PeerStats) uint64 { return st.Health.Fails })},
		{"health_checks_unhealthy", counter, "How many times the server became unhealthy (state 'unhealthy')", uintValue(func(st *balance.PeerStats) uint64 { return st.Health.Unhealthy })},
		{"latency_seconds", gauge, "Estimated response time of the server (least_time), once measured", func(st *balance.PeerStats) (string, bool) {
			if st.Latency <= 0 {
				return "", false
			}
			return strconv.FormatFloat(st.Latency.Seconds(), 'g', -1, 64), true
		}},
		{"limit", gauge, "Limit for connections which corresponds to the max_conns parameter of the upstream server. Zero value means there is no limit", func(st *balance.PeerStats) (string, bool) {
			return strconv.Itoa(st.MaxConns), true
		}},
		{"state", gauge, "Current state (1 = up, 2 = draining, 3 = down, 4 = unavail, 5 = checking, 6 = unhealthy)", func(st *balance.PeerStats) (string, bool) {
			return strconv.Itoa(stateCodes[st.State]), true
		}},
		{"unavail", counter, "How many times the server became unavailable for client " + what + " (state 'unavail') due to the number of unsuccessful attempts reaching the max_fails threshold", uintValue(func(st *balance.PeerStats) uint64 { return st.Unavail })},
	}
	slices.SortFunc(ms, func(a, b serverMetric) int { return cmp.Compare(a.name, b.name) })
	return ms
}

var httpServerMetrics, streamServerMetrics = serverMetrics(false), serverMetrics(true)

// Append appends the metrics to b in the text exposition format: each
// metric's HELP and TYPE lines and its samples, metrics sorted by name,
// samples by upstream, then server address, then id.
func (m *Metrics) Append(b []byte) []byte {
	var c Counters
	if m.Counters != nil {
		c = m.Counters()
	}
	waiting := max(c.Active-c.Reading-c.Writing, 0)
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	u64 := func(n uint64) string { return strconv.FormatUint(n, 10) }
	b = appendSingle(b, "sluice_config_generation", gauge, "Number of the running configuration among those the process loaded", u64(m.Generation))
	loaded := 0.0
	if !m.Loaded.IsZero() {
		loaded = float64(m.Loaded.UnixMilli()) / 1e3
	}
	b = appendSingle(b, "sluice_config_load_timestamp_seconds", gauge, "When the running configuration was loaded (Unix time)",
		strconv.FormatFloat(loaded, 'f', -1, 64))
	b = appendSingle(b, "sluice_connections_accepted", counter, "Accepted client connections", u64(c.Accepted))
	b = appendSingle(b, "sluice_connections_active", gauge, "Active client connections", i64(c.Active))
	b = appendSingle(b, "sluice_connections_handled", counter, "Handled client connections", u64(c.Handled))
	b = appendSingle(b, "sluice_connections_reading", gauge, "Connections where Sluice is reading the request header", i64(c.Reading))
	b = appendSingle(b, "sluice_connections_waiting", gauge, "Idle client connections", i64(waiting))
	b = appendSingle(b, "sluice_connections_writing", gauge, "Connections where Sluice is writing the response back to the client", i64(c.Writing))
	b = appendSingle(b, "sluice_http_requests_total", counter, "Total http requests", i64(c.Requests))
	b = appendHeader(b, "sluice_info", gauge, "Sluice version")
	b = append(b, "sluice_info{version=\""...)
	b = appendLabelValue(b, m.Version)
	b = append(b, "\"} 1\n"...)
	b = m.appendServers(b, "sluice_stream_upstream_server_", streamServerMetrics, m.servers(true))
	return m.appendServers(b, "sluice_upstream_server_", httpServerMetrics, m.servers(false))
}

func appendHeader(b []byte, name, typ, help string) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendHelp(b, help)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

// appendSingle appends a metric with one sample and no labels.
func appendSingle(b []byte, name, typ, help, value string) []byte {
	b = appendHeader(b, name, typ, help)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, value...)
	return append(b, '\n')
}

// servers returns the servers of the http or stream upstreams, sorted by
// upstream name, address and id. A server whose address an earlier one of
// its upstream has gets an id label, so that every sample's labels are
// unique.
func (m *Metrics) servers(stream bool) []serverRow {
	a := API{Upstreams: m.Upstreams}
	var rows []serverRow
	for _, name := range a.upstreamNames(stream) {
		g, _ := a.group(stream, name)
		if g == nil {
			continue
		}
		start := len(rows)
		for _, p := range g.Peers() {
			st := p.Stats()
			rows = append(rows, serverRow{upstream: name, st: st})
		}
		own := rows[start:]
		slices.SortFunc(own, func(x, y serverRow) int {
			return cmp.Or(strings.Compare(x.st.Addr, y.st.Addr), cmp.Compare(x.st.ID, y.st.ID))
		})
		for i := 1; i < len(own); i++ {
			if own[i].st.Addr == own[i-1].st.Addr {
				own[i].id = strconv.Itoa(own[i].st.ID)
			}
		}
	}
	return rows
}

// appendServers appends the per-server metrics of rows, each named prefix
// and the metric's name; a metric without samples is left out.
func (m *Metrics) appendServers(b []byte, prefix string, metrics []serverMetric, rows []serverRow) []byte {
	for _, sm := range metrics {
		header := false
		for i := range rows {
			r := &rows[i]
			v, ok := sm.value(&r.st)
			if !ok {
				continue
			}
			if !header {
				b = appendHeader(b, prefix+sm.name, sm.typ, sm.help)
				header = true
			}
			b = append(b, prefix...)
			b = append(b, sm.name...)
			b = append(b, "{upstream=\""...)
			b = appendLabelValue(b, r.upstream)
			b = append(b, "\",server=\""...)
			b = appendLabelValue(b, r.st.Addr)
			if r.id != "" {
				b = append(b, "\",id=\""...)
				b = append(b, r.id...)
			}
			b = append(b, "\"} "...)
			b = append(b, v...)
			b = append(b, '\n')
		}
	}
	return b
}

// appendLabelValue appends s escaped as a label value: backslash, double
// quote and line feed as \\, \" and \n.
func appendLabelValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendHelp appends s escaped as HELP text: backslash and line feed.
func appendHelp(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
