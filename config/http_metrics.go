package config

func init() {
	register(httpMetricsDirectives)
}

// httpMetricsDirectives is Sluice's metrics directive: the location answers
// with Prometheus metrics (docs/metrics.md). nginx has no such directive;
// NGINX Plus users run nginx-prometheus-exporter against the api.
var httpMetricsDirectives = []*Spec{
	{Name: "metrics", Ctx: CtxHTTPLocation, Args: Args0, Set: setHTTPMetrics},
}

// setHTTPMetrics parses metrics. As nginx's content handlers, the last of
// metrics, api, proxy_pass, grpc_pass, the CGI passes, empty_gif and
// stub_status in a location answers: metrics clears the others, and they
// clear it.
func setHTTPMetrics(c *compiler, d *Directive, parent any) (any, error) {
	l := parent.(*HTTPLocation)
	l.setHandler()
	l.Metrics = true
	return nil, nil
}
