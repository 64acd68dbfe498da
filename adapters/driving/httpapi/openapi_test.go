package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes compares the served /openapi.json with the
// routes the mux actually serves: every documented operation is routed to
// exactly its pattern, every registered API route is documented, path
// parameters agree, and commands (and only they) take a body and an
// Idempotency-Key.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, harnessOptions{noRunner: true})
	a := h.must(http.StatusOK, "GET", "/openapi.json", "", nil)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
			RequestBody *struct{}                  `json:"requestBody"`
			Responses   map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	a.json(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	wildcard := regexp.MustCompile(`\{([a-z_]+)\}`)
	for path, item := range doc.Paths {
		for method, op := range item {
			pattern := strings.ToUpper(method) + " " + path
			documented[pattern] = true
			// The mux routes a concrete request of this operation to it.
			concrete := wildcard.ReplaceAllString(path, "x1")
			req := httptest.NewRequest(strings.ToUpper(method), concrete, nil)
			if _, got := h.srv.mux.Handler(req); got != pattern {
				t.Errorf("documented %s is routed to %q", pattern, got)
			}
			var inPath []string
			hasKey := false
			for _, p := range op.Parameters {
				switch {
				case p.In == "path":
					inPath = append(inPath, p.Name)
				case p.In == "header" && p.Name == "Idempotency-Key":
					hasKey = true
				}
			}
			var want []string
			for _, m := range wildcard.FindAllStringSubmatch(path, -1) {
				want = append(want, m[1])
			}
			sort.Strings(inPath)
			sort.Strings(want)
			if strings.Join(inPath, ",") != strings.Join(want, ",") {
				t.Errorf("%s: path parameters %v, want %v", pattern, inPath, want)
			}
			write := method != "get"
			if write != hasKey || write != (op.RequestBody != nil) {
				t.Errorf("%s: Idempotency-Key %v, requestBody %v", pattern, hasKey, op.RequestBody != nil)
			}
			if _, ok := op.Responses["default"]; !ok || op.OperationID == "" {
				t.Errorf("%s: no operationId or default error response", pattern)
			}
		}
	}
	registered := map[string]bool{}
	for _, rt := range h.srv.routes {
		registered[rt.pattern()] = true
		if !documented[rt.pattern()] {
			t.Errorf("route %s is not in /openapi.json", rt.pattern())
		}
		if !strings.HasPrefix(rt.path, "/v1/corps/{corp}/") {
			t.Errorf("route %s is not under /v1/corps/{corp}/", rt.pattern())
		}
	}
	for p := range documented {
		if !registered[p] {
			t.Errorf("/openapi.json documents %s, which is not registered", p)
		}
	}
	// Every $ref resolves.
	refs := regexp.MustCompile(`"\$ref":"#/components/schemas/([^"]+)"`).FindAllStringSubmatch(string(compact(t, a.body)), -1)
	for _, r := range refs {
		if _, ok := doc.Components.Schemas[r[1]]; !ok {
			t.Errorf("unresolved schema reference %s", r[1])
		}
	}
}

func compact(t *testing.T, b []byte) []byte {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return out
}
