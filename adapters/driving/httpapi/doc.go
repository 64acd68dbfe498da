// Package httpapi is custody's HTTP interface: a JSON command and query API
// under /v1/corps/{corp}/, bearer-token tenant isolation, Idempotency-Key
// replay, an OpenAPI 3 document at /openapi.json, health and Prometheus
// endpoints, and a server-rendered overview page for sales-ops at /.
//
// Every route is declared once, in a route table (routes*.go); the mux, the
// OpenAPI document and the tenant-isolation test are all derived from it, so
// a route cannot exist without being documented and isolated.
//
// Errors leave the API as {"error":{"code","message"}}; the mapping from the
// commands' and domain's sentinel errors to HTTP statuses and stable codes
// lives in one place, errors.go.
//
// Personal data (names, remarks, phones, nicknames) is never logged: request
// logs carry the route pattern, the corp, the status and the duration only.
package httpapi
