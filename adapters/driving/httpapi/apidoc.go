package httpapi

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/custody/custody/commands"
)

// APIMarkdown renders the route table as the Markdown reference kept in
// docs/api.md (TestAPIDocIsCurrent fails when the file is stale; run the
// test with -update-apidoc to rewrite it). /openapi.json carries the same
// information for machines.
func APIMarkdown() string {
	var b strings.Builder
	b.WriteString("# custody HTTP API\n\n")
	b.WriteString("Generated from the route table (`adapters/driving/httpapi`); the machine-readable\n")
	b.WriteString("reference is `GET /openapi.json`. Every path needs `Authorization: Bearer <token>`\n")
	b.WriteString("of its corp or the admin token. Commands take a JSON body (decoded strictly:\n")
	b.WriteString("unknown fields are errors), an optional `occurred_at` (RFC 3339) and an optional\n")
	b.WriteString("`Idempotency-Key` header. Errors are `{\"error\":{\"code\",\"message\"}}`.\n")
	b.WriteString(inputRules())
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
			if rt.noneCreated != 0 {
				fmt.Fprintf(&b, " (%d when nothing was created)", rt.noneCreated)
			}
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

// inputRules is the section of docs/api.md on what a request may hold,
// written from the constants the decoder and the commands enforce.
func inputRules() string {
	var b strings.Builder
	b.WriteString("\n## Requests\n\n")
	b.WriteString("**Bodies.** A request with a body sends `Content-Type: application/json` (or another\n")
	b.WriteString("`application/*+json` type; charset utf-8 if named), otherwise `415 unsupported_media_type`\n")
	b.WriteString("(`curl -d` alone sends a form type: add `-H 'Content-Type: application/json'`). The body is\n")
	b.WriteString("one JSON object, decoded strictly: field names match exactly (case-sensitive), a name given\n")
	b.WriteString("twice, unknown fields, invalid UTF-8, trailing data and wrong types are `400`. Fields marked\n")
	b.WriteString("*required* below must be present, and an explicit `null` counts as missing; a body that is\n")
	b.WriteString("`null` is refused like any non-object; lists may not hold `null`. Operations whose every\n")
	b.WriteString("field is optional also take an empty body. Error messages name the field and never quote\n")
	fmt.Fprintf(&b, "the input. Bodies over %d bytes are `413 body_too_large`.\n\n", DefaultMaxBodyBytes)
	b.WriteString("**Text.** Every text field (remarks, names, phones, tags, notices, messages, codes, ids) is\n")
	b.WriteString("valid UTF-8 without control characters (Unicode category Cc, U+0000-U+001F and\n")
	b.WriteString("U+007F-U+009F) except tab and newline - so no NUL and no carriage return: send `\\n` line\n")
	b.WriteString("ends - without lone surrogates (`\\ud800`) and without Unicode noncharacters (U+FDD0-U+FDEF,\n")
	b.WriteString("U+xFFFE, U+xFFFF). Lengths are counted in characters (code points):\n\n")
	b.WriteString("| field | at most |\n|---|---|\n")
	for _, l := range []struct {
		field string
		max   string
	}{
		{"`customer_name`, staff `name`, group `name`, member `nickname`", fmt.Sprint(commands.MaxNameLen)},
		{"`remark`", fmt.Sprint(commands.MaxRemarkLen)},
		{"`description`", fmt.Sprint(commands.MaxDescriptionLen)},
		{"`notice`", fmt.Sprint(commands.MaxNoticeLen)},
		{"`state`, `source`", fmt.Sprint(commands.MaxCodeLen)},
		{"`phones`", fmt.Sprintf("%d entries of %d", commands.MaxPhones, commands.MaxPhoneLen)},
		{"`tags`", fmt.Sprintf("%d entries of %d", commands.MaxTags, commands.MaxTagLen)},
		{"`message` (handovers)", "the corp's limit, 200 by default"},
		{"ids (path and body)", "128 of letters, digits, `_ . @ -` (corp: 64 of letters, digits, `_`)"},
	} {
		fmt.Fprintf(&b, "| %s | %s |\n", l.field, l.max)
	}
	b.WriteString("\n**Integers.** `capacity` is 0 to ")
	fmt.Fprintf(&b, "%d (0: the corp's default); `add_way` is 0 to %d. Outside: `400 invalid_argument`.\n\n",
		commands.MaxCapacity, commands.MaxAddWay)
	fmt.Fprintf(&b, "**Times.** RFC 3339. `occurred_at` is not before %s (WeCom's contacts did not exist\n",
		commands.MinOccurredAt.Format(time.RFC3339))
	fmt.Fprintf(&b, "earlier; the zero time is refused too) and not more than %s after the server's clock.\n", commands.MaxClockSkew)
	b.WriteString("`as_of` of a settle is not after the server's clock (refused, not clamped), and a settle never\n")
	b.WriteString("completes a handover before its deadline by the server's clock. Outside: `400 invalid_argument`.\n\n")
	b.WriteString("**Paths.** A path with empty, `.` or `..` segments (encoded or not) or a malformed `%`-escape\n")
	b.WriteString("is `400 bad_request`, never a redirect.\n\n")
	b.WriteString("**Retries.** `503 unavailable` (with `Retry-After`) means the database or event log could not be\n")
	b.WriteString("reached; the command may or may not have been recorded. Repeating a command with the same\n")
	b.WriteString("`Idempotency-Key` after any 5xx, a `409 conflict` or a dropped connection is always safe: those\n")
	b.WriteString("answers are never stored as the key's answer, and the command id derived from the key makes a command that was\n")
	b.WriteString("recorded record nothing new (`\"replayed\": true`).\n")
	return b.String()
}
