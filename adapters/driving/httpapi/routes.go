package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"time"
)

// route is one API operation. The table of routes is the single source of
// the mux, the OpenAPI document and the tenant-isolation test.
type route struct {
	method string
	// path is the ServeMux path pattern, always under /v1/corps/{corp}/.
	path    string
	op      string // OpenAPI operationId
	summary string
	tag     string
	// write marks commands: they take an Idempotency-Key and a JSON body
	// (request), and may append events.
	write bool
	// status is the success status (default 200).
	status int
	// noneCreated, when set, is the success status of an answer that
	// reports it created nothing (see created); documented next to status.
	noneCreated int
	// request and response are zero values of the wire types, for the
	// OpenAPI schemas. request is nil when the operation takes no body.
	request  any
	response any
	// optionalBody: every request field is optional, and an empty body
	// is the same as {}.
	optionalBody bool
	// admin: only the admin token may call it (a corp token gets 403).
	admin  bool
	query  []queryParam
	handle func(*call) (any, error)
}

// queryParam documents a query-string parameter.
type queryParam struct {
	name, typ, format, desc string
}

// created is implemented by answers that may or may not have created
// something: a route with noneCreated answers that status instead of
// status when created reports false.
type created interface{ createdAny() bool }

// pattern is the ServeMux pattern of r.
func (r route) pattern() string { return r.method + " " + r.path }

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// pathParams lists the wildcard names of r's path in order.
func (r route) pathParams() []string {
	var out []string
	for _, m := range pathParam.FindAllStringSubmatch(r.path, -1) {
		out = append(out, m[1])
	}
	return out
}

// call is one API request on its way through a route's handler.
type call struct {
	ctx  context.Context
	r    *http.Request
	corp string
	who  principal
	body []byte
	// commandID is derived from the Idempotency-Key (empty without one):
	// the commands derive event ids from it.
	commandID string
	srv       *Server
}

// decode strictly decodes the request body into v.
func (c *call) decode(v any) error { return decodeStrict(c.body, v) }

// decodeOptional is decode for operations whose every field is optional:
// an empty body is the same as {}.
func (c *call) decodeOptional(v any) error {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return nil
	}
	return decodeStrict(c.body, v)
}

// id returns the path wildcard name, validated as an id.
func (c *call) id(name string) (string, error) {
	v := c.r.PathValue(name)
	return v, checkID(name, v)
}

// query returns a query-string parameter.
func (c *call) query(name string) string { return c.r.URL.Query().Get(name) }

// now is the server clock's time.
func (c *call) now() time.Time { return c.srv.opts.Now() }

// commandFields are the fields every command body may carry.
type commandFields struct {
	// OccurredAt is business time for facts ingested late; default now.
	OccurredAt *time.Time `json:"occurred_at,omitempty"`
}

// apiRoutes is the whole API route table: every route group, each defined
// in its routes_*.go file, listed here and only here. A new group of
// routes is a new routes_<topic>.go with a func <topic>Routes() []route,
// added to this list; the order is the order of the OpenAPI document.
func apiRoutes() []route {
	var rs []route
	for _, group := range []func() []route{
		customerRoutes,
		erasureRoutes,
		groupRoutes,
		handoverRoutes,
		outreachRoutes,
		overviewRoutes,
		settingsRoutes,
		staffRoutes,
		wecomRoutes,
	} {
		rs = append(rs, group()...)
	}
	return rs
}
