package admin

import (
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/internal/promtext"
)

// testMetrics returns Metrics over three upstreams whose servers are in
// every state and have counted something: http "back" (a server
// draining, the same address twice, once down and once unavailable after
// a failure), http "lt" (least_time: a latency estimate) and stream
// `we"ird\` (unhealthy after a failed check).
func testMetrics(t *testing.T) *Metrics {
	t.Helper()
	reg := balance.NewRegistry(fixedClock{})
	set := new(balance.GroupSet)
	build := func(name, zone string, cfg balance.Config, servers ...balance.Server) *balance.Group {
		g, err := reg.Build(name, servers, cfg)
		if err != nil {
			t.Fatal(err)
		}
		set.Add(g, zone)
		return g
	}
	back := build(HTTPPrefix+"back", "back", balance.Config{},
		balance.Server{Addr: "127.0.0.1:8082", Name: "localhost:8082", MaxConns: 20},
		balance.Server{Addr: "127.0.0.1:8081", Weight: 5},
		balance.Server{Addr: "127.0.0.1:8081", Down: true})
	back.Peers()[0].SetDrain(true)
	pick := func(g *balance.Group, o balance.Outcome) {
		sel, err := g.Pick(&balance.Request{})
		if err != nil {
			t.Fatal(err)
		}
		sel.Done(o)
	}
	pick(back, balance.Outcome{}) // the only server up: 127.0.0.1:8081
	pick(back, balance.Outcome{Failed: true})
	lt := build(HTTPPrefix+"lt", "", balance.Config{Method: balance.LeastTime}, balance.Server{Addr: "127.0.0.1:8090"})
	pick(lt, balance.Outcome{Latency: 1500 * time.Microsecond})
	s := build(`we"ird\`, "", balance.Config{Method: balance.Hash}, balance.Server{Addr: "127.0.0.1:9001"})
	s.Peers()[0].RecordCheck(false, true)
	s.Peers()[0].SetHealthy(false)
	return &Metrics{Upstreams: set, Version: `0.1.0 "x"\`, Generation: 3,
		Loaded: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC),
		Counters: func() Counters {
			return Counters{Accepted: 10, Handled: 9, Active: 4, Reading: 1, Writing: 1, Requests: 25}
		}}
}

// fixedClock is a clock that stands still: a server made unavailable
// stays so.
type fixedClock struct{}

func (fixedClock) Now() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

const wantMetrics = `# HELP sluice_config_generation Number of the running configuration among those the process loaded
# TYPE sluice_config_generation gauge
sluice_config_generation 3
# HELP sluice_config_load_timestamp_seconds When the running configuration was loaded (Unix time)
# TYPE sluice_config_load_timestamp_seconds gauge
sluice_config_load_timestamp_seconds 1767323045.006
# HELP sluice_connections_accepted Accepted client connections
# TYPE sluice_connections_accepted counter
sluice_connections_accepted 10
# HELP sluice_connections_active Active client connections
# TYPE sluice_connections_active gauge
sluice_connections_active 4
# HELP sluice_connections_handled Handled client connections
# TYPE sluice_connections_handled counter
sluice_connections_handled 9
# HELP sluice_connections_reading Connections where Sluice is reading the request header
# TYPE sluice_connections_reading gauge
sluice_connections_reading 1
# HELP sluice_connections_waiting Idle client connections
# TYPE sluice_connections_waiting gauge
sluice_connections_waiting 2
# HELP sluice_connections_writing Connections where Sluice is writing the response back to the client
# TYPE sluice_connections_writing gauge
sluice_connections_writing 1
# HELP sluice_http_requests_total Total http requests
# TYPE sluice_http_requests_total counter
sluice_http_requests_total 25
# HELP sluice_info Sluice version
# TYPE sluice_info gauge
sluice_info{version="0.1.0 \"x\"\\"} 1
# HELP sluice_stream_upstream_server_active Active connections
# TYPE sluice_stream_upstream_server_active gauge
sluice_stream_upstream_server_active{upstream="we\"ird\\",server="127.0.0.1:9001"} 0
# HELP sluice_stream_upstream_server_connections Client connections forwarded to the server
# TYPE sluice_stream_upstream_server_connections counter
sluice_stream_upstream_server_connections{upstream="we\"ird\\",server="127.0.0.1:9001"} 0
# HELP sluice_stream_upstream_server_fails Number of unsuccessful attempts to communicate with the server
# TYPE sluice_stream_upstream_server_fails counter
sluice_stream_upstream_server_fails{upstream="we\"ird\\",server="127.0.0.1:9001"} 0
# HELP sluice_stream_upstream_server_health_checks_checks Total health check requests
# TYPE sluice_stream_upstream_server_health_checks_checks counter
sluice_stream_upstream_server_health_checks_checks{upstream="we\"ird\\",server="127.0.0.1:9001"} 1
# HELP sluice_stream_upstream_server_health_checks_fails Failed health checks
# TYPE sluice_stream_upstream_server_health_checks_fails counter
sluice_stream_upstream_server_health_checks_fails{upstream="we\"ird\\",server="127.0.0.1:9001"} 1
# HELP sluice_stream_upstream_server_health_checks_unhealthy How many times the server became unhealthy (state 'unhealthy')
# TYPE sluice_stream_upstream_server_health_checks_unhealthy counter
sluice_stream_upstream_server_health_checks_unhealthy{upstream="we\"ird\\",server="127.0.0.1:9001"} 1
# HELP sluice_stream_upstream_server_limit Limit for connections which corresponds to the max_conns parameter of the upstream server. Zero value means there is no limit
# TYPE sluice_stream_upstream_server_limit gauge
sluice_stream_upstream_server_limit{upstream="we\"ird\\",server="127.0.0.1:9001"} 0
# HELP sluice_stream_upstream_server_state Current state (1 = up, 2 = draining, 3 = down, 4 = unavail, 5 = checking, 6 = unhealthy)
# TYPE sluice_stream_upstream_server_state gauge
sluice_stream_upstream_server_state{upstream="we\"ird\\",server="127.0.0.1:9001"} 6
# HELP sluice_stream_upstream_server_unavail How many times the server became unavailable for client connections (state 'unavail') due to the number of unsuccessful attempts reaching the max_fails threshold
# TYPE sluice_stream_upstream_server_unavail counter
sluice_stream_upstream_server_unavail{upstream="we\"ird\\",server="127.0.0.1:9001"} 0
# HELP sluice_upstream_server_active Active connections
# TYPE sluice_upstream_server_active gauge
sluice_upstream_server_active{upstream="back",server="127.0.0.1:8081"} 0
sluice_upstream_server_active{upstream="back",server="127.0.0.1:8081",id="2"} 0
sluice_upstream_server_active{upstream="back",server="127.0.0.1:8082"} 0
sluice_upstream_server_active{upstream="lt",server="127.0.0.1:8090"} 0
# HELP sluice_upstream_server_fails Number of unsuccessful attempts to communicate with the server
# TYPE sluice_upstream_server_fails counter
sluice_upstream_server_fails{upstream="back",server="127.0.0.1:8081"} 1
sluice_upstream_server_fails{upstream="back",server="127.0.0.1:8081",id="2"} 0
sluice_upstream_server_fails{upstream="back",server="127.0.0.1:8082"} 0
sluice_upstream_server_fails{upstream="lt",server="127.0.0.1:8090"} 0
# HELP sluice_upstream_server_health_checks_checks Total health check requests
# TYPE sluice_upstream_server_health_checks_checks counter
sluice_upstream_server_health_checks_checks{upstream="back",server="127.0.0.1:8081"} 0
sluice_upstream_server_health_checks_checks{upstream="back",server="127.0.0.1:8081",id="2"} 0
sluice_upstream_server_health_checks_checks{upstream="back",server="127.0.0.1:8082"} 0
sluice_upstream_server_health_checks_checks{upstream="lt",server="127.0.0.1:8090"} 0
# HELP sluice_upstream_server_health_checks_fails Failed health checks
# TYPE sluice_upstream_server_health_checks_fails counter
sluice_upstream_server_health_checks_fails{upstream="back",server="127.0.0.1:8081"} 0
sluice_upstream_server_health_checks_fails{upstream="back",server="127.0.0.1:8081",id="2"} 0
sluice_upstream_server_health_checks_fails{upstream="back",server="127.0.0.1:8082"} 0
sluice_upstream_server_health_checks_fails{upstream="lt",server="127.0.0.1:8090"} 0
# HELP sluice_upstream_server_health_checks_unhealthy How many times the server became unhealthy (state 'unhealthy')
# TYPE sluice_upstream_server_health_checks_unhealthy counter
sluice_upstream_server_health_checks_unhealthy{upstream="back",server="127.0.0.1:8081"} 0
sluice_upstream_server_health_checks_unhealthy{upstream="back",server="127.0.0.1:8081",id="2"} 0
sluice_upstream_server_health_checks_unhealthy{upstream="back",server="127.0.0.1:8082"} 0
sluice_upstream_server_health_checks_unhealthy{upstream="lt",server="127.0.0.1:8090"} 0
# HELP sluice_upstream_server_latency_seconds Estimated response time of the server (least_time), once measured
# TYPE sluice_upstream_server_latency_seconds gauge
sluice_upstream_server_latency_seconds{upstream="lt",server="127.0.0.1:8090"} 0.0015
# HELP sluice_upstream_server_limit Limit for connections which corresponds to the max_conns parameter of the upstream server. Zero value means there is no limit
# TYPE sluice_upstream_server_limit gauge
sluice_upstream_server_limit{upstream="back",server="127.0.0.1:8081"} 0
sluice_upstream_server_limit{upstream="back",server="127.0.0.1:8081",id="2"} 0
sluice_upstream_server_limit{upstream="back",server="127.0.0.1:8082"} 20
sluice_upstream_server_limit{upstream="lt",server="127.0.0.1:8090"} 0
# HELP sluice_upstream_server_requests Client requests started on the server
# TYPE sluice_upstream_server_requests counter
sluice_upstream_server_requests{upstream="back",server="127.0.0.1:8081"} 2
sluice_upstream_server_requests{upstream="back",server="127.0.0.1:8081",id="2"} 0
sluice_upstream_server_requests{upstream="back",server="127.0.0.1:8082"} 0
sluice_upstream_server_requests{upstream="lt",server="127.0.0.1:8090"} 1
# HELP sluice_upstream_server_state Current state (1 = up, 2 = draining, 3 = down, 4 = unavail, 5 = checking, 6 = unhealthy)
# TYPE sluice_upstream_server_state gauge
sluice_upstream_server_state{upstream="back",server="127.0.0.1:8081"} 4
sluice_upstream_server_state{upstream="back",server="127.0.0.1:8081",id="2"} 3
sluice_upstream_server_state{upstream="back",server="127.0.0.1:8082"} 2
sluice_upstream_server_state{upstream="lt",server="127.0.0.1:8090"} 1
# HELP sluice_upstream_server_unavail How many times the server became unavailable for client requests (state 'unavail') due to the number of unsuccessful attempts reaching the max_fails threshold
# TYPE sluice_upstream_server_unavail counter
sluice_upstream_server_unavail{upstream="back",server="127.0.0.1:8081"} 1
sluice_upstream_server_unavail{upstream="back",server="127.0.0.1:8081",id="2"} 0
sluice_upstream_server_unavail{upstream="back",server="127.0.0.1:8082"} 0
sluice_upstream_server_unavail{upstream="lt",server="127.0.0.1:8090"} 0
`

// TestMetrics checks the text byte for byte: names, HELP and TYPE lines,
// the state codes, escaped label values, the order of metrics and
// samples; and that it is valid exposition format.
func TestMetrics(t *testing.T) {
	m := testMetrics(t)
	got := string(m.Append([]byte("x")))
	if got != "x"+wantMetrics {
		t.Errorf("got\n%s\nwant\n%s", got, wantMetrics)
	}
	if _, err := promtext.Parse(got[1:]); err != nil {
		t.Error(err)
	}
}

// TestMetricsServe checks the methods: GET and HEAD get the metrics,
// the others 405 and nothing added to the buffer.
func TestMetricsServe(t *testing.T) {
	m := testMetrics(t)
	for _, method := range []string{"GET", "HEAD"} {
		if status, body := m.Serve(method, nil); status != 200 || string(body) != wantMetrics {
			t.Errorf("%s: %d %q", method, status, body)
		}
	}
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get"} {
		if status, body := m.Serve(method, []byte("buf")); status != 405 || string(body) != "buf" {
			t.Errorf("%s: %d %q", method, status, body)
		}
	}
}

// TestMetricsEmpty checks a configuration without upstreams or counters:
// the process's metrics alone, still valid, without empty upstream
// metrics.
func TestMetricsEmpty(t *testing.T) {
	m := &Metrics{Version: "1.0"}
	got := string(m.Append(nil))
	fams, err := promtext.Parse(got)
	if err != nil {
		t.Fatalf("%v in\n%s", err, got)
	}
	if len(fams) != 10 || fams[0].Name != "sluice_config_generation" || fams[9].Name != "sluice_info" {
		t.Errorf("metrics: %+v", fams)
	}
	if v, ok := fams[1].Get(); fams[1].Name != "sluice_config_load_timestamp_seconds" || !ok || v != 0 {
		t.Errorf("load timestamp of an unknown load: %+v", fams[1])
	}
}
