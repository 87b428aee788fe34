package config

func init() {
	register(httpDashboardDirectives)
}

// httpDashboardDirectives is Sluice's dashboard directive: the location
// answers with a status page that reads the REST API (docs/dashboard.md).
// nginx has no such directive; NGINX Plus ships dashboard.html as a file
// to serve.
var httpDashboardDirectives = []*Spec{
	{Name: "dashboard", Ctx: CtxHTTPLocation, Args: Args0 | Args1, Set: setHTTPDashboard},
}

// DefaultDashboardAPI is the URI of the api location the dashboard reads
// when the directive names none.
const DefaultDashboardAPI = "/api/"

// HTTPDashboard is the dashboard directive of a location: the location
// answers with a status page that polls the API at APIURI.
type HTTPDashboard struct {
	// APIURI is the URI of the location with the api directive, as the
	// browser requests it ("/api/" by default).
	APIURI string
	Pos    string
}

// setHTTPDashboard parses dashboard [api_uri]. As nginx's content handlers,
// the last of dashboard, api, metrics, proxy_pass, grpc_pass, the CGI
// passes, empty_gif and stub_status in a location answers: dashboard
// clears the others, and they clear it.
func setHTTPDashboard(c *compiler, d *Directive, parent any) (any, error) {
	db := &HTTPDashboard{APIURI: DefaultDashboardAPI, Pos: pos(d)}
	if len(d.Args) == 1 {
		if d.Args[0] == "" {
			return nil, errorf(d.File, d.Line, "invalid parameter \"\"")
		}
		db.APIURI = d.Args[0]
	}
	l := parent.(*HTTPLocation)
	l.setHandler()
	l.Dashboard = db
	return nil, nil
}
