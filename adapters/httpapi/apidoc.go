package httpapi

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// APIMarkdown renders the route table as the Markdown reference kept in
// docs/api.md (TestAPIDocIsCurrent fails when the file is stale; run the
// test with -update-apidoc to rewrite it). /openapi.json carries the same
// information for machines.
func APIMarkdown() string {
	var b strings.Builder
	b.WriteString("# custody HTTP API\n\n")
	b.WriteString("Generated from the route table (`adapters/httpapi`); the machine-readable\n")
	b.WriteString("reference is `GET /openapi.json`. Every path needs `Authorization: Bearer <token>`\n")
	b.WriteString("of its corp or the admin token. Commands take a JSON body (decoded strictly:\n")
	b.WriteString("unknown fields are errors), an optional `occurred_at` (RFC 3339) and an optional\n")
	b.WriteString("`Idempotency-Key` header. Errors are `{\"error\":{\"code\",\"message\"}}`.\n")
	routes := apiRoutes()
	tags := []string{}
	byTag := map[string][]route{}
	for _, rt := range routes {
		if _, ok := byTag[rt.tag]; !ok {
			tags = append(tags, rt.tag)
		}
		byTag[rt.tag] = append(byTag[rt.tag], rt)
	}
	for _, tag := range tags {
		fmt.Fprintf(&b, "\n## %s\n", tag)
		for _, rt := range byTag[tag] {
			status := rt.status
			if status == 0 {
				status = 200
			}
			fmt.Fprintf(&b, "\n### `%s %s`\n\n%s Answers %d", rt.method, rt.path, rt.summary, status)
			if rt.response != nil {
				fmt.Fprintf(&b, " with `%s`", schemaName(reflect.TypeOf(rt.response)))
			}
			b.WriteString(".\n")
			if rt.request != nil {
				b.WriteString("\n| body field | type | |\n|---|---|---|\n")
				for _, f := range docFields(reflect.TypeOf(rt.request)) {
					fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.name, f.typ, f.doc)
				}
			}
			if len(rt.query) > 0 {
				b.WriteString("\n| query parameter | |\n|---|---|\n")
				for _, q := range rt.query {
					fmt.Fprintf(&b, "| `%s` | %s |\n", q.name, q.desc)
				}
			}
		}
	}
	b.WriteString("\n## Error codes\n\n")
	codes := errorCodes()
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(&b, "`%s` ", c)
	}
	b.WriteString("\n")
	return b.String()
}

type docField struct{ name, typ, doc string }

// docFields lists a request type's JSON fields, embedded structs flattened.
func docFields(t reflect.Type) []docField {
	var out []docField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, required, ok := jsonField(f)
		if !ok {
			continue
		}
		if name == "" {
			out = append(out, docFields(f.Type)...)
			continue
		}
		doc := f.Tag.Get("doc")
		if required {
			doc = strings.TrimSuffix("required. "+doc, " ")
			doc = strings.TrimSuffix(doc, ".")
		}
		if name == "occurred_at" && doc == "" {
			doc = "business time for facts ingested late; default now"
		}
		out = append(out, docField{name: name, typ: docType(f.Type), doc: doc})
	}
	return out
}

func docType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return "RFC 3339 time"
	}
	switch t.Kind() {
	case reflect.Slice:
		return "array of " + docType(t.Elem())
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "integer"
	}
	return t.Kind().String()
}
