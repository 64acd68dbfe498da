package httpapi

import (
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// openAPIDocument builds the OpenAPI 3.0 document of routes. It is derived
// from the same route table as the mux, and TestOpenAPIMatchesRoutes checks
// the served document against what the mux actually routes.
func openAPIDocument(routes []route) map[string]any {
	g := &schemaGen{schemas: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		item := paths[rt.path]
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		params := []any{}
		for _, p := range rt.pathParams() {
			params = append(params, map[string]any{
				"name": p, "in": "path", "required": true,
				"schema": map[string]any{"type": "string"},
			})
		}
		for _, q := range rt.query {
			sch := map[string]any{"type": q.typ}
			if q.format != "" {
				sch["format"] = q.format
			}
			params = append(params, map[string]any{
				"name": q.name, "in": "query", "required": false,
				"description": q.desc, "schema": sch,
			})
		}
		status := rt.status
		if status == 0 {
			status = http.StatusOK
		}
		responses := map[string]any{
			strconv.Itoa(status): map[string]any{
				"description": http.StatusText(status),
				"content":     jsonContent(g.ref(rt.response)),
			},
			"default": map[string]any{
				"description": "error",
				"content":     jsonContent(map[string]any{"$ref": "#/components/schemas/Error"}),
			},
		}
		if rt.noneCreated != 0 {
			responses[strconv.Itoa(rt.noneCreated)] = map[string]any{
				"description": http.StatusText(rt.noneCreated) + ": nothing was created",
				"content":     jsonContent(g.ref(rt.response)),
			}
		}
		op := map[string]any{
			"operationId": rt.op,
			"summary":     rt.summary,
			"tags":        []string{rt.tag},
			"responses":   responses,
		}
		if rt.write {
			params = append(params, map[string]any{
				"name": "Idempotency-Key", "in": "header", "required": false,
				"description": "Same key and same request: the stored answer is returned and no new event is recorded.",
				"schema":      map[string]any{"type": "string", "maxLength": 255},
			})
		}
		op["parameters"] = params
		if rt.request != nil {
			op["requestBody"] = map[string]any{
				"required": !rt.optionalBody,
				"content":  jsonContent(g.ref(rt.request)),
			}
		}
		item[strings.ToLower(rt.method)] = op
	}
	g.schemas["Error"] = map[string]any{
		"type":     "object",
		"required": []string{"error"},
		"properties": map[string]any{
			"error": map[string]any{
				"type":     "object",
				"required": []string{"code", "message"},
				"properties": map[string]any{
					"code":    map[string]any{"type": "string", "enum": errorCodes()},
					"message": map[string]any{"type": "string"},
				},
			},
		},
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":   "custody API",
			"version": "1",
			"description": "Commands and queries of custody, the event-sourced core of private-domain customer assets. " +
				"Every path is under /v1/corps/{corp}/ and needs Authorization: Bearer <token> of that corp or the admin token. " +
				"Errors are {\"error\":{\"code\",\"message\"}}.",
		},
		"servers":  []any{map[string]any{"url": "/"}},
		"security": []any{map[string]any{"bearer": []string{}}},
		"paths":    paths,
		"components": map[string]any{
			"schemas": g.schemas,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer"},
			},
		},
	}
}

// errorCodes lists every code the API answers with: its own and those of
// the sentinel table, sorted.
func errorCodes() []string {
	seen := map[string]bool{}
	for _, c := range []string{
		CodeBadRequest, CodeUnknownField, CodeBodyTooLarge, CodeInvalidID, CodeInvalidArgument,
		CodeUnauthenticated, CodeForbidden, CodeNotFound, CodeRouteNotFound, CodeMethodNotAllowed,
		CodeConflict, CodeIdempotencyReused, CodeUnsupportedMedia, CodeInternal, CodeUnavailable,
	} {
		seen[c] = true
	}
	for _, m := range sentinels {
		seen[m.code] = true
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

func jsonContent(schema any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}

// schemaGen turns Go wire types into OpenAPI schemas, by reflection over
// their json tags, naming struct types as components.
type schemaGen struct {
	schemas map[string]any
}

var timeType = reflect.TypeOf(time.Time{})

func (g *schemaGen) ref(v any) any {
	if v == nil {
		return map[string]any{"type": "object"}
	}
	return g.schema(reflect.TypeOf(v))
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		name := schemaName(t)
		if name == "" {
			return g.object(t)
		}
		if _, ok := g.schemas[name]; !ok {
			g.schemas[name] = map[string]any{} // break cycles
			g.schemas[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	case reflect.Interface:
		return map[string]any{}
	}
	return map[string]any{}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, req, ok := jsonField(f)
		if !ok {
			continue
		}
		if name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			g.fields(ft, props, required)
			continue
		}
		s := g.schema(f.Type)
		if d := f.Tag.Get("doc"); d != "" {
			s = withDescription(s, d)
		}
		props[name] = s
		if req {
			*required = append(*required, name)
		}
	}
}

func withDescription(s map[string]any, d string) map[string]any {
	if _, isRef := s["$ref"]; isRef {
		return map[string]any{"allOf": []any{s}, "description": d}
	}
	out := map[string]any{"description": d}
	for k, v := range s {
		out[k] = v
	}
	return out
}

// schemaName names a struct type's component: its Go name, with generic
// instantiations flattened ("Paged[...projections.Handover]" becomes
// "PagedHandover").
func schemaName(t reflect.Type) string {
	name := t.Name()
	if name != "" {
		// Unexported wire types (joinStaffRequest) get exported-looking
		// component names (JoinStaffRequest).
		name = strings.ToUpper(name[:1]) + name[1:]
	}
	base, args, ok := strings.Cut(name, "[")
	if !ok {
		return name
	}
	args = strings.TrimSuffix(args, "]")
	for _, a := range strings.Split(args, ",") {
		if i := strings.LastIndex(a, "."); i >= 0 {
			a = a[i+1:]
		}
		base += a
	}
	return base
}
