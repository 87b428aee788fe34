// Package vars is the variable system shared by Sluice's TCP/UDP proxy
// (nginx's stream {}) and its HTTP proxy (nginx's http {}).
//
// In an nginx configuration, strings such as
//
//	log_format main '$remote_addr - [$time_local] "$request" to: $upstream_addr';
//	proxy_pass $backend;
//	map $ssl_preread_server_name $backend { ... }
//
// mention variables. This package turns those strings into compiled
// templates whose variable names were looked up once, when the configuration
// was loaded, so that producing a log line or choosing a backend only walks a
// short list of parts: no name lookup, no parsing and, for most variables, no
// memory allocation.
//
// The pieces:
//
//   - A Table holds every variable a proxy knows: the proxy's own variables
//     ($remote_addr, $status, ...) registered with Define and DefinePrefix
//     (for families such as $http_*, $arg_*, $cookie_*), the stock ones that
//     need no proxy ($msec, $time_local, $hostname, ... see DefineStock), and
//     the ones the configuration creates with map, geo, split_clients and set.
//   - Table.Compile turns an nginx "complex value" such as "${host}foo" into a
//     Template. A name nobody defines is refused when the table is frozen, in
//     nginx's words: unknown "foo" variable.
//   - Table.AddMap, AddGeo and AddSplitClients implement nginx's map, geo and
//     split_clients blocks with nginx's matching rules.
//   - LogFormats and LogFormat implement log_format, with nginx's escaping
//     (escape=default, json or none) and its "-" for variables that have no
//     value.
//
// Evaluation takes the proxy's own request or session value (the type
// parameter T). It carries a State, the per-request memory that caches map
// results, holds values assigned with set, and remembers regular-expression
// captures, as nginx's per-request variable array does.
//
// A Table is built by one goroutine, then frozen with Freeze; after that it
// and everything compiled from it are read-only and safe for concurrent use.
// A State belongs to one request at a time.
package vars
