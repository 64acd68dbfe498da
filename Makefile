# custody — make run starts the service on the embedded default; make test
# runs every test against real PostgreSQL (a private instance unless
# TEST_DATABASE_URL is set; the application's DATABASE_URL is never used by
# tests) and the brokers that are reachable.

GO        ?= go
export PATH := $(PATH):/usr/local/go/bin

# Packages with concurrency run under the race detector.
RACE_PKGS := ./adapters/eventlog/... ./adapters/driving/relay/... ./adapters/driving/wecom/... ./adapters/driving/httpapi/... \
             ./adapters/testkit/kurrentstandin/... ./commands/... ./projections/...

.PHONY: run test test-race test-plain test-docs bench lint demo build clean fuzz check-gcc

build:
	$(GO) build -o bin/custody ./cmd/custody

run: build
	./bin/custody serve

demo: build
	./bin/custody demo

test: lint test-plain test-race test-docs

# The DuckDB examples of docs/analysts.md, run as written with a real DuckDB
# (a module of its own: the driver is a cgo library of some hundred MB that
# custody itself does not need; the first run downloads and builds it).
test-docs:
	cd docs/duckdbtest && $(GO) test -count=1 ./...

# Everything not in RACE_PKGS, without the race detector.
test-plain:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -E '/(adapters/(eventlog|driving/relay|driving/wecom|driving/httpapi|testkit/kurrentstandin)|commands|projections)(/|$$)')

# The race detector needs cgo, hence a C compiler: say so instead of
# failing with "-race requires cgo" or a linker error.
check-gcc:
	@command -v $${CC:-gcc} >/dev/null 2>&1 || { \
	  echo "make test-race (part of make test) needs a C compiler for go test -race (cgo):"; \
	  echo "  install one (Debian: apt-get install gcc) or set CC; make test-plain runs without it."; \
	  exit 1; }
	@test "$$($(GO) env CGO_ENABLED)" = 1 || { \
	  echo "make test-race needs cgo: CGO_ENABLED is 0 (unset it, or run make test-plain)."; exit 1; }

test-race: check-gcc
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list $(RACE_PKGS) 2>/dev/null)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# Short fuzzing of every decoder of outside input (the seed corpora also run in make test).
fuzz:
	@for p in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$p || exit 1; \
	  done; \
	done

# gofmt, go vet, and the layering rules (internal/layering: which layer may
# import which, checked over `go list` of the module).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 ./internal/layering/

clean:
	rm -rf bin
